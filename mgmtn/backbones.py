"""ResNet backbones written here, with a registry, so the model needs no torchvision.

Module names follow torchvision's ResNet (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, ...),
so an ImageNet state dict saved by torchvision loads with no renaming beyond dropping `fc.*`.

`forward` returns four feature maps, `[layer1, layer2, layer3, layer4]` at strides `(4, 8, 16, 32)`:
the mask decoder (AML) uses all four (layer1 gives it its stride-4 output), the group fusion (G2FF) uses
the last three. `out_channels` and `strides` describe the four levels.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

_BACKBONES: dict[str, Callable[..., ResNet]] = {}


def register_backbone(name: str) -> Callable[[Callable[..., ResNet]], Callable[..., ResNet]]:
    """Adding a backbone is one decorated factory `f(width=64) -> module`."""

    def deco(fn: Callable[..., ResNet]) -> Callable[..., ResNet]:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = fn
        return fn

    return deco


def list_backbones() -> list[str]:
    return sorted(_BACKBONES)


def create_backbone(name: str, width: int = 64) -> ResNet:
    """Build a registered backbone; `width` is the first stage's channels (64 = the standard ResNet)."""
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {list_backbones()}")
    if width < 4 or width % 4:
        raise ValueError(f"width must be a positive multiple of 4, got {width}")
    return _BACKBONES[name](width=width)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's v1.5 bottleneck: the stride sits on the 3x3 conv."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem + four stages; returns the four stage outputs (see the module docstring)."""

    strides: tuple[int, ...] = (4, 8, 16, 32)

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], width: int = 64):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._cin = width
        self.layer1 = self._stage(block, width, layers[0], 1)
        self.layer2 = self._stage(block, width * 2, layers[1], 2)
        self.layer3 = self._stage(block, width * 4, layers[2], 2)
        self.layer4 = self._stage(block, width * 8, layers[3], 2)
        self.out_channels: tuple[int, ...] = tuple(width * m * block.expansion for m in (1, 2, 4, 8))
        self._init_weights()

    def _stage(self, block: type[BasicBlock | Bottleneck], planes: int, n: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._cin != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._cin, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        blocks = [block(self._cin, planes, stride, downsample)]
        self._cin = planes * block.expansion
        blocks += [block(self._cin, planes) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Each residual branch starts as identity: trains faster from scratch (Goyal et al. 2017).
        for m in self.modules():
            if isinstance(m, BasicBlock | Bottleneck):
                nn.init.zeros_(m.last_bn().weight)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            feats.append(x)
        return feats


@register_backbone("resnet10")
def resnet10(width: int = 64) -> ResNet:
    return ResNet(BasicBlock, [1, 1, 1, 1], width)


@register_backbone("resnet18")
def resnet18(width: int = 64) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], width)


@register_backbone("resnet34")
def resnet34(width: int = 64) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], width)


@register_backbone("resnet50")
def resnet50(width: int = 64) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], width)


def load_torchvision_weights(backbone: ResNet, path: str | os.PathLike) -> ResNet:
    """Load a torchvision-format ImageNet ResNet state dict from a local file into `backbone`.

    Only the standard width (64) matches ImageNet weights. The classifier (`fc.*`) is dropped; a
    `module.` prefix (DDP-saved files) is stripped; old files without `num_batches_tracked` are accepted.
    Any other missing/unexpected key or shape mismatch is a ValueError naming the first offenders.
    """
    if getattr(backbone, "width", None) != 64:
        raise ValueError(f"torchvision weights need width=64, backbone has width={backbone.width}")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(sd).__name__}")
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.removeprefix("module.").startswith("fc.")}
    own = backbone.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path} does not match this backbone: missing {missing[:5]} ({len(missing)}), "
            f"unexpected {unexpected[:5]} ({len(unexpected)}), shape mismatches {shapes[:3]} ({len(shapes)})"
        )
    for k in own:
        sd.setdefault(k, own[k])
    backbone.load_state_dict(sd, strict=True)
    return backbone
