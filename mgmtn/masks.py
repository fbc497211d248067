"""Keypoints -> the 8 MGMTN group masks on the aligned crop, and their compact storage.

All geometry is expressed in eye-distance units (`d`) so it is independent of crop and mask size. Masks
are binary rasters at `mask_size`; groups overlap where regions do (hair and ears, cheeks and lower face).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from mgmtn.attributes import GROUPS
from mgmtn.landmarks import (
    BROW_L,
    BROW_R,
    EYE_L,
    EYE_R,
    JAW,
    LIPS_OUTER,
    NOSE_BRIDGE,
    NOSTRILS,
    eye_centres,
)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Monotone-chain convex hull, counter-clockwise, no repeated end point."""
    pts = sorted(map(tuple, np.asarray(points, np.float64)))
    if len(pts) <= 2:
        return np.array(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    upper: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def dilate(poly: np.ndarray, amount: float) -> np.ndarray:
    """Push every vertex `amount` away from the polygon's centroid (a cheap outward offset)."""
    c = poly.mean(0)
    v = poly - c
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return poly + amount * v / np.maximum(n, 1e-6)


def group_polygons(lm: np.ndarray, crop_size: int) -> dict[str, list[np.ndarray]]:
    """Polygons (in crop pixels) whose union is each group's region. `lm` is 68x2 in crop pixels."""
    lm = np.asarray(lm, np.float64).reshape(68, 2)
    el, er = eye_centres(lm)
    d = float(np.linalg.norm(er - el)) or 1.0
    up = (er - el)[::-1] * np.array([1.0, -1.0]) / d  # unit vector pointing up the face (towards brows)
    if up[1] > 0:
        up = -up
    s = float(crop_size)

    brows_raised = lm[BROW_L + BROW_R] + 0.25 * d * up
    face = convex_hull(np.vstack([lm[JAW], brows_raised]))
    forehead = lm[BROW_L + BROW_R] + 0.9 * d * up
    whole_face = convex_hull(np.vstack([lm[JAW], forehead]))
    chin = lm[8]
    neck_half = 0.5 * float(np.linalg.norm(lm[12] - lm[4]))
    down = -up
    side = np.array([up[1], -up[0]]) * -1  # perpendicular to `up`
    neck = np.array(
        [
            chin - neck_half * side,
            chin + neck_half * side,
            chin + neck_half * side + 2 * s * down,
            chin - neck_half * side + 2 * s * down,
        ]
    )

    def outward(idx: list[int], sign: float) -> np.ndarray:
        pts = lm[idx]
        return np.vstack([pts, pts[::-1] + sign * 0.55 * d * side])

    # `side` points towards image-right for an upright face.
    ears = [outward([0, 1, 2, 3], -1.0), outward([13, 14, 15, 16], +1.0)]
    cheeks = [
        np.vstack([lm[[41, 40]], lm[31], lm[48], lm[[4, 3, 2, 1]]]),
        np.vstack([lm[[47, 46]], lm[35], lm[54], lm[[12, 13, 14, 15]]]),
    ]
    lower_face = dilate(np.vstack([lm[3:14], lm[[35, 33, 31]]]), 0.15 * d)
    big = 4 * s  # far outside the crop; clipped by the raster
    above_mouth = lm[LIPS_OUTER].mean(0)
    # Hair: everything above the mouth level, minus the face; subtracted at raster time.
    hair_band = np.array(
        [
            above_mouth - big * side,
            above_mouth + big * side,
            above_mouth + big * side + big * up,
            above_mouth - big * side + big * up,
        ]
    )
    return {
        "eyes": [dilate(convex_hull(lm[BROW_L + BROW_R + EYE_L + EYE_R]), 0.15 * d)],
        "nose": [dilate(convex_hull(lm[NOSE_BRIDGE + NOSTRILS]), 0.12 * d)],
        "mouth": [dilate(convex_hull(lm[LIPS_OUTER]), 0.15 * d)],
        "cheeks": cheeks,
        "lower_face": [lower_face],
        "ears": ears,
        "hair": [hair_band],
        "hair_minus": [dilate(face, 0.05 * d)],
        "whole": [whole_face, neck],
    }


def _raster(polys: list[np.ndarray], scale: float, size: int) -> np.ndarray:
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for p in polys:
        if len(p) >= 3:
            draw.polygon([tuple(xy) for xy in (p * scale)], fill=1, outline=1)
    return np.asarray(img, dtype=np.uint8)


def group_masks(crop_landmarks: np.ndarray, crop_size: int, mask_size: int) -> np.ndarray:
    """68x2 keypoints in aligned-crop pixels -> uint8 {0,1} masks [len(GROUPS), mask_size, mask_size]."""
    polys = group_polygons(crop_landmarks, crop_size)
    scale = mask_size / crop_size
    out = np.zeros((len(GROUPS), mask_size, mask_size), np.uint8)
    for i, g in enumerate(GROUPS):
        out[i] = _raster(polys[g], scale, mask_size)
    out[GROUPS.index("hair")] &= 1 - _raster(polys["hair_minus"], scale, mask_size)
    return out


def pack_masks(masks: np.ndarray) -> bytes:
    """uint8 {0,1} [G,S,S] -> bytes (1 bit per pixel, C order). 8x28x28 masks take 784 bytes."""
    return np.packbits(np.asarray(masks, np.uint8).reshape(-1)).tobytes()


def unpack_masks(buf: bytes, mask_size: int, groups: int = len(GROUPS)) -> np.ndarray:
    n = groups * mask_size * mask_size
    bits = np.unpackbits(np.frombuffer(buf, np.uint8), count=n)
    return bits.reshape(groups, mask_size, mask_size)
