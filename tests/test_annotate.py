import io

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mgmtn.masks import unpack_masks
from pipeline.annotate import annotate_image, annotate_to
from pipeline.detectors import create_detector
from pipeline.shards import FACES_SCHEMA
from pipeline.sources import open_corpus
from tests.badfiles import make_bad_corpus
from tests.fixtures_faces import face_photo


@pytest.fixture(scope="module")
def dlib_detector(cfg):
    return create_detector("dlib", cfg["detect"])


def test_one_face_row_has_crop_masks_and_full_image_landmarks(tmp_path, cfg, dlib_detector):
    # The face photo, upscaled 6x so detection runs on a draft-reduced copy: landmarks must come back in
    # original-image coordinates.
    big = np.asarray(Image.fromarray(face_photo()).resize((178 * 6, 218 * 6), Image.Resampling.BICUBIC))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=95)
    rows = annotate_image(open_corpus(str(tmp_path)), "big.jpg", 0, 0, dlib_detector, cfg)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    r = rows[0]
    assert (r["width"], r["height"]) == (178 * 6, 218 * 6)
    lm = r["landmarks"].reshape(68, 2)
    x0, y0, x1, y1 = r["bbox"]
    eyes = lm[36:48].mean(0)
    assert x0 < eyes[0] < x1 and y0 < eyes[1] < y1
    assert lm[36:48, 1].mean() < lm[48:68, 1].mean(), "eyes above the mouth"
    assert x1 - x0 > 300, "box is in full-resolution pixels"
    crop = np.asarray(Image.open(io.BytesIO(r["crop"])))
    assert crop.shape == (cfg["align"]["crop_size"],) * 2 + (3,)
    masks = unpack_masks(r["masks"], cfg["align"]["mask_size"])
    assert masks.shape[0] == 8 and masks.any(axis=(1, 2)).all()


def test_bad_corpus_gives_one_status_row_per_file_and_never_crashes(tmp_path, cfg, ray_runtime):
    expected = make_bad_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    res = annotate_to(str(tmp_path / "corpus"), str(out), cfg, "dlib", progress=False)
    assert res["images_total"] == len(expected)
    t = pq.read_table(out / "faces")
    assert t.schema.remove_metadata().equals(FACES_SCHEMA)
    rows = t.to_pylist()
    by_image: dict[str, list[dict]] = {}
    for r in rows:
        by_image.setdefault(r["image_id"], []).append(r)
    assert set(by_image) == set(expected), "no image lost, none invented"
    for name, status in expected.items():
        got = by_image[name]
        assert got[0]["status"] == status, (name, got[0]["status"], got[0]["error"])
        if status != "ok":
            assert len(got) == 1 and got[0]["face_idx"] == -1 and got[0]["error"]
    many = by_image["many_faces.jpg"]
    assert len(many) >= 10 and [r["face_idx"] for r in many] == list(range(len(many)))
    areas = [(r["bbox"][2] - r["bbox"][0]) * (r["bbox"][3] - r["bbox"][1]) for r in many]
    assert areas == sorted(areas, reverse=True), "largest face first"
    assert by_image["exif_rot6.jpg"][0]["height"] == 218, "dimensions after EXIF rotation"


def test_rerun_skips_done_shards_and_rewrites_identical_bytes(tmp_path, cfg, ray_runtime):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    face = face_photo()
    for i in range(6):
        Image.fromarray(np.roll(face, i * 3, axis=1)).save(corpus / f"{i:02d}.jpg", quality=90)
    out = tmp_path / "out"
    first = annotate_to(str(corpus), str(out), cfg, "dlib", progress=False)
    assert first["shards_written"] == 2
    files = sorted((out / "faces").glob("*.parquet"))
    before = {p.name: p.read_bytes() for p in files}
    again = annotate_to(str(corpus), str(out), cfg, "dlib", progress=False)
    assert again["shards_written"] == 0 and again["shards_skipped"] == 2
    (out / "faces" / "_stats" / "shard-00001.json").unlink()  # as if killed before the marker
    third = annotate_to(str(corpus), str(out), cfg, "dlib", progress=False)
    assert third["shards_written"] == 1
    assert {p.name: p.read_bytes() for p in sorted((out / "faces").glob("*.parquet"))} == before


def test_inline_and_ray_paths_write_identical_shards(tmp_path, cfg, ray_runtime):
    """Small runs skip Ray; both engines must produce the same bytes."""
    corpus = tmp_path / "corpus"
    make_bad_corpus(corpus)
    inline_cfg = {**cfg, "annotate": {**cfg["annotate"], "inline_max_images": 1000}}
    a = annotate_to(str(corpus), str(tmp_path / "inline"), inline_cfg, "dlib", progress=False)
    b = annotate_to(str(corpus), str(tmp_path / "ray"), cfg, "dlib", progress=False)
    assert (a["engine"], b["engine"]) == ("inline", "ray")
    names = sorted(p.name for p in (tmp_path / "ray" / "faces").glob("*.parquet"))
    assert names == sorted(p.name for p in (tmp_path / "inline" / "faces").glob("*.parquet")) and names
    for n in names:
        assert (tmp_path / "inline" / "faces" / n).read_bytes() == (tmp_path / "ray" / "faces" / n).read_bytes(), n


def test_threaded_actor_writes_the_same_shards(tmp_path, cfg, ray_runtime):
    """Two detector threads sharing one model in one actor give the same bytes as the default pool."""
    corpus = tmp_path / "corpus"
    make_bad_corpus(corpus)
    threaded = {**cfg, "annotate": {**cfg["annotate"], "threads_per_actor": 2, "batch_size": 2}}
    annotate_to(str(corpus), str(tmp_path / "threaded"), threaded, "dlib", progress=False)
    annotate_to(str(corpus), str(tmp_path / "plain"), cfg, "dlib", progress=False)
    names = sorted(p.name for p in (tmp_path / "plain" / "faces").glob("*.parquet"))
    assert names == sorted(p.name for p in (tmp_path / "threaded" / "faces").glob("*.parquet")) and names
    for n in names:
        assert (tmp_path / "plain" / "faces" / n).read_bytes() == (tmp_path / "threaded" / "faces" / n).read_bytes()


def test_a_model_that_does_not_load_in_the_actors_fails_the_run_clearly(tmp_path, cfg, ray_runtime):
    corpus = tmp_path / "corpus"
    make_bad_corpus(corpus)
    bad = tmp_path / "shape_predictor_68_face_landmarks.dat"
    bad.write_bytes(b"not a model" * 100)  # present, so the driver's check passes; only loading fails
    c = {**cfg, "detect": {**cfg["detect"], "dlib_predictor": str(bad)}}
    with pytest.raises(RuntimeError, match="(?s)annotate actors died.*cannot load dlib landmark model"):
        annotate_to(str(corpus), str(tmp_path / "out"), c, "dlib", progress=False)
    assert not list((tmp_path / "out" / "faces").glob("_stats/*.json"))
