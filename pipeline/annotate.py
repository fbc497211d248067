"""The annotate stage: corpus image -> faces rows (box, 68 keypoints, aligned crop, group masks).

`annotate_image` is the pure per-image function; `AnnotateActor` keeps one detector loaded per Ray actor;
`run_annotate` streams pending shards through an actor pool and writes each shard as soon as all of its
images are back. Every image yields at least one row: failures are rows with a status, never exceptions.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mgmtn.align import align_face
from mgmtn.masks import pack_masks
from pipeline.crops import encode_crop
from pipeline.decode import ImageError, decode_image
from pipeline.detectors import create_detector
from pipeline.shards import FACES_SCHEMA, ShardAssembler, ShardStore, write_stream
from pipeline.sources import Corpus, SourceError, open_corpus, read_image_bytes

log = logging.getLogger(__name__)

ROW_SCHEMA = FACES_SCHEMA.append(pa.field("idx", pa.int64()))  # idx orders rows; dropped before writing


def _failed_row(base: dict, status: str, error: str, width: int = 0, height: int = 0) -> dict:
    return {**base, "face_idx": -1, "face_count": 0, "status": status, "error": error, "width": width, "height": height}


def annotate_image(corpus: Corpus, rel: str, idx: int, shard: int, detector: Any, cfg: dict) -> list[dict[str, Any]]:
    """All rows for one image: one per kept face, largest first, or one row with a failure status."""
    base = {"idx": idx, "image_id": rel, "path": f"{corpus.url.rstrip('/')}/{rel}", "shard": shard}
    det, align, ann = cfg["detect"], cfg["align"], cfg["annotate"]
    try:
        data = read_image_bytes(corpus, rel, ann["max_file_bytes"])
        img = decode_image(data, max_pixels=det["max_pixels"], max_side=det["max_side"])
    except (SourceError, ImageError) as e:
        return [_failed_row(base, e.status, e.message)]
    except Exception as e:  # a bug or an exotic file must cost one row, not the run
        return [_failed_row(base, "decode_error", f"{type(e).__name__}: {e}")]
    try:
        faces = detector.detect(img.rgb, img.scale)
    except Exception as e:
        return [_failed_row(base, "detect_error", f"{type(e).__name__}: {e}", img.width, img.height)]
    if not faces:
        return [_failed_row(base, "no_face", "no face detected", img.width, img.height)]
    rows = []
    kept = faces[: ann["max_faces"]]
    for i, face in enumerate(kept):
        try:
            a = align_face(img.rgb, face.landmarks, align["crop_size"], align["mask_size"])
        except Exception as e:
            rows.append(
                {
                    **_failed_row(base, "align_error", f"{type(e).__name__}: {e}", img.width, img.height),
                    "face_idx": i,
                    "face_count": len(faces),
                }
            )
            continue
        rows.append(
            {
                **base,
                "face_idx": i,
                "face_count": len(faces),
                "status": "ok",
                "error": None,
                "width": img.width,
                "height": img.height,
                "bbox": (np.asarray(face.bbox, np.float64) * img.scale).astype(np.float32),
                "det_score": float(face.score),
                "landmarks": img.to_full(face.landmarks).astype(np.float32).ravel(),
                "crop": encode_crop(a.crop, align["crop_format"], align["crop_quality"]),
                "masks": pack_masks(a.masks),
            }
        )
    return rows


def annotate_batch(corpus: Corpus, batch: pa.Table, detector: Any, cfg: dict) -> pa.Table:
    """Faces rows for a slice of the manifest (columns idx, image_id, shard): the unit of work of both engines."""
    rows: list[dict] = []
    for idx, rel, shard in zip(
        batch["idx"].to_pylist(), batch["image_id"].to_pylist(), batch["shard"].to_pylist(), strict=True
    ):
        rows.extend(annotate_image(corpus, rel, idx, shard, detector, cfg))
    return rows_to_table(rows)


def rows_to_table(rows: list[dict]) -> pa.Table:
    cols = {f.name: [r.get(f.name) for r in rows] for f in ROW_SCHEMA}
    for name in ("bbox", "landmarks"):
        cols[name] = [None if v is None else v.tolist() for v in cols[name]]
    return pa.table(cols, schema=ROW_SCHEMA)


class AnnotateActor:
    """Ray actor: loads the detector once, then maps manifest batches to faces rows. With a thread-safe
    detector Ray runs several `annotate` calls at once (max_concurrency), all over this one model."""

    def __init__(self, corpus_url: str, detector_name: str, cfg: dict, threads: int = 1):
        if detector_name == "face-alignment":  # dlib needs no torch: don't pay its import in every actor
            import torch

            torch.set_num_threads(max(1, threads))  # Ray sets OMP_NUM_THREADS=1 in workers
        self.corpus = open_corpus(corpus_url)
        self.detector = create_detector(detector_name, cfg["detect"])
        self.cfg = cfg

    def annotate(self, batch: pa.Table) -> pa.Table:
        return annotate_batch(self.corpus, batch, self.detector, self.cfg)


def images_in(table: pa.Table) -> int:
    """Every image has exactly one row with face_idx 0 (its largest face) or -1 (no face / failure)."""
    return int(pc.sum(pc.less_equal(table["face_idx"], 0)).as_py() or 0)


def shard_stats(table: pa.Table, expected_images: int) -> dict:
    statuses = Counter(table["status"].to_pylist())
    images = images_in(table)
    return {
        "images": images,
        "expected_images": expected_images,
        "rows": table.num_rows,
        "faces": statuses.get("ok", 0),
        "statuses": dict(sorted(statuses.items())),
    }


def _inline_batches(blocks: list[pa.Table], corpus_url: str, detector: Any, cfg: dict) -> Iterator[pa.Table]:
    corpus = open_corpus(corpus_url)
    for block in blocks:
        yield annotate_batch(corpus, block, detector, cfg)


def _ray_batches(blocks: list[pa.Table], corpus_url: str, detector_name: str, cfg: dict) -> Iterator[pa.Table]:
    """Stream faces rows from a pool of Ray actors. A killed actor is restarted and its in-flight batches are
    retried, so no row is lost.

    On CPUs the default is one single-threaded actor per CPU: two processes annotate 1.9x faster than one,
    two threads in one process only 1.64x (the Python around dlib holds the GIL). `threads_per_actor` > 1
    runs threads over one loaded model when the detector is thread-safe (dlib), one 100 MB predictor per
    actor instead of per thread. A GPU detector gets one single-threaded actor per GPU.

    Plain actors, not a Ray Data pipeline: the inputs are a few bytes of paths per image and the outputs go
    straight to the shard writer, so Ray Data's planning, block-metadata tasks and helper actors would add
    start-up and per-batch cost without buying anything here (bench/RESULTS.md).
    """
    import ray

    from pipeline.actor_stream import stream_through_actors
    from pipeline.detectors import detector_thread_safe
    from pipeline.runtime import cluster_gpus, init_ray, node_cpus, threaded_pool

    init_ray()
    ann = cfg["annotate"]
    per_thread = float(ann["cpus_per_thread"])
    gpus = cluster_gpus() if detector_name == "face-alignment" else 0
    if gpus:
        size, threads, resources = ann["actors"] or gpus, 1, {"num_gpus": 1, "num_cpus": per_thread}
    else:
        wanted = ann["threads_per_actor"] if detector_thread_safe(detector_name) else 1
        size, threads = threaded_pool(ann["actors"], wanted, per_thread, node_cpus())
        resources = {"num_cpus": threads * per_thread}
    remote_cls = ray.remote(AnnotateActor).options(
        max_restarts=3, max_task_retries=3, max_concurrency=threads, **resources
    )
    torch_threads = max(1, int(per_thread))  # face-alignment only; Ray sets OMP_NUM_THREADS=1 in workers
    actors = [remote_cls.remote(corpus_url, detector_name, cfg, torch_threads) for _ in range(min(size, len(blocks)))]
    log.info("annotate: %d actor(s) x %d thread(s), %d batches", len(actors), threads, len(blocks))
    try:
        # One batch queued per actor beyond its running ones, so no thread waits for a driver round trip.
        yield from stream_through_actors(actors, "annotate", blocks, depth=threads + 1)
    except ray.exceptions.ActorDiedError as e:
        # Usually the constructor failed (a detector model that exists but does not load); say so first.
        raise RuntimeError(f"annotate actors died ({detector_name} detector): {e}") from e
    finally:
        for actor in actors:
            ray.kill(actor)


def run_annotate(
    manifest: pa.Table,
    corpus_url: str,
    faces_url: str,
    cfg: dict,
    detector_name: str,
    metadata: dict[str, str],
    progress: bool = True,
    detector: Any = None,
) -> dict:
    """Annotate every manifest shard that is not done yet; returns counts for this call.

    `detector`, when given, is used by small inline runs; otherwise they load one. Ray runs load theirs in
    the actors only: the driver never pays for a model it would not use.
    """
    store = ShardStore(faces_url)
    store.remove_temp_files()
    done = store.done_shards()
    pending = manifest.filter(pc.invert(pc.is_in(manifest["shard"], pa.array(sorted(done), pa.int32()))))
    expected = Counter(pending["shard"].to_pylist())
    result = {
        "shards_total": len(set(manifest["shard"].to_pylist())),
        "shards_skipped": len(done),
        "shards_written": 0,
        "images": pending.num_rows,
        "seconds": 0.0,
    }
    if pending.num_rows == 0:
        log.info("annotate: all %d shards already done", result["shards_total"])
        return result

    ann = cfg["annotate"]
    bs = ann["batch_size"]
    blocks = [pending.slice(i, bs) for i in range(0, pending.num_rows, bs)]
    if pending.num_rows <= ann["inline_max_images"]:
        # A handful of images: starting Ray and an actor pool would cost more than the work itself.
        batches = _inline_batches(blocks, corpus_url, detector or create_detector(detector_name, cfg["detect"]), cfg)
        result["engine"] = "inline"
    else:
        batches = _ray_batches(blocks, corpus_url, detector_name, cfg)
        result["engine"] = "ray"
    asm = ShardAssembler(expected, count=images_in, sort_keys=["idx", "face_idx"])

    def stats(s: int, table: pa.Table) -> dict:
        return {**shard_stats(table, expected[s]), "detector": detector_name}

    return result | write_stream(batches, store, asm, stats, metadata, "faces", progress, drop=("idx",))


def faces_metadata(cfg: dict, detector: str, detector_version: str) -> dict[str, str]:
    """Key-value metadata of every faces shard. Only what determines the rows goes here (no timestamps),
    so a rerun writes byte-identical shards."""
    import json

    from mgmtn.attributes import GROUPS
    from pipeline.versions import package_versions

    return {
        "mgmtn.table": "faces",
        "mgmtn.schema_version": "1",
        "mgmtn.detector": detector,
        "mgmtn.detector_version": detector_version,
        "mgmtn.groups": json.dumps(list(GROUPS)),
        "mgmtn.config": json.dumps({k: cfg[k] for k in ("align", "detect")}, sort_keys=True),
        "mgmtn.versions": json.dumps(package_versions(), sort_keys=True),
    }


def annotate_to(
    corpus_url: str, out: str, cfg: dict, detector: str = "auto", limit: int | None = None, progress: bool = True
) -> dict:
    """Manifest + annotate, resumable: `out/manifest.parquet` and `out/faces/`. Returns what was done."""
    import fsspec

    from pipeline.detectors import describe_detector, resolve_detector
    from pipeline.sources import load_or_create_manifest

    t0 = time.perf_counter()
    det_name = resolve_detector(detector, cfg["detect"])
    det_version = describe_detector(det_name, cfg["detect"])  # fails fast, before Ray, if weights are missing
    corpus = open_corpus(corpus_url)
    out_fs, out_root = fsspec.core.url_to_fs(out)
    manifest = load_or_create_manifest(corpus, out_fs, out_root.rstrip("/"), cfg["annotate"]["shard_size"], limit)
    t1 = time.perf_counter()
    log.info(
        "manifest: %d images in %d shards (%.1f s)", manifest.num_rows, len(set(manifest["shard"].to_pylist())), t1 - t0
    )
    result = run_annotate(
        manifest,
        corpus_url,
        f"{out.rstrip('/')}/faces",
        cfg,
        det_name,
        faces_metadata(cfg, det_name, det_version),
        progress,
    )
    return {
        **result,
        "detector": det_name,
        "detector_version": det_version,
        "images_total": manifest.num_rows,
        "manifest_seconds": round(t1 - t0, 2),
    }
