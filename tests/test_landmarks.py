import numpy as np

from mgmtn.landmarks import (
    TEMPLATE,
    alignment_matrix,
    apply_transform,
    five_points,
    invert_transform,
    similarity_transform,
)


def _template_face(size: float = 100.0) -> np.ndarray:
    """68 points whose five alignment points sit exactly on the template."""
    lm = np.zeros((68, 2))
    t = TEMPLATE * size
    lm[36:42] = t[0]
    lm[42:48] = t[1]
    lm[30] = t[2]
    lm[48] = t[3]
    lm[54] = t[4]
    return lm


def test_similarity_recovers_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = s * src @ rot.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(apply_transform(m, src), dst, atol=1e-9)
    np.testing.assert_allclose(apply_transform(invert_transform(m), dst), src, atol=1e-9)


def test_alignment_maps_five_points_onto_template():
    lm = _template_face(1.0)
    # Rotate, scale and shift the face in the "image", then align back to a 112 px crop.
    ang = -0.4
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    img_lm = (lm * 300) @ rot.T + np.array([40.0, 70.0])
    m = alignment_matrix(img_lm, 112)
    np.testing.assert_allclose(apply_transform(m, five_points(img_lm)), TEMPLATE * 112, atol=1e-6)
