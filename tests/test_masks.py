from pathlib import Path

import numpy as np
from PIL import Image

from mgmtn.attributes import GROUPS
from mgmtn.masks import convex_hull, group_masks, pack_masks, unpack_masks
from mgmtn.overlay import save_overlay

# A frontal face on a 112 px aligned crop (68 iBUG points): the mean of dlib's keypoints on 46 celeba-6k
# images after alignment, rounded to whole pixels (numbers only; no image is stored).
MEAN_FACE = np.array([
    [23, 51], [24, 60], [24, 68], [26, 77], [30, 85], [35, 93], [41, 99], [48, 104], [56, 106], [64, 104],
    [72, 99], [79, 93], [84, 86], [87, 78], [89, 69], [90, 60], [90, 51], [29, 43], [34, 40], [39, 40],
    [45, 41], [50, 44], [62, 43], [67, 41], [73, 40], [79, 41], [83, 44], [56, 50], [56, 56], [56, 62],
    [55, 68], [49, 72], [52, 73], [56, 74], [59, 73], [62, 72], [36, 51], [39, 49], [44, 49], [47, 52],
    [43, 53], [39, 53], [65, 52], [68, 49], [73, 49], [77, 51], [73, 53], [69, 53], [43, 82], [48, 80],
    [52, 79], [56, 80], [59, 79], [64, 80], [69, 82], [65, 87], [60, 90], [56, 90], [52, 90], [48, 87],
    [45, 83], [52, 83], [56, 83], [59, 83], [67, 83], [59, 85], [56, 85], [52, 85],
], dtype=np.float32)  # fmt: skip


def _mask(masks, g):
    return masks[GROUPS.index(g)].astype(bool)


def test_masks_shape_and_regions_in_the_right_places():
    m = group_masks(MEAN_FACE, 112, 28)
    assert m.shape == (8, 28, 28) and m.dtype == np.uint8
    for g in GROUPS:
        assert _mask(m, g).any(), f"{g} mask is empty"
    rows = {g: np.nonzero(_mask(m, g))[0].mean() for g in GROUPS}
    assert rows["hair"] < rows["eyes"] < rows["nose"] < rows["mouth"] < rows["lower_face"]
    ys, xs = np.nonzero(_mask(m, "ears"))
    assert xs.min() < 6 and xs.max() > 21, "ears lie at both sides of the face"
    # Hair never covers the eyes or the mouth.
    assert not (_mask(m, "hair") & _mask(m, "eyes")).sum() > 2
    assert not (_mask(m, "hair") & _mask(m, "mouth")).any()
    # Whole face covers the nose and mouth, and reaches the bottom edge (neck).
    assert (_mask(m, "whole") >= _mask(m, "nose")).all()
    assert _mask(m, "whole")[-1].any()


def test_masks_resolution_is_configurable_and_consistent():
    small, big = group_masks(MEAN_FACE, 112, 28), group_masks(MEAN_FACE, 112, 56)
    down = big.reshape(8, 28, 2, 28, 2).mean((2, 4))
    agree = ((down > 0.5) == small.astype(bool)).mean()
    assert agree > 0.93


def test_pack_roundtrip():
    m = group_masks(MEAN_FACE, 112, 28)
    buf = pack_masks(m)
    assert len(buf) == 8 * 28 * 28 // 8
    np.testing.assert_array_equal(unpack_masks(buf, 28), m)


def test_convex_hull_of_square_with_inner_point():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]])
    assert len(convex_hull(pts)) == 4


def test_overlay_png_is_written(tmp_path: Path):
    crop = np.full((112, 112, 3), 128, np.uint8)
    p = save_overlay(tmp_path / "ov.png", crop, group_masks(MEAN_FACE, 112, 28), MEAN_FACE)
    img = Image.open(p)
    assert img.size[0] == 112 * 9 and img.size[1] > 112
