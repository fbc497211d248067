"""A tiny CelebA-layout folder made on the fly (face photo variants, synthetic labels), for flow tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mgmtn.attributes import ATTRIBUTES
from tests.fixtures_faces import face_photo


def make_celeba_folder(root: Path, n: int = 12, splits: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2)) -> Path:
    """`n` images named like CelebA's, labels in the official format, a partition file. Smiling is 1 on
    brightened images so there is something learnable."""
    img_dir = root / "img_align_celeba"
    img_dir.mkdir(parents=True)
    face = face_photo().astype(np.int16)
    rng = np.random.default_rng(0)
    names, rows = [], []
    for i in range(n):
        bright = i % 2
        img = np.clip(face + (40 if bright else -20) + rng.integers(-5, 5, face.shape), 0, 255).astype(np.uint8)
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(img).save(img_dir / name, quality=92)
        labels = rng.choice([-1, 1], len(ATTRIBUTES))
        labels[ATTRIBUTES.index("Smiling")] = 1 if bright else -1
        names.append(name)
        rows.append(labels)
    header = " ".join(ATTRIBUTES)
    body = "\n".join(f"{nm} " + " ".join(f"{v:2d}" for v in r) for nm, r in zip(names, rows, strict=True))
    (root / "list_attr_celeba.txt").write_text(f"{n}\n{header}\n{body}\n")
    (root / "list_eval_partition.txt").write_text(
        "\n".join(f"{nm} {splits[i % len(splits)]}" for i, nm in enumerate(names)) + "\n"
    )
    return root
