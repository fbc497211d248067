"""One face: keypoints in the image -> aligned crop, keypoints on the crop, and group masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from mgmtn.landmarks import alignment_matrix, apply_transform, invert_transform
from mgmtn.masks import group_masks


@dataclass(frozen=True)
class AlignedFace:
    crop: np.ndarray  # uint8 [S,S,3]
    crop_landmarks: np.ndarray  # float32 [68,2] in crop pixels
    masks: np.ndarray  # uint8 {0,1} [G,M,M]
    matrix: np.ndarray  # 2x3, image -> crop


def warp_crop(rgb: np.ndarray, m: np.ndarray, crop_size: int) -> np.ndarray:
    """Resample the aligned crop. Pixels outside the image are black (the model sees that as padding)."""
    inv = invert_transform(m)
    img = Image.fromarray(rgb)
    out = img.transform(
        (crop_size, crop_size),
        Image.Transform.AFFINE,
        data=tuple(inv.reshape(-1)),
        resample=Image.Resampling.BILINEAR,
    )
    return np.asarray(out, dtype=np.uint8)


def align_face(rgb: np.ndarray, landmarks: np.ndarray, crop_size: int, mask_size: int) -> AlignedFace:
    m = alignment_matrix(landmarks, crop_size)
    crop_lm = apply_transform(m, landmarks).astype(np.float32)
    return AlignedFace(
        crop=warp_crop(rgb, m, crop_size),
        crop_landmarks=crop_lm,
        masks=group_masks(crop_lm, crop_size, mask_size),
        matrix=m,
    )
