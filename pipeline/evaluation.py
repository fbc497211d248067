"""Evaluation of a checkpoint on labelled faces: metrics.json and pictures (per-attribute chart, curves)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mgmtn.attributes import ATTRIBUTES
from mgmtn.fit import predict
from mgmtn.inference import prepare_for_inference
from mgmtn.metrics import summarize
from pipeline.face_arrays import FaceSet


def evaluate(model, meta: dict, faces: FaceSet, batch_size: int = 128) -> dict:
    """Metrics of `model` on labelled faces (kp masks are used only by masks='keypoints' models)."""
    kp = faces.masks if getattr(model, "masks_mode", "predicted") == "keypoints" else None
    # The same inference form the score stage uses, so evaluate and scored tables agree.
    probs = predict(prepare_for_inference(model), faces.crops, batch_size, "cpu", kp)
    return summarize(probs, faces.labels, float(meta.get("threshold", 0.5)))


def write_metrics(out: Path, metrics: dict, **extra) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    path.write_text(json.dumps({**extra, **metrics}, indent=1, sort_keys=True))
    return path


def plot_per_attribute(metrics: dict, path: Path, title: str, baseline: dict | None = None) -> Path:
    """Horizontal bars: accuracy and balanced accuracy per attribute, majority baseline as ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = metrics["per_attribute"]
    y = np.arange(len(ATTRIBUTES))
    acc = [per[a]["accuracy"] for a in ATTRIBUTES]
    bal = [per[a]["balanced_accuracy"] for a in ATTRIBUTES]
    fig, ax = plt.subplots(figsize=(8, 11))
    ax.barh(y - 0.2, acc, 0.4, label=f"accuracy (mean {metrics['mean_accuracy']:.3f})")
    ax.barh(y + 0.2, bal, 0.4, label=f"balanced accuracy (mean {metrics['mean_balanced_accuracy']:.3f})")
    if baseline is not None:
        base = [baseline["per_attribute"][a]["accuracy"] for a in ATTRIBUTES]
        ax.scatter(
            base,
            y - 0.2,
            marker="|",
            color="k",
            s=80,
            label=f"majority baseline (mean {baseline['mean_accuracy']:.3f})",
        )
    ax.set_yticks(y, ATTRIBUTES, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0.3, 1.0)
    ax.axvline(0.5, color="grey", lw=0.5)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_history(history: list[dict], path: Path) -> Path:
    """Training loss (attributes, masks) and validation metrics per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "attr_loss", "mask_loss"):
        a1.plot(ep, [h.get(key, np.nan) for h in history], marker="o", label=key)
    a1.set_xlabel("epoch")
    a1.set_title("training loss")
    a1.legend()
    for key in ("val_mean_accuracy", "val_mean_balanced_accuracy"):
        a2.plot(ep, [h.get(key, np.nan) for h in history], marker="o", label=key)
    a2.set_xlabel("epoch")
    a2.set_title("validation")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
