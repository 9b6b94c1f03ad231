"""Model assets: base_model, the model a twin starts from (later: fine-tuned candidates,
evaluation, promotion)."""

from pathlib import Path
from typing import Any

import dagster as dg

from training.base_model import (
    LOCAL_TINY_LLAMA,
    BaseModelCard,
    TinyLlamaSpec,
    build_tiny_llama,
    describe_model,
    read_card,
)
from twin_assets.lake import CLEANED_DOCUMENTS
from twin_assets.resources import LakeResource

TRAINING_GROUP = "training"


class BaseModelResource(dg.ConfigurableResource):
    """`name` is `local:tiny-llama` (built under TWIN_HOME from the author's cleaned documents),
    a Hugging Face model id (taken from the local Hugging Face cache) or a folder holding one."""

    name: str = LOCAL_TINY_LLAMA
    warmup_steps: int = TinyLlamaSpec.warmup_steps

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL_TINY_LLAMA

    def spec(self) -> TinyLlamaSpec:
        return TinyLlamaSpec(warmup_steps=self.warmup_steps)

    def location(self, lake: LakeResource) -> str:
        """Where transformers loads it from: the local build's folder, or the name as given."""
        if self.is_local:
            return str(lake.local_dir("models") / "base" / f"tiny-llama-{self.spec().fingerprint()}")
        return self.name

    def identity(self, lake: LakeResource) -> str:
        """Names the weights, for caches of what the model wrote; fails when the local model is not built."""
        if not self.is_local:
            return self.name
        return self._built(lake).identity

    def tokenizer(self, lake: LakeResource) -> Any:
        """The training tokenizer; fails when the local model is not built."""
        from training.base_model import load_tokenizer

        if self.is_local:
            self._built(lake)
        return load_tokenizer(self.location(lake))

    def _built(self, lake: LakeResource) -> BaseModelCard:
        built = read_card(Path(self.location(lake)))
        if built is None:
            raise dg.Failure(f"the base model {self.name} is not built yet: materialize base_model first")
        return built[0]


@dg.asset(
    deps=[CLEANED_DOCUMENTS.name],
    group_name=TRAINING_GROUP,
    kinds={"pytorch", "huggingface"},
    description="The model the twin starts from: its tokenizer counts dataset tokens and it writes the rejected "
    "answers of preference pairs. The local default is built once and kept until its spec changes.",
)
def base_model(context: dg.AssetExecutionContext, lake: LakeResource, base: BaseModelResource):
    location = base.location(lake)
    if not base.is_local:
        try:
            described = describe_model(location)
        except ValueError as exc:
            raise dg.Failure(str(exc)) from exc
        return dg.MaterializeResult(metadata={"model": base.name, **described})
    folder = Path(location)
    built = read_card(folder)
    store = lake.lake()
    if built is None:
        texts = store.read(CLEANED_DOCUMENTS)["text"].to_list()
        source = {"cleaned_documents_version": store.version(CLEANED_DOCUMENTS)}
        try:
            card = build_tiny_llama(texts, folder, base.spec(), source)
        except ValueError as exc:  # too little text to learn from
            raise dg.Failure(f"cannot build the local base model: {exc}") from exc
        context.log.info(f"built {card.identity}: {card.parameters} parameters in {card.seconds} s")
    else:
        card, source = built
        context.log.info(f"kept {card.identity}, built earlier; a changed spec builds a new one")
    return dg.MaterializeResult(
        metadata={
            "model": card.name,
            "identity": card.identity,
            "built_now": built is None,
            "parameters": card.parameters,
            "vocab_size": card.vocab_size,
            "corpus_documents": card.corpus_documents,
            "corpus_tokens": card.corpus_tokens,
            "warmup_loss": card.warmup_loss,
            "build_seconds": card.seconds,
            "built_from_cleaned_documents_version": source.get("cleaned_documents_version"),
            "path": dg.MetadataValue.path(location),
        }
    )
