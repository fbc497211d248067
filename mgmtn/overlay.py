"""Pictures a person can check: group masks drawn over the aligned crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mgmtn.attributes import GROUPS

COLOURS = {
    "eyes": (255, 60, 60),
    "nose": (255, 200, 0),
    "mouth": (255, 0, 200),
    "cheeks": (255, 140, 0),
    "lower_face": (0, 200, 255),
    "ears": (0, 255, 120),
    "hair": (150, 90, 255),
    "whole": (60, 120, 255),
}


def _upsample(mask: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(mask * 255).resize((size, size), Image.Resampling.NEAREST)) > 0


def overlay_panel(crop: np.ndarray, masks: np.ndarray, landmarks: np.ndarray | None = None) -> Image.Image:
    """A strip: the crop (with keypoints) followed by one tinted panel per group, labelled."""
    size = crop.shape[0]
    panels = []
    base = Image.fromarray(crop).convert("RGB")
    if landmarks is not None:
        draw = ImageDraw.Draw(base)
        for x, y in np.asarray(landmarks).reshape(-1, 2):
            draw.ellipse([x - 1, y - 1, x + 1, y + 1], fill=(0, 255, 0))
    panels.append(("crop", base))
    for i, g in enumerate(GROUPS):
        m = _upsample(masks[i].astype(np.uint8), size)[..., None]
        tint = np.array(COLOURS[g], np.float32)
        img = np.where(m, 0.45 * crop + 0.55 * tint, 0.6 * crop).astype(np.uint8)
        panels.append((g, Image.fromarray(img)))
    label_h = 12
    strip = Image.new("RGB", (size * len(panels), size + label_h), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for j, (name, p) in enumerate(panels):
        strip.paste(p, (j * size, label_h))
        draw.text((j * size + 2, 0), name, fill=(0, 0, 0))
    return strip


def save_overlay(path: str | Path, crop: np.ndarray, masks: np.ndarray, landmarks: np.ndarray | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    overlay_panel(crop, masks, landmarks).save(path)
    return path
