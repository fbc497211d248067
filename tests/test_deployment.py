"""The deployment route, for real: a Prefect server on loopback, `python -m flows.serve`, and
`prefect deployment run annotate-corpus/local --watch` on a tiny corpus."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from tests.fixtures_faces import face_photo

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def test_served_deployment_runs_annotate_corpus(tmp_path, tiny_checkpoint):
    prefect = shutil.which("prefect", path=os.path.dirname(sys.executable))
    if prefect is None:
        pytest.skip("the prefect CLI is not installed beside this Python")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(face_photo(), i * 5, axis=1)).save(corpus / f"f{i}.jpg", quality=90)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MGMTN_CACHE": str(tmp_path / "cache"),
    }
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(f"{api}/health", 120)
        log = open(tmp_path / "serve.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "flows.serve"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
        t0 = time.monotonic()
        while (
            subprocess.run(
                [prefect, "deployment", "inspect", "annotate-corpus/local"], env=env, capture_output=True
            ).returncode
            != 0
        ):
            assert time.monotonic() - t0 < 120, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(1)
        out = tmp_path / "out"
        r = subprocess.run(
            [
                prefect,
                "deployment",
                "run",
                "annotate-corpus/local",
                "--param",
                f"corpus={corpus}",
                "--param",
                f"out={out}",
                "--param",
                "detector=dlib",
                "--param",
                f"model={tiny_checkpoint}",
                "--watch",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:] + (tmp_path / "serve.log").read_text()[-3000:]
        faces = pl.read_parquet(out / "faces" / "*.parquet")
        attrs = pl.read_parquet(out / "attributes" / "*.parquet")
        assert faces.height == attrs.height == 3 and set(faces["status"]) == {"ok"}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
