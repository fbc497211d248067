"""An annotate actor killed mid-run is restarted and its batch retried: no row is lost or duplicated."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from pipeline.annotate import annotate_to
from tests.fixtures_faces import face_photo


def _actor_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if b"AnnotateActor" in cmd:
                pids.append(int(d.name))
    return pids


def test_killed_actor_is_retried(tmp_path, cfg, ray_runtime):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    face = face_photo()
    for i in range(64):
        Image.fromarray(np.roll(face, (i % 5) * 3, axis=1)).save(corpus / f"{i:03d}.jpg", quality=90)
    c = {**cfg, "annotate": {**cfg["annotate"], "batch_size": 4, "shard_size": 8}}
    killed: list[int] = []

    def assassin():
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and not killed:
            pids = _actor_pids()
            if pids and list((tmp_path / "out" / "faces").glob("_stats/*.json")):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.01)

    th = threading.Thread(target=assassin)
    th.start()
    annotate_to(str(corpus), str(tmp_path / "out"), c, "dlib", progress=False)
    th.join()
    assert killed, "no actor was killed: the test did not exercise a crash"
    df = pl.read_parquet(tmp_path / "out" / "faces" / "*.parquet")
    assert df.height == 64 and df["image_id"].n_unique() == 64
    assert set(df["status"]) == {"ok"}
