"""CelebA-layout datasets: `img_align_celeba/`, `list_attr_celeba.txt`, `list_eval_partition.txt`."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import fsspec
import numpy as np

from mgmtn.attributes import ATTRIBUTES

SPLITS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class CelebaLabels:
    image_ids: list[str]  # file names, e.g. "000001.jpg"
    labels: np.ndarray  # uint8 {0,1} [N,40] in ATTRIBUTES order
    partition: np.ndarray  # int8 [N]: 0 train, 1 val, 2 test, -1 unknown

    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.image_ids)}


def images_url(data_url: str) -> str:
    return posixpath.join(data_url.rstrip("/"), "img_align_celeba")


def read_labels(data_url: str) -> CelebaLabels:
    """Parse the official attribute and partition files (values 1 / -1; header of 40 names)."""
    fs, root = fsspec.core.url_to_fs(data_url)
    attr_path = posixpath.join(root.rstrip("/"), "list_attr_celeba.txt")
    if not fs.exists(attr_path):
        raise FileNotFoundError(f"{data_url} is not a CelebA-layout folder: no list_attr_celeba.txt")
    with fs.open(attr_path, "r") as fh:
        lines = fh.read().splitlines()
    header = lines[1].split()
    if tuple(header) != ATTRIBUTES:
        raise ValueError(f"{attr_path}: unexpected attribute header {header[:3]}...")
    ids, rows = [], []
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != 41:
            continue
        ids.append(parts[0])
        rows.append([p == "1" for p in parts[1:]])
    labels = np.asarray(rows, dtype=np.uint8)
    partition = np.full(len(ids), -1, np.int8)
    part_path = posixpath.join(root.rstrip("/"), "list_eval_partition.txt")
    if fs.exists(part_path):
        pos = {k: i for i, k in enumerate(ids)}
        with fs.open(part_path, "r") as fh:
            for line in fh.read().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] in pos:
                    partition[pos[parts[0]]] = int(parts[1])
    return CelebaLabels(ids, labels, partition)
