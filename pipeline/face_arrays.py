"""Faces shards -> in-memory arrays (decoded crops, unpacked masks) for training, evaluation and scoring."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from mgmtn.masks import unpack_masks
from pipeline.celeba import CelebaLabels
from pipeline.crops import decode_crops


@dataclass
class FaceSet:
    image_ids: list[str]
    crops: np.ndarray  # uint8 [N,S,S,3]
    masks: np.ndarray  # uint8 {0,1} [N,G,M,M]
    labels: np.ndarray | None = None  # uint8 {0,1} [N,40]

    def __len__(self) -> int:
        return len(self.image_ids)

    def subset(self, idx: np.ndarray) -> FaceSet:
        return FaceSet(
            [self.image_ids[i] for i in idx],
            self.crops[idx],
            self.masks[idx],
            None if self.labels is None else self.labels[idx],
        )


def mask_size_of(faces_glob: str) -> int:
    """The mask raster size the faces were written with (from the shard metadata)."""
    meta = pl.read_parquet_metadata(_first(faces_glob))
    return int(json.loads(meta["mgmtn.config"])["align"]["mask_size"])


def _first(glob: str) -> str:
    import fsspec

    fs, _ = fsspec.core.url_to_fs(glob)
    files = sorted(fs.glob(glob))
    if not files:
        raise FileNotFoundError(f"no faces shards at {glob}")
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return files[0] if proto in ("file", "local") else f"{proto}://{files[0]}"


def load_primary_faces(faces_glob: str) -> FaceSet:
    """The largest face (face_idx 0) of every image where one was found."""
    df = (
        pl.scan_parquet(faces_glob)
        .filter((pl.col("status") == "ok") & (pl.col("face_idx") == 0))
        .select("image_id", "crop", "masks")
        .collect()
    )
    size = mask_size_of(faces_glob)
    masks = (
        np.stack([unpack_masks(b, size) for b in df["masks"].to_list()])
        if df.height
        else np.zeros((0, 8, size, size), np.uint8)
    )
    crops = decode_crops(df["crop"].to_list()) if df.height else np.zeros((0, 1, 1, 3), np.uint8)
    return FaceSet(df["image_id"].to_list(), crops, masks)


def attach_labels(faces: FaceSet, labels: CelebaLabels) -> tuple[FaceSet, np.ndarray]:
    """Keep faces that have labels; returns (labelled faces, their CelebA partition)."""
    pos = labels.index()
    keep = np.array([i for i, k in enumerate(faces.image_ids) if k.rsplit("/", 1)[-1] in pos], dtype=np.int64)
    out = faces.subset(keep)
    rows = np.array([pos[k.rsplit("/", 1)[-1]] for k in out.image_ids], dtype=np.int64)
    out.labels = labels.labels[rows]
    return out, labels.partition[rows]


def concat_faces(parts: list[FaceSet]) -> FaceSet:
    parts = [p for p in parts if len(p)] or parts[:1]
    labels = None if any(p.labels is None for p in parts) else np.concatenate([p.labels for p in parts])
    return FaceSet(
        [k for p in parts for k in p.image_ids],
        np.concatenate([p.crops for p in parts]),
        np.concatenate([p.masks for p in parts]),
        labels,
    )
