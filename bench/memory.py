"""Memory on a large corpus of small images: peak PSS of `annotate-corpus` (driver + every Ray process)
on N images against N/10, to show the run streams instead of materialising the corpus.

    python -m bench.memory [--images 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.rss import run_with_peak_memory
from bench.stages import REPO, annotate_corpus_cmd, subprocess_env


def tiny_corpus(dest: Path, n: int) -> Path:
    """`n` 96x96 JPEGs in folders of 1,000 (smooth colour fields: cheap to decode, no face)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        d = dest / f"{i // 1000:03d}"
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)
        Image.fromarray(small).resize((96, 96), Image.Resampling.BILINEAR).save(d / f"{i:06d}.jpg", quality=80)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory")
    p.add_argument("--images", type=int, default=20000)
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mgmtn-mem-"))
    corpus = tiny_corpus(work / "corpus", a.images)
    rows = []
    for n in (a.images // 10, a.images):
        cmd = annotate_corpus_cmd(corpus, work / f"out-{n}", "dlib") + ["--limit", str(n)]
        rc, peak, wall = run_with_peak_memory(cmd, env=subprocess_env(), cwd=str(REPO))
        if rc != 0:
            print(f"run on {n} images failed with exit {rc}", file=sys.stderr)
            return 1
        rows.append((n, peak, wall))
        print(f"{n:>7} images: peak PSS {peak:8.0f} MB, wall {wall:6.1f} s, {n / wall:6.1f} img/s")
    print(f"memory growth for 10x the images: {rows[1][1] / rows[0][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
