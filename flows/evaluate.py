"""`evaluate`: a checkpoint's per-attribute accuracy on a CelebA-layout folder.

    python -m flows.evaluate --data PATH --model CKPT --out DIR [--split test|val|train|all]

Writes DIR/metrics.json (mean_accuracy, mean_balanced_accuracy, per-attribute values, split, image count,
images without a detected face) and DIR/per_attribute.png. The default split is test when the data has
one, else val.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from conf import load_config
from flows.cli import run_flow
from mgmtn.checkpoint import load_checkpoint
from mgmtn.metrics import headline, majority_baseline
from pipeline.celeba import SPLITS
from pipeline.datasets import annotate_celeba, load_celeba_faces
from pipeline.evaluation import evaluate, plot_per_attribute, write_metrics
from pipeline.face_arrays import concat_faces


@task(name="annotate-data")
def annotate_data(data: str, cfg: dict, detector: str, annotations: str | None) -> str:
    return annotate_celeba(data, cfg, detector, annotations)


@flow(name="evaluate", log_prints=True)
def evaluate_model(
    data: str,
    model: str,
    out: str = "out/eval",
    split: str | None = None,
    detector: str = "auto",
    annotations: str | None = None,
) -> dict[str, Any]:
    logger = get_run_logger()
    net, meta = load_checkpoint(model)
    cfg = load_config()
    # Annotate exactly as the model was trained: its alignment settings, whatever the defaults say now.
    for section in ("align", "detect"):
        cfg[section].update(meta["config"].get(section, {}))
    cf = load_celeba_faces(data, annotate_data(data, cfg, detector, annotations))
    if split is None:
        split = "test" if cf.labelled("test") else "val"
    names = list(SPLITS) if split == "all" else [split]
    sub = concat_faces([cf.splits[n] for n in names])
    labelled = sum(cf.labelled(n) for n in names)
    if len(sub) == 0:
        raise ValueError(f"{data}: no faces in split {split!r}")
    metrics = evaluate(net, meta, sub)
    train = cf.splits["train"]
    base = majority_baseline(train.labels, sub.labels) if len(train) else None
    out_dir = Path(out)
    extra = {
        "split": split,
        "image_count": len(sub),
        "labelled_images": labelled,
        "images_without_face": labelled - len(sub),
        "model": str(model),
        "data": data,
    }
    if base:
        extra["majority_baseline"] = headline(base)
    write_metrics(out_dir, metrics, **extra)
    plot_per_attribute(
        metrics, out_dir / "per_attribute.png", f"{Path(model).name} on {split} ({len(sub)} faces)", base
    )
    line = (
        f"{split}: mean accuracy {metrics['mean_accuracy']:.4f}, mean balanced accuracy "
        f"{metrics['mean_balanced_accuracy']:.4f} on {len(sub)} faces ({labelled - len(sub)} without a face)"
    )
    print(line)
    logger.info("wrote %s", out_dir / "metrics.json")
    return {**extra, **headline(metrics)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out", default="out/eval")
    p.add_argument("--split", choices=["test", "val", "train", "all"])
    p.add_argument("--detector", default="auto", choices=["auto", "dlib", "face-alignment"])
    p.add_argument("--annotations", help="faces cache folder (default: ~/.cache/mgmtn/annotations)")
    return run_flow("evaluate", evaluate_model, p.parse_args(argv))[0]


if __name__ == "__main__":
    sys.exit(main())
