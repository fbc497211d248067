"""Where annotations of a training/evaluation data set are cached, so a second run reuses them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("MGMTN_CACHE", Path.home() / ".cache" / "mgmtn"))


def annotations_dir(data_url: str, detector: str, cfg: dict) -> str:
    """One folder per (data set, detector, alignment/detection settings): change any and it re-annotates."""
    ident = os.path.abspath(data_url) if "://" not in data_url else data_url
    key = json.dumps(
        {"data": ident, "detector": detector, "align": cfg["align"], "detect": cfg["detect"]}, sort_keys=True
    )
    name = f"{Path(ident.rstrip('/')).name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    return str(cache_root() / "annotations" / name)
