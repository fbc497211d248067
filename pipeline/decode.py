"""Decode untrusted image bytes into one RGB array sized for detection.

Every failure becomes an `ImageError` with a short `status` so the reader can record it per row instead of
crashing a shard. The image is decoded once: the size is checked from the header (decompression bombs),
JPEGs are decoded at a reduced DCT scale when they are much larger than needed (draft mode), the rest is
resized, then EXIF orientation is applied to the small result.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

# A half-decoded image filled with grey must be reported, never detected on.
ImageFile.LOAD_TRUNCATED_IMAGES = False

MIN_SIDE = 16
# Raster formats only: EPS would run Ghostscript, TGA has no magic number and claims random bytes.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "PPM", "AVIF", "JPEG2000", "ICO")
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class ImageError(Exception):
    """A per-image failure; `status` is one of the decode statuses, `message` says what happened."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class DecodedImage:
    """`rgb` is what detectors see; `width`/`height` describe the full image after EXIF orientation.

    `scale` maps `rgb` coordinates to full-image ones by multiplication (exact on the long side; the short
    side may differ by under half an `rgb` pixel from rounding). `to_full` also corrects the half-pixel shift
    of pixel-centre coordinates, which plain multiplication leaves at 0.5 * (scale - 1) full-image pixels.
    """

    rgb: np.ndarray
    width: int
    height: int
    scale: float
    format: str = ""

    def to_full(self, xy: np.ndarray) -> np.ndarray:
        """Map pixel-centre coordinates (..., 2) in `rgb` to the full image."""
        return (np.asarray(xy, dtype=np.float32) + 0.5) * self.scale - 0.5


def decode_image(data: bytes, *, max_pixels: int, max_side: int, min_side: int = MIN_SIDE) -> DecodedImage:
    """Decode `data` to RGB with long side <= `max_side`; raise `ImageError` for anything unusable."""
    if not data:
        raise ImageError("empty_file", "zero-byte file")
    try:
        return _decode(data, max_pixels, max_side, min_side)
    except ImageError:
        raise
    except _BOMB as e:
        raise ImageError("too_large", str(e)) from None
    except UnidentifiedImageError:
        fmt = _signature(data)
        if fmt is None:
            raise ImageError("not_an_image", _sniff(data)) from None
        status = "truncated" if _cut_short(data, fmt) else "decode_error"
        raise ImageError(status, f"{fmt} signature but unreadable header") from None
    except (OSError, EOFError) as e:
        text = str(e) or type(e).__name__
        fmt = _signature(data)
        if isinstance(e, EOFError) or "truncated" in text.lower() or (fmt and _cut_short(data, fmt)):
            raise ImageError("truncated", text) from None
        raise ImageError("decode_error", text) from None
    except Exception as e:  # any decoder failure is a per-image status
        raise ImageError("decode_error", f"{type(e).__name__}: {e}") from None


def _decode(data: bytes, max_pixels: int, max_side: int, min_side: int) -> DecodedImage:
    with Image.open(BytesIO(data), formats=FORMATS) as img:
        fmt = img.format or ""
        w, h = img.size  # as stored, before orientation
        if w * h > max_pixels:
            raise ImageError("too_large", f"{w}x{h} = {w * h} pixels > max_pixels {max_pixels}")
        if min(w, h) < min_side:
            raise ImageError("too_small", f"{w}x{h} is below the {min_side}-pixel minimum side")
        orientation = _orientation(img)
        full_w, full_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)

        target = (w, h)
        box = None
        if max(w, h) > max_side:
            s = max_side / max(w, h)
            target = (max(1, round(w * s)), max(1, round(h * s)))
            if min(target) < min_side:  # a 20000x16 strip would reach detectors as 1024x1
                raise ImageError("too_small", f"{w}x{h} reduces to {target[0]}x{target[1]} for max_side {max_side}")
            if isinstance(img, JpegImageFile):
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below `target`; `box` is the true
                # extent in the reduced image (edge blocks are padded), so the resize below stays exact.
                drafted = img.draft(None, target)
                if drafted is not None:
                    box = drafted[1]
        img.load()
        out = _to_8bit(img)
    if out.size != target:
        out = out.resize(target, Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)
    out = _flatten_alpha(out)
    if orientation in _TRANSPOSE:
        out = out.transpose(_TRANSPOSE[orientation])
    if out.mode != "RGB":
        out = out.convert("RGB")
    rgb = np.array(out, dtype=np.uint8)  # writable and C-contiguous
    return DecodedImage(rgb=rgb, width=full_w, height=full_h, scale=max(full_w, full_h) / max(out.size), format=fmt)


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not lose a readable image
        return 1
    return value if value in _TRANSPOSE else 1


def _to_8bit(img: Image.Image) -> Image.Image:
    """Reduce any mode to L, LA, RGB or RGBA; transparency becomes an alpha channel."""
    mode = img.mode
    has_tr = "transparency" in img.info
    if mode in ("L", "RGB"):
        return img.convert(mode + "A") if has_tr else img
    if mode in ("LA", "RGBA"):
        return img
    if mode in ("P", "PA"):
        return img.convert("RGBA") if has_tr or mode == "PA" else img.convert("RGB")
    if mode == "1":
        return img.convert("L")
    if mode in ("La", "RGBa"):
        return img.convert(mode.upper())
    if mode.startswith("I") or mode.startswith("F"):
        return Image.fromarray(_gray_to_u8(np.asarray(img), mode), "L")
    return img.convert("RGB")  # CMYK (incl. Adobe/YCCK JPEG, decoded by libjpeg), YCbCr, LAB, HSV, RGBX


def _gray_to_u8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Rescale high-bit-depth grey to 0..255 (Pillow's own convert("L") clips 16-bit values to 255)."""
    if mode.startswith("I;16"):
        peak = 65535.0
    elif mode.startswith("F"):
        peak = 1.0 if float(arr.max(initial=0)) <= 1.0 else 255.0
    else:  # "I" (32-bit): 16-bit PNG/TIFF data unless it never exceeds the 8-bit range
        peak = 65535.0 if int(arr.max(initial=0)) > 255 else 255.0
    out = np.clip(arr.astype(np.float32) * (255.0 / peak) + 0.5, 0, 255)
    return out.astype(np.uint8)


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite on white: transparent backgrounds are usually white where these images are shown."""
    if img.mode not in ("LA", "RGBA"):
        return img
    base = img.mode[:-1]
    bg = Image.new(base, img.size, 255 if base == "L" else (255, 255, 255))
    bg.paste(img.convert(base), mask=img.getchannel("A"))
    return bg


_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _signature(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _SIGNATURES.items() if data.startswith(magic)), None)


def _cut_short(data: bytes, fmt: str) -> bool:
    """A JPEG without its end marker or a PNG without IEND was cut off (download, disk full)."""
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-64:]
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    if fmt == "WEBP":  # the RIFF header states the file length
        return len(data) < int.from_bytes(data[4:8], "little") + 8
    return False


def _sniff(data: bytes) -> str:
    head = data[:32]
    if head[4:8] == b"ftyp":
        return f"unsupported container ({head[8:12].decode('ascii', 'replace')})"
    if head.lstrip()[:1] == b"<":
        return "markup (HTML/XML/SVG), not a raster image"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text, not an image"
    return "unrecognised image format"
