"""The dataset exports a training run reads: `<datasets dir>/<name>/v<version>/<size>/<split>.<format>.jsonl`,
as twin_assets/datasets/exports.py writes them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTRUCT_DATASET = "instruct_dataset"
PREFERENCE_DATASET = "preference_dataset"


@dataclass(frozen=True)
class DatasetRef:
    """One exported version of a dataset. Only name and version identify it: the folder is where
    this machine keeps it, so moving TWIN_HOME does not make the same data look new."""

    name: str
    version: int
    folder: Path  # the v<version> folder

    @classmethod
    def at(cls, datasets_dir: Path, name: str, version: int) -> DatasetRef:
        return cls(name=name, version=version, folder=Path(datasets_dir) / name / f"v{version}")

    def export_file(self, size: str, split: str, fmt: str = "chat") -> Path:
        return self.folder / size / f"{split}.{fmt}.jsonl"

    def label(self, size: str) -> str:
        return f"{self.name} v{self.version} ({size})"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ValueError(f"dataset export {path} does not exist; materialize the dataset (and this size) first")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def prompt_completion(record: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """A chat export row as TRL's conversational prompt/completion pair: the loss then covers
    the completion (the author's turn) and nothing of the system prompt or instruction."""
    messages = record["messages"]
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError(f"a chat sample must end with the assistant's turn, got roles {[m['role'] for m in messages]}")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def load_split(dataset: DatasetRef, size: str, split: str, *, required: bool) -> list[dict[str, Any]]:
    """The rows of one chat export; a required split that is empty is an error naming it."""
    rows = read_jsonl(dataset.export_file(size, split))
    if required and not rows:
        raise ValueError(f"{dataset.label(size)} has no {split} samples ({dataset.export_file(size, split)})")
    return rows
