import numpy as np
import pytest
import torch

from mgmtn.attributes import ATTRIBUTES
from mgmtn.fit import (
    MEAN,
    STD,
    FaceArrays,
    build_optimizer,
    build_scheduler,
    fit,
    predict,
    prepare_batch,
    train_one_epoch,
)
from mgmtn.model import create_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


SIZE = 32
MODEL = {
    "backbone": "resnet10",
    "width": 8,
    "fusion_dim": 16,
    "decoder_dim": 16,
    "dropout": 0.0,
    "masks": "predicted",
    "mask_loss_weight": 0.5,
}


def cfg(**train):
    return {
        "model": dict(MODEL),
        "train": {"epochs": 1, "batch_size": 16, "lr": 0.01, "weight_decay": 0.0, "seed": 0, "augment": True, **train},
    }


def synthetic(n, seed):
    """Attribute 0 = a bright image; the other attributes are noise. Masks: the left quarter of the crop."""
    rng = np.random.default_rng(seed)
    bright = rng.random(n) < 0.5
    base = np.where(bright, 190, 60)[:, None, None, None]
    crops = np.clip(base + rng.normal(0, 20, (n, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    masks = np.zeros((n, 8, 8, 8), np.uint8)
    masks[:, :, :, :2] = 1
    labels = (rng.random((n, 40)) < 0.3).astype(np.float32)
    labels[:, 0] = bright
    return FaceArrays(crops, masks, labels)


def test_prepare_batch_normalises():
    crops = torch.full((2, 4, 4, 3), 255, dtype=torch.uint8)
    x, m = prepare_batch(crops, None, "cpu")
    assert x.shape == (2, 3, 4, 4) and m is None
    assert torch.allclose(x[0, :, 0, 0], (1 - torch.tensor(MEAN)) / torch.tensor(STD))


def test_augmentation_moves_masks_with_the_image():
    torch.manual_seed(1)
    masks = torch.zeros(16, 8, 8, 8)
    masks[:, :, :, :2] = 1  # left quarter, so a flip shows
    crops = (masks[:, 0].repeat_interleave(4, 1).repeat_interleave(4, 2) * 200 + 20).to(torch.uint8)
    crops = crops[..., None].expand(-1, -1, -1, 3).contiguous()
    x, m = prepare_batch(crops, masks, "cpu", augment=True)
    up = torch.nn.functional.interpolate(m[:, :1], size=(SIZE, SIZE), mode="nearest")[:, 0]
    grey = x.mean(1)
    flipped = 0
    for i in range(16):
        inside, outside = grey[i][up[i] > 0.99], grey[i][up[i] < 0.01]
        assert inside.mean() > outside.mean() + 1  # the bright region is still under the mask
        flipped += bool(m[i, 0, :, -1].sum() > m[i, 0, :, 0].sum())
    assert 0 < flipped < 16


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    data = synthetic(16, 0)
    batch = (torch.tensor(data.crops), torch.tensor(data.masks), torch.tensor(data.labels))
    model = create_model(MODEL, SIZE)
    c = cfg(augment=False)
    opt = build_optimizer(model, c)
    first = train_one_epoch(model, [batch], opt, None, c, "cpu")
    train_one_epoch(model, [batch] * 15, opt, None, c, "cpu")
    last = train_one_epoch(model, [batch], opt, None, c, "cpu")
    assert last["loss"] < 0.8 * first["loss"]
    assert first["images"] == 16 and first["steps"] == 1 and first["mask_loss"] > 0


def test_batches_may_be_dicts_and_lr_schedule_warms_up_and_decays():
    data = synthetic(16, 0)
    batch = {"crops": data.crops, "masks": torch.tensor(data.masks), "labels": data.labels}
    model = create_model(MODEL, SIZE)
    c = cfg(epochs=10, warmup_frac=0.2)
    opt = build_optimizer(model, c)
    sched = build_scheduler(opt, c, steps_per_epoch=1)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])  # the rate this step trains with
        train_one_epoch(model, [batch], opt, sched, c, "cpu")
    assert lrs[0] < lrs[1] and max(lrs) == pytest.approx(0.01, rel=0.05) and lrs[-1] < 1e-3


def test_fit_learns_brightness_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    model = create_model(MODEL, SIZE)
    seen = []
    history = fit(model, synthetic(256, 0), synthetic(64, 1), cfg(epochs=4), "cpu", on_epoch=seen.append)
    assert len(history["epochs"]) == len(seen) == 4 and history["stopped"] == "completed"
    best = history["best_val"]
    assert best["mean_balanced_accuracy"] == max(r["val_mean_balanced_accuracy"] for r in history["epochs"])
    assert best["per_attribute"][ATTRIBUTES[0]]["balanced_accuracy"] > 0.85
    # The model holds the best epoch's weights.
    val = synthetic(64, 1)
    probs = predict(model, val.crops, 32, "cpu")
    assert probs.shape == (64, 40) and probs.dtype == np.float32 and model.training
    assert ((probs[:, 0] >= 0.5) == (val.labels[:, 0] > 0)).mean() == pytest.approx(
        best["per_attribute"][ATTRIBUTES[0]]["accuracy"]
    )


def test_fit_honours_the_time_budget():
    model = create_model({**MODEL, "masks": "keypoints"}, SIZE)
    history = fit(model, synthetic(64, 0), synthetic(16, 1), cfg(epochs=50, time_budget_min=1e-4), "cpu")
    assert history["stopped"] == "time_budget" and len(history["epochs"]) < 50
