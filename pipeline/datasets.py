"""A CelebA-layout folder -> labelled faces per official split, annotating (with a cache) on the way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.annotate import annotate_to
from pipeline.cache import annotations_dir
from pipeline.celeba import SPLITS, CelebaLabels, images_url, read_labels
from pipeline.detectors import resolve_detector
from pipeline.face_arrays import FaceSet, attach_labels, load_primary_faces


@dataclass
class CelebaFaces:
    splits: dict[str, FaceSet]  # train / val / test (empty FaceSet when the data has none)
    labels: CelebaLabels
    annotations: str  # folder holding manifest.parquet and faces/

    def labelled(self, split: str) -> int:
        return int((self.labels.partition == SPLITS[split]).sum())

    def describe(self) -> dict:
        return {
            "annotations": self.annotations,
            "labelled_images": len(self.labels.image_ids),
            "faces": {k: len(v) for k, v in self.splits.items()},
        }


def annotate_celeba(
    data: str,
    cfg: dict,
    detector: str = "auto",
    annotations: str | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> str:
    """Annotate the folder's images into `annotations` (default: a cache keyed by data, detector, settings)."""
    det = resolve_detector(detector, cfg["detect"])
    out = annotations or annotations_dir(data, det, cfg)
    annotate_to(images_url(data), out, cfg, det, limit, progress)
    return out


def load_celeba_faces(data: str, annotations: str) -> CelebaFaces:
    labels = read_labels(data)
    faces, part = attach_labels(load_primary_faces(f"{annotations.rstrip('/')}/faces/*.parquet"), labels)
    splits = {name: faces.subset(np.nonzero(part == code)[0]) for name, code in SPLITS.items()}
    return CelebaFaces(splits, labels, annotations)


def training_arrays(faces: FaceSet) -> dict:
    """What a Ray Train worker receives: uint8 crops and masks, float32 labels."""
    return {"crops": faces.crops, "masks": faces.masks, "labels": faces.labels.astype(np.float32)}
