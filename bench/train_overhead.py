"""What the project's trainer costs over a bare peft loop, on CPU.

For each base model (the local tiny Llama, and SmolLM2-135M-Instruct when its GGUF package is
installed), the project's `train_twin` (TRL SFTTrainer + peft, per-step reporting, token
counting) trains on an instruct export, and a plain torch loop trains the same LoRA with the
same optimizer on the very batches the project's data loader produces. Throughput is non-padding
tokens per second from the end of the first step to the end of the last, so model loading,
dataset preparation, the first step's warm-up and the final export are left out of both; the
end-to-end time of `train_twin` is printed beside it. Checkpoints (every 50 steps) fall outside
the few steps measured. Runs alternate, and the best of each side counts, since the cores are shared.
On a busy 2-core machine pass `--threads 1`: two torch threads spinning against other processes
made steps several times slower and the comparison noise.

Samples come from ../shared/realworld/blog-posts when present (read at run time), else from the
demo blog.

    .venv/bin/python bench/train_overhead.py [--steps 8] [--repeats 2] [--threads N] [--no-smollm2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from training.base_model import SMOLLM2_135M_INSTRUCT, build_tiny_llama, ensure_converted  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.data import INSTRUCT_DATASET, DatasetRef  # noqa: E402
from training.run import BaseModelRef, train_twin  # noqa: E402
from training.runtime import (  # noqa: E402
    detect_runtime,
    load_base_model,
    load_training_tokenizer,
    lora_config,
)
from training.sft import build_sft_trainer, sft_datasets  # noqa: E402

REAL_POSTS = REPO_ROOT.parent / "shared" / "realworld" / "blog-posts"
DEMO_POSTS = REPO_ROOT / "demo" / "blog" / "posts"


@dataclass(frozen=True)
class Throughput:
    tokens: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.tokens / self.seconds


def posts(limit: int) -> list[tuple[str, str]]:
    """(title, text) of real posts when the corpus is present, else of the demo blog."""
    if REAL_POSTS.is_dir():
        files = sorted(REAL_POSTS.glob("*.md"))[:limit]
        return [(f.stem[11:].replace("-", " "), f.read_text(encoding="utf-8")) for f in files]
    from lxml import html

    pages = [html.parse(str(f)).getroot() for f in sorted(DEMO_POSTS.glob("*.html"))[:limit]]
    return [(p.findtext(".//title"), "\n\n".join(e.text_content() for e in p.iter("p"))) for p in pages]


def cut(text: str, chars: int) -> str:
    """At most `chars` characters, ending at a paragraph break when there is one."""
    head = text[:chars]
    return head.rsplit("\n\n", 1)[0] if "\n\n" in head else head


def write_instruct(folder: Path, samples: list[tuple[str, str]]) -> DatasetRef:
    """Exported by the project's own exporter, so the trainer reads what it reads in production."""
    import polars as pl

    from twin_assets.datasets.exports import INSTRUCT_FORMATS, export_dataset

    rows = [{"sample_id": f"{i:04d}", "split": "train", "instruction": f"Write today's blog post: {title}",
             "output": cut(text, 1500)} for i, (title, text) in enumerate(samples)]
    dataset = DatasetRef.at(folder, INSTRUCT_DATASET, 1)
    export_dataset(pl.DataFrame(rows), dataset.folder, {"tiny": None}, INSTRUCT_FORMATS)
    return dataset


def project_run(config: TrainingConfig, base: BaseModelRef, instruct: DatasetRef) -> tuple[Throughput, float]:
    """The project's trainer: throughput between the first and last step, and end-to-end seconds."""
    marks: list[tuple[float, int]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as models:
        train_twin(config, base, instruct, Path(models), on_step=lambda m: marks.append((time.perf_counter(), m.tokens_seen)))
    (first_time, first_tokens), (last_time, last_tokens) = marks[0], marks[-1]
    return Throughput(last_tokens - first_tokens, last_time - first_time), time.perf_counter() - started


def project_batches(config: TrainingConfig, base: BaseModelRef, instruct: DatasetRef) -> list[dict]:
    """The batches the project's trainer trains on, from its own data loader."""
    runtime = detect_runtime(config)
    tokenizer = load_training_tokenizer(base.location, config.chat_template)
    train, _ = sft_datasets(instruct, config.dataset_size)
    with tempfile.TemporaryDirectory() as out:
        trainer = build_sft_trainer(
            config, runtime, load_base_model(base.location, runtime, four_bit=False), tokenizer, train, None, Path(out),
        )
        loader = iter(trainer.get_train_dataloader())
        return [{k: v.cpu() for k, v in next(loader).items()} for _ in range(config.max_steps)]


def bare_run(config: TrainingConfig, base: BaseModelRef, batches: list[dict]) -> Throughput:
    """A plain torch loop: the same LoRA, AdamW with the same settings, clipping, the same batches."""
    import torch
    from peft import get_peft_model

    runtime = detect_runtime(config)
    model = get_peft_model(load_base_model(base.location, runtime, four_bit=False), lora_config(config))
    model.to(runtime.device).train()  # the Trainer moves its model to the device itself
    batches = [{k: v.to(runtime.device) for k, v in batch.items()} for batch in batches]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    marks: list[tuple[float, int]] = []
    tokens = 0
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        marks.append((time.perf_counter(), tokens))
    (first_time, first_tokens), (last_time, last_tokens) = marks[0], marks[-1]
    return Throughput(last_tokens - first_tokens, last_time - first_time)


def compare(label: str, config: TrainingConfig, base: BaseModelRef, instruct: DatasetRef, repeats: int) -> None:
    batches = project_batches(config, base, instruct)
    project: list[Throughput] = []
    bare: list[Throughput] = []
    end_to_end: list[float] = []
    for _ in range(repeats):
        throughput, seconds = project_run(config, base, instruct)
        project.append(throughput)
        end_to_end.append(seconds)
        bare.append(bare_run(config, base, batches))
    best_project = max(t.per_second for t in project)
    best_bare = max(t.per_second for t in bare)
    padded = sum(b["input_ids"].numel() for b in batches) / len(batches)
    print(f"\n{label}: {config.max_steps} steps of micro-batch {config.micro_batch_size} "
          f"(~{padded:.0f} token slots a step), {repeats} runs each")
    print(f"  project trainer  {best_project:8.1f} tokens/s   (runs: {', '.join(f'{t.per_second:.1f}' for t in project)};"
          f" end to end {min(end_to_end):.1f} s)")
    print(f"  bare peft loop   {best_bare:8.1f} tokens/s   (runs: {', '.join(f'{t.per_second:.1f}' for t in bare)})")
    print(f"  ratio            {best_project / best_bare:8.2f}x   (goal >= 0.9x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-smollm2", action="store_true", help="only the tiny Llama")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = posts(args.samples)
    source = "real blog" if REAL_POSTS.is_dir() else "demo blog"
    print(f"{len(corpus)} {source} posts; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{detect_runtime(TrainingConfig()).device_name}")
    common = {"dataset_size": "tiny", "max_steps": args.steps, "gradient_accumulation_steps": 1, "warmup_ratio": 0.0}

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        instruct = write_instruct(root / "datasets", corpus)
        tiny_folder = root / "tiny-llama"
        card = build_tiny_llama([text for _, text in corpus], tiny_folder)
        tiny = BaseModelRef(tiny_folder, card.identity)
        compare(f"tiny Llama ({card.parameters:,} parameters)", TrainingConfig.from_preset("tiny-llama", **common),
                tiny, instruct, args.repeats)

        if args.no_smollm2:
            return
        try:
            # Converted once and kept: the conversion takes about 40 s.
            folder = Path(tempfile.gettempdir()) / "llm-twin-bench" / SMOLLM2_135M_INSTRUCT.name
            smol_card, _ = ensure_converted(SMOLLM2_135M_INSTRUCT, folder)
        except ValueError as missing:
            print(f"\nSmolLM2 skipped: {missing}")
            return
        smol = BaseModelRef(folder, smol_card.identity)
        # Short sequences and micro-batches of 2 keep a step near 10 s on 2 cores.
        config = TrainingConfig.from_preset("smollm2-135m", **common, micro_batch_size=2, sequence_len=256)
        compare(f"SmolLM2-135M-Instruct ({smol_card.parameters:,} parameters)", config, smol, instruct, args.repeats)


if __name__ == "__main__":
    main()
