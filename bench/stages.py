"""Each benchmark figure, measured against the simplest thing a user would write instead, in one run."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mgmtn.align import align_face
from mgmtn.masks import pack_masks
from pipeline.annotate import annotate_to
from pipeline.crops import decode_crops, encode_crop
from pipeline.decode import decode_image
from pipeline.detectors import create_detector

REPO = Path(__file__).resolve().parents[1]


def subprocess_env() -> dict[str, str]:
    """The environment benchmarked commands run in (no Prefect analytics: nothing leaves the machine)."""
    return {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def annotate_corpus_cmd(corpus: Path, out: Path, detector: str, model_path: Path | None = None) -> list[str]:
    """The `annotate-corpus` command line a user would type, as the benchmarks run it (released model by
    default)."""
    cmd = [sys.executable, "-m", "flows.annotate_corpus", "--corpus", str(corpus), "--out", str(out),
           "--detector", detector, "--no-progress"]  # fmt: skip
    return cmd + (["--model", str(model_path)] if model_path else [])


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `repeats` calls (and all of them)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def make_corpus(dest: Path, n: int, celeba: Path | None) -> Path:
    """`n` face images: real CelebA images copied from celeba-6k when present (copies, not links: links that
    leave a corpus root are refused), else generated variants of scikit-image's astronaut portrait."""
    dest.mkdir(parents=True, exist_ok=True)
    if celeba is not None:
        for name in sorted(os.listdir(celeba))[:n]:
            if not (dest / name).exists():
                shutil.copyfile(celeba / name, dest / name)
        return dest
    from skimage import data

    face = data.astronaut()[40:258, 133:311].astype(np.int16)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.roll(face, int(rng.integers(-6, 6)), axis=1) + int(rng.integers(-30, 30))
        img = np.clip(img[:, ::-1] if i % 2 else img, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(dest / f"{i:06d}.jpg", quality=90)
    return dest


def sequential_annotate(corpus: Path | list[Path], cfg: dict, detector_name: str) -> int:
    """The baseline: a plain loop, one image at a time, same decoder, detector, alignment and masks."""
    det = create_detector(detector_name, cfg["detect"])
    faces = 0
    paths = sorted(corpus.iterdir()) if isinstance(corpus, Path) else corpus
    for p in paths:
        img = decode_image(p.read_bytes(), max_pixels=cfg["detect"]["max_pixels"], max_side=cfg["detect"]["max_side"])
        for f in det.detect(img.rgb, img.scale):
            a = align_face(img.rgb, f.landmarks, cfg["align"]["crop_size"], cfg["align"]["mask_size"])
            encode_crop(a.crop, cfg["align"]["crop_format"], cfg["align"]["crop_quality"])
            pack_masks(a.masks)
            faces += 1
    return faces


def parallel_loops(corpus: Path, detector_name: str, processes: int) -> float:
    """Wall time of `processes` independent copies of the baseline loop, each a fresh Python process on its
    own slice of the corpus: what the hardware allows with no coordination at all (the ceiling)."""
    import subprocess

    code = (
        "import sys; from pathlib import Path; from conf import load_config; "
        "from bench.stages import sequential_annotate; k, n = int(sys.argv[1]), int(sys.argv[2]); "
        f"paths = sorted(Path({str(corpus)!r}).iterdir())[k::n]; "
        f"sequential_annotate(paths, load_config(), {detector_name!r})"
    )
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code, str(k), str(processes)], cwd=REPO) for k in range(processes)]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("a baseline loop process failed")
    return time.perf_counter() - t0


def annotate_figures(corpus: Path, cfg: dict, detector: str, repeats: int, work: Path) -> dict:
    """End-to-end ratio (start-up included), steady-state ratio (images/s between the 25 % and 75 % marks of
    the run), and the ceiling: independent copies of the baseline loop, one per CPU, with no coordination."""
    n = len(os.listdir(corpus))
    base, _ = timed(lambda: sequential_annotate(corpus, cfg, detector), repeats)
    cpus = os.cpu_count() or 1
    ceiling, _ = timed(lambda: parallel_loops(corpus, detector, cpus), repeats)
    runs = iter(range(repeats))
    results: list[dict] = []

    def ours():
        out = work / f"annotate-{next(runs)}"
        shutil.rmtree(out, ignore_errors=True)
        results.append(annotate_to(str(corpus), str(out), cfg, detector, progress=False))

    mine, _ = timed(ours, repeats)
    steady = statistics.median(r.get("steady_units_per_s", n / r["seconds"]) for r in results)
    startup = statistics.median(r["first_batch_s"] for r in results)
    return {
        "annotate_images": n,
        "annotate_baseline_s": base,
        "annotate_s": mine,
        "annotate_speedup": base / mine,
        "annotate_images_per_s": n / mine,
        "annotate_first_batch_s": startup,
        "annotate_steady_images_per_s": steady,
        "annotate_steady_speedup": steady / (n / base),
        "annotate_ceiling_s": ceiling,
        "annotate_ceiling_speedup": base / ceiling,
        "annotate_engine": results[0]["engine"],
    }


def score_figures(faces_glob: str, model_path: Path, batch_size: int, repeats: int) -> dict:
    """MGMTN scoring (decode crops + full model) against the backbone alone on the same crops and batches."""
    import polars as pl
    import torch

    from mgmtn.checkpoint import checkpoint_id, load_checkpoint
    from mgmtn.fit import prepare_batch
    from mgmtn.inference import prepare_for_inference, to_channels_last
    from pipeline.score import score_table

    torch.set_num_threads(os.cpu_count() or 1)
    batch = pl.read_parquet(faces_glob).filter(pl.col("status") == "ok").to_arrow()
    model = prepare_for_inference(load_checkpoint(model_path)[0])  # as the score stage runs it
    mid = checkpoint_id(model_path)
    score_s, _ = timed(lambda: score_table(batch, model, mid, batch_size), repeats)

    def backbone_only():
        crops = batch["crop"]
        with torch.inference_mode():
            for s in range(0, batch.num_rows, batch_size):
                arr = decode_crops([crops[i].as_py() for i in range(s, min(s + batch_size, batch.num_rows))])
                if len(arr) < batch_size:  # the same padded batches the score stage runs
                    arr = np.concatenate([arr, np.zeros((batch_size - len(arr), *arr.shape[1:]), arr.dtype)])
                x, _ = prepare_batch(torch.from_numpy(arr), None, "cpu")
                model.backbone(to_channels_last(x))

    bb_s, _ = timed(backbone_only, repeats)
    return {
        "score_faces": batch.num_rows,
        "score_s": score_s,
        "backbone_s": bb_s,
        "score_overhead": score_s / bb_s,
        "score_faces_per_s": batch.num_rows / score_s,
    }


def flow_overhead(corpus: Path, model_path: Path, cfg: dict, detector: str, work: Path) -> dict:
    """`annotate-corpus` on 10 images, minus what its stages compute (the same work done in-process)."""
    import subprocess

    import torch

    from mgmtn.checkpoint import checkpoint_id, load_checkpoint
    from mgmtn.inference import prepare_for_inference
    from pipeline.score import score_table

    small = work / "ten"
    small.mkdir(exist_ok=True)
    for p in sorted(corpus.iterdir())[:10]:
        if not (small / p.name).exists():
            shutil.copyfile(p, small / p.name)
    out = work / "flow-out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(
        annotate_corpus_cmd(small, out, detector, model_path),
        cwd=REPO,
        env=subprocess_env(),
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    sequential_annotate(small, cfg, detector)
    import polars as pl

    torch.set_num_threads(os.cpu_count() or 1)
    batch = pl.read_parquet(f"{out}/faces/*.parquet").filter(pl.col("status") == "ok").to_arrow()
    model = prepare_for_inference(load_checkpoint(model_path)[0])
    score_table(batch, model, checkpoint_id(model_path), 64)
    compute = time.perf_counter() - t0
    return {"flow_wall_s": wall, "flow_compute_s": compute, "flow_overhead_s": wall - compute}


def rss_figures(corpus_small: Path, corpus_big: Path, model_path: Path, detector: str, work: Path) -> dict:
    from bench.rss import run_with_peak_memory

    peaks = {}
    for name, corpus in (("small", corpus_small), ("big", corpus_big)):
        out = work / f"rss-{name}"
        shutil.rmtree(out, ignore_errors=True)
        # Both sizes on the same engines (Ray actors for both stages), so the ratio measures growth with
        # corpus size, not the small-run shortcut's smaller footprint.
        cmd = annotate_corpus_cmd(corpus, out, detector, model_path)
        cmd += ["--set", "annotate.inline_max_images=0", "--set", "score.inline_max_rows=0"]
        rc, peak, wall = run_with_peak_memory(
            cmd,
            env=subprocess_env(),
            cwd=str(REPO),
        )
        if rc != 0:
            raise RuntimeError(f"annotate-corpus failed on {corpus} (exit {rc})")
        peaks[name] = (peak, len(os.listdir(corpus)), wall)
    return {
        "rss_small_images": peaks["small"][1],
        "rss_small_mb": peaks["small"][0],
        "rss_big_images": peaks["big"][1],
        "rss_big_mb": peaks["big"][0],
        "rss_growth": peaks["big"][0] / peaks["small"][0],
    }


def train_figures(faces_glob: str, cfg: dict, work: Path, images: int) -> dict:
    """Training throughput with 1 and 2 Ray Train workers, one epoch over the same faces."""
    from pipeline.face_arrays import load_primary_faces
    from pipeline.training import history, run_training

    faces = load_primary_faces(faces_glob)
    n = min(images, len(faces))
    rng = np.random.default_rng(0)
    arrays = {
        "crops": faces.crops[:n],
        "masks": faces.masks[:n],
        "labels": rng.integers(0, 2, (n, 40)).astype(np.float32),
    }
    out = {}
    for workers in (1, 2):
        c = {**cfg, "train": {**cfg["train"], "epochs": 1, "num_workers": workers, "time_budget_min": 0}}
        d = Path(tempfile.mkdtemp(dir=work))
        run_training(arrays, None, c, d, {"data": "bench"}, resume=False)
        out[f"train_images_per_s_{workers}w"] = history(d)[0]["images_per_s"]
    return out
