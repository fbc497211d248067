"""The embedded demo corpus: face photos that ship inside scikit-image, so the main job runs anywhere.

scikit-image's `astronaut` (Eileen Collins, NASA, public domain) is its only sample photo with a frontal
face; the demo turns it into a handful of cases a corpus meets: a portrait, a mirrored and an EXIF-rotated
copy, a group photo, photos without a face, and one broken file, so the first run shows every kind of row.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

DEMO_VERSION = "1"  # bump when the demo's content changes, so stale caches are rebuilt


def _jpeg(img: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=92, **kw)
    return buf.getvalue()


def _group(face: np.ndarray, n: int = 6) -> np.ndarray:
    tiles = [np.asarray(Image.fromarray(face).resize((int(178 * s), int(218 * s)))) for s in np.linspace(1, 1.3, n)]
    h = max(t.shape[0] for t in tiles)
    canvas = np.full((h + 20, sum(t.shape[1] for t in tiles) + 10 * (n + 1), 3), 200, np.uint8)
    x = 10
    for t in tiles:
        canvas[10 : 10 + t.shape[0], x : x + t.shape[1]] = t
        x += t.shape[1] + 10
    return canvas


def demo_files() -> dict[str, bytes]:
    from skimage import data

    astro = data.astronaut()
    face = astro[40:258, 133:311].copy()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers (and our decoder) turn it upright
    rotated = np.ascontiguousarray(np.rot90(face, k=1))
    return {
        "portrait/astronaut.jpg": _jpeg(astro),
        "portrait/astronaut-crop.jpg": _jpeg(face),
        "portrait/astronaut-mirrored.png": _png(face[:, ::-1]),
        "portrait/astronaut-exif-rotated.jpg": _jpeg(rotated, exif=exif.tobytes()),
        "group/six-people.jpg": _jpeg(_group(face)),
        "no-face/cat.jpg": _jpeg(data.chelsea()),
        "no-face/coffee.jpg": _jpeg(data.coffee()),
        "broken/not-really-a.jpg": b"this is a text file with an image name\n",
    }


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return buf.getvalue()


def demo_corpus(dest: str | Path | None = None) -> str:
    """Write the demo corpus (once) and return its folder."""
    from pipeline.cache import cache_root

    root = Path(dest) if dest else cache_root() / f"demo-corpus-v{DEMO_VERSION}"
    marker = root / ".complete"
    if not marker.exists():
        for rel, body in demo_files().items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + f".tmp-{os.getpid()}")
            tmp.write_bytes(body)
            os.replace(tmp, p)
        marker.write_text(DEMO_VERSION)
    return str(root)
