"""Where the workplace's shared data lives: MGMTN_SHARED, else `../shared` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    return Path(os.environ.get("MGMTN_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def celeba6k() -> Path:
    """The CelebA-layout folder (labels, split, `img_align_celeba/`); it may be absent."""
    return shared_dir() / "data" / "celeba-6k"
