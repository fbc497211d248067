"""decode_image on every awkward input the corpus can hold, at the decode level."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from pipeline.decode import DecodedImage, ImageError, decode_image
from tests.badfiles import encode, exif_rotated_jpeg, make_bad_corpus, png_bomb
from tests.fixtures_faces import face_photo

LIMITS = {"max_pixels": 89_478_485, "max_side": 1024}
READER_STATUSES = {"not_a_file", "unreadable"}  # set by the reader, never reach the decoder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    return root, make_bad_corpus(root)


def _decode(data: bytes, **kw) -> DecodedImage:
    return decode_image(data, **{**LIMITS, **kw})


def _status(data: bytes, **kw) -> str:
    try:
        _decode(data, **kw)
    except ImageError as e:
        return e.status
    return "ok"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # bomb_10k.png, refused anyway
def test_every_corpus_file_gets_its_status(corpus):
    root, expected = corpus
    decodable = {n: s for n, s in expected.items() if s not in READER_STATUSES}
    got = {n: _status((root / n).read_bytes()) for n in decodable}
    # `no_face` is decided later by the detector: at this level the image must simply decode.
    assert got == {n: "ok" if s == "no_face" else s for n, s in decodable.items()}


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", "empty_file"),
        (b"hello, not an image\n" * 10, "not_an_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not_an_image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "not_an_image"),
        (bytes(range(256)) * 4, "not_an_image"),
        (png_bomb(100_000), "too_large"),
    ],
)
def test_statuses(data, status):
    assert _status(data) == status


def test_truncated_and_corrupt_jpeg():
    jpeg = encode(face_photo(), "JPEG")
    for cut in (300, len(jpeg) // 3, len(jpeg) - 100):  # header only, mid-scan, last rows missing
        assert _status(jpeg[:cut]) == "truncated", cut
    garbled = bytearray(jpeg)
    garbled[len(jpeg) // 2 : len(jpeg) // 2 + 200] = b"\xff" * 200
    assert _status(bytes(garbled)) == "decode_error"


def test_truncated_webp_png_gif():
    face = face_photo()
    for fmt in ("WEBP", "PNG", "GIF"):
        data = encode(face, fmt)
        assert _status(data[: len(data) // 4]) == "truncated", fmt


def test_size_limits_from_header():
    png = encode(face_photo(), "PNG")
    assert _status(png, max_pixels=178 * 218 - 1) == "too_large"
    assert _status(png, max_pixels=178 * 218) == "ok"
    assert _status(encode(np.zeros((15, 400, 3), np.uint8), "PNG")) == "too_small"
    assert _status(encode(np.zeros((15, 400, 3), np.uint8), "PNG"), min_side=8) == "ok"
    assert _status(encode(np.zeros((20, 4000, 3), np.uint8), "PNG")) == "too_small"  # 1024x5 after reduction


def test_pillow_bomb_warning_is_too_large():
    # Above Pillow's own limit but allowed by max_pixels: Pillow only warns; escalated, it is too_large.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert _status(png_bomb(10_000), max_pixels=10**9) == "too_large"


def test_output_array_contract():
    d = _decode(encode(face_photo(), "PNG"))
    assert d.rgb.dtype == np.uint8 and d.rgb.shape == (218, 178, 3)
    assert d.rgb.flags.c_contiguous and d.rgb.flags.writeable
    assert (d.width, d.height, d.scale, d.format) == (178, 218, 1.0, "PNG")
    np.testing.assert_array_equal(d.rgb, face_photo())


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotation_is_applied(orientation):
    face = face_photo()
    data = exif_rotated_jpeg(face, orientation)
    assert Image.open(io.BytesIO(data)).size == (218, 178)  # stored sideways
    d = _decode(data)
    assert (d.width, d.height) == (178, 218) and d.rgb.shape == (218, 178, 3)
    assert np.abs(d.rgb.astype(int) - face).mean() < 4  # upright, not mirrored or upside down


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_high_bit_depth_grey_is_scaled_not_clipped(mode):
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    arr = {"I;16": ramp, "I;16B": ramp.astype(">u2"), "I": ramp.astype(np.int32)}[mode]
    img = Image.fromarray(arr)
    assert img.mode == mode
    fmt = "PNG" if mode == "I;16" else "TIFF"
    rgb = _decode(encode(img, fmt)).rgb
    expected = np.round(ramp / 257.0)
    assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255 and 120 < rgb[32, 0, 0] < 136


def test_alpha_is_composited_on_white():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 16:, 3] = 255  # right half opaque red-ish, left half fully transparent
    rgb = _decode(encode(Image.fromarray(rgba, "RGBA"), "PNG")).rgb
    assert (rgb[:, :14] == 255).all()
    assert (rgb[:, 18:] == (200, 0, 0)).all()


def test_colour_spaces_and_first_gif_frame(corpus):
    root, _ = corpus
    face = face_photo().astype(int)
    for name, tol in [("cmyk.jpg", 6), ("ycck.jpg", 6), ("face.webp", 6), ("face.bmp", 0), ("face.tif", 0)]:
        assert np.abs(_decode((root / name).read_bytes()).rgb - face).mean() <= tol, name
    gif = _decode((root / "animated.gif").read_bytes()).rgb
    assert np.abs(gif - face).mean() < 8  # first frame (the face), not the noise frame
    grey = _decode((root / "gray.jpg").read_bytes()).rgb
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def _blob_image(w: int, h: int, x: float, y: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    blob = 255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 12.0**2))
    return np.repeat(blob.astype(np.uint8)[..., None], 3, axis=2)


def _centroid(rgb: np.ndarray) -> np.ndarray:
    g = rgb[..., 0].astype(np.float64)
    g[g < 20] = 0
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    return np.array([(xx * g).sum(), (yy * g).sum()]) / g.sum()


@pytest.mark.parametrize(("fmt", "orientation"), [("JPEG", 1), ("JPEG", 6), ("PNG", 1)])
def test_reduction_keeps_coordinates(monkeypatch, fmt, orientation):
    from PIL.JpegImagePlugin import JpegImageFile

    drafts = []
    real_draft = JpegImageFile.draft
    monkeypatch.setattr(JpegImageFile, "draft", lambda self, *a: drafts.append(real_draft(self, *a)) or drafts[-1])
    w, h, point = 3001, 2203, np.array([2111.0, 1377.0])  # odd sizes: partial JPEG blocks at the edges
    upright = _blob_image(w, h, *point)
    if orientation == 6:
        data = exif_rotated_jpeg(upright, 6)
    else:
        data = encode(upright, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    d = _decode(data, max_side=400)
    assert (d.width, d.height) == (w, h) and max(d.rgb.shape[:2]) == 400
    assert d.scale == pytest.approx(w / 400)
    if fmt == "JPEG":
        assert drafts and drafts[-1] is not None and drafts[-1][1][2] <= w / 4  # decoded at 1/4 or 1/8
    found = _centroid(d.rgb)
    np.testing.assert_allclose(d.to_full(found), point, atol=2.5)
    # Plain multiplication, as the brief defines `scale`, is off by at most half a reduced pixel.
    np.testing.assert_allclose(found * d.scale, point, atol=0.5 * d.scale + 2.5)
