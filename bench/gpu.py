"""GPU throughput: MGMTN scoring faces/s and face-alignment annotation images/s on the first CUDA device.

    python -m bench.gpu [--faces 8192] [--images 200]

Scoring uses the released model on crops from generated faces. Annotation uses face-alignment (FAN + S3FD)
on the GPU; where its weights are absent (no internet on the GPU machine), randomly initialised weights of
the same architectures are used. That is fine for timing, and the output says so.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="python -m bench.gpu")
    p.add_argument("--faces", type=int, default=8192)
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch", file=sys.stderr)
        return 2
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    from PIL import Image
    from skimage import data

    from mgmtn.checkpoint import load_checkpoint
    from mgmtn.fit import prepare_batch
    from pipeline.score import RELEASED_MODEL

    model, meta = load_checkpoint(RELEASED_MODEL, map_location="cuda")
    size = meta["input_size"]
    face = np.asarray(Image.fromarray(data.astronaut()[40:258, 133:311]).resize((size, size)))
    crops = torch.from_numpy(np.stack([np.roll(face, i % 9, axis=1) for i in range(a.batch)]))
    with torch.inference_mode():
        for _ in range(3):  # warm-up (cuDNN autotune, allocator)
            x, _ = prepare_batch(crops, None, "cuda")
            model(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        n = 0
        while n < a.faces:
            x, _ = prepare_batch(crops, None, "cuda")
            model(x)["logits"].float().cpu()
            n += a.batch
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    print(f"score_faces_per_s_gpu {n / dt:.0f}  (batch {a.batch}, uint8 crops from host, incl. transfer)")

    from conf import load_config
    from pipeline.detectors import create_detector, detector_status

    cfg = load_config()
    random_weights = detector_status(cfg["detect"]).get("face-alignment") is not None
    if random_weights:
        from tests.fixtures_faces import write_fake_fa_weights

        home = Path(tempfile.mkdtemp())
        write_fake_fa_weights(home)
        os.environ["MGMTN_FA_WEIGHTS"] = str(home)
    det = create_detector("face-alignment", cfg["detect"])
    img = data.astronaut()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG")
    from pipeline.decode import decode_image

    det.detect(img)
    t0 = time.perf_counter()
    for _ in range(a.images):
        d = decode_image(buf.getvalue(), max_pixels=cfg["detect"]["max_pixels"], max_side=cfg["detect"]["max_side"])
        det.detect(d.rgb, d.scale)
    dt = time.perf_counter() - t0
    note = " (random-init weights: timing only)" if random_weights else ""
    print(f"annotate_images_per_s_gpu {a.images / dt:.1f}  (512x512 JPEG, decode + S3FD + FAN){note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
