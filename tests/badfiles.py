"""A small corpus of awkward files, written on the fly, with the status each should end with.

Decode-level failures carry the decoder's status; a directory or broken link carries the reader's
(`not_a_file`, `unreadable`); every readable image shows the face photo and is expected `ok`, except the
noise image (`no_face`). Total size is about 1 MB.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.fixtures_faces import face_photo, many_faces_photo, no_face_photo

UNICODE_NAME = "ünï cödé face.jpg"


def encode(rgb: np.ndarray | Image.Image, fmt: str, **kw) -> bytes:
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_bomb(side: int = 100_000) -> bytes:
    """A ~150-byte PNG whose header claims side x side grey pixels (one row of data follows)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (side + 1), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def exif_rotated_jpeg(rgb: np.ndarray, orientation: int) -> bytes:
    """Store the image sideways with the EXIF tag that turns it upright (6: 90 deg CW, 8: 90 deg CCW)."""
    stored = np.rot90(rgb, k=1 if orientation == 6 else -1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(np.ascontiguousarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def ycck_jpeg(rgb: np.ndarray) -> bytes:
    """An Adobe YCCK JPEG (Pillow cannot write one): store YCbCr of the inverted image through the CMYK
    encoder (which writes Adobe-inverted samples) and flip the Adobe transform flag from 0 to 2."""
    ycc = np.asarray(Image.fromarray(255 - rgb).convert("YCbCr"))
    raw = np.dstack([ycc, np.full(ycc.shape[:2], 255, np.uint8)])
    data = bytearray(encode(Image.fromarray(255 - raw, "CMYK"), "JPEG", quality=95))
    at = data.find(b"Adobe")
    data[at + 11] = 2
    return bytes(data)


def gray16_png(rgb: np.ndarray) -> bytes:
    grey = np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257
    return encode(Image.fromarray(grey), "PNG")  # mode I;16


def make_bad_corpus(root: Path) -> dict[str, str]:
    """Write the corpus under `root`; return {relative path: expected status}."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    face = face_photo()
    h, w = face.shape[:2]
    jpeg = encode(face, "JPEG", quality=92)
    rgba = np.dstack([face, np.full((h, w), 255, np.uint8)])
    rgba[:20, :, 3] = 0  # transparent top band
    pal = Image.fromarray(face).quantize(colors=256)
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8))
    trans_pal = Image.fromarray(face).quantize(colors=255)
    trans_pal.info["transparency"] = 0

    files: dict[str, tuple[bytes, str]] = {
        "empty.jpg": (b"", "empty_file"),
        "truncated.jpg": (jpeg[: len(jpeg) * 6 // 10], "truncated"),
        "truncated.png": (encode(face, "PNG")[:9000], "truncated"),
        "text.jpg": (b"<html><body>404 Not Found</body></html>\n", "not_an_image"),
        "notes.png": (b"just some text that is not an image\n" * 20, "not_an_image"),
        "alpha.png": (encode(Image.fromarray(rgba, "RGBA"), "PNG"), "ok"),
        "gray16.png": (gray16_png(face), "ok"),
        "cmyk.jpg": (encode(Image.fromarray(face).convert("CMYK"), "JPEG", quality=95), "ok"),
        "ycck.jpg": (ycck_jpeg(face), "ok"),
        "gray.jpg": (encode(Image.fromarray(face).convert("L"), "JPEG"), "ok"),
        "palette_transparent.png": (encode(trans_pal, "PNG"), "ok"),
        "animated.gif": (encode(pal, "GIF", save_all=True, append_images=[noise.quantize()], duration=100), "ok"),
        "face.webp": (encode(face, "WEBP", quality=90), "ok"),
        "face.bmp": (encode(face, "BMP"), "ok"),
        "face.tif": (encode(face, "TIFF", compression="tiff_deflate"), "ok"),
        "exif_rot6.jpg": (exif_rotated_jpeg(face, 6), "ok"),
        "exif_rot8.jpg": (exif_rotated_jpeg(face, 8), "ok"),
        "tiny_1x1.png": (encode(np.zeros((1, 1, 3), np.uint8), "PNG"), "too_small"),
        "bomb.png": (png_bomb(100_000), "too_large"),  # Pillow itself refuses (> 2x its limit)
        "bomb_10k.png": (png_bomb(10_000), "too_large"),  # 1e8 px: only our max_pixels check refuses
        UNICODE_NAME: (jpeg, "ok"),
        "nested/dir/face with spaces.png": (encode(face, "PNG"), "ok"),
        "no_face.png": (encode(no_face_photo(), "PNG"), "no_face"),
        "many_faces.jpg": (encode(many_faces_photo(), "JPEG", quality=90), "ok"),
    }
    expected = {}
    for name, (data, status) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = status
    (root / "x.jpg").mkdir(exist_ok=True)
    expected["x.jpg"] = "not_a_file"
    link = root / "gone.jpg"
    if not link.is_symlink():
        link.symlink_to(root / "does-not-exist.jpg")
    expected["gone.jpg"] = "unreadable"
    return expected
