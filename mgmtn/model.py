"""MGMTN: a ResNet backbone, the AML mask decoder and G2FF group fusion with one head per group.

Paper -> ours: the Attention Mask Learning (AML) branch is a small FPN/UNet-style decoder over the four
backbone levels predicting one mask per attribute group at stride 4; Group-wise Feature Fusion (G2FF) pools
each of the last three levels under the group's mask, concatenates them with the globally pooled last level
and feeds a per-group projection and head. Logits are scattered back into `ATTRIBUTES` order.

Mask modes (`[model] masks`, the paper's ablations):
- "predicted": G2FF pools under sigmoid(AML output); attribute gradients reach the decoder too.
- "keypoints": G2FF pools under the given keypoint masks (`kp_masks` is then required, also when scoring).
  The AML decoder is kept and trained by the mask loss as an auxiliary task (the multi-task part of the
  paper), so its `mask_logits` are still returned; only the pooling uses the keypoint masks.
- "off": no AML at all; each group head sees only the global feature; `mask_logits` is None.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mgmtn.attributes import ATTRIBUTES, GROUPS, group_indices
from mgmtn.backbones import create_backbone, load_torchvision_weights

MASK_MODES = ("predicted", "keypoints", "off")
MASK_STRIDE = 4


def masked_avg_pool(feat: torch.Tensor, masks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """[B,C,h,w] features, [B,G,H,W] masks in [0,1] -> [B,G,C]: sum(F*m)/(sum(m)+eps) per group.

    Masks are area-resized to the feature grid first, so a mask keeps its coverage at every level.
    """
    m = F.adaptive_avg_pool2d(masks, feat.shape[-2:])
    num = torch.einsum("bghw,bchw->bgc", m, feat)
    return num / (m.sum(dim=(2, 3)).unsqueeze(-1) + eps)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class AMLDecoder(nn.Module):
    """Top-down decoder: 1x1 laterals, upsample-and-add, 3x3 conv after each merge, 1x1 to mask logits.

    Output has the spatial size of the first (stride-4) level.
    """

    def __init__(self, in_channels: Sequence[int], dim: int, n_masks: int):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.merge = nn.ModuleList(_conv_bn_relu(dim, dim) for _ in in_channels[:-1])
        self.head = nn.Conv2d(dim, n_masks, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        y = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.merge[i](y + self.lateral[i](feats[i]))
        return self.head(y)


class G2FF(nn.Module):
    """Per group: masked pooling at each level + global feature -> Linear -> ReLU -> dropout -> head."""

    def __init__(
        self,
        level_channels: Sequence[int],
        fusion_dim: int,
        dropout: float,
        group_sizes: Sequence[int],
        use_masks: bool,
    ):
        super().__init__()
        self.use_masks = use_masks
        in_dim = (sum(level_channels) if use_masks else 0) + level_channels[-1]
        self.proj = nn.ModuleList(nn.Linear(in_dim, fusion_dim) for _ in group_sizes)
        self.heads = nn.ModuleList(nn.Linear(fusion_dim, n) for n in group_sizes)
        self.drop = nn.Dropout(dropout)

    def forward(self, feats: Sequence[torch.Tensor], masks: torch.Tensor | None) -> torch.Tensor:
        """-> [B, sum(group_sizes)] logits, groups concatenated in order."""
        glob = feats[-1].mean(dim=(2, 3))
        n_groups = len(self.heads)
        if self.use_masks:
            if masks is None:
                raise ValueError("G2FF built with masks needs masks")
            pooled = [masked_avg_pool(f, masks) for f in feats]
            fused = torch.cat([*pooled, glob.unsqueeze(1).expand(-1, n_groups, -1)], dim=2)
        else:
            fused = glob.unsqueeze(1).expand(-1, n_groups, -1)
        outs = [
            head(self.drop(F.relu(proj(fused[:, g]))))
            for g, (proj, head) in enumerate(zip(self.proj, self.heads, strict=True))
        ]
        return torch.cat(outs, dim=1)


class MGMTN(nn.Module):
    """forward(x [B,3,H,W] normalised, kp_masks [B,8,S,S] | None) -> {"logits", "mask_logits"}."""

    def __init__(
        self,
        backbone: str = "resnet18",
        width: int = 32,
        masks: str = "predicted",
        fusion_dim: int = 128,
        dropout: float = 0.2,
        decoder_dim: int = 64,
        input_size: int = 112,
    ):
        super().__init__()
        if masks not in MASK_MODES:
            raise ValueError(f"masks must be one of {MASK_MODES}, got {masks!r}")
        self.masks_mode = masks
        self.input_size = input_size
        self.mask_size = -(-input_size // MASK_STRIDE)  # ceil, as the stride-4 feature map
        self.backbone = create_backbone(backbone, width)
        chans = self.backbone.out_channels
        self.aml = AMLDecoder(chans, decoder_dim, len(GROUPS)) if masks != "off" else None
        groups = group_indices()
        self.g2ff = G2FF(chans[1:], fusion_dim, dropout, [len(groups[g]) for g in GROUPS], masks != "off")
        # Heads emit groups in GROUPS order; `_order[j]` is where ATTRIBUTES[j] sits in that concatenation.
        concat = [i for g in GROUPS for i in groups[g]]
        order = [concat.index(j) for j in range(len(ATTRIBUTES))]
        self.register_buffer("_order", torch.tensor(order, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, kp_masks: torch.Tensor | None = None) -> dict[str, torch.Tensor | None]:
        feats = self.backbone(x)
        mask_logits = self.aml(feats) if self.aml is not None else None
        pool_masks = None
        if self.masks_mode == "predicted":
            pool_masks = torch.sigmoid(mask_logits)
        elif self.masks_mode == "keypoints":
            if kp_masks is None:
                raise ValueError("masks='keypoints' needs kp_masks [B,8,S,S] in forward (also when scoring)")
            if kp_masks.dim() != 4 or kp_masks.shape[1] != len(GROUPS):
                raise ValueError(f"kp_masks must be [B,{len(GROUPS)},S,S], got {tuple(kp_masks.shape)}")
            pool_masks = kp_masks.to(feats[1].dtype)
        logits = self.g2ff(feats[1:], pool_masks).index_select(1, self._order)
        return {"logits": logits, "mask_logits": mask_logits}


def create_model(model_cfg: dict, input_size: int = 112, pretrained: bool = False) -> MGMTN:
    """Build MGMTN from the `[model]` config section (unknown keys, e.g. loss weights, are ignored).

    `pretrained=True` (training) loads torchvision ImageNet weights into the backbone from
    `model_cfg["pretrained"]` when that path is set (a local file; width 64 only), else it does nothing.
    Checkpoint loading never sets it: the checkpoint holds all weights.
    """
    model = MGMTN(
        backbone=model_cfg.get("backbone", "resnet18"),
        width=int(model_cfg.get("width", 32)),
        masks=model_cfg.get("masks", "predicted"),
        fusion_dim=int(model_cfg.get("fusion_dim", 128)),
        dropout=float(model_cfg.get("dropout", 0.2)),
        decoder_dim=int(model_cfg.get("decoder_dim", 64)),
        input_size=int(input_size),
    )
    path = model_cfg.get("pretrained", "")
    if pretrained and path:
        load_torchvision_weights(model.backbone, os.path.expanduser(path))
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
