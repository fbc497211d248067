import pytest
import torch

from mgmtn.attributes import ATTRIBUTES, GROUPS, group_indices
from mgmtn.losses import attribute_loss, total_loss
from mgmtn.model import create_model, masked_avg_pool

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {"backbone": "resnet10", "width": 8, "fusion_dim": 16, "decoder_dim": 16, "dropout": 0.0}


def tiny(masks: str, size: int = 64):
    torch.manual_seed(0)
    return create_model({**TINY, "masks": masks}, input_size=size)


@pytest.mark.parametrize("mode", ["predicted", "keypoints", "off"])
def test_output_shapes(mode):
    model = tiny(mode)
    out = model(torch.randn(3, 3, 64, 64), torch.rand(3, 8, 28, 28))
    assert out["logits"].shape == (3, len(ATTRIBUTES))
    if mode == "off":
        assert out["mask_logits"] is None
    else:
        assert out["mask_logits"].shape == (3, len(GROUPS), 16, 16)  # stride 4


def test_default_config_masks_at_stride_4():
    model = create_model({}, 112).eval()
    out = model(torch.randn(1, 3, 112, 112))
    assert out["mask_logits"].shape == (1, 8, 28, 28) and model.mask_size == 28


def test_keypoints_mode_needs_masks():
    with pytest.raises(ValueError, match="kp_masks"):
        tiny("keypoints")(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="masks must be one of"):
        create_model({"masks": "maybe"})


def test_logits_are_scattered_into_attribute_order():
    model = tiny("predicted").eval()
    idx = group_indices()
    with torch.no_grad():
        for g, head in zip(GROUPS, model.g2ff.heads, strict=True):
            head.weight.zero_()
            head.bias.copy_(torch.tensor(idx[g], dtype=torch.float))
    logits = model(torch.randn(2, 3, 64, 64))["logits"]
    assert torch.equal(logits[0], torch.arange(len(ATTRIBUTES), dtype=torch.float))


def _aml_grads(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad for n, p in model.named_parameters() if n.startswith("aml.")]


@pytest.mark.parametrize("mode", ["predicted", "keypoints"])
def test_aml_gets_gradient_from_total_loss(mode):
    model = tiny(mode)
    masks = (torch.rand(4, 8, 28, 28) > 0.5).float()
    out = model(torch.randn(4, 3, 64, 64), masks)
    loss, parts = total_loss(out, torch.randint(0, 2, (4, 40)).float(), masks, 0.5)
    grads = _aml_grads(model, loss)
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    assert parts["mask_loss"] > 0


def test_attribute_loss_reaches_aml_only_through_predicted_masks():
    y = torch.randint(0, 2, (4, 40)).float()
    x, kp = torch.randn(4, 3, 64, 64), torch.rand(4, 8, 16, 16)
    model = tiny("predicted")
    assert all(g is not None and g.abs().sum() > 0 for g in _aml_grads(model, attribute_loss(model(x)["logits"], y)))
    model = tiny("keypoints")
    assert all(g is None for g in _aml_grads(model, attribute_loss(model(x, kp)["logits"], y)))


def test_masks_off_has_no_aml():
    model = tiny("off")
    assert model.aml is None
    assert not any(n.startswith("aml.") for n, _ in model.named_parameters())
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in tiny("predicted").parameters())


def test_masked_avg_pool_by_hand():
    feat = torch.zeros(1, 2, 4, 4)
    feat[0, 0, :2] = 3.0  # channel 0: 3 on the top half, 0 below
    feat[0, 1] = 5.0
    masks = torch.zeros(1, 2, 8, 8)
    masks[0, 0, :4] = 1.0  # group 0: top half (at twice the resolution)
    masks[0, 1] = 1.0  # group 1: everything
    pooled = masked_avg_pool(feat, masks)
    assert torch.allclose(pooled, torch.tensor([[[3.0, 5.0], [1.5, 5.0]]]), atol=1e-5)
