import pytest
import torch

from mgmtn.backbones import create_backbone, list_backbones, load_torchvision_weights, register_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", ["resnet10", "resnet18", "resnet34", "resnet50"])
def test_levels_shapes_and_strides(name):
    net = create_backbone(name, width=8).eval()
    feats = net(torch.randn(2, 3, 64, 64))
    assert len(feats) == len(net.out_channels) == len(net.strides) == 4
    for f, c, s in zip(feats, net.out_channels, net.strides, strict=True):
        assert f.shape == (2, c, 64 // s, 64 // s)


@pytest.mark.parametrize(
    ("name", "count"),
    # torchvision's parameter counts minus the 1000-class fc layer: the architecture is the standard one.
    [
        ("resnet18", 11_689_512 - 513_000),
        ("resnet34", 21_797_672 - 513_000),
        ("resnet50", 25_557_032 - 2_049_000),
    ],
)
def test_width_64_matches_torchvision_parameter_count(name, count):
    assert n_params(create_backbone(name, 64)) == count


def test_width_scales_channels():
    assert create_backbone("resnet18", 32).out_channels == (32, 64, 128, 256)
    assert create_backbone("resnet50", 16).out_channels == (64, 128, 256, 512)


def test_registry_errors():
    assert {"resnet10", "resnet18", "resnet34", "resnet50"} <= set(list_backbones())
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("vgg16")
    with pytest.raises(ValueError, match="registered twice"):
        register_backbone("resnet18")(lambda width=64: None)
    with pytest.raises(ValueError, match="width"):
        create_backbone("resnet18", width=6)


def _torchvision_style_file(path, name="resnet18", old=False):
    """A state dict laid out like torchvision's (with fc.*), random values."""
    sd = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in create_backbone(name, 64).state_dict().items()}
    if old:  # pre-1.0 torchvision files lack num_batches_tracked
        sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    fc_in = 2048 if name == "resnet50" else 512
    sd["fc.weight"], sd["fc.bias"] = torch.randn(1000, fc_in), torch.randn(1000)
    torch.save(sd, path)
    return sd


@pytest.mark.parametrize("old", [False, True])
def test_load_torchvision_weights(tmp_path, old):
    sd = _torchvision_style_file(tmp_path / "r18.pth", old=old)
    for key in ("conv1.weight", "bn1.running_mean", "layer2.0.downsample.0.weight", "layer4.1.bn2.bias"):
        assert key in sd  # torchvision's names
    net = load_torchvision_weights(create_backbone("resnet18", 64), tmp_path / "r18.pth")
    for k, v in net.state_dict().items():
        if k in sd:
            assert torch.equal(v, sd[k]), k


def test_load_torchvision_weights_refuses_mismatch(tmp_path):
    _torchvision_style_file(tmp_path / "r34.pth", "resnet34")
    with pytest.raises(ValueError, match="does not match"):
        load_torchvision_weights(create_backbone("resnet18", 64), tmp_path / "r34.pth")
    _torchvision_style_file(tmp_path / "r18.pth")
    with pytest.raises(ValueError, match="width=64"):
        load_torchvision_weights(create_backbone("resnet18", 32), tmp_path / "r18.pth")
