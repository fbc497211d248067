"""Run summaries: counts by status, faces per image, attribute prevalence, time per stage."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.shards import ShardStore


def faces_summary(store: ShardStore) -> dict[str, Any]:
    images = faces = rows = 0
    statuses: Counter = Counter()
    detectors: Counter = Counter()
    for st in store.all_stats():
        images += st["images"]
        faces += st["faces"]
        rows += st["rows"]
        statuses.update(st["statuses"])
        detectors[st.get("detector", "?")] += 1
    failed = {k: v for k, v in statuses.items() if k != "ok"}
    return {
        "images": images,
        "rows": rows,
        "faces": faces,
        "faces_per_image": round(faces / images, 3) if images else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "failed_rows": sum(failed.values()),
        "detectors": dict(detectors),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A short plain-text report, printed at the end of a run and published as a Prefect artifact."""
    f = summary["faces"]
    lines = [
        f"corpus      {summary['corpus']}",
        f"output      {summary['out']}",
        f"detector    {summary['detector']} ({summary['detector_version']})",
        f"images      {f['images']}   faces {f['faces']}   faces/image {f['faces_per_image']}",
        "statuses    " + ", ".join(f"{k} {v}" for k, v in f["statuses"].items()),
    ]
    if summary.get("prevalence"):
        top = sorted(summary["prevalence"].items(), key=lambda kv: -kv[1])[:8]
        lines.append("prevalence  " + ", ".join(f"{k} {v:.0%}" for k, v in top))
    for stage, t in summary.get("stage_seconds", {}).items():
        lines.append(f"time        {stage:<9} {t:8.1f} s")
    lines.append(f"wall time   {summary['wall_seconds']:.1f} s")
    return "\n".join(lines)
