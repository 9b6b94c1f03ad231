"""Small renderers for asset and check metadata, shared by every stage's assets.py."""

from __future__ import annotations

import polars as pl


def markdown_sample(frame: pl.DataFrame, columns: list[str], limit: int = 5, width: int = 80) -> str:
    """The first rows of a frame as a Markdown table, each cell cut to `width` characters."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.head(limit).select(columns).to_dicts():
        cells = [str(row[c] if row[c] is not None else "")[:width].replace("|", "\\|").replace("\n", " ") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def counts_by(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """Rows per value of `column`, sorted by value; {} for an empty frame."""
    if frame.is_empty():
        return {}
    return {str(k): v for k, v in frame.group_by(column).len().sort(column).iter_rows()}
