"""Face + 68-point iBUG landmark detectors behind one small registry.

`create_detector("auto")` picks face-alignment (S3FD + 2DFAN4, more accurate) when its weights are on disk
and dlib (HOG + shape predictor, weights shipped in a pip package) otherwise. Nothing here downloads:
workers are offline, so missing weights are an explicit `DetectorUnavailable`, and
`python -m pipeline.detectors prefetch --dest DIR` fetches them on a connected machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULTS: dict = {
    "min_face": 24,
    "max_faces": 0,
    "dlib_upsample": 1,
    "dlib_upsample_below": 640,
    "dlib_adjust_threshold": 0.0,
    "dlib_retry_threshold": -0.4,
    "dlib_predictor": "",
    "fa_weights_dir": "",
    "fa_device": "auto",
    "fa_threshold": 0.5,
}
FA_WEIGHTS_ENV = "MGMTN_FA_WEIGHTS"
S3FD_FILE = "s3fd-619a316812.pth"
FAN_FILE = "2DFAN4-11f355bf06.pth.tar"
DLIB_PREDICTOR = "shape_predictor_68_face_landmarks.dat"


class DetectorUnavailable(RuntimeError):
    """The detector cannot run here (package or weights missing); the message says how to fix it."""


@dataclass(frozen=True)
class Face:
    """One face in the coordinates of the array given to `detect`: corner box, 0-based iBUG points."""

    bbox: np.ndarray  # float32 [4]: x0, y0, x1, y1
    score: float
    landmarks: np.ndarray  # float32 [68, 2]: x, y

    @property
    def area(self) -> float:
        return float(max(0.0, self.bbox[2] - self.bbox[0]) * max(0.0, self.bbox[3] - self.bbox[1]))


class Detector(Protocol):
    name: str
    version: str
    thread_safe: bool  # detect() may run from several threads of one process at once

    def detect(self, rgb: np.ndarray, scale: float = 1.0) -> list[Face]: ...


@dataclass(frozen=True)
class _Entry:
    factory: Callable[[dict], Detector]
    unavailable: Callable[[dict], str | None]  # None when it can run, else why not
    describe: Callable[[dict], str]  # version string of what the factory would load, without loading it


_REGISTRY: dict[str, _Entry] = {}


def register_detector(name: str) -> Callable:
    """Class decorator: the class takes the merged `[detect]` config; `unavailable(cfg)` says why not and
    `describe(cfg)` gives its version string (both optional, neither loads a model)."""

    def wrap(cls: type) -> type:
        _REGISTRY[name] = _Entry(
            cls, getattr(cls, "unavailable", lambda cfg: None), getattr(cls, "describe", lambda cfg: name)
        )
        cls.name = name
        return cls

    return wrap


def _cfg(cfg: dict | None) -> dict:
    cfg = dict(cfg or {})
    if isinstance(cfg.get("detect"), dict):  # accept the whole config as well as its [detect] section
        cfg = cfg["detect"]
    return {**DEFAULTS, **cfg}


def detector_status(cfg: dict | None = None) -> dict[str, str | None]:
    """Name -> None if usable here, else the reason it is not (no models are loaded)."""
    c = _cfg(cfg)
    return {name: entry.unavailable(c) for name, entry in _REGISTRY.items()}


def available_detectors(cfg: dict | None = None) -> list[str]:
    return [name for name, reason in detector_status(cfg).items() if reason is None]


def resolve_detector(name: str = "auto", cfg: dict | None = None) -> str:
    """Map "auto" to face-alignment when its weights are present locally, else dlib."""
    if name == "auto":
        return "face-alignment" if _REGISTRY["face-alignment"].unavailable(_cfg(cfg)) is None else "dlib"
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return name


def _usable_entry(name: str, c: dict) -> _Entry:
    entry = _REGISTRY[resolve_detector(name, c)]
    reason = entry.unavailable(c)
    if reason is not None:
        raise DetectorUnavailable(reason)
    return entry


def create_detector(name: str = "auto", cfg: dict | None = None) -> Detector:
    c = _cfg(cfg)
    return _usable_entry(name, c).factory(c)


def detector_thread_safe(name: str) -> bool:
    """Whether one loaded detector may serve several threads (so an actor can run them over one model)."""
    return bool(getattr(_REGISTRY[name].factory, "thread_safe", False))


def describe_detector(name: str = "auto", cfg: dict | None = None) -> str:
    """The version string `create_detector(name, cfg).version` would have, without loading any model.

    Raises `DetectorUnavailable` exactly when `create_detector` would refuse before loading, so a run can
    fail fast in the driver while only its workers pay for the models."""
    c = _cfg(cfg)
    return _usable_entry(name, c).describe(c)


def _finish(faces: list[Face], cfg: dict, scale: float) -> list[Face]:
    """Drop faces below min_face (full-image pixels), largest first, keep at most max_faces."""
    keep = [f for f in faces if min(f.bbox[2] - f.bbox[0], f.bbox[3] - f.bbox[1]) * scale >= cfg["min_face"]]
    keep.sort(key=lambda f: (-f.area, -f.score))
    return keep[: cfg["max_faces"]] if cfg["max_faces"] > 0 else keep


def _rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


# ---------------------------------------------------------------- dlib


def dlib_predictor_path(cfg: dict | None = None) -> Path | None:
    """The 68-point model from face_recognition_models, found without importing it (needs pkg_resources)."""
    c = _cfg(cfg)
    if c["dlib_predictor"]:
        return Path(c["dlib_predictor"]).expanduser()
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "models" / DLIB_PREDICTOR


@register_detector("dlib")
class DlibDetector:
    """HOG frontal detector + regression-tree 68-point predictor: ~17 ms at 178x218 (upsample 1), ~90 ms
    at 1000x1000 (upsample 0) on one CPU core; frontal faces only, occasional false positives.

    Thread-safe: dlib releases the GIL, so threads scale with cores. The 100 MB predictor is read-only once
    loaded and shared; the HOG scanner keeps per-image state (a shared one returns wrong boxes under
    threads), so each thread builds its own, which is small (~0.25 s)."""

    thread_safe = True

    @staticmethod
    def unavailable(cfg: dict) -> str | None:
        if importlib.util.find_spec("dlib") is None:
            return "dlib is not installed (pip install dlib-bin)"
        path = dlib_predictor_path(cfg)
        if path is None:
            return f"{DLIB_PREDICTOR} not found: face_recognition_models is not installed"
        if not path.is_file():
            return f"dlib landmark model missing: {path} (pip install face-recognition-models)"
        return None

    @staticmethod
    def describe(cfg: dict) -> str:
        import dlib

        return f"dlib {dlib.__version__} / {dlib_predictor_path(cfg).stem} / hog"

    def __init__(self, cfg: dict) -> None:
        import dlib

        self.cfg = cfg
        path = dlib_predictor_path(cfg)
        try:
            self._sp = dlib.shape_predictor(str(path))
        except RuntimeError as e:  # a truncated download or another file under the expected name
            raise DetectorUnavailable(f"cannot load dlib landmark model {path}: {e}") from e
        self._local = threading.local()
        self._hog()  # this thread's scanner now, so a single-threaded caller pays nothing later
        self.version = self.describe(cfg)

    def _hog(self):  # -> dlib.fhog_object_detector, this thread's own
        det = getattr(self._local, "det", None)
        if det is None:
            import dlib

            det = self._local.det = dlib.get_frontal_face_detector()
        return det

    def detect(self, rgb: np.ndarray, scale: float = 1.0) -> list[Face]:
        """`scale` converts `rgb` pixels to full-image pixels, for the min_face rule only."""
        img = _rgb(rgb)
        # HOG's window is 80x80: small images (CelebA 178x218) need one upsampling to find their faces.
        up = int(self.cfg["dlib_upsample"]) if max(img.shape[:2]) < self.cfg["dlib_upsample_below"] else 0
        hog = self._hog()
        rects, scores, _ = hog.run(img, up, float(self.cfg["dlib_adjust_threshold"]))
        retry = float(self.cfg["dlib_retry_threshold"])
        if not rects and retry < float(self.cfg["dlib_adjust_threshold"]):
            # A second, more permissive pass only when the first found nothing: on celeba-6k it recovers
            # most misses (tilted or occluded faces) without adding false positives to images with a face.
            rects, scores, _ = hog.run(img, up, retry)
        faces = []
        for r, s in zip(rects, scores, strict=True):
            shape = self._sp(img, r)
            pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], dtype=np.float32)
            faces.append(Face(box, float(s), pts))
        return _finish(faces, self.cfg, scale)


# ---------------------------------------------------------------- face-alignment


def fa_checkpoint_dir(cfg: dict | None = None) -> Path:
    """Where face-alignment's weights must be: <fa_weights_dir or $MGMTN_FA_WEIGHTS>/hub/checkpoints,
    else torch.hub's own <hub dir>/checkpoints (what face-alignment itself would use)."""
    c = _cfg(cfg)
    root = c["fa_weights_dir"] or os.environ.get(FA_WEIGHTS_ENV, "")
    if root:
        return Path(root).expanduser() / "hub" / "checkpoints"
    hub = sys.modules.get("torch.hub")
    if hub is not None:  # honours torch.hub.set_dir()
        return Path(hub.get_dir()) / "checkpoints"
    xdg = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.environ.get("TORCH_HOME", os.path.join(xdg, "torch"))
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


@contextlib.contextmanager
def _hub_dir(path: Path) -> Iterator[None]:
    """Point torch.hub at `path` while face-alignment resolves FAN's file, then restore it."""
    import torch.hub

    if Path(torch.hub.get_dir()) == path:
        yield
        return
    previous = getattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(str(path))
    try:
        yield
    finally:
        torch.hub._hub_dir = previous


@register_detector("face-alignment")
class FaceAlignmentDetector:
    """S3FD boxes + 2DFAN4 heatmap landmarks: more accurate than dlib, slow on CPU (S3FD ~0.2 s at 178x218,
    ~7 s at 1000x1000; FAN ~0.25-0.4 s per face). The first call in a process adds ~7 s of numba JIT.
    Not thread-safe as far as we know: one thread per model (torch's own threads do the parallel work)."""

    thread_safe = False

    @staticmethod
    def unavailable(cfg: dict) -> str | None:
        if importlib.util.find_spec("face_alignment") is None:
            return "face-alignment is not installed (pip install face-alignment)"
        where = fa_checkpoint_dir(cfg)
        missing = [f for f in (S3FD_FILE, FAN_FILE) if not (where / f).is_file()]
        if not missing:
            return None
        return (
            f"face-alignment weights missing: {', '.join(missing)} not in {where}. Workers never download; "
            f"on a connected machine run `python -m pipeline.detectors prefetch --dest DIR`, copy DIR here "
            f"and set [detect] fa_weights_dir = DIR (or ${FA_WEIGHTS_ENV}=DIR)."
        )

    @staticmethod
    def describe(cfg: dict) -> str:
        fan = FAN_FILE.removesuffix(".pth.tar")
        s3fd = S3FD_FILE.removesuffix(".pth")
        return f"face-alignment {metadata.version('face-alignment')} / {fan} + {s3fd}"

    def __init__(self, cfg: dict) -> None:
        import face_alignment
        import torch

        self.cfg = cfg
        where = fa_checkpoint_dir(cfg)
        device = cfg["fa_device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        try:
            with _hub_dir(where.parent):
                self._fa = face_alignment.FaceAlignment(
                    face_alignment.LandmarksType.TWO_D,
                    device=device,
                    flip_input=False,
                    face_detector="sfd",
                    face_detector_kwargs={
                        "path_to_detector": str(where / S3FD_FILE),
                        "filter_threshold": float(cfg["fa_threshold"]),
                    },
                    compile=False,  # compile costs ~25 s at start-up and gains little on CPU
                )
        except Exception as e:  # a partial download or a file from another model
            raise DetectorUnavailable(f"cannot load face-alignment weights from {where}: {e}") from e
        self.version = self.describe(cfg)

    def detect(self, rgb: np.ndarray, scale: float = 1.0) -> list[Face]:
        """Run S3FD first so small/extra faces are dropped before the costly FAN pass."""
        img = _rgb(rgb)
        boxes = self._fa.face_detector.detect_from_image(img.copy())
        candidates = [
            Face(np.asarray(b[:4], dtype=np.float32), float(b[4]), np.zeros((68, 2), np.float32)) for b in boxes
        ]
        candidates = _finish(candidates, self.cfg, scale)
        if not candidates:
            return []
        detected = [np.append(f.bbox, f.score).astype(np.float64) for f in candidates]
        landmarks, _, _ = self._fa.get_landmarks_from_image(
            img, detected_faces=detected, return_bboxes=True, return_landmark_score=True
        )
        if landmarks is None:
            return []
        return [
            Face(f.bbox, f.score, np.asarray(lm[:, :2], dtype=np.float32))
            for f, lm in zip(candidates, landmarks, strict=True)
        ]


# ---------------------------------------------------------------- CLI


def prefetch(dest: Path) -> list[Path]:
    """Download face-alignment's weights from its own URLs into dest/hub/checkpoints (connected machines)."""
    from face_alignment.api import models_urls as fan_urls
    from face_alignment.detection.sfd.sfd_detector import models_urls as sfd_urls
    from torch.hub import download_url_to_file

    out = Path(dest).expanduser() / "hub" / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for url, name in ((sfd_urls["s3fd"], S3FD_FILE), (fan_urls["2DFAN-4"], FAN_FILE)):
        if url.rsplit("/", 1)[-1] != name:
            raise RuntimeError(f"face-alignment now uses {url}; update {name} in pipeline/detectors.py")
        target = out / name
        if not target.is_file():
            print(f"downloading {url} -> {target}", file=sys.stderr)
            download_url_to_file(url, str(target), progress=True)
        done.append(target)
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.detectors", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    info = sub.add_parser("info", help="which detectors can run here, and why not")
    info.add_argument("--weights-dir", default="", help="face-alignment weights folder (holds hub/checkpoints)")
    pre = sub.add_parser("prefetch", help="download face-alignment weights (needs internet)")
    pre.add_argument("--dest", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "prefetch":
        for path in prefetch(args.dest):
            print(path)
        print(f"copy {args.dest} to the workers and set [detect] fa_weights_dir or ${FA_WEIGHTS_ENV} to it")
        return 0
    cfg = {"fa_weights_dir": args.weights_dir}
    for name, reason in detector_status(cfg).items():
        print(f"{name:16s} {'available' if reason is None else 'unavailable: ' + reason}")
    print(f"{'auto':16s} -> {resolve_detector('auto', cfg)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
