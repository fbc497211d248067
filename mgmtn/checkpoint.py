"""Checkpoints that explain themselves and load safely.

File = torch.save of {"format": "mgmtn-checkpoint", "version": 1, "state_dict": {name: tensor}, "meta": {...}}
holding only tensors and plain Python values, so `torch.load(weights_only=True)` (always used here) can
read it and a tampered pickle is refused instead of executed. `meta` carries what a scorer needs:
attribute names, groups, input_size, mean/std, the full resolved config (the model is rebuilt from
`meta["config"]["model"]`), the training data description and metrics.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mgmtn.model import MGMTN, create_model

FORMAT = "mgmtn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is missing, unreadable, unsafe, not ours, or does not fit the model it describes."""


def _plain(value: Any, where: str = "meta") -> Any:
    """Convert meta to plain Python (numpy scalars/arrays, tuples, paths); refuse anything else."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, got {k!r}")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} is not a plain value (str, number, bool, None, list, dict)")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict) -> Path:
    """Write model weights + meta atomically (temp file in the same folder, then os.replace).

    `meta` must hold "config" (with a "model" section) and "input_size"; `model` may be DDP-wrapped.
    """
    meta = _plain(meta)
    for key in ("config", "input_size"):
        if key not in meta:
            raise ValueError(f"meta needs {key!r}")
    if "model" not in meta["config"]:
        raise ValueError("meta['config'] needs the 'model' section")
    inner = getattr(model, "module", model)
    state = {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "state_dict": state, "meta": meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Safely read and validate the raw checkpoint dict without building a model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # UnpicklingError (unsafe or corrupt), RuntimeError (bad zip), EOFError, ...
        raise CheckpointError(f"{path}: not a loadable safe torch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} file")
    if obj.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {obj.get('version')!r}, this code reads {VERSION}")
    meta, state = obj.get("meta"), obj.get("state_dict")
    if not isinstance(meta, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: 'meta' and 'state_dict' must be dicts")
    if not isinstance(meta.get("config"), dict) or not isinstance(meta["config"].get("model"), dict):
        raise CheckpointError(f"{path}: meta lacks config.model")
    if not isinstance(meta.get("input_size"), int):
        raise CheckpointError(f"{path}: meta lacks an integer input_size")
    return obj


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[MGMTN, dict]:
    """-> (model in eval mode, meta). Every failure is a CheckpointError naming the file."""
    obj = read_checkpoint(path, map_location)
    meta = obj["meta"]
    try:
        model = create_model(meta["config"]["model"], meta["input_size"])
    except Exception as e:
        raise CheckpointError(f"{path}: cannot build the model its config describes ({e})") from e
    try:
        model.load_state_dict(obj["state_dict"], strict=True)
    except Exception as e:  # missing/unexpected keys, shape mismatches
        raise CheckpointError(f"{path}: weights do not match the model its config describes ({e})") from e
    return model.to(map_location).eval(), meta


def checkpoint_id(path: str | os.PathLike, length: int = 12) -> str:
    """Short sha256 of the file's bytes: the `model` column of attribute tables."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]
