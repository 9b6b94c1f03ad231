"""The project's charts, drawn once with matplotlib's object API (no pyplot state, so threads in
the service may draw at once) and written as PNG for files, MLflow runs and the Dagster UI (a
Markdown image), or as inline SVG, its text kept as text, for the web UI.

matplotlib is imported when a chart is drawn, never when the Dagster definitions load."""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SIZE_INCHES = (6.4, 3.2)
DPI = 100
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@functools.cache
def _matplotlib() -> Any:
    """matplotlib, set up once for the process: rcParams are global, and changing them around
    each SVG would race between threads drawing at once."""
    import matplotlib

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "twin"})  # text as <text>; stable ids
    return matplotlib


def _figure(columns: int = 1, size: tuple[float, float] = SIZE_INCHES) -> tuple[Figure, list]:
    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, list(axes)


def _series_names(groups: dict[str, dict[str, float]]) -> list[str]:
    names = list(dict.fromkeys(name for bars in groups.values() for name in bars))
    if not names:
        raise ValueError("a chart needs at least one bar")
    return names


def line_chart(series: dict[str, Sequence[tuple[float, float]]], title: str, x_label: str, y_label: str) -> Figure:
    """One line per named series of (x, y) points; a one-point series is drawn as a dot."""
    if not any(series.values()):
        raise ValueError("a chart needs at least one point")
    figure, (axes,) = _figure()
    for index, (name, points) in enumerate(series.items()):
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="o" if len(points) == 1 else None, color=COLOURS[index % len(COLOURS)], label=name)
    axes.set(title=title, xlabel=x_label, ylabel=y_label)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def grouped_bars(groups: dict[str, dict[str, float]], title: str, value_label: str = "", horizontal: bool = False,
                 reference: float | None = None) -> Figure:
    """A group of bars per name (a category, a measure), a bar per series (a model) in each, all
    on one axis, so only for values in one unit; `reference` draws a line there (what "like the
    author" is). A series without a value in a group gets no bar there."""
    names = _series_names(groups)
    figure, (axes,) = _figure(size=(SIZE_INCHES[0], max(SIZE_INCHES[1], 0.45 * len(groups) * len(names)))
                              if horizontal else SIZE_INCHES)
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        positions = [g + (index - (len(names) - 1) / 2) * width for g, bars in enumerate(groups.values()) if name in bars]
        values = [bars[name] for bars in groups.values() if name in bars]
        draw = axes.barh if horizontal else axes.bar
        drawn = draw(positions, values, width * 0.9, color=COLOURS[index % len(COLOURS)], label=name)
        axes.bar_label(drawn, fmt="%.3g", fontsize="x-small", padding=2)
    ticks = range(len(groups))
    if horizontal:
        axes.set_yticks(ticks, list(groups), fontsize="small")
        axes.invert_yaxis()
        axes.set_xlabel(value_label)
    else:
        axes.set_xticks(ticks, list(groups), fontsize="small")
        axes.set_ylabel(value_label)
    axes.margins(**({"x": 0.12} if horizontal else {"y": 0.12}))  # room for the values written past the bars
    if reference is not None:
        (axes.axvline if horizontal else axes.axhline)(reference, color="black", linewidth=0.8)
    axes.set_title(title)
    axes.legend(fontsize="small")
    return figure


def bar_panels(groups: dict[str, dict[str, float]], title: str) -> Figure:
    """One panel per name (a metric) with its own scale, since metrics differ in units; a bar per
    series (a model) in each, the same colour for a series in every panel."""
    names = _series_names(groups)
    figure, panels = _figure(columns=len(groups), size=(max(SIZE_INCHES[0], 1.6 * len(groups)), SIZE_INCHES[1]))
    for axes, (group, bars) in zip(panels, groups.items(), strict=True):
        shown = [name for name in names if name in bars]
        # A series keeps its slot in every panel, so the same model is in the same place throughout.
        drawn = axes.bar([names.index(n) for n in shown], [bars[n] for n in shown],
                         color=[COLOURS[names.index(n) % len(COLOURS)] for n in shown])
        axes.bar_label(drawn, fmt="%.3g", fontsize="x-small", padding=2)
        axes.set_xticks([])
        axes.set_xlim(-0.6, len(names) - 0.4)
        axes.set_title(group, fontsize="small")
        axes.tick_params(labelsize="x-small")
        axes.margins(y=0.15)
    figure.suptitle(title)
    figure.legend(handles=[_legend_patch(COLOURS[i % len(COLOURS)], name) for i, name in enumerate(names)],
                  loc="outside lower center", ncols=len(names), fontsize="small")
    return figure


def _legend_patch(colour: str, label: str):
    from matplotlib.patches import Patch

    return Patch(color=colour, label=label)


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def inline_svg(figure: Figure) -> str:
    """The chart as an <svg> element to put in an HTML page: no XML prolog, text as <text>."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def markdown_image(image: bytes, alt: str) -> str:
    """A PNG as a Markdown image with a data URI, which the Dagster UI renders inline."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(image).decode()})"
