"""Do the scored tables agree with `flows.evaluate`? Scores celeba-6k with `annotate-corpus`, thresholds the
attributes table, and compares its per-split accuracy with what `evaluate` computes for the same model.

    python -m bench.agreement [--data DIR] [--model CKPT] [--out DIR] [--split val]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

from bench.shared import celeba6k
from mgmtn.attributes import ATTRIBUTE_COLUMNS
from mgmtn.metrics import summarize
from pipeline.celeba import SPLITS, images_url, read_labels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.agreement")
    p.add_argument("--data", default=str(celeba6k()))
    p.add_argument("--model", default=None)
    p.add_argument("--out", default="out/agreement")
    p.add_argument("--split", default="val", choices=list(SPLITS))
    a = p.parse_args(argv)
    from flows.annotate_corpus import annotate_corpus
    from flows.evaluate import evaluate_model
    from pipeline.score import default_model

    model = a.model or str(default_model())
    annotate_corpus(corpus=images_url(a.data), out=f"{a.out}/corpus", detector="dlib", model=model, progress=False)
    ev = evaluate_model(data=a.data, model=model, out=f"{a.out}/evaluate", split=a.split, detector="dlib")
    labels = read_labels(a.data)
    lab = pl.DataFrame({"image_id": labels.image_ids, "part": labels.partition})
    attrs = (
        pl.read_parquet(Path(a.out) / "corpus" / "attributes" / "*.parquet")
        .filter((pl.col("status") == "ok") & (pl.col("face_idx") == 0))
        .join(lab, on="image_id")
        .filter(pl.col("part") == SPLITS[a.split])
        .sort("image_id")
    )
    pos = labels.index()
    y = labels.labels[[pos[i] for i in attrs["image_id"]]]
    m = summarize(attrs.select(ATTRIBUTE_COLUMNS).to_numpy().astype(np.float64), y)
    print(f"{a.split}: table {attrs.height} faces, mean accuracy {m['mean_accuracy']:.4f}, "
          f"mean balanced accuracy {m['mean_balanced_accuracy']:.4f}")  # fmt: skip
    print(f"{a.split}: evaluate {ev['image_count']} faces, mean accuracy {ev['mean_accuracy']:.4f}, "
          f"mean balanced accuracy {ev['mean_balanced_accuracy']:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
