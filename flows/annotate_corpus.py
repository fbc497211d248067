"""`annotate-corpus`: corpus -> faces shards -> attribute tables, resumable per shard at each stage.

    python -m flows.annotate_corpus --corpus PATH_OR_URL --out DIR [--detector auto|dlib|face-alignment]
        [--limit N] [--shard-size N] [--model CKPT] [--ray-address ADDR] [--set section.key=value ...]

With no --corpus it runs on a small demo corpus built from photos shipped inside scikit-image.
"""

from __future__ import annotations

import argparse
import posixpath
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from conf import load_config
from flows.cli import run_flow
from pipeline.annotate import annotate_to
from pipeline.locking import OutputLock
from pipeline.report import contact_sheet, prevalence, write_overlays
from pipeline.score import default_model, run_score
from pipeline.shards import ShardStore
from pipeline.summary import faces_summary, format_summary


@task(name="annotate")
def annotate_task(corpus: str, out: str, cfg: dict, detector: str, limit: int | None, progress: bool) -> dict:
    return annotate_to(corpus, out, cfg, detector, limit, progress)


@task(name="score")
def score_task(out: str, model: str, cfg: dict, progress: bool) -> dict:
    return run_score(out, model, cfg, progress)


def _glob(out: str, table: str) -> str:
    return posixpath.join(out.rstrip("/"), table, "*.parquet")


@task(name="report")
def report_task(out: str, scored: bool, cfg: dict) -> list[str]:
    """Overlays and a contact sheet on local outputs (pictures are for people at this machine)."""
    if "://" in out:
        return []
    pics = Path(out) / "pictures"
    faces_glob = _glob(out, "faces")
    paths = write_overlays(faces_glob, pics, 4, cfg["align"]["mask_size"])
    if scored:
        attrs_glob = _glob(out, "attributes")
        paths.append(
            contact_sheet(faces_glob, attrs_glob, pics / "contact-sheet.png", threshold=cfg["score"]["threshold"])
        )
    return [str(p) for p in paths]


def _released_model(logger) -> Path | None:
    try:
        return default_model()
    except FileNotFoundError as e:
        logger.warning("%s: writing faces only", e)
        return None


@flow(name="annotate-corpus")
def annotate_corpus(
    corpus: str | None = None,
    out: str = "out/demo",
    detector: str = "auto",
    limit: int | None = None,
    shard_size: int | None = None,
    model: str | None = None,
    ray_address: str | None = None,
    overrides: list[str] | None = None,
    strict: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Annotate (and, once a model is given or released, score) every image of a corpus."""
    logger = get_run_logger()
    t_start = time.perf_counter()
    if not corpus:
        from pipeline.demo import demo_corpus

        corpus = demo_corpus()
        logger.info("no --corpus given: using the embedded demo corpus at %s", corpus)
    cfg = load_config(overrides=overrides)
    if shard_size:
        cfg["annotate"]["shard_size"] = shard_size
    if ray_address:
        from pipeline.runtime import init_ray

        init_ray(ray_address)
    stage_seconds: dict[str, float] = {}

    def timed(stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        value = fn(*args)
        stage_seconds[stage] = time.perf_counter() - t
        return value

    with OutputLock(out):
        ann = timed("annotate", annotate_task, corpus, out, cfg, detector, limit, progress)
        model_path = model or _released_model(logger)
        prev: dict[str, float] = {}
        scored: dict = {}
        if model_path:
            scored = timed("score", score_task, out, str(model_path), cfg, progress)
            prev = prevalence(_glob(out, "attributes"), cfg["score"]["threshold"])
        pictures = timed("report", report_task, out, bool(model_path), cfg)
        summary = {
            "corpus": corpus,
            "out": out,
            "detector": ann["detector"],
            "detector_version": ann["detector_version"],
            "model": str(model_path) if model_path else None,
            "faces": faces_summary(ShardStore(posixpath.join(out.rstrip("/"), "faces"))),
            "annotate": {k: ann[k] for k in ("shards_total", "shards_skipped", "shards_written")},
            "score": {k: scored[k] for k in ("shards_total", "shards_skipped", "shards_written")} if scored else {},
            "prevalence": prev,
            "pictures": pictures,
            "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
            "wall_seconds": round(time.perf_counter() - t_start, 2),
            "config": cfg,
        }
    text = format_summary(summary)
    logger.info("run summary\n%s", text)
    create_markdown_artifact(
        key="annotate-corpus-summary", markdown=f"```\n{text}\n```", description="annotate-corpus run summary"
    )
    if strict and summary["faces"]["failed_rows"]:
        raise RuntimeError(f"--strict: {summary['faces']['failed_rows']} rows failed: {summary['faces']['statuses']}")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m flows.annotate_corpus", description=__doc__.split("\n")[0])
    p.add_argument("--corpus", help="folder or fsspec URL of images (default: embedded demo corpus)")
    p.add_argument("--out", default="out/demo", help="output folder or URL (default: out/demo)")
    p.add_argument("--detector", default="auto", choices=["auto", "dlib", "face-alignment"])
    p.add_argument("--limit", type=int, help="only the first N images of the corpus (sorted by path)")
    p.add_argument("--shard-size", type=int, help="images per shard (default from conf)")
    p.add_argument("--model", help="MGMTN checkpoint for scoring (default: the released model)")
    p.add_argument("--ray-address", help="join this Ray cluster (default: RAY_ADDRESS or a local runtime)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--strict", action="store_true", help="exit non-zero when any row failed")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    rc, summary = run_flow("annotate-corpus", annotate_corpus, parse_args(argv))
    if summary is not None:
        print(format_summary(summary))
    return rc


if __name__ == "__main__":
    sys.exit(main())
