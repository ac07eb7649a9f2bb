"""Label rendering: cryo-roll PDFs against a bare reportlab Code128 loop.

Each figure comes from a fresh subprocess per run, so peak memory is the real resident
set of a process that did only that job (ru_maxrss), not a tracemalloc estimate. The
bare loop draws the same Code 128 symbols at the same module width with reportlab's own
widget, one page per label on one canvas, and nothing else: no text, no layout.

Run as ``python bench/bench_labels.py`` (prints a markdown table) or import ``run()``.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 10_000)
REPEATS = 3  # speed is the median of these; memory is the largest peak seen
TARGET_RATE = 1_000  # labels/s
TARGET_SLOWDOWN = 1.3  # our time / bare time
TARGET_PEAK_MB = 300


def _ids(count: int) -> list[str]:
    from labels import SAMPLE_ID_ALPHABET

    rng = random.Random(20250314)
    return ["".join(rng.choice(SAMPLE_ID_ALPHABET) for _ in range(10)) for _ in range(count)]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _render_ours(ids: list[str]) -> tuple[float, bytes]:
    from labels import LabelSpec, render_pdf

    specs = [LabelSpec(sample_id, "1SST8", datetime.date(2025, 3, 14)) for sample_id in ids]
    start = time.perf_counter()
    pdf = render_pdf(specs, "cryo-roll")
    return time.perf_counter() - start, pdf


def _render_bare(ids: list[str]) -> tuple[float, bytes]:
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.pdfgen.canvas import Canvas

    from labels import get_stock
    from labels.layout import code128_layout

    stock = get_stock("cryo-roll")
    layout = code128_layout(stock)
    ppd = stock.points_per_dot
    page = (stock.label_width_in * 72, stock.label_height_in * 72)
    bar_width = layout.module_dots * ppd
    bar_height = layout.bar_height_dots * ppd
    bottom = (stock.label_height_dots - layout.bar_top_dots - layout.bar_height_dots) * ppd
    start = time.perf_counter()
    # Content streams Flate-compressed, as render_pdf's are (issue 16): like for like.
    canvas = Canvas(None, pagesize=page, pageCompression=1, invariant=1)
    for sample_id in ids:
        symbol = Code128(sample_id, barWidth=bar_width, barHeight=bar_height, quiet=0)
        symbol.drawOn(canvas, (page[0] - symbol.width) / 2, bottom)
        canvas.showPage()
    pdf = canvas.getpdfdata()
    return time.perf_counter() - start, pdf


def _worker(kind: str, count: int) -> dict[str, float]:
    ids = _ids(count)
    render = _render_ours if kind == "ours" else _render_bare
    render(_ids(5))  # warm imports and per-stock caches outside the timing
    seconds, pdf = render(ids)
    return {
        "rate": count / seconds,
        "seconds": seconds,
        "pdf_mb": len(pdf) / 2**20,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _measure(kind: str, count: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    runs = []
    for _ in range(REPEATS):
        completed = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(count)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return {
        "rate": statistics.median(run["rate"] for run in runs),
        "pdf_mb": runs[0]["pdf_mb"],
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def run() -> list[dict[str, Any]]:
    results = {(kind, n): _measure(kind, n) for n in SIZES for kind in ("ours", "bare")}
    rows: list[dict[str, Any]] = []
    for n in SIZES:
        ours, bare = results["ours", n], results["bare", n]
        rows.append(
            {
                "figure": f"render_pdf cryo-roll, {n:,} labels (ratio = our time / bare time)",
                "value": round(ours["rate"]),
                "unit": "labels/s",
                "target": f">= {TARGET_RATE:,} labels/s, ratio <= {TARGET_SLOWDOWN}",
                "baseline": round(bare["rate"]),
                "ratio": round(bare["rate"] / ours["rate"], 2),
            }
        )
    for n in SIZES:
        ours, bare = results["ours", n], results["bare", n]
        rows.append(
            {
                "figure": f"peak RSS, {n:,} labels (PDF itself {ours['pdf_mb']:.1f} MB)",
                "value": round(ours["peak_rss_mb"], 1),
                "unit": "MB",
                "target": f"< {TARGET_PEAK_MB} MB",
                "baseline": round(bare["peak_rss_mb"], 1),
                "ratio": round(ours["peak_rss_mb"] / bare["peak_rss_mb"], 2),
            }
        )
    small, large = results["ours", SIZES[0]], results["ours", SIZES[-1]]
    bare_small, bare_large = results["bare", SIZES[0]], results["bare", SIZES[-1]]
    extra_labels = SIZES[-1] - SIZES[0]

    def growth_kb(big: dict[str, float], little: dict[str, float]) -> float:
        rss = big["peak_rss_mb"] - little["peak_rss_mb"]
        return round((rss - (big["pdf_mb"] - little["pdf_mb"])) * 1024 / extra_labels, 2)

    rows.append(
        {
            "figure": (
                f"peak RSS growth per label beyond its PDF bytes, {SIZES[0]:,} -> {SIZES[-1]:,}"
            ),
            "value": growth_kb(large, small),
            "unit": "kB/label",
            "target": "flat (about 0)",
            "baseline": growth_kb(bare_large, bare_small),
        }
    )
    return rows


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| figure | value | target | baseline (bare) | ratio |", "|---|---|---|---|---|"]
    for row in rows:
        unit = row.get("unit", "")
        baseline = row.get("baseline")
        ratio = row.get("ratio")
        lines.append(
            f"| {row['figure']} | {row['value']} {unit} | {row.get('target', '')} | "
            f"{'' if baseline is None else f'{baseline} {unit}'} | "
            f"{'' if ratio is None else ratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], int(sys.argv[3]))))
    else:
        sys.path.insert(0, str(REPO_ROOT))
        print(_markdown(run()))
