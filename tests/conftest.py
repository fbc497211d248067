"""Shared fixtures: one Ray runtime per test session, the real-data location, tiny model checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("MGMTN_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def celeba6k() -> Path:
    path = shared_dir() / "data" / "celeba-6k"
    if not (path / "list_attr_celeba.txt").exists():
        pytest.skip(f"real CelebA subset not found at {path} (set MGMTN_SHARED)")
    return path


@pytest.fixture(scope="session")
def ray_runtime():
    """A local Ray runtime shared by every test that needs one (~6 s once)."""
    import ray

    from pipeline.runtime import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def cfg() -> dict:
    from conf import load_config

    # Tiny corpora would otherwise take the inline (no-Ray) path; these tests are about the Ray stages.
    c = load_config(overrides={"detect.detector": "dlib", "annotate.inline_max_images": 0, "score.inline_max_rows": 0})
    c["annotate"]["shard_size"] = 4
    return c


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised MGMTN in the released format (mechanics only: its outputs mean nothing)."""
    import torch

    from conf import load_config
    from mgmtn.checkpoint import save_checkpoint
    from mgmtn.model import create_model
    from pipeline.training import checkpoint_meta

    torch.manual_seed(0)
    c = load_config(overrides={"model.width": 8, "model.fusion_dim": 16, "model.decoder_dim": 8})
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, create_model(c["model"], c["align"]["crop_size"]), checkpoint_meta(c, {"data": "none"}))
    return path


@pytest.fixture
def one_torch_thread():
    """Tiny models gain nothing from threads and crawl when other processes share the CPU."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
