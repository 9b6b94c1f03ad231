"""Plots of a training run as SVG text: no plotting library, so the same picture goes to the
model folder, the MLflow run and the Dagster UI (as a Markdown image)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN = 480, 240, 40
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _scale(values: Sequence[float], low_px: float, high_px: float) -> tuple[float, float, Callable[[float], float]]:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return low, high, lambda v: low_px + (v - low) / span * (high_px - low_px)


def line_chart_svg(series: dict[str, Sequence[tuple[float, float]]], title: str, x_label: str, y_label: str) -> str:
    """One line per named series of (x, y) points, with axis ranges labelled."""
    points = [p for values in series.values() for p in values]
    if not points:
        raise ValueError("a chart needs at least one point")
    x_low, x_high, x_px = _scale([x for x, _ in points], MARGIN, WIDTH - 10)
    y_low, y_high, y_px = _scale([y for _, y in points], HEIGHT - MARGIN, 20)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle">{escape(title)}</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - 10}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="20" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 14}">{x_low:g}</text>',
        f'<text x="{WIDTH - 10}" y="{HEIGHT - MARGIN + 14}" text-anchor="end">{x_high:g}</text>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="{MARGIN - 4}" y="{HEIGHT - MARGIN}" text-anchor="end">{y_low:.3g}</text>',
        f'<text x="{MARGIN - 4}" y="28" text-anchor="end">{y_high:.3g}</text>',
        f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" text-anchor="middle">{escape(y_label)}</text>',
    ]
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = " ".join(f"{x_px(x):.1f},{y_px(y):.1f}" for x, y in values)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coordinates}"/>')
        if len(values) == 1:
            (x, y), = values
            parts.append(f'<circle cx="{x_px(x):.1f}" cy="{y_px(y):.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{WIDTH - 14}" y="{34 + 14 * index}" text-anchor="end" fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart_svg(groups: dict[str, dict[str, float]], title: str) -> str:
    """One group of bars per name (a metric), one bar per series (a model) in each, each group
    scaled to its own largest value, since metrics differ in units; values are printed on bars."""
    series = list(dict.fromkeys(name for bars in groups.values() for name in bars))
    if not series:
        raise ValueError("a chart needs at least one bar")
    group_width = (WIDTH - MARGIN) / len(groups)
    bar_width = group_width * 0.8 / len(series)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="10">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle" font-size="11">{escape(title)}</text>',
        f'<line x1="{MARGIN / 2}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN / 2}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
    ]
    for index, name in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<text x="{WIDTH - 14}" y="{30 + 12 * index}" text-anchor="end" fill="{colour}">{escape(name)}</text>')
    for position, (group, bars) in enumerate(groups.items()):
        left = MARGIN / 2 + position * group_width + group_width * 0.1
        top = max((abs(v) for v in bars.values()), default=0.0) or 1.0
        for index, name in enumerate(series):
            if name not in bars:
                continue
            height = abs(bars[name]) / top * (HEIGHT - MARGIN - 60)
            x, y = left + index * bar_width, HEIGHT - MARGIN - height
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width * 0.9:.1f}" height="{height:.1f}" '
                         f'fill="{COLOURS[index % len(COLOURS)]}"/>')
            parts.append(f'<text x="{x + bar_width * 0.45:.1f}" y="{y - 3:.1f}" text-anchor="middle">{bars[name]:.3g}</text>')
        parts.append(f'<text x="{left + group_width * 0.4:.1f}" y="{HEIGHT - MARGIN + 14}" text-anchor="middle">'
                     f'{escape(group)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def markdown_image(svg: str, alt: str) -> str:
    """The SVG as a Markdown image with a data URI, which the Dagster UI renders inline."""
    return f"![{alt}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"
