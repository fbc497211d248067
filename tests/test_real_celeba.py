"""Acceptance on real CelebA images (skipped when ../shared/data/celeba-6k is absent)."""

import numpy as np
import polars as pl

from pipeline.annotate import annotate_to


def test_dlib_finds_faces_and_keypoints_land_on_celeba_alignment(tmp_path, cfg, celeba6k, ray_runtime):
    c = {**cfg, "annotate": {**cfg["annotate"], "shard_size": 100, "batch_size": 16}}
    res = annotate_to(str(celeba6k / "img_align_celeba"), str(tmp_path / "out"), c, "dlib", limit=300, progress=False)
    assert res["images_total"] == 300
    faces = pl.read_parquet(tmp_path / "out" / "faces" / "*.parquet")
    assert faces.schema["landmarks"] == pl.Array(pl.Float32, 136)
    first = faces.filter(pl.col("face_idx") <= 0)
    assert first.height == 300, "one first row per image"
    found = (first["status"] == "ok").mean()
    assert found >= 0.97, f"faces found in {found:.1%} of images"
    lm = np.stack(first.filter(pl.col("status") == "ok")["landmarks"].to_numpy()).reshape(-1, 68, 2)
    left, right = lm[:, 36:42].mean(1), lm[:, 42:48].mean(1)
    # CelebA's aligned images put the eye centres at about (69, 112) and (108, 112).
    err = np.maximum(np.linalg.norm(left - [69, 112], axis=1), np.linalg.norm(right - [108, 112], axis=1))
    assert (err <= 6).mean() >= 0.95, f"eye centres within 6 px for {(err <= 6).mean():.1%}"
