"""Project defaults (`conf/default.toml`) and per-run overrides.

The config is a plain nested dict of TOML values so it can travel into Parquet metadata, checkpoints and
Prefect parameters unchanged; typed views are built where a stage needs one.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("default.toml")


def _parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, anything else stays a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | list[str] | None = None) -> dict:
    """Load the defaults (or `path`) and apply overrides.

    `overrides` is either a nested dict ({"train": {"epochs": 2}}), a flat dict ({"train.epochs": 2}) or a
    list of "section.key=value" strings as given on the command line. Unknown keys are an error, so a typo
    never silently trains with the default.
    """
    with open(path or DEFAULT_PATH, "rb") as fh:
        cfg = tomllib.load(fh)
    for dotted, value in _flatten_overrides(overrides):
        section, _, key = dotted.partition(".")
        if section not in cfg or key not in cfg[section]:
            raise KeyError(f"unknown config key {dotted!r}; known: {sorted(known_keys(cfg))}")
        cfg[section][key] = value
    return cfg


def _flatten_overrides(overrides: dict[str, Any] | list[str] | None) -> list[tuple[str, Any]]:
    if not overrides:
        return []
    if isinstance(overrides, list | tuple):
        out = []
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form section.key=value")
            k, v = item.split("=", 1)
            out.append((k.strip(), _parse_value(v.strip())))
        return out
    out = []
    for k, v in overrides.items():
        if isinstance(v, dict):
            out.extend((f"{k}.{kk}", vv) for kk, vv in v.items())
        else:
            out.append((k, v))
    return out


def known_keys(cfg: dict) -> list[str]:
    return [f"{s}.{k}" for s, sec in cfg.items() for k in sec]


def merged(cfg: dict, section: str, **extra: Any) -> dict:
    """A copy of one section with extra keys; handy for handing a stage only what it needs."""
    out = copy.deepcopy(cfg[section])
    out.update(extra)
    return out


def to_json(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True)
