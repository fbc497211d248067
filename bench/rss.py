"""Peak memory of a command and every process it starts (Ray workers included), sampled from /proc.

PSS (proportional set size) is summed rather than RSS: Ray's workers map the same shared-memory object
store, and RSS would count those pages once per process.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(d.name))
    return tree


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(root: int) -> float:
    tree, todo, total = _children(), [root], 0
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _pss_kb(pid)
        todo.extend(tree.get(pid, []))
    return total / 1024


def run_with_peak_memory(
    cmd: list[str], env: dict | None = None, cwd: str | None = None, interval: float = 0.25, timeout: float = 1800
) -> tuple[int, float, float]:
    """-> (exit code, peak MB over the process tree, wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env or os.environ.copy(),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_pss_mb(proc.pid))
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            break
        time.sleep(interval)
    return proc.wait(), peak, time.perf_counter() - t0
