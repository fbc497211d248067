"""Pictures of a finished run: mask overlays of a few faces and a contact sheet of scored faces."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from PIL import Image, ImageDraw

from mgmtn.attributes import ATTRIBUTE_COLUMNS
from mgmtn.masks import unpack_masks
from mgmtn.overlay import save_overlay
from pipeline.crops import decode_crop


def write_overlays(faces_glob: str, out_dir: Path, n: int = 4, mask_size: int = 28) -> list[Path]:
    """Mask overlays of the first `n` faces, so a person can check the group geometry."""
    df = (
        pl.scan_parquet(faces_glob)
        .filter(pl.col("status") == "ok")
        .select("image_id", "face_idx", "crop", "masks")
        .head(n)
        .collect()
    )
    paths = []
    for i, row in enumerate(df.iter_rows(named=True)):
        crop = decode_crop(row["crop"])
        p = out_dir / f"overlay-{i:02d}.png"
        paths.append(save_overlay(p, crop, unpack_masks(row["masks"], mask_size)))
    return paths


def contact_sheet(
    faces_glob: str, attributes_glob: str, path: Path, n: int = 24, threshold: float = 0.5, top: int = 3
) -> Path:
    """A grid of scored faces, each captioned with its `top` most probable attributes above threshold."""
    keys = ["image_id", "face_idx"]
    faces = pl.scan_parquet(faces_glob).filter(pl.col("status") == "ok").select(*keys, "crop")
    attrs = pl.scan_parquet(attributes_glob).filter(pl.col("status") == "ok").select(*keys, *ATTRIBUTE_COLUMNS)
    df = faces.join(attrs, on=keys).head(n).collect()
    cell, cap, cols = 112, 36, 6
    rows = max(1, -(-df.height // cols))
    sheet = Image.new("RGB", (cols * cell, rows * (cell + cap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, row in enumerate(df.iter_rows(named=True)):
        x, y = (k % cols) * cell, (k // cols) * (cell + cap)
        sheet.paste(Image.fromarray(decode_crop(row["crop"])).resize((cell, cell)), (x, y))
        probs = sorted(
            ((row[c], c) for c in ATTRIBUTE_COLUMNS if row[c] is not None and row[c] >= threshold), reverse=True
        )[:top]
        for j, (p, c) in enumerate(probs):
            draw.text((x + 2, y + cell + 1 + 11 * j), f"{c[:15]} {p:.2f}", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def prevalence(attributes_glob: str, threshold: float = 0.5) -> dict[str, float]:
    """Share of scored faces with each attribute above threshold."""
    df = (
        pl.scan_parquet(attributes_glob)
        .filter(pl.col("status") == "ok")
        .select([(pl.col(c) >= threshold).mean().alias(c) for c in ATTRIBUTE_COLUMNS])
        .collect()
    )
    return {c: float(df[c][0]) for c in ATTRIBUTE_COLUMNS if df[c][0] is not None}
