"""Benchmarks: every stage against the simplest thing a user would write instead, side by side.

    python -m bench [--quick] [--json FILE]

Images come from celeba-6k (MGMTN_SHARED or ../shared) when present, else from generated faces. Figures are
medians of repeated runs; ratios compare runs made in this same process, minutes apart at most.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {  # figure -> (comparison, target); None = reported only
    "annotate_speedup": (">=", 1.8),
    "annotate_images_per_s": None,
    "annotate_steady_speedup": None,
    "annotate_first_batch_s": None,
    "annotate_ceiling_speedup": None,
    "score_overhead": ("<=", 1.3),
    "score_faces_per_s": None,
    "flow_overhead_s": ("<=", 20.0),
    "rss_growth": ("<=", 1.3),
    "train_images_per_s_1w": None,
    "train_images_per_s_2w": None,
}


def _celeba_images() -> Path | None:
    from bench.shared import celeba6k

    p = celeba6k() / "img_align_celeba"
    return p if p.is_dir() else None


def _model(work: Path) -> Path:
    """The released model when present (what users score with), else an untrained default-size one."""
    from pipeline.score import RELEASED_MODEL

    if RELEASED_MODEL.exists():
        return RELEASED_MODEL
    from conf import load_config
    from mgmtn.checkpoint import save_checkpoint
    from mgmtn.model import create_model
    from pipeline.training import checkpoint_meta

    cfg = load_config()
    path = work / "untrained.pt"
    save_checkpoint(path, create_model(cfg["model"], cfg["align"]["crop_size"]), checkpoint_meta(cfg, {}))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller corpora and fewer repeats (~3 min)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--detector", default="dlib")
    p.add_argument("--skip", default="", help="comma-separated groups to skip: annotate,score,flow,rss,train")
    p.add_argument("--annotate-images", type=int, help="images for the annotate figures (default: all of celeba-6k)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from bench import stages
    from conf import load_config
    from pipeline.annotate import annotate_to
    from pipeline.runtime import init_ray

    cfg = load_config()
    # The full run annotates the whole celeba-6k corpus (5,340 images; 2,400 generated ones without it): a
    # corpus job is long, and on a few hundred images the actor pool's fixed start-up is a large part of
    # what is measured (see annotate_first_batch_s).
    n_annot, n_small, n_big, repeats = (240, 100, 1000, 2) if a.quick else (100_000, 200, 2000, 2)
    celeba = _celeba_images()
    if a.annotate_images:
        n_annot = a.annotate_images
    elif not celeba:
        n_annot = min(n_annot, 2400)
    skip = set(filter(None, a.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="mgmtn-bench-"))
    figures: dict = {
        "images_from": "celeba-6k" if celeba else "generated",
        "quick": a.quick,
        "detector": a.detector,
        "cpus": os.cpu_count(),
    }
    t0 = time.perf_counter()
    init_ray()
    model = _model(work)
    corpus = stages.make_corpus(work / "corpus", n_annot, celeba)
    if "annotate" not in skip:
        figures.update(stages.annotate_figures(corpus, cfg, a.detector, repeats, work))
    elif not skip >= {"score", "train"}:
        annotate_to(str(corpus), str(work / "annotate-0"), cfg, a.detector, progress=False)
    faces_glob = f"{work}/annotate-0/faces/*.parquet"
    if "score" not in skip:
        figures.update(stages.score_figures(faces_glob, model, cfg["score"]["batch_size"], repeats))
    if "flow" not in skip:
        figures.update(stages.flow_overhead(corpus, model, cfg, a.detector, work))
    if "rss" not in skip:
        small = stages.make_corpus(work / "rss-small-corpus", n_small, celeba)
        big = stages.make_corpus(work / "rss-big-corpus", n_big, celeba)
        figures.update(stages.rss_figures(small, big, model, a.detector, work))
    if "train" not in skip:
        figures.update(stages.train_figures(faces_glob, cfg, work, 256 if a.quick else 512))
    figures["bench_seconds"] = time.perf_counter() - t0
    print(format_table(figures))
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=1, sort_keys=True))
    return 0


def format_table(f: dict) -> str:
    lines = [
        f"images: {f['images_from']}, detector {f['detector']}, {f['cpus']} CPUs, quick={f['quick']}",
        f"{'figure':<24} {'value':>10}  {'target':>8}  status",
        "-" * 56,
    ]
    for key, target in TARGETS.items():
        if key not in f:
            continue
        v = f[key]
        if target is None:
            lines.append(f"{key:<24} {v:>10.2f}  {'-':>8}  reported")
        else:
            op, t = target
            ok = v >= t if op == ">=" else v <= t
            lines.append(f"{key:<24} {v:>10.2f}  {op + str(t):>8}  {'met' if ok else 'MISSED'}")
    if f.get("quick"):
        lines.append("quick run: corpora too small for start-up costs to amortize; targets are judged on the full run")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
