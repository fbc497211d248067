"""Ray Train wiring around the plain-torch loop in `mgmtn.fit`: data to workers, DDP, checkpoints, resume.

Each worker gets the training arrays through Ray's object store (zero-copy on one node), samples its
share with a DistributedSampler, and runs `mgmtn.fit.train_one_epoch` on a DDP-wrapped model (gloo on CPU,
NCCL on GPU). Rank 0 validates, keeps `best.pt` (by validation mean balanced accuracy) and `last.pt`
(weights + optimizer + scheduler + history) so an interrupted run resumes from its last finished epoch.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mgmtn.attributes import ATTRIBUTES, GROUP_ATTRIBUTES
from mgmtn.checkpoint import save_checkpoint
from mgmtn.fit import MEAN, STD, FaceArrays, build_optimizer, build_scheduler, predict, train_one_epoch
from mgmtn.metrics import summarize
from mgmtn.model import create_model

log = logging.getLogger(__name__)

STATE_FILE = "last.pt"  # resumable training state (weights_only-loadable)
BEST_FILE = "best.pt"  # the best model so far, in the released checkpoint format


def checkpoint_meta(cfg: dict, data: dict, metrics: dict | None = None) -> dict:
    return {
        "attributes": list(ATTRIBUTES),
        "groups": {g: list(a) for g, a in GROUP_ATTRIBUTES.items()},
        "input_size": int(cfg["align"]["crop_size"]),
        "mask_size": int(cfg["align"]["mask_size"]),
        "mean": list(MEAN),
        "std": list(STD),
        "threshold": float(cfg["score"]["threshold"]),
        "config": cfg,
        "data": data,
        "metrics": metrics or {},
    }


def _save_state(path: Path, model: torch.nn.Module, optimizer, scheduler, epoch: int, history: list, best: float):
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "history": history,
        "best": best,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_loop_per_worker(config: dict) -> None:
    """Runs on every Ray Train worker."""
    import ray
    import ray.train
    import ray.train.torch
    from torch.utils.data import DataLoader, DistributedSampler

    cfg, out = config["cfg"], Path(config["out"])
    tc = cfg["train"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(max(1, int(config["threads"])))
    torch.manual_seed(int(tc["seed"]))
    np.random.seed(int(tc["seed"]) + rank)

    train = ray.get(config["train_ref"])
    train_ds = FaceArrays(train["crops"], train["masks"], train["labels"])
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=int(tc["seed"]))
    per_worker = max(1, int(tc["batch_size"]) // world)
    loader = DataLoader(train_ds, batch_size=per_worker, sampler=sampler, drop_last=len(train_ds) > per_worker * world)

    model = create_model(cfg["model"], int(cfg["align"]["crop_size"]), pretrained=True)
    model = ray.train.torch.prepare_model(model)  # DDP when world > 1; moves to the worker's device
    device = ray.train.torch.get_device()
    inner = getattr(model, "module", model)
    budget_s = float(tc["time_budget_min"]) * 60 or None
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(loader), budget_s)

    history: list[dict] = []
    best, start = -1.0, 1
    state_path = out / STATE_FILE
    if config["resume"] and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        inner.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best, start = state["history"], float(state["best"]), int(state["epoch"]) + 1
        if rank == 0:
            log.info("resuming after epoch %d (best val mean balanced accuracy %.4f)", start - 1, best)

    val = ray.get(config["val_ref"]) if config["val_ref"] is not None else None
    t0 = time.monotonic()
    for epoch in range(start, int(tc["epochs"]) + 1):
        sampler.set_epoch(epoch)
        # With several workers the time budget is checked at epoch ends only: a worker leaving mid-epoch
        # would leave the others waiting in an all-reduce forever.
        deadline = t0 + budget_s if (budget_s and world == 1) else None
        stats = train_one_epoch(model, loader, optimizer, scheduler, cfg, device, deadline)
        record: dict[str, Any] = {
            "epoch": epoch,
            **stats,
            "lr": optimizer.param_groups[0]["lr"],
            "images_per_s": stats["images"] * world / max(stats["seconds"], 1e-9),
        }
        metrics: dict = {}
        if rank == 0:
            if val is not None:
                kp = val["masks"] if inner.masks_mode == "keypoints" else None
                probs = predict(inner, val["crops"], 128, device, kp)
                metrics = summarize(probs, val["labels"], float(cfg["score"]["threshold"]))
                record["val_mean_accuracy"] = metrics["mean_accuracy"]
                record["val_mean_balanced_accuracy"] = metrics["mean_balanced_accuracy"]
            score = record.get("val_mean_balanced_accuracy", float(epoch))
            if score > best:
                best, record["best"] = score, True
                save_checkpoint(
                    out / BEST_FILE, inner, checkpoint_meta(cfg, config["data"], {"val": metrics, "epoch": epoch})
                )
            history.append(record)
            _save_state(state_path, inner, optimizer, scheduler, epoch, history, best)
            log.info(
                "epoch %d: loss %.4f, val acc %.4f, val bal acc %.4f, %.1f img/s",
                epoch,
                stats["loss"],
                record.get("val_mean_accuracy", float("nan")),
                record.get("val_mean_balanced_accuracy", float("nan")),
                record["images_per_s"],
            )
        stop = torch.tensor([1.0 if (budget_s and time.monotonic() - t0 > budget_s) or stats["stopped_early"] else 0.0])
        if world > 1:
            torch.distributed.all_reduce(stop, op=torch.distributed.ReduceOp.MAX)
        # Resume state lives in last.pt (weights, optimizer, schedule, history); Ray gets metrics only.
        ray.train.report({k: v for k, v in record.items() if isinstance(v, int | float)})
        if stop.item() > 0:
            break


def run_training(train: dict, val: dict | None, cfg: dict, out: Path, data: dict, resume: bool = True) -> Path:
    """Fit MGMTN with Ray Train; returns the path of the best checkpoint."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from pipeline.runtime import cluster_cpus, cluster_gpus, init_ray

    init_ray(for_training=True)  # a no-op when an earlier stage already started Ray
    out.mkdir(parents=True, exist_ok=True)
    workers = int(cfg["train"]["num_workers"])
    gpus = cluster_gpus()
    cpus_per_worker = max(1, int(cluster_cpus() // workers)) if not gpus else 2
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "cfg": cfg,
            "out": str(out.resolve()),
            "resume": resume,
            "data": data,
            "threads": cpus_per_worker,
            "train_ref": ray.put(train),
            "val_ref": None if val is None else ray.put(val),
        },
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=gpus > 0, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=RunConfig(storage_path=str((out / "ray").resolve()), name="train"),
    )
    trainer.fit()
    best = out / BEST_FILE
    if not best.exists():
        raise RuntimeError(f"training finished without writing {best}")
    return best


def history(out: Path) -> list[dict]:
    state = out / STATE_FILE
    if not state.exists():
        return []
    return torch.load(state, map_location="cpu", weights_only=True)["history"]
