"""Ray Train wiring: DDP over two CPU workers (gloo) on tiny synthetic data, checkpoints, resume."""

import numpy as np
import torch

from conf import load_config
from mgmtn.checkpoint import load_checkpoint
from pipeline.training import BEST_FILE, STATE_FILE, history, run_training


def _data(n: int, size: int = 64, mask: int = 16, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, (n, 40)).astype(np.float32)
    labels[:, 0] = crops.mean(axis=(1, 2, 3)) > 127
    masks = rng.integers(0, 2, (n, 8, mask, mask), dtype=np.uint8)
    return {"crops": crops, "masks": masks, "labels": labels}


def _cfg(epochs: int, workers: int) -> dict:
    return load_config(
        overrides={
            "align.crop_size": 64,
            "align.mask_size": 16,
            "model.width": 8,
            "model.fusion_dim": 16,
            "model.decoder_dim": 8,
            "train.epochs": epochs,
            "train.batch_size": 8,
            "train.num_workers": workers,
        }
    )


def test_two_worker_ddp_trains_checkpoints_and_resumes(tmp_path, ray_runtime):
    train, val = _data(32), _data(16, seed=1)
    out = tmp_path / "run"
    best = run_training(train, val, _cfg(1, 2), out, {"data": "synthetic"})
    assert best == out / BEST_FILE and (out / STATE_FILE).exists()
    h = history(out)
    assert [r["epoch"] for r in h] == [1]
    # DistributedSampler gives each of 2 workers half the data; rank 0 reports its own share.
    assert h[0]["images"] == 16 and "val_mean_balanced_accuracy" in h[0]
    model, meta = load_checkpoint(best)
    assert meta["input_size"] == 64 and meta["data"]["data"] == "synthetic"
    # Asking for 2 epochs resumes after epoch 1 instead of starting over.
    run_training(train, val, _cfg(2, 2), out, {"data": "synthetic"})
    assert [r["epoch"] for r in history(out)] == [1, 2]
    state = torch.load(out / STATE_FILE, weights_only=True)
    assert state["epoch"] == 2 and state["optimizer"]["state"], "optimizer state travels with the resume file"
