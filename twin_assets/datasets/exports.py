"""Dataset exports beside the Delta table, one folder per dataset version and size: JSONL in
the shapes Axolotl and TRL read (alpaca and chat messages for instructions; prompt/chosen/
rejected, plain and conversational, for preferences)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from training.prompts import SYSTEM_PROMPT, chat_messages

Record = Callable[[dict[str, Any]], dict[str, Any]]

INSTRUCT_FORMATS: dict[str, Record] = {
    "alpaca": lambda r: {"instruction": r["instruction"], "input": "", "output": r["output"]},
    "chat": lambda r: {"messages": chat_messages(r["instruction"], r["output"])},
}
PREFERENCE_FORMATS: dict[str, Record] = {
    "pairs": lambda r: {"system": SYSTEM_PROMPT, "prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]},
    "chat": lambda r: {
        "prompt": chat_messages(r["prompt"]),
        "chosen": [{"role": "assistant", "content": r["chosen"]}],
        "rejected": [{"role": "assistant", "content": r["rejected"]}],
    },
}


def subset(samples: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    """The first `limit` samples in sample_id order: a fixed subset, so a size means the same rows every time."""
    ordered = samples.sort("sample_id")
    return ordered if limit is None else ordered.head(limit)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def export_dataset(
    samples: pl.DataFrame, folder: Path, sizes: dict[str, int | None], formats: dict[str, Record],
) -> dict[str, dict[str, int]]:
    """Writes <folder>/<size>/<split>.<format>.jsonl; returns rows per size and split."""
    written: dict[str, dict[str, int]] = {}
    for size, limit in sizes.items():
        chosen = subset(samples, limit)
        written[size] = {}
        for split in ("train", "test"):
            rows = chosen.filter(pl.col("split") == split).to_dicts()
            for name, record in formats.items():
                _write_jsonl(folder / size / f"{split}.{name}.jsonl", [record(r) for r in rows])
            written[size][split] = len(rows)
    return written
