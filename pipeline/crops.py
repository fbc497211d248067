"""The stored form of an aligned face crop: encoded image bytes in the faces table, RGB arrays in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_crop(crop: np.ndarray, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(crop).save(buf, format="PNG", optimize=False)
    else:
        Image.fromarray(crop).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_crop(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def decode_crops(blobs: list[bytes]) -> np.ndarray:
    """uint8 [N,S,S,3]."""
    return np.stack([decode_crop(b) for b in blobs])
