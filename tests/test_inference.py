import torch
from torch import nn

from conf import load_config
from mgmtn.inference import fold_batchnorm, prepare_for_inference, to_channels_last
from mgmtn.model import create_model


def _trained_like(model: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics, as training would."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def test_folding_removes_every_batchnorm_and_keeps_outputs():
    cfg = load_config(overrides={"model.width": 8, "model.decoder_dim": 8, "model.fusion_dim": 16})
    model = _trained_like(create_model(cfg["model"], 64))
    x = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        ref = model(x)
        folded = fold_batchnorm(model)
        out = folded(x)
        fast = prepare_for_inference(model)(to_channels_last(x))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "the original is left untouched"
    for o in (out, fast):
        torch.testing.assert_close(o["logits"], ref["logits"], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(o["mask_logits"], ref["mask_logits"], atol=1e-4, rtol=1e-4)
