"""A run killed with SIGKILL midway, then rerun, gives exactly the rows of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from tests.fixtures_faces import face_photo

REPO = Path(__file__).resolve().parents[1]


def _corpus(root: Path, n: int = 48) -> None:
    root.mkdir()
    face = face_photo()
    for i in range(n):
        Image.fromarray(np.roll(face, (i % 7) * 2, axis=1)).save(root / f"img{i:03d}.jpg", quality=90)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")


def _cmd(corpus: Path, out: Path, model: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flows.annotate_corpus",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--detector",
        "dlib",
        "--model",
        str(model),
        "--shard-size",
        "4",
        "--no-progress",
        # One shard per Ray batch, so shards finish one by one and the kill lands between them.
        "--set",
        "annotate.batch_size=4",
        "--set",
        "score.batch_size=4",
    ]


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "MGMTN_CACHE": str(tmp_path / "cache")}


def _table(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(out / name / "*.parquet").sort("image_id", "face_idx")


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)  # the flow and every Ray process it started
            proc.wait()
            return True
        time.sleep(0.02)
    raise TimeoutError("the run never reached the kill point")


def test_sigkill_during_annotate_and_during_scoring_then_rerun(tmp_path, tiny_checkpoint):
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    env = _env(tmp_path)
    ref = tmp_path / "ref"
    r = subprocess.run(_cmd(corpus, ref, tiny_checkpoint), cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]

    out = tmp_path / "out"
    for stage in ("faces", "attributes"):
        proc = subprocess.Popen(
            _cmd(corpus, out, tiny_checkpoint),
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        killed = _kill_when(proc, lambda s=stage: len(list((out / s).glob("_stats/*.json"))) >= 2)
        assert killed, f"the run finished before it could be killed during {stage}"
        assert len(list((out / stage).glob("_stats/*.json"))) < 13, f"killed midway through {stage}"
    r = subprocess.run(_cmd(corpus, out, tiny_checkpoint), cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("faces", "attributes"):
        got, want = _table(out, name), _table(ref, name)
        assert got.height == want.height == got.unique(["image_id", "face_idx"]).height, "no duplicates, no gaps"
        assert got.equals(want), f"{name}: resumed run differs from the uninterrupted one"
    assert not list(out.rglob(".*.tmp-*")), "no temp files left behind"
