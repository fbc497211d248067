"""Losses: mean BCE over the 40 attributes + lambda x (BCE + Dice) between predicted and keypoint masks."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def attribute_loss(logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE-with-logits over batch x 40; labels in {0,1}. `pos_weight` [40] counters rare attributes."""
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=pos_weight)


def resize_masks(masks: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Target masks [B,G,S,S] -> [B,G,*size] as float: area-average when shrinking, bilinear when growing."""
    masks = masks.float()
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    if masks.shape[-2] >= size[0] and masks.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(masks, size)
    return F.interpolate(masks, size=size, mode="bilinear", align_corners=False).clamp_(0, 1)


def dice_loss(mask_logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per (sample, group), averaged. `smooth` keeps empty targets (a group outside the
    crop) defined: they then push the prediction towards empty."""
    p = torch.sigmoid(mask_logits).flatten(2)
    t = target.flatten(2)
    dice = (2 * (p * t).sum(-1) + smooth) / (p.sum(-1) + t.sum(-1) + smooth)
    return 1 - dice.mean()


def mask_loss(mask_logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0) -> torch.Tensor:
    """BCE + Dice against target masks resized to the prediction; soft targets are fine."""
    target = resize_masks(target, mask_logits.shape[-2:]).to(mask_logits.dtype)
    bce = F.binary_cross_entropy_with_logits(mask_logits, target)
    return bce + dice_weight * dice_loss(mask_logits, target)


def total_loss(
    out: dict[str, torch.Tensor | None],
    labels: torch.Tensor,
    masks: torch.Tensor | None,
    mask_loss_weight: float,
    pos_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """attribute loss + mask_loss_weight x mask loss -> (loss, {"attr_loss", "mask_loss"} as floats).

    The mask term is skipped (0) when the model has no AML (`mask_logits` None), no target masks are
    given, or the weight is 0.
    """
    attr = attribute_loss(out["logits"], labels, pos_weight)
    loss = attr
    mask_val = 0.0
    mask_logits = out.get("mask_logits")
    if mask_logits is not None and masks is not None and mask_loss_weight > 0:
        m = mask_loss(mask_logits, masks)
        loss = attr + mask_loss_weight * m
        mask_val = float(m.detach())
    return loss, {"attr_loss": float(attr.detach()), "mask_loss": mask_val}


def positive_weights(train_labels: np.ndarray | torch.Tensor, clip: float = 10.0) -> torch.Tensor:
    """pos_weight = negatives / positives per attribute (clipped): an option for rare attributes."""
    y = torch.as_tensor(train_labels, dtype=torch.float32)
    pos = (y > 0).sum(0).float()
    neg = y.shape[0] - pos
    return (neg / pos.clamp(min=1)).clamp(1 / clip, clip)
