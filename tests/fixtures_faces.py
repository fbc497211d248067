"""Offline test images with real faces (drawn cartoons do not fire dlib's HOG detector).

The face comes from `skimage.data.astronaut()` (Eileen Collins, public domain, shipped inside scikit-image):
dlib finds her face at upsample 0 and 1. Other packaged samples (camera, coffee, chelsea, rocket, retina,
hubble_deep_field) give no dlib face. The full 512x512 photo also gives a weak false positive at upsample 1
(score ~0.1, on the suit), so `face_photo` is a CelebA-like 178x218 crop that holds only the face.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

FACE_BOX = (45, 36, 135, 131)  # approximate dlib box in face_photo(), x0, y0, x1, y1


@functools.cache
def _astronaut() -> np.ndarray:
    return data.astronaut()


def face_photo() -> np.ndarray:
    """A 218x178 (HxW) RGB crop around one frontal face, like an aligned CelebA image."""
    return _astronaut()[40:258, 133:311].copy()


def astronaut() -> np.ndarray:
    """The full 512x512 photo (face at about x 175-265, y 80-170)."""
    return _astronaut().copy()


def many_faces_photo(rows: int = 3, cols: int = 4) -> np.ndarray:
    """`rows*cols` copies of `face_photo` at scales 1.0..1.4 on a grey canvas (1000x918 by default).

    Scales differ so that sorting by box area is observable; the smallest face (~87 px) is still found by
    HOG without upsampling, which is what the detector uses for images of this size.
    """
    face = Image.fromarray(face_photo())
    n = rows * cols
    scales = np.linspace(1.0, 1.4, n)
    cell_w, cell_h = round(face.width * 1.4), round(face.height * 1.4)
    canvas = Image.new("RGB", (cols * cell_w, rows * cell_h), (128, 128, 128))
    for i, s in enumerate(scales):
        tile = face.resize((round(face.width * s), round(face.height * s)), Image.Resampling.BILINEAR)
        r, c = divmod(i, cols)
        x = c * cell_w + (cell_w - tile.width) // 2
        y = r * cell_h + (cell_h - tile.height) // 2
        canvas.paste(tile, (x, y))
    return np.asarray(canvas).copy()


def no_face_photo(size: int = 256) -> np.ndarray:
    """Smooth random colour blobs: texture without anything face-like."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)).copy()


def write_fake_fa_weights(torch_home: Path, seed: int = 0) -> Path:
    """Save randomly initialised 2DFAN4 and S3FD state dicts where face-alignment looks for its weights
    (<torch_home>/hub/checkpoints), built with face-alignment's own classes so the real loading code runs.

    S3FD's classifier heads are set so that only the coarsest level (stride 128, 512 px anchors) fires:
    after NMS every image gives exactly one box, so FAN runs once per image instead of on ~140 random boxes.
    """
    import torch
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    from pipeline.detectors import FAN_FILE, S3FD_FILE

    out = Path(torch_home) / "hub" / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(FAN(4).state_dict(), out / FAN_FILE)
    net = s3fd()
    with torch.no_grad():
        for name, module in net.named_children():
            if name.endswith("_mbox_conf") or name.endswith("_mbox_loc"):
                module.weight.zero_()
                module.bias.zero_()
            if name.endswith("_mbox_conf"):
                face = 10.0 if name.startswith("conv7_2") else -10.0
                module.bias.fill_(-face)  # background channel(s)
                module.bias[-1] = face
    torch.save(net.state_dict(), out / S3FD_FILE)
    return out
