"""The plain-torch training loop: dataset over arrays, batch augmentation, epochs, prediction, `fit`.

No Ray or Prefect here. For data-parallel training pass a DataLoader with a DistributedSampler (calling
`sampler.set_epoch` is the caller's job) and a DDP-wrapped model: the loop forwards through the wrapper
(gradient sync) and reaches the inner model via `getattr(model, "module", model)` for everything else.
With DDP and masks="keypoints", batches must carry masks (else the AML gets no gradient: DDP would need
find_unused_parameters=True). Under DDP, do not give `train_one_epoch` a `deadline` or `build_scheduler`
a `time_budget_s` as they stand: both read each rank's own clock, so ranks could stop at different steps
(a hang in the gradient all-reduce) or drift apart in learning rate. Decide the stop on rank 0 and
broadcast it, or use the step-based schedule only.

Augmentation runs in torch on whole batches on the training device (cheap on a GPU, no worker processes
on a CPU): brightness/contrast jitter, horizontal flip and a small translation. Flip and translation move
the masks with the image; a flipped face keeps valid group masks because every group is left-right
symmetric (both ears, both cheeks, both eyes).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mgmtn.losses import positive_weights, total_loss
from mgmtn.metrics import summarize

MEAN = (0.485, 0.456, 0.406)  # ImageNet RGB statistics: what torchvision-pretrained backbones expect
STD = (0.229, 0.224, 0.225)
MAX_SHIFT = 0.06  # random translation, fraction of the crop side
JITTER = 0.2  # brightness and contrast factors drawn from [1 - JITTER, 1 + JITTER]


class FaceArrays(Dataset):
    """crops uint8 [N,H,W,3], masks uint8 {0,1} [N,8,S,S], labels [N,40] ({0,1}, or CelebA's {-1,1})."""

    def __init__(self, crops: np.ndarray, masks: np.ndarray, labels: np.ndarray):
        if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
            raise ValueError(f"crops must be uint8 [N,H,W,3], got {crops.dtype} {crops.shape}")
        if masks.ndim != 4 or len(masks) != len(crops):
            raise ValueError(f"masks must be [N,G,S,S] with N={len(crops)}, got {masks.shape}")
        if labels.ndim != 2 or len(labels) != len(crops):
            raise ValueError(f"labels must be [N,A] with N={len(crops)}, got {labels.shape}")
        self.crops, self.masks = crops, masks
        self.labels = (np.asarray(labels) > 0).astype(np.float32)

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.tensor(self.crops[i]), torch.tensor(self.masks[i]), torch.tensor(self.labels[i])


def _as_dataset(arrays: FaceArrays | tuple | Mapping) -> FaceArrays:
    if isinstance(arrays, FaceArrays):
        return arrays
    if isinstance(arrays, Mapping):
        return FaceArrays(arrays["crops"], arrays["masks"], arrays["labels"])
    return FaceArrays(*arrays)


def _unpack(batch: tuple | list | Mapping) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """A batch is (crops, masks, labels) or a dict with those keys (e.g. from Ray's iter_torch_batches)."""
    if isinstance(batch, Mapping):
        return (torch.as_tensor(batch["crops"]), batch.get("masks"), torch.as_tensor(batch["labels"]))
    crops, masks, labels = batch
    return torch.as_tensor(crops), masks, torch.as_tensor(labels)


def _augment(x: torch.Tensor, m: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """x [B,3,H,W] normalised (zero = mean colour, the padding), m [B,G,S,S] -> flipped and shifted."""
    b, dev = x.shape[0], x.device
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0] = torch.where(torch.rand(b, device=dev) < 0.5, -1.0, 1.0)
    theta[:, 1, 1] = 1.0
    # Whole-pixel shifts of the image (in normalised coordinates a pixel is 2/side).
    shift = torch.randint(-round(MAX_SHIFT * x.shape[-1]), round(MAX_SHIFT * x.shape[-1]) + 1, (b, 2), device=dev)
    theta[:, :, 2] = shift.float() * 2 / torch.tensor([x.shape[-1], x.shape[-2]], device=dev)
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    if m is not None:
        grid = F.affine_grid(theta, list(m.shape), align_corners=False)
        m = F.grid_sample(m, grid, align_corners=False)
    return x, m


def prepare_batch(
    crops: torch.Tensor, masks: torch.Tensor | None, device: torch.device | str, augment: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 crops [B,H,W,3] (+ uint8 masks) -> normalised float images [B,3,H,W] (+ float masks)."""
    x = crops.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    m = None if masks is None else torch.as_tensor(masks).to(device, non_blocking=True).float()
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    if augment:
        b = x.shape[0]
        contrast = 1 + (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * JITTER
        bright = 1 + (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * JITTER
        grey = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (((x - grey) * contrast + grey) * bright).clamp_(0, 1)
    x = (x - mean) / std
    if augment:
        x, m = _augment(x, m)
    return x, m


def build_optimizer(model: nn.Module, cfg: dict) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms and biases (decaying BN scales only hurts)."""
    inner = getattr(model, "module", model)
    decay = [p for p in inner.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in inner.parameters() if p.requires_grad and p.ndim <= 1]
    tc = cfg["train"]
    groups = [
        {"params": decay, "weight_decay": float(tc.get("weight_decay", 5e-4))},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=float(tc.get("lr", 3e-3)))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: dict, steps_per_epoch: int, time_budget_s: float | None = None
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then cosine decay to 0, stepped once per batch.

    Progress is max(steps done / planned steps, time spent / time budget), so a run cut short by
    `time_budget_min` still anneals its learning rate before the deadline instead of stopping at the peak.
    """
    total = max(1, int(cfg["train"].get("epochs", 1)) * steps_per_epoch)
    warm = float(cfg["train"].get("warmup_frac", 0.05))
    t0 = time.monotonic()

    def factor(step: int) -> float:
        p = (step + 1) / total
        if time_budget_s:
            p = max(p, (time.monotonic() - t0) / time_budget_s)
        p = min(p, 1.0)
        if p < warm:
            return p / warm
        return 0.5 * (1 + math.cos(math.pi * (p - warm) / max(1e-8, 1 - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    cfg: dict,
    device: torch.device | str,
    deadline: float | None = None,
    pos_weight: torch.Tensor | None = None,
) -> dict:
    """One pass over `loader` (batches of uint8 crops, masks, labels). `deadline` is a time.monotonic()
    value; past it the epoch ends early and the result says so (`stopped_early`)."""
    inner = getattr(model, "module", model)
    needs_kp = inner.masks_mode == "keypoints"
    weight = float(cfg["model"].get("mask_loss_weight", 0.5))
    augment = bool(cfg["train"].get("augment", True))
    pw = None if pos_weight is None else pos_weight.to(device)
    model.train()
    t0 = time.perf_counter()
    sums = {"loss": 0.0, "attr_loss": 0.0, "mask_loss": 0.0}
    images, steps, stopped = 0, 0, False
    for batch in loader:
        if deadline is not None and time.monotonic() > deadline:
            stopped = True
            break
        crops, masks, labels = _unpack(batch)
        x, m = prepare_batch(crops, masks, device, augment=augment)
        y = labels.to(device, non_blocking=True).float()
        out = model(x, m if needs_kp else None)
        loss, parts = total_loss(out, y, m, weight, pw)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = x.shape[0]
        sums["loss"] += float(loss.detach()) * n
        sums["attr_loss"] += parts["attr_loss"] * n
        sums["mask_loss"] += parts["mask_loss"] * n
        images += n
        steps += 1
    out_stats = {k: v / max(images, 1) for k, v in sums.items()}
    return {
        **out_stats,
        "images": images,
        "steps": steps,
        "seconds": time.perf_counter() - t0,
        "stopped_early": stopped,
    }


def predict(
    model: nn.Module,
    crops_uint8: np.ndarray,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    kp_masks: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 crops [N,H,W,3] -> attribute probabilities float32 [N,40] (eval mode, no augmentation).

    `kp_masks` [N,8,S,S] is needed only by masks="keypoints" models. The model's train/eval mode is
    restored afterwards.
    """
    inner = getattr(model, "module", model)
    was_training = inner.training
    inner.eval()
    out = []
    try:
        with torch.inference_mode():
            for i in range(0, len(crops_uint8), batch_size):
                x, kp = prepare_batch(
                    torch.as_tensor(crops_uint8[i : i + batch_size]),
                    None if kp_masks is None else torch.as_tensor(kp_masks[i : i + batch_size]),
                    device,
                )
                out.append(torch.sigmoid(inner(x, kp)["logits"].float()).cpu().numpy())
    finally:
        inner.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 40), np.float32)


def fit(
    model: nn.Module,
    train_arrays: FaceArrays | tuple | Mapping,
    val_arrays: FaceArrays | tuple | Mapping | None,
    cfg: dict,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train for `cfg["train"]["epochs"]` (or until `time_budget_min`), evaluating each epoch.

    The model ends holding the weights of the best epoch by validation mean balanced accuracy (the last
    epoch without validation data). Returns {"epochs": [per-epoch records], "best_epoch", "best_val"
    (full `summarize` dict), "stopped" ("completed" | "time_budget"), "seconds"}. `on_epoch(record)` is
    called after each epoch (progress reporting, Prefect artifacts).
    """
    tc = cfg["train"]
    torch.manual_seed(int(tc.get("seed", 0)))
    train_ds = _as_dataset(train_arrays)
    val_ds = None if val_arrays is None else _as_dataset(val_arrays)
    bs = int(tc.get("batch_size", 64))
    loader = DataLoader(
        train_ds,
        batch_size=bs,
        shuffle=True,
        drop_last=len(train_ds) > bs,
        generator=torch.Generator().manual_seed(int(tc.get("seed", 0))),
    )
    inner = getattr(model, "module", model)
    model.to(device)
    budget_s = float(tc.get("time_budget_min", 0)) * 60 or None
    t0 = time.monotonic()
    deadline = t0 + budget_s if budget_s else None
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(loader), budget_s)
    pos_weight = positive_weights(train_ds.labels) if tc.get("pos_weight", False) else None
    history, best, best_state, best_val, stopped = [], -1.0, None, None, "completed"
    for epoch in range(1, int(tc.get("epochs", 1)) + 1):
        stats = train_one_epoch(model, loader, optimizer, scheduler, cfg, device, deadline, pos_weight)
        record = {"epoch": epoch, **stats, "lr": optimizer.param_groups[0]["lr"]}
        val = None
        if val_ds is not None:
            kp = val_ds.masks if inner.masks_mode == "keypoints" else None
            probs = predict(model, val_ds.crops, bs, device, kp)
            val = summarize(probs, val_ds.labels, float(cfg.get("score", {}).get("threshold", 0.5)))
            record["val_mean_accuracy"] = val["mean_accuracy"]
            record["val_mean_balanced_accuracy"] = val["mean_balanced_accuracy"]
        metric = val["mean_balanced_accuracy"] if val is not None else float(epoch)
        if metric > best:
            best, best_val, record["best"] = metric, val, True
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in inner.state_dict().items()})
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if stats["stopped_early"] or (deadline is not None and time.monotonic() > deadline):
            stopped = "time_budget"
            break
    if best_state is not None:
        inner.load_state_dict(best_state)
    best_epoch = max((r["epoch"] for r in history if r.get("best")), default=None)
    return {
        "epochs": history,
        "best_epoch": best_epoch,
        "best_val": best_val,
        "stopped": stopped,
        "seconds": time.monotonic() - t0,
    }
