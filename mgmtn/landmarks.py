"""68-point iBUG index sets, the canonical face template, and similarity alignment.

Alignment uses five stable points (eye centres, nose tip, mouth corners) rather than all 68: the jaw and
lips move with expression and pose, and fitting them would tilt the crop on a smile.
"""

from __future__ import annotations

import numpy as np

JAW = list(range(0, 17))
BROW_L, BROW_R = list(range(17, 22)), list(range(22, 27))  # image-left, image-right
NOSE_BRIDGE, NOSTRILS = list(range(27, 31)), list(range(31, 36))
EYE_L, EYE_R = list(range(36, 42)), list(range(42, 48))
LIPS_OUTER, LIPS_INNER = list(range(48, 60)), list(range(60, 68))
NOSE_TIP, MOUTH_L, MOUTH_R = 30, 48, 54

# Template positions of (eye_l, eye_r, nose_tip, mouth_l, mouth_r) as fractions of the crop side. The
# inter-ocular distance is 0.28 of the crop and the eyes sit at 0.45 of its height, which leaves room for
# hair above, ears beside and the neck below (the hair, ears and whole groups need them). Nose and mouth
# offsets are CelebA's mean proportions (nose 0.57, mouth 1.03 eye distances below the eyes).
EYE_DIST = 0.28
TEMPLATE = np.array(
    [
        [0.5 - EYE_DIST / 2, 0.45],
        [0.5 + EYE_DIST / 2, 0.45],
        [0.5, 0.45 + 0.57 * EYE_DIST],
        [0.5 - 0.4 * EYE_DIST, 0.45 + 1.03 * EYE_DIST],
        [0.5 + 0.4 * EYE_DIST, 0.45 + 1.03 * EYE_DIST],
    ],
    dtype=np.float64,
)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """68x2 -> 5x2 (eye centres, nose tip, mouth corners)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
    return np.stack(
        [lm[EYE_L].mean(0), lm[EYE_R].mean(0), lm[NOSE_TIP], lm[MOUTH_L], lm[MOUTH_R]],
    )


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lm = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
    return lm[EYE_L].mean(0), lm[EYE_R].mean(0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst (Umeyama).

    Returns a 2x3 matrix M with dst ~= M @ [x, y, 1].
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # no reflections
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / len(src)
    scale = (sig * sign).sum() / var_s if var_s > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def alignment_matrix(landmarks: np.ndarray, crop_size: int) -> np.ndarray:
    """2x3 matrix taking image coordinates to aligned-crop pixel coordinates."""
    return similarity_transform(five_points(landmarks), TEMPLATE * crop_size)


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]


def invert_transform(m: np.ndarray) -> np.ndarray:
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, (-a @ m[:, 2])[:, None]])
