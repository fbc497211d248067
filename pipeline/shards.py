"""Table schemas and the shard store: atomic shard writes, done markers, resume.

A shard is done when its stats file exists. The Parquet file is renamed into place first and the stats
file written last, so a run killed at any moment leaves either a done shard or one that the next run
rewrites from scratch. Readers of the folder never see a temp file (those are dot-prefixed) or a marker
(under `_stats/`).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mgmtn.attributes import ATTRIBUTE_COLUMNS

log = logging.getLogger(__name__)

FACES_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("path", pa.string()),
        ("shard", pa.int32()),
        ("face_idx", pa.int16()),  # 0 = largest face; -1 on rows that carry no face
        ("face_count", pa.int16()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("bbox", pa.list_(pa.float32(), 4)),
        ("det_score", pa.float32()),
        ("landmarks", pa.list_(pa.float32(), 136)),
        ("crop", pa.binary()),
        ("masks", pa.binary()),
    ]
)

ATTRIBUTES_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("path", pa.string()),
        ("shard", pa.int32()),
        ("face_idx", pa.int16()),
        ("status", pa.string()),
        ("bbox", pa.list_(pa.float32(), 4)),
        *[(c, pa.float32()) for c in ATTRIBUTE_COLUMNS],
        ("model", pa.string()),
    ]
)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


class ShardStore:
    """One output table (`OUT/faces`, `OUT/attributes`) on any fsspec filesystem."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.url, self.root = url, root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def parquet_path(self, index: int) -> str:
        return posixpath.join(self.root, f"{shard_name(index)}.parquet")

    def stats_path(self, index: int) -> str:
        # Under `_stats/`: Arrow, Polars and Spark skip `_`-prefixed paths, so `pq.read_table(OUT/faces)`
        # reads only the shards.
        return posixpath.join(self.root, "_stats", f"{shard_name(index)}.json")

    def done_shards(self) -> set[int]:
        done = set()
        for p in self.fs.glob(posixpath.join(self.root, "_stats", "shard-*.json")):
            name = posixpath.basename(p)
            try:
                idx = int(name[len("shard-") : -len(".json")])
            except ValueError:
                continue
            if self.fs.exists(self.parquet_path(idx)):
                done.add(idx)
        return done

    def read_stats(self, index: int) -> dict:
        with self.fs.open(self.stats_path(index), "r") as fh:
            return json.load(fh)

    def _atomic_write(self, final: str, write: Any) -> None:
        # Dot-prefixed, so readers of the folder never pick up a half-written file.
        head, tail = posixpath.split(final)
        tmp = posixpath.join(head, f".{tail}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.fs.makedirs(head, exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as fh:
                write(fh)
            self.fs.mv(tmp, final)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    def write(self, index: int, table: pa.Table, stats: dict, metadata: dict[str, str]) -> None:
        """Write one shard and then its done marker. Same rows and metadata give the same bytes."""
        if self.fs.exists(self.stats_path(index)):  # a stale marker must never vouch for the new file
            self.fs.rm(self.stats_path(index))
        meta = dict(table.schema.metadata or {})
        meta.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(meta)
        self._atomic_write(
            self.parquet_path(index),
            lambda fh: pq.write_table(table, fh, compression="zstd", row_group_size=1024),
        )
        body = json.dumps(stats, indent=1, sort_keys=True).encode()
        self._atomic_write(self.stats_path(index), lambda fh: fh.write(body))

    def remove_temp_files(self) -> int:
        """Delete temp files left by killed runs; returns how many."""
        stale = self.fs.glob(posixpath.join(self.root, ".*.tmp-*")) + self.fs.glob(
            posixpath.join(self.root, "_stats", ".*.tmp-*")
        )
        for p in stale:
            self.fs.rm(p)
        return len(stale)

    def all_stats(self) -> list[dict]:
        return [self.read_stats(i) for i in sorted(self.done_shards())]


class ShardAssembler:
    """Collects rows streamed back from Ray (in any order) and hands back a shard, sorted, as soon as all of
    its units (images, or rows) have arrived, so shards are written while the stream goes on."""

    def __init__(self, expected: dict[int, int], count: Callable[[pa.Table], int], sort_keys: list[str]):
        self.expected = dict(expected)
        self.count, self.sort_keys = count, [(k, "ascending") for k in sort_keys]
        self.parts: dict[int, list[pa.Table]] = defaultdict(list)
        self.seen: Counter = Counter()

    @property
    def arrived(self) -> int:
        """Units received so far, over all shards."""
        return self.seen.total()

    def add(self, batch: pa.Table) -> list[tuple[int, pa.Table]]:
        ready = []
        shards = batch["shard"]
        for s in pc.unique(shards).to_pylist():
            part = batch.filter(pc.equal(shards, s))
            self.parts[s].append(part)
            self.seen[s] += self.count(part)
            if self.seen[s] >= self.expected[s]:
                ready.append((s, pa.concat_tables(self.parts.pop(s)).sort_by(self.sort_keys)))
        return ready

    def missing(self) -> dict[int, int]:
        return {s: n - self.seen[s] for s, n in self.expected.items() if self.seen[s] < n}


def write_stream(
    batches: Any,
    store: ShardStore,
    assembler: ShardAssembler,
    make_stats: Callable[[int, pa.Table], dict],
    metadata: dict[str, str],
    name: str,
    progress: bool = True,
    drop: tuple[str, ...] = (),
) -> dict:
    """Drain a stream of row batches into shards: each shard is written (atomically, marker last) the moment
    its last unit arrives. Raises if the stream ends with a shard incomplete.

    Returns shards written, seconds, when the first batch arrived (start-up cost, e.g. of an actor pool) and
    the steady rate: units/s between the arrival of the first quarter and of the first three quarters of
    the units. Work in flight at each mark is partly done, by about as much at both, so the slope is
    unbiased where "units after the first batch / time after it" would credit the other workers' first
    batches."""
    import time

    from tqdm.auto import tqdm

    written, t0 = 0, time.perf_counter()
    total = sum(assembler.expected.values())
    marks: list[tuple[float, int]] = []  # (seconds since start, units arrived) after each batch
    with tqdm(total=total, desc=name, unit="img" if name == "faces" else "face", disable=not progress) as bar:
        for batch in batches:
            at = time.perf_counter() - t0  # arrival, before this batch's shard writes
            for s, table in assembler.add(batch):
                table = table.drop_columns(list(drop)) if drop else table
                stats = make_stats(s, table)
                store.write(s, table, stats, metadata)
                written += 1
                log.info("%s shard %05d written: %s", name, s, stats)
            bar.update(assembler.arrived - (marks[-1][1] if marks else 0))
            marks.append((at, assembler.arrived))
    missing = assembler.missing()
    if missing:
        raise RuntimeError(f"{name}: shards {missing} are missing rows; none of them was marked done")
    result = {"shards_written": written, "seconds": round(time.perf_counter() - t0, 2)}
    if marks:
        result |= {"first_batch_s": round(marks[0][0], 3), "first_batch_units": marks[0][1]}
    return result | _steady_rate(marks, total)


def _steady_rate(marks: list[tuple[float, int]], total: int) -> dict:
    """Units/s between the first marks at or past 25 % and 75 % of `total` ({} when too few batches)."""
    q1 = next((m for m in marks if m[1] >= 0.25 * total), None)
    q3 = next((m for m in marks if m[1] >= 0.75 * total), None)
    if q1 is None or q3 is None or q3[0] <= q1[0]:
        return {}
    return {"steady_units_per_s": round((q3[1] - q1[1]) / (q3[0] - q1[0]), 2)}
