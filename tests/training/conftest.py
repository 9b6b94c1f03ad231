"""Dataset exports written by the project's own exporter, a fast training config, and the local base model as a ref."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.documents import ARTICLE, OTHER_ARTICLE
from training.base_model import read_card
from training.config import TrainingConfig
from training.data import INSTRUCT_DATASET, PREFERENCE_DATASET, DatasetRef
from training.run import BaseModelRef
from twin_assets.datasets.exports import INSTRUCT_FORMATS, PREFERENCE_FORMATS, export_dataset

PARAGRAPHS = [p for text in (ARTICLE, OTHER_ARTICLE) for p in text.split("\n\n")]
# A few steps of a small LoRA at a high, constant rate: enough to move the loss on 2 cores in seconds.
FAST = TrainingConfig.from_preset(
    "tiny-llama", dataset_size="tiny", max_steps=4, save_steps=2, micro_batch_size=2, gradient_accumulation_steps=1,
    sequence_len=256, learning_rate=1e-2, warmup_ratio=0.0, lr_scheduler="constant", lora_r=8, lora_alpha=16,
    lora_dropout=0.0,
)
Sample = tuple[str, str]  # instruction, the author's text


def write_instruct(datasets_dir: Path, version: int, train: list[Sample], test: list[Sample]) -> DatasetRef:
    rows = [
        {"sample_id": f"{split}-{i:03d}", "split": split, "instruction": instruction, "output": output}
        for split, samples in (("train", train), ("test", test))
        for i, (instruction, output) in enumerate(samples)
    ]
    schema = {"sample_id": pl.String, "split": pl.String, "instruction": pl.String, "output": pl.String}
    dataset = DatasetRef.at(datasets_dir, INSTRUCT_DATASET, version)
    export_dataset(pl.DataFrame(rows, schema=schema), dataset.folder, {"tiny": None}, INSTRUCT_FORMATS)
    return dataset


def write_preference(datasets_dir: Path, version: int, train: list[Sample], test: list[Sample]) -> DatasetRef:
    rows = [
        {"sample_id": f"{split}-{i:03d}", "split": split, "prompt": instruction, "chosen": output,
         "rejected": "Here is a generic answer that could have come from anyone at all."}
        for split, samples in (("train", train), ("test", test))
        for i, (instruction, output) in enumerate(samples)
    ]
    dataset = DatasetRef.at(datasets_dir, PREFERENCE_DATASET, version)
    export_dataset(pl.DataFrame(rows), dataset.folder, {"tiny": None}, PREFERENCE_FORMATS)
    return dataset


def samples(count: int, offset: int = 0) -> list[Sample]:
    return [(f"Write a paragraph about item {i}.", PARAGRAPHS[i % len(PARAGRAPHS)]) for i in range(offset, offset + count)]


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """The tiny model's matrices are too small to split across threads, and on a busy 2-core
    machine a second thread spins against other processes: one step took 1-4 s with two threads
    and 0.05 s with one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def base_ref(tiny_base_model: Path) -> BaseModelRef:
    card, _ = read_card(tiny_base_model)
    return BaseModelRef(location=tiny_base_model, identity=card.identity)
