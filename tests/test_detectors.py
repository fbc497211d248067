"""Detectors on real face photos (dlib) and on face-alignment's own networks with test-made weights."""

from __future__ import annotations

import io
import shutil
import socket
import urllib.request

import numpy as np
import pytest
from PIL import Image

from pipeline import detectors
from pipeline.decode import decode_image
from pipeline.detectors import (
    FAN_FILE,
    S3FD_FILE,
    DetectorUnavailable,
    Face,
    available_detectors,
    create_detector,
    register_detector,
    resolve_detector,
)
from tests.badfiles import exif_rotated_jpeg
from tests.fixtures_faces import (
    FACE_BOX,
    face_photo,
    many_faces_photo,
    no_face_photo,
    write_fake_fa_weights,
)


@pytest.fixture(scope="module")
def dlib_det():
    return create_detector("dlib")


def _check_face(f: Face) -> None:
    assert f.bbox.dtype == np.float32 and f.bbox.shape == (4,)
    assert f.landmarks.dtype == np.float32 and f.landmarks.shape == (68, 2)
    assert isinstance(f.score, float) and np.isfinite(f.landmarks).all()


def test_dlib_finds_the_face_with_plausible_landmarks(dlib_det):
    faces = dlib_det.detect(face_photo())
    assert len(faces) == 1
    f = faces[0]
    _check_face(f)
    np.testing.assert_allclose(f.bbox, FACE_BOX, atol=6)
    lm = f.landmarks
    eyes, mouth, nose_tip = lm[36:48], lm[48:68], lm[30]
    assert eyes[:, 1].max() < nose_tip[1] < mouth[:, 1].min()  # eyes above nose above mouth
    assert lm[36:42, 0].mean() < nose_tip[0] < lm[42:48, 0].mean()  # iBUG 36-41 is the image-left eye
    x0, y0, x1, y1 = f.bbox
    pad = 0.15 * (x1 - x0)
    assert ((lm >= [x0 - pad, y0 - pad]) & (lm <= [x1 + pad, y1 + pad])).all()
    assert "shape_predictor_68_face_landmarks" in dlib_det.version and dlib_det.name == "dlib"


def test_dlib_many_faces_sorted_by_area(dlib_det):
    faces = dlib_det.detect(many_faces_photo())
    assert len(faces) >= 10
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True) and areas[0] > areas[-1]


def test_dlib_no_face_and_filters():
    assert create_detector("dlib").detect(no_face_photo()) == []
    strict = create_detector("dlib", {"min_face": 200})
    assert strict.detect(face_photo()) == []
    assert len(strict.detect(face_photo(), scale=3.0)) == 1  # min_face is in full-image pixels
    assert len(create_detector("dlib", {"max_faces": 3}).detect(many_faces_photo())) == 3


def test_dlib_finds_the_face_only_after_exif_rotation(dlib_det):
    data = exif_rotated_jpeg(face_photo(), 6)
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert dlib_det.detect(stored) == []
    assert len(dlib_det.detect(decode_image(data, max_pixels=10**8, max_side=1024).rgb)) == 1


def test_dlib_missing_model_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.dat"
    with pytest.raises(DetectorUnavailable, match="nope.dat"):
        create_detector("dlib", {"dlib_predictor": str(missing)})


def test_registry_and_unknown_name(monkeypatch):
    monkeypatch.setattr(detectors, "_REGISTRY", dict(detectors._REGISTRY))

    @register_detector("null")
    class Null:
        version = "null 0"

        def __init__(self, cfg: dict) -> None:
            self.cfg = cfg

        def detect(self, rgb: np.ndarray, scale: float = 1.0) -> list[Face]:
            return []

    det = create_detector("null", {"min_face": 5})
    assert det.name == "null" and det.cfg["min_face"] == 5 and "null" in available_detectors()
    with pytest.raises(ValueError, match="unknown detector"):
        create_detector("nope")


# ---------------------------------------------------------------- face-alignment


@pytest.fixture(scope="module")
def fake_torch_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("torch_home")
    write_fake_fa_weights(home)
    yield home
    shutil.rmtree(home, ignore_errors=True)  # ~185 MB; pytest would keep it around for three runs


@pytest.fixture
def offline(monkeypatch):
    """Fail loudly on any download attempt."""
    import face_alignment.utils
    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def torch_home(monkeypatch, tmp_path):
    """Point TORCH_HOME and torch.hub at a directory of the test's choosing (restored afterwards)."""
    import torch.hub

    monkeypatch.delenv(detectors.FA_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", getattr(torch.hub, "_hub_dir", None))

    def point(home):
        monkeypatch.setenv("TORCH_HOME", str(home))
        torch.hub.set_dir(str(home / "hub"))
        return home

    point(tmp_path / "empty")
    return point


def test_fa_loads_test_made_weights_and_detects(torch_home, fake_torch_home, offline):
    torch_home(fake_torch_home)
    assert resolve_detector("auto") == "face-alignment"
    det = create_detector("face-alignment")
    assert det.name == "face-alignment" and "2DFAN4-11f355bf06" in det.version
    faces = det.detect(face_photo())  # the test heads make S3FD return the same two coarse boxes
    assert isinstance(faces, list) and len(faces) == 2
    for f in faces:
        _check_face(f)
    assert faces[0].area >= faces[1].area


def test_fa_weights_dir_from_config_or_env(torch_home, fake_torch_home, offline, monkeypatch):
    import torch.hub

    before = torch.hub.get_dir()  # the empty test TORCH_HOME
    assert resolve_detector("auto") == "dlib"
    cfg = {"fa_weights_dir": str(fake_torch_home)}
    assert resolve_detector("auto", cfg) == "face-alignment"
    det = create_detector("auto", cfg)
    assert det.name == "face-alignment" and torch.hub.get_dir() == before
    monkeypatch.setenv(detectors.FA_WEIGHTS_ENV, str(fake_torch_home))
    assert resolve_detector("auto") == "face-alignment"


def test_fa_missing_weights_names_files(torch_home, tmp_path):
    with pytest.raises(DetectorUnavailable) as err:
        create_detector("face-alignment")
    msg = str(err.value)
    assert S3FD_FILE in msg and FAN_FILE in msg and "prefetch" in msg and str(tmp_path / "empty") in msg
    assert resolve_detector("auto") == "dlib" and create_detector().name == "dlib"

    partial = tmp_path / "partial" / "hub" / "checkpoints"
    partial.mkdir(parents=True)
    (partial / S3FD_FILE).write_bytes(b"")
    with pytest.raises(DetectorUnavailable) as err:
        create_detector("face-alignment", {"fa_weights_dir": str(tmp_path / "partial")})
    assert FAN_FILE in str(err.value) and S3FD_FILE not in str(err.value).split(" not in ")[0]


def test_info_cli(torch_home, fake_torch_home, capsys):
    assert detectors.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "dlib             available" in out and "-> dlib" in out and FAN_FILE in out
    assert detectors.main(["info", "--weights-dir", str(fake_torch_home)]) == 0
    assert "-> face-alignment" in capsys.readouterr().out


def test_fa_corrupt_weights_are_unavailable(torch_home, tmp_path):
    ckpt = tmp_path / "bad" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / S3FD_FILE).write_bytes(b"not a checkpoint")
    (ckpt / FAN_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(DetectorUnavailable, match="cannot load face-alignment weights"):
        create_detector("face-alignment", {"fa_weights_dir": str(tmp_path / "bad")})


def test_dlib_detector_is_thread_safe(dlib_det):
    """dlib releases the GIL, so threads share one detector; its HOG scanner keeps per-image state, and a
    shared one returns other images' boxes under threads. Results must not depend on threading."""
    from concurrent.futures import ThreadPoolExecutor

    base = [face_photo(), many_faces_photo(2, 2), no_face_photo()]
    images = [np.roll(base[i % 3], 7 * i, axis=1) for i in range(36)]

    def key(img: np.ndarray) -> list:
        return [(f.bbox.tobytes(), f.score, f.landmarks.tobytes()) for f in dlib_det.detect(img)]

    serial = [key(img) for img in images]
    assert any(serial) and not all(serial)
    for _ in range(2):
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(key, images)) == serial


def test_describe_detector_needs_no_model_and_matches_the_loaded_one(dlib_det, tmp_path):
    assert detectors.describe_detector("dlib") == dlib_det.version
    assert detectors.detector_thread_safe("dlib") and not detectors.detector_thread_safe("face-alignment")
    with pytest.raises(DetectorUnavailable, match="nope.dat"):
        detectors.describe_detector("dlib", {"dlib_predictor": str(tmp_path / "nope.dat")})


def test_a_corrupt_dlib_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "shape_predictor_68_face_landmarks.dat"
    bad.write_bytes(b"not a model" * 100)
    with pytest.raises(DetectorUnavailable, match="cannot load dlib landmark model"):
        create_detector("dlib", {"dlib_predictor": str(bad)})
