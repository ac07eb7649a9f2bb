"""Bar charts drawn as inline SVG on the server: no script, no library, nothing fetched."""

from __future__ import annotations

import math
from dataclasses import dataclass

from biobank.services.reporting.dashboards import Chart


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    bars: list[Bar]
    labels: list[Text]
    grid: list[tuple[float, Text]]  # y of the line, its value label
    legend: list[str]


def _fmt(value: float, unit: str) -> str:
    return f"{value:g}{'%' if unit == '%' else ''}"


def vertical(chart: Chart, width: int = 640, height: int = 220) -> Layout:
    """Stacked columns, one per label, the series bottom to top."""
    left, right, top, bottom = 44, 8, 10, 34
    count = max(len(chart.labels), 1)
    totals = [sum(values[i] for values in chart.series.values()) for i in range(len(chart.labels))]
    peak = max([*totals, 1.0])
    plot_h, slot = height - top - bottom, (width - left - right) / count
    bars, labels = [], []
    every = max(1, math.ceil(count * 52 / (width - left - right)))  # a label needs ~52 units
    for i, label in enumerate(chart.labels):
        base: float = top + plot_h
        for s, (name, values) in enumerate(chart.series.items()):
            value = values[i]
            if value <= 0:
                continue
            bar_h = plot_h * value / peak
            base -= bar_h
            bars.append(
                Bar(
                    left + i * slot + slot * 0.15,
                    base,
                    slot * 0.7,
                    bar_h,
                    s,
                    f"{label}: {_fmt(value, chart.unit)} {name}",
                )
            )
        if i % every == 0:
            labels.append(Text(left + i * slot + slot / 2, height - bottom + 16, label))
    grid = [
        (
            top + plot_h * (1 - fraction),
            Text(
                left - 6,
                top + plot_h * (1 - fraction) + 4,
                _fmt(round(peak * fraction, 1), chart.unit),
                "end",
            ),
        )
        for fraction in (0, 0.5, 1)
    ]
    legend = list(chart.series) if len(chart.series) > 1 else []
    return Layout(width, height, bars, labels, grid, legend)


def horizontal(chart: Chart, width: int = 640, row: int = 26) -> Layout:
    """One bar per label, left to right; percentages run to 100."""
    left, right = 170, 60
    values = next(iter(chart.series.values()), [])
    peak = 100.0 if chart.unit == "%" else max([*values, 1.0])
    plot_w = width - left - right
    bars, labels = [], []
    for i, (label, value) in enumerate(zip(chart.labels, values, strict=True)):
        y = 6 + i * row
        bars.append(
            Bar(
                left,
                y,
                plot_w * min(value, peak) / peak,
                row - 8,
                0,
                f"{label}: {_fmt(value, chart.unit)}",
            )
        )
        labels.append(Text(left - 8, y + row / 2, label, "end"))
        labels.append(
            Text(
                left + plot_w * min(value, peak) / peak + 6,
                y + row / 2,
                _fmt(value, chart.unit),
                "start",
            )
        )
    return Layout(width, 12 + row * max(len(values), 1), bars, labels, [], [])
