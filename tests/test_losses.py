import math

import numpy as np
import pytest
import torch

from mgmtn.losses import attribute_loss, dice_loss, mask_loss, positive_weights, resize_masks, total_loss


def test_attribute_loss_is_mean_bce():
    logits = torch.tensor([[0.0, 2.0]])
    labels = torch.tensor([[1.0, 0.0]])
    expected = (math.log(2) + math.log(1 + math.e**2)) / 2
    assert attribute_loss(logits, labels).item() == pytest.approx(expected, rel=1e-5)
    weighted = attribute_loss(logits, labels, pos_weight=torch.tensor([3.0, 3.0]))
    assert weighted.item() == pytest.approx((3 * math.log(2) + math.log(1 + math.e**2)) / 2, rel=1e-5)


def test_resize_masks():
    m = torch.zeros(1, 1, 4, 4)
    m[0, 0, :2, :2] = 1
    small = resize_masks(m, (2, 2))
    assert torch.equal(small, torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]))
    assert resize_masks(m.to(torch.uint8), (8, 8)).shape == (1, 1, 8, 8)


def test_mask_loss_small_when_right_large_when_wrong():
    target = torch.zeros(2, 8, 56, 56)
    target[:, :, 10:40, 10:40] = 1
    logits = (resize_masks(target, (28, 28)) * 2 - 1) * 20  # confident and right, at half resolution
    assert mask_loss(logits, target.to(torch.uint8)).item() < 0.01
    assert mask_loss(-logits, target).item() > 2


def test_dice_of_empty_target():
    empty = torch.zeros(1, 1, 8, 8)
    assert dice_loss(torch.full((1, 1, 8, 8), -30.0), empty).item() == pytest.approx(0, abs=1e-6)
    assert dice_loss(torch.full((1, 1, 8, 8), 30.0), empty).item() > 0.9


def test_total_loss_parts():
    out = {"logits": torch.zeros(2, 40), "mask_logits": torch.zeros(2, 8, 4, 4)}
    labels, masks = torch.ones(2, 40), torch.ones(2, 8, 4, 4)
    loss, parts = total_loss(out, labels, masks, 0.5)
    assert parts["attr_loss"] == pytest.approx(math.log(2), rel=1e-5)
    assert loss.item() == pytest.approx(parts["attr_loss"] + 0.5 * parts["mask_loss"], rel=1e-5)
    for off in ({**out, "mask_logits": None}, out):
        loss, parts = total_loss(off, labels, None if off is out else masks, 0.5)
        assert parts["mask_loss"] == 0.0 and loss.item() == pytest.approx(parts["attr_loss"])


def test_positive_weights():
    y = np.array([[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]], np.float32)
    # negatives / positives (positives counted as at least 1), clipped to [1/3, 3]
    assert positive_weights(y, clip=3).tolist() == pytest.approx([3.0, 3.0, 1 / 3])
