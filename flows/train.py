"""`train`: fit MGMTN on a CelebA-layout folder with Ray Train (GPU workers when Ray sees GPUs).

    python -m flows.train --data PATH --out DIR [--epochs N] [--workers N] [--set section.key=value ...]

The images are annotated first (cached per data set and detector, so a second run reuses the faces shards),
labels are joined by image id, the official split is used (train / val for model selection / test).
Writes DIR/model.pt (best epoch), DIR/metrics.json, DIR/per_attribute.png, DIR/curves.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from conf import load_config
from flows.cli import run_flow
from mgmtn.checkpoint import load_checkpoint
from mgmtn.metrics import headline, majority_baseline
from pipeline.datasets import annotate_celeba, load_celeba_faces, training_arrays
from pipeline.evaluation import evaluate, plot_history, plot_per_attribute, write_metrics
from pipeline.runtime import init_ray
from pipeline.training import history, run_training


@task(name="annotate-data")
def annotate_data(data: str, cfg: dict, detector: str, annotations: str | None, limit: int | None) -> str:
    return annotate_celeba(data, cfg, detector, annotations, limit)


@task(name="fit")
def fit_task(train: dict, val: dict | None, cfg: dict, out: str, data_info: dict, resume: bool) -> str:
    return str(run_training(train, val, cfg, Path(out), data_info, resume))


@flow(name="train", log_prints=True)
def train(
    data: str,
    out: str = "out/train",
    epochs: int | None = None,
    workers: int | None = None,
    detector: str = "auto",
    limit: int | None = None,
    annotations: str | None = None,
    overrides: list[str] | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    logger = get_run_logger()
    t0 = time.perf_counter()
    cfg = load_config(overrides=overrides)
    if epochs:
        cfg["train"]["epochs"] = epochs
    if workers:
        cfg["train"]["num_workers"] = workers
    init_ray(for_training=True)  # before annotation can start it, so Ray Train's workers get the quiet-logs hook
    ann_dir = annotate_data(data, cfg, detector, annotations, limit)
    cf = load_celeba_faces(data, ann_dir)
    splits = cf.splits
    logger.info("faces with labels: %s", {k: len(v) for k, v in splits.items()})
    if len(splits["train"]) == 0:
        raise ValueError(f"{data}: no training images with a detected face")
    val = training_arrays(splits["val"]) if len(splits["val"]) else None
    data_info = {"data": data, **cf.describe()}
    best = fit_task(training_arrays(splits["train"]), val, cfg, out, data_info, resume)

    out_dir = Path(out)
    model, meta = load_checkpoint(best)
    hist = history(out_dir)
    report: dict[str, Any] = {
        "best_epoch": meta["metrics"].get("epoch"),
        "train_images": len(splits["train"]),
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    for name in ("val", "test"):
        if len(splits[name]):
            m = evaluate(model, meta, splits[name])
            base = majority_baseline(splits["train"].labels, splits[name].labels)
            report[name] = {
                **headline(m),
                "images": len(splits[name]),
                "per_attribute": m["per_attribute"],
                "majority_baseline": headline(base),
            }
            plot_per_attribute(
                m, out_dir / f"per_attribute_{name}.png", f"MGMTN on {name} ({len(splits[name])} faces)", base
            )
    main_split = "test" if "test" in report else "val" if "val" in report else None
    if main_split:
        write_metrics(
            out_dir, report[main_split], split=main_split, image_count=report[main_split]["images"], report=report
        )
    (out_dir / "history.json").write_text(json.dumps(hist, indent=1))
    if hist:
        plot_history(hist, out_dir / "curves.png")
    shutil.copyfile(best, out_dir / "model.pt")
    lines = [f"best epoch {report['best_epoch']}, {report['train_images']} training faces, {report['train_seconds']} s"]
    for name in ("val", "test"):
        if name in report:
            r = report[name]
            lines.append(
                f"{name}: mean accuracy {r['mean_accuracy']:.4f}, mean balanced accuracy "
                f"{r['mean_balanced_accuracy']:.4f} (majority baseline "
                f"{r['majority_baseline']['mean_accuracy']:.4f}) on {r['images']} faces"
            )
    text = "\n".join(lines)
    print(text)
    create_markdown_artifact(key="train-summary", markdown=f"```\n{text}\n```", description="MGMTN training")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="CelebA-layout folder or URL")
    p.add_argument("--out", default="out/train")
    p.add_argument("--epochs", type=int)
    p.add_argument("--workers", type=int, help="Ray Train workers (default from conf)")
    p.add_argument("--detector", default="auto", choices=["auto", "dlib", "face-alignment"])
    p.add_argument("--limit", type=int, help="only the first N images (smoke runs)")
    p.add_argument("--annotations", help="where to cache the faces shards (default: ~/.cache/mgmtn/annotations)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument(
        "--no-resume", dest="resume", action="store_false", help="start from scratch even if DIR has a last.pt"
    )
    return run_flow("train", train, p.parse_args(argv))[0]


if __name__ == "__main__":
    sys.exit(main())
