"""Dataset exports beside the Delta table: JSONL in the alpaca and chat-messages shapes that
Axolotl and TRL read, one folder per dataset version and size."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

SYSTEM_PROMPT = "You write in the voice of the author whose work you learned from."


def subset(samples: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    """The first `limit` samples in sample_id order: a fixed subset, so a size means the same rows every time."""
    ordered = samples.sort("sample_id")
    return ordered if limit is None else ordered.head(limit)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def export_instruct(samples: pl.DataFrame, folder: Path, sizes: dict[str, int | None]) -> dict[str, dict[str, int]]:
    """Writes <folder>/<size>/<split>.alpaca.jsonl and .chat.jsonl; returns rows per size and split."""
    written: dict[str, dict[str, int]] = {}
    for size, limit in sizes.items():
        chosen = subset(samples, limit)
        written[size] = {}
        for split in ("train", "test"):
            rows = chosen.filter(pl.col("split") == split).to_dicts()
            _write_jsonl(folder / size / f"{split}.alpaca.jsonl",
                         [{"instruction": r["instruction"], "input": "", "output": r["output"]} for r in rows])
            _write_jsonl(folder / size / f"{split}.chat.jsonl", [
                {"messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": r["instruction"]},
                    {"role": "assistant", "content": r["output"]},
                ]}
                for r in rows
            ])
            written[size][split] = len(rows)
    return written
