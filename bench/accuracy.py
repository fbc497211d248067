"""MGMTN against its `masks: off` ablation and the majority baseline, same data, seed and budget.

    python -m bench.accuracy [--data DIR] [--epochs N] [--out DIR] [--variants predicted,off,keypoints]

Trains each variant with Ray Train on celeba-6k's train split, selects its best epoch on validation, and
prints one table of validation mean accuracy and mean balanced accuracy (also written to OUT/accuracy.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.shared import celeba6k
from conf import load_config
from mgmtn.checkpoint import load_checkpoint
from mgmtn.metrics import majority_baseline
from pipeline.datasets import annotate_celeba, load_celeba_faces, training_arrays
from pipeline.evaluation import evaluate
from pipeline.runtime import init_ray
from pipeline.training import run_training


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(celeba6k()))
    p.add_argument("--epochs", type=int, help="epochs per variant (default: the release budget in conf)")
    p.add_argument("--out", default="out/bench-accuracy")
    p.add_argument("--variants", default="predicted,off", help="comma-separated [model] masks modes")
    p.add_argument("--detector", default="auto")
    a = p.parse_args(argv)
    if not Path(a.data).exists():
        print(f"no data at {a.data} (set MGMTN_SHARED or --data)", file=sys.stderr)
        return 2
    base_cfg = load_config()
    init_ray(for_training=True)
    cf = load_celeba_faces(a.data, annotate_celeba(a.data, base_cfg, a.detector, progress=False))
    train, val = cf.splits["train"], cf.splits["val"]
    rows = []
    base = majority_baseline(train.labels, val.labels)
    rows.append(("majority baseline", base["mean_accuracy"], base["mean_balanced_accuracy"], 0.0))
    for variant in a.variants.split(","):
        cfg = load_config(overrides={"model.masks": variant})
        if a.epochs:
            cfg["train"]["epochs"] = a.epochs
        out = Path(a.out) / f"masks-{variant}"
        t0 = time.perf_counter()
        best = run_training(training_arrays(train), training_arrays(val), cfg, out, cf.describe(), resume=False)
        model, meta = load_checkpoint(best)
        m = evaluate(model, meta, val)
        rows.append(
            (f"MGMTN masks={variant}", m["mean_accuracy"], m["mean_balanced_accuracy"], time.perf_counter() - t0)
        )
    lines = [
        f"celeba-6k subset, validation split ({len(val)} faces), {len(train)} training faces, "
        f"epochs {a.epochs or base_cfg['train']['epochs']}, seed {base_cfg['train']['seed']}",
        f"{'model':<28} {'mean acc':>9} {'mean bal acc':>13} {'train s':>8}",
    ]
    lines += [f"{n:<28} {acc:>9.4f} {bal:>13.4f} {sec:>8.0f}" for n, acc, bal, sec in rows]
    print("\n".join(lines))
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "accuracy.json").write_text(
        json.dumps(
            [
                {"model": n, "mean_accuracy": acc, "mean_balanced_accuracy": bal, "train_seconds": sec}
                for n, acc, bal, sec in rows
            ],
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
