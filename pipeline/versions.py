"""Versions of what produced a table, for its metadata and the run summary."""

from __future__ import annotations

from importlib import metadata

PACKAGES = ("mgmtn-pipeline", "torch", "ray", "pyarrow", "face-alignment", "dlib-bin", "numpy", "pillow")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
