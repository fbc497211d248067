import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from PIL import Image

from mgmtn.attributes import ATTRIBUTE_COLUMNS, ATTRIBUTES
from pipeline.annotate import annotate_to
from pipeline.score import run_score
from pipeline.shards import ATTRIBUTES_SCHEMA
from tests.fixtures_faces import face_photo, no_face_photo


def _corpus(root):
    root.mkdir()
    for i in range(5):
        Image.fromarray(np.roll(face_photo(), i * 4, axis=0)).save(root / f"face{i}.jpg", quality=90)
    Image.fromarray(no_face_photo()).save(root / "noface.png")
    (root / "broken.jpg").write_bytes(b"not an image")


def test_attributes_rows_match_faces_rows(tmp_path, cfg, ray_runtime, tiny_checkpoint):
    _corpus(tmp_path / "c")
    out = str(tmp_path / "out")
    annotate_to(str(tmp_path / "c"), out, cfg, "dlib", progress=False)
    res = run_score(out, str(tiny_checkpoint), cfg, progress=False)
    assert res["shards_written"] == 2
    faces = pl.read_parquet(f"{out}/faces/*.parquet").select("image_id", "face_idx", "status")
    attrs = pl.read_parquet(f"{out}/attributes/*.parquet")
    assert attrs.select("image_id", "face_idx", "status").equals(faces), "same rows, same order"
    ok = attrs.filter(pl.col("status") == "ok")
    assert ok.height == 5
    probs = ok.select(ATTRIBUTE_COLUMNS).to_numpy()
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
    failed = attrs.filter(pl.col("status") != "ok")
    assert set(failed["status"]) == {"no_face", "not_an_image"}
    assert failed.select(ATTRIBUTE_COLUMNS).null_count().sum_horizontal()[0] == 2 * len(ATTRIBUTE_COLUMNS)
    assert attrs.schema["bbox"] == pl.Array(pl.Float32, 4)
    t = pq.read_table(f"{out}/attributes/shard-00000.parquet")
    assert t.schema.remove_metadata().equals(ATTRIBUTES_SCHEMA)
    meta = t.schema.metadata
    assert json.loads(meta[b"mgmtn.attributes"]) == list(ATTRIBUTES)
    assert float(meta[b"mgmtn.threshold"]) == 0.5
    assert set(ok["model"]) == {meta[b"mgmtn.model"].decode()}
    # A rerun scores nothing; a lost marker rescores that shard to the same bytes.
    before = (tmp_path / "out/attributes/shard-00001.parquet").read_bytes()
    assert run_score(out, str(tiny_checkpoint), cfg, progress=False)["shards_written"] == 0
    (tmp_path / "out/attributes/_stats/shard-00001.json").unlink()
    assert run_score(out, str(tiny_checkpoint), cfg, progress=False)["shards_written"] == 1
    assert (tmp_path / "out/attributes/shard-00001.parquet").read_bytes() == before


def test_inline_scoring_matches_ray_scoring(tmp_path, cfg, ray_runtime, tiny_checkpoint):
    _corpus(tmp_path / "c")
    out = str(tmp_path / "out")
    annotate_to(str(tmp_path / "c"), out, cfg, "dlib", progress=False)
    ray_res = run_score(out, str(tiny_checkpoint), cfg, progress=False)
    ray_table = pl.read_parquet(f"{out}/attributes/*.parquet")
    for p in (tmp_path / "out" / "attributes").rglob("*.json"):
        p.unlink()
    inline_cfg = {**cfg, "score": {**cfg["score"], "inline_max_rows": 1000}}
    inline_res = run_score(out, str(tiny_checkpoint), inline_cfg, progress=False)
    assert (ray_res["engine"], inline_res["engine"]) == ("ray", "inline")
    assert pl.read_parquet(f"{out}/attributes/*.parquet").equals(ray_table)
