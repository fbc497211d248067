import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.shards import FACES_SCHEMA, ShardStore


def _table(n: int) -> pa.Table:
    rows = {f.name: [None] * n for f in FACES_SCHEMA}
    rows.update(
        image_id=[f"{i}.jpg" for i in range(n)],
        path=[f"/c/{i}.jpg" for i in range(n)],
        shard=[0] * n,
        face_idx=[0] * n,
        face_count=[1] * n,
        status=["ok"] * n,
        bbox=[[0.0, 0.0, 1.0, 1.0]] * n,
        landmarks=[[1.5] * 136] * n,
        crop=[b"\xff\xd8"] * n,
    )
    return pa.table(rows, schema=FACES_SCHEMA)


def test_write_marks_done_and_is_byte_stable(tmp_path):
    store = ShardStore(str(tmp_path / "faces"))
    assert store.done_shards() == set()
    store.write(3, _table(5), {"images": 5}, {"mgmtn.table": "faces"})
    assert store.done_shards() == {3}
    first = (tmp_path / "faces" / "shard-00003.parquet").read_bytes()
    store.write(3, _table(5), {"images": 5}, {"mgmtn.table": "faces"})
    assert (tmp_path / "faces" / "shard-00003.parquet").read_bytes() == first
    t = pq.read_table(tmp_path / "faces" / "shard-00003.parquet")
    assert t.schema.field("landmarks").type == pa.list_(pa.float32(), 136)
    assert t.schema.metadata[b"mgmtn.table"] == b"faces"
    assert store.read_stats(3) == {"images": 5}


def test_parquet_without_marker_is_not_done_and_temp_files_are_cleaned(tmp_path):
    store = ShardStore(str(tmp_path / "faces"))
    store.write(0, _table(2), {"images": 2}, {})
    (tmp_path / "faces" / "_stats" / "shard-00000.json").unlink()  # killed between parquet and marker
    (tmp_path / "faces" / ".shard-00001.parquet.tmp-123-abcd").write_bytes(b"partial")
    assert store.done_shards() == set()
    assert store.remove_temp_files() == 1
    assert sorted(p.name for p in (tmp_path / "faces").iterdir()) == ["_stats", "shard-00000.parquet"]


def test_polars_reads_arrays_without_casts(tmp_path):
    import polars as pl

    store = ShardStore(str(tmp_path / "faces"))
    store.write(0, _table(3), {"images": 3}, {})
    df = pl.scan_parquet(str(tmp_path / "faces" / "*.parquet")).collect()
    assert pq.read_table(tmp_path / "faces").num_rows == 3, "the folder reads as one table (markers skipped)"
    assert df.schema["landmarks"] == pl.Array(pl.Float32, 136)
    assert df.schema["bbox"] == pl.Array(pl.Float32, 4)
    assert df.height == 3


def test_steady_rate_is_the_slope_between_the_quarter_marks():
    from pipeline.shards import _steady_rate

    marks = [(1.0, 10), (2.0, 30), (3.0, 50), (4.0, 80), (5.0, 100)]
    assert _steady_rate(marks, 100) == {"steady_units_per_s": 25.0}  # (80 - 30) / (4 - 2)
    assert _steady_rate([(1.0, 100)], 100) == {}  # one batch: no slope
