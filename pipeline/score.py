"""The score stage: faces shards -> attributes shards (one row per faces row, 40 probabilities).

`ScoreActor` loads the checkpoint once per Ray actor and scores batches of aligned crops; `run_score`
streams the faces shards whose attributes are not done yet and writes each attributes shard as soon as
all of its rows are back. Rows without a face keep their status and get null probabilities, so the two
tables always have the same rows.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mgmtn.attributes import ATTRIBUTE_COLUMNS, ATTRIBUTES, GROUP_ATTRIBUTES
from pipeline.crops import decode_crops
from pipeline.shards import ATTRIBUTES_SCHEMA, ShardAssembler, ShardStore, write_stream

log = logging.getLogger(__name__)

FACES_COLUMNS = ["image_id", "path", "shard", "face_idx", "status", "bbox", "crop"]
RELEASED_MODEL = Path(__file__).resolve().parent.parent / "mgmtn" / "weights" / "mgmtn-celeba6k.pt"


def default_model() -> Path:
    if not RELEASED_MODEL.exists():
        raise FileNotFoundError(f"the released model is missing at {RELEASED_MODEL}; pass --model CKPT")
    return RELEASED_MODEL


def score_table(batch: pa.Table, model, model_id: str, batch_size: int, device: str = "cpu") -> pa.Table:
    """Pure scoring of one batch of faces rows (pyarrow in, pyarrow out)."""
    import torch

    from mgmtn.fit import prepare_batch
    from mgmtn.inference import to_channels_last

    ok = np.asarray(pc.equal(batch["status"], "ok").to_numpy(zero_copy_only=False), dtype=bool)
    probs = np.full((batch.num_rows, len(ATTRIBUTES)), np.nan, np.float32)
    idx = np.nonzero(ok)[0]
    crops = batch["crop"]
    with torch.inference_mode():
        for s in range(0, len(idx), batch_size):
            rows = idx[s : s + batch_size]
            arr = decode_crops([crops[int(i)].as_py() for i in rows])
            # Always the same batch shape: CPU kernels pick their blocking by shape, so a face scored in a
            # short batch could differ in the last bit from the same face in a full one. Padding makes a
            # resumed run's probabilities identical to an uninterrupted run's.
            if len(arr) < batch_size:
                arr = np.concatenate([arr, np.zeros((batch_size - len(arr), *arr.shape[1:]), arr.dtype)])
            x, _ = prepare_batch(torch.from_numpy(arr), None, device)
            probs[rows] = torch.sigmoid(model(to_channels_last(x))["logits"].float()).cpu().numpy()[: len(rows)]
    cols = {
        "image_id": batch["image_id"],
        "path": batch["path"],
        "shard": batch["shard"],
        "face_idx": batch["face_idx"],
        "status": batch["status"],
        "bbox": batch["bbox"],
    }
    for j, name in enumerate(ATTRIBUTE_COLUMNS):
        cols[name] = pa.array(probs[:, j], pa.float32(), mask=~ok)
    cols["model"] = pa.array([model_id] * batch.num_rows, pa.string())
    return pa.table(cols, schema=ATTRIBUTES_SCHEMA)


class ScoreActor:
    """Ray Data callable class: one model per actor, in inference mode, on the GPU when it has one."""

    def __init__(self, model_path: str, batch_size: int, threads: int = 1):
        import torch

        from mgmtn.checkpoint import checkpoint_id, load_checkpoint
        from mgmtn.inference import prepare_for_inference

        torch.set_num_threads(max(1, threads))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        model, self.meta = load_checkpoint(model_path, map_location=self.device)
        self.model = prepare_for_inference(model)
        self.model_id = checkpoint_id(model_path)
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        return score_table(batch, self.model, self.model_id, self.batch_size, self.device)


def attributes_metadata(model_path: str, meta: dict, model_id: str) -> dict[str, str]:
    from pipeline.versions import package_versions

    return {
        "mgmtn.table": "attributes",
        "mgmtn.schema_version": "1",
        "mgmtn.model": model_id,
        "mgmtn.model_file": Path(model_path).name,
        "mgmtn.attributes": json.dumps(list(ATTRIBUTES)),
        "mgmtn.columns": json.dumps(dict(zip(ATTRIBUTE_COLUMNS, ATTRIBUTES, strict=True))),
        "mgmtn.groups": json.dumps({g: list(a) for g, a in GROUP_ATTRIBUTES.items()}),
        "mgmtn.threshold": str(meta.get("threshold", 0.5)),
        "mgmtn.config": json.dumps(meta.get("config", {}), sort_keys=True),
        "mgmtn.versions": json.dumps(package_versions(), sort_keys=True),
    }


def _rows(table: pa.Table) -> int:
    return table.num_rows


def _inline_batches(faces: ShardStore, files: list[str], model_path: str, cfg: dict) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    sc = cfg["score"]
    actor = ScoreActor(str(model_path), sc["batch_size"], sc["threads"] or os.cpu_count() or 1)
    for f in files:
        with faces.fs.open(f, "rb") as fh:
            yield actor(pq.read_table(fh, columns=FACES_COLUMNS))


def _ray_batches(faces: ShardStore, files: list[str], model_path: str, cfg: dict) -> Iterator[pa.Table]:
    """Stream attribute rows from an actor pool reading the faces shards (GPU actors when Ray sees GPUs)."""
    import ray

    from pipeline.runtime import actor_pool, cluster_cpus, cluster_gpus, init_ray

    init_ray()
    sc = cfg["score"]
    size, resources = actor_pool(sc["actors"], sc["actor_cpus"], cluster_gpus())
    # Read tasks ask for a sliver of a CPU so they are always schedulable beside the actors.
    ds = ray.data.read_parquet(
        files,
        filesystem=_arrow_fs(faces),
        columns=FACES_COLUMNS,
        file_extensions=None,
        num_cpus=0.25,
    )
    ds = ds.map_batches(
        ScoreActor,
        fn_constructor_kwargs={
            "model_path": str(model_path),
            "batch_size": sc["batch_size"],
            "threads": sc["threads"] or max(1, int(cluster_cpus()) // size),
        },
        batch_size=sc["batch_size"],
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size),
        max_restarts=3,
        max_task_retries=3,
        **resources,
    )
    yield from ds.iter_batches(batch_format="pyarrow", batch_size=None)


def run_score(out: str, model_path: str, cfg: dict, progress: bool = True) -> dict:
    """Score every faces shard of `out` whose attributes shard is not done; returns counts for this call."""
    from mgmtn.checkpoint import checkpoint_id, read_checkpoint

    faces = ShardStore(f"{out.rstrip('/')}/faces")
    attrs = ShardStore(f"{out.rstrip('/')}/attributes")
    attrs.remove_temp_files()
    faces_done, attrs_done = faces.done_shards(), attrs.done_shards()
    pending = sorted(faces_done - attrs_done)
    result = {
        "shards_total": len(faces_done),
        "shards_skipped": len(faces_done & attrs_done),
        "shards_written": 0,
        "rows": 0,
        "seconds": 0.0,
    }
    if not pending:
        return result
    meta = read_checkpoint(model_path)["meta"]  # validates the file before any worker starts
    model_id = checkpoint_id(model_path)
    metadata = attributes_metadata(model_path, meta, model_id)
    expected = {s: int(faces.read_stats(s)["rows"]) for s in pending}
    result["rows"] = sum(expected.values())

    files = [faces.parquet_path(s) for s in pending]
    if result["rows"] <= cfg["score"]["inline_max_rows"]:
        # A few faces: score them here rather than start an actor pool that costs more than the work.
        batches = _inline_batches(faces, files, model_path, cfg)
        result["engine"] = "inline"
    else:
        batches = _ray_batches(faces, files, model_path, cfg)
        result["engine"] = "ray"
    asm = ShardAssembler(expected, count=_rows, sort_keys=["image_id", "face_idx"])

    def stats(s: int, table: pa.Table) -> dict:
        return {
            "rows": table.num_rows,
            "scored": int(pc.sum(pc.equal(table["status"], "ok")).as_py() or 0),
            "statuses": dict(sorted(Counter(table["status"].to_pylist()).items())),
            "model": model_id,
        }

    return result | write_stream(batches, attrs, asm, stats, metadata, "attributes", progress)


def _arrow_fs(store: ShardStore):
    """The pyarrow filesystem Ray should read the shards with (fsspec wrapped for object stores)."""
    import pyarrow.fs as pafs

    proto = store.fs.protocol if isinstance(store.fs.protocol, str) else store.fs.protocol[0]
    if proto in ("file", "local"):
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(store.fs))
