"""`annotate-corpus`: corpus -> faces shards -> attribute tables, resumable per shard at each stage.

    python -m flows.annotate_corpus --corpus PATH_OR_URL --out DIR [--detector auto|dlib|face-alignment]
        [--limit N] [--shard-size N] [--model CKPT] [--ray-address ADDR] [--set section.key=value ...]

With no --corpus it runs on a small demo corpus built from photos shipped inside scikit-image.
"""

from __future__ import annotations

import argparse
import json
import logging
import posixpath
import sys
import time
from typing import Any

import fsspec
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from conf import load_config
from pipeline.annotate import run_annotate
from pipeline.detectors import create_detector, resolve_detector
from pipeline.locking import OutputLock
from pipeline.shards import ShardStore
from pipeline.sources import load_or_create_manifest, open_corpus
from pipeline.summary import faces_summary, format_summary
from pipeline.versions import package_versions


@task(name="manifest")
def manifest_task(corpus_url: str, out: str, shard_size: int, limit: int | None):
    corpus = open_corpus(corpus_url)
    out_fs, out_root = fsspec.core.url_to_fs(out)
    return load_or_create_manifest(corpus, out_fs, out_root.rstrip("/"), shard_size, limit)


@task(name="annotate")
def annotate_task(manifest, corpus_url: str, out: str, cfg: dict, detector: str, metadata: dict, progress: bool):
    return run_annotate(manifest, corpus_url, f"{out.rstrip('/')}/faces", cfg, detector, metadata, progress)


def _faces_metadata(cfg: dict, detector: str, detector_version: str) -> dict[str, str]:
    from mgmtn.attributes import GROUPS

    # Only what determines the rows goes here, so a rerun writes byte-identical shards.
    return {
        "mgmtn.table": "faces",
        "mgmtn.schema_version": "1",
        "mgmtn.detector": detector,
        "mgmtn.detector_version": detector_version,
        "mgmtn.groups": json.dumps(list(GROUPS)),
        "mgmtn.config": json.dumps({k: cfg[k] for k in ("align", "detect")}, sort_keys=True),
        "mgmtn.versions": json.dumps(package_versions(), sort_keys=True),
    }


@flow(name="annotate-corpus", log_prints=True)
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
    det_name = resolve_detector(detector)
    det = create_detector(det_name, cfg["detect"])  # fail fast, before Ray starts, if weights are missing
    stage_seconds: dict[str, float] = {}
    with OutputLock(out):
        t = time.perf_counter()
        manifest = manifest_task(corpus, out, cfg["annotate"]["shard_size"], limit)
        stage_seconds["manifest"] = time.perf_counter() - t
        logger.info("manifest: %d images in %d shards", manifest.num_rows, len(set(manifest["shard"].to_pylist())))
        t = time.perf_counter()
        meta = _faces_metadata(cfg, det_name, det.version)
        annotate_task(manifest, corpus, out, cfg, det_name, meta, progress)
        stage_seconds["annotate"] = time.perf_counter() - t
        summary = {
            "corpus": corpus,
            "out": out,
            "detector": det_name,
            "detector_version": det.version,
            "faces": faces_summary(ShardStore(posixpath.join(out.rstrip("/"), "faces"))),
            "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
            "wall_seconds": round(time.perf_counter() - t_start, 2),
            "config": cfg,
        }
    text = format_summary(summary)
    print(text)
    create_markdown_artifact(key="annotate-corpus-summary", markdown=f"```\n{text}\n```",
                             description="annotate-corpus run summary")  # fmt: skip
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
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    a = parse_args(argv)
    try:
        annotate_corpus(corpus=a.corpus, out=a.out, detector=a.detector, limit=a.limit, shard_size=a.shard_size,
                        model=a.model, ray_address=a.ray_address, overrides=a.overrides, strict=a.strict,
                        progress=not a.no_progress)  # fmt: skip
    except Exception as e:  # the flow already logged the traceback; end with one clear line
        print(f"annotate-corpus failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
