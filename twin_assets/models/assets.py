"""Model assets: base_model, the model a twin starts from, and twin_model, the fine-tuned twin
(later: evaluation, promotion)."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import ValidationError

from training.base_model import (
    GGUF_PRESETS,
    LOCAL_TINY_LLAMA,
    BaseModelCard,
    ConvertedModelCard,
    base_model_location,
    GGUFPreset,
    TinyLlamaSpec,
    build_tiny_llama,
    describe_model,
    ensure_converted,
    read_card,
)
from training.config import DpoStage, TrainingConfig
from training.data import DatasetRef
from training.axolotl_run import AXOLOTL_BACKEND, AxolotlRequest
from training.run import LOCAL_BACKEND, BaseModelRef, TrainedTwin, read_twin, train_twin, version_name
from training.runtime import StepMetrics
from training.tracking import TrackedRun, experiment_name, mlflow_tracking_uri, tracked_run
from twin_assets.lake import CLEANED_DOCUMENTS, INSTRUCT_DATASET, PREFERENCE_DATASET, NotMaterialized
from twin_assets.models.axolotl import AxolotlResource
from twin_assets.models.plots import line_chart, markdown_image, png
from twin_assets.models.registry import lineage_from_card, model_name, register_version
from twin_assets.resources import LakeResource, TwinConfigResource
from twin_assets.settings import ConfigError

TRAINING_GROUP = "training"


class BaseModelResource(dg.ConfigurableResource):
    """`name` is `local:tiny-llama` (built under TWIN_HOME from the author's cleaned documents),
    a packaged GGUF preset (`smollm2-135m-instruct`, converted once under TWIN_HOME), a Hugging
    Face model id (taken from the local Hugging Face cache) or a folder holding one."""

    name: str = LOCAL_TINY_LLAMA
    warmup_steps: int = TinyLlamaSpec.warmup_steps

    @property
    def is_local(self) -> bool:
        """Whether base_model makes the weights under TWIN_HOME (the tiny build or a preset's conversion)."""
        return self.name == LOCAL_TINY_LLAMA or self.name in GGUF_PRESETS

    def spec(self) -> TinyLlamaSpec:
        return TinyLlamaSpec(warmup_steps=self.warmup_steps)

    def location(self, lake: LakeResource) -> str:
        """Where transformers loads it from: the local build's or conversion's folder, or the name as given."""
        return base_model_location(self.name, lake.local_dir("models"), self.spec())

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

    def require(self, lake: LakeResource, needed_by: str) -> None:
        """Fail with NotMaterialized when the local model has not been built under this TWIN_HOME."""
        if self.is_local and read_card(Path(self.location(lake))) is None:
            raise NotMaterialized("base_model", needed_by, lake.root)

    def _built(self, lake: LakeResource) -> BaseModelCard | ConvertedModelCard:
        built = read_card(Path(self.location(lake)))
        if built is None:
            raise dg.Failure(f"the base model {self.name} is not built yet: materialize base_model first")
        return built[0]


@dg.asset(
    deps=[CLEANED_DOCUMENTS.name],
    group_name=TRAINING_GROUP,
    kinds={"pytorch", "huggingface"},
    description="The model the twin starts from: its tokenizer counts dataset tokens and it writes the rejected "
    "answers of preference pairs. The local default is built once and kept until its spec changes; a packaged "
    "GGUF model is converted once.",
)
def base_model(context: dg.AssetExecutionContext, lake: LakeResource, base: BaseModelResource):
    location = base.location(lake)
    if base.name in GGUF_PRESETS:
        return _converted(context, GGUF_PRESETS[base.name], Path(location))
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
        store.require(CLEANED_DOCUMENTS, "base_model")
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


def _converted(context: dg.AssetExecutionContext, preset: GGUFPreset, folder: Path) -> dg.MaterializeResult:
    """The preset converted from its packaged GGUF file, or the conversion kept from an earlier run."""
    try:
        card, converted_now = ensure_converted(preset, folder)
    except ValueError as exc:  # the package holding the file is not installed
        raise dg.Failure(str(exc)) from exc
    context.log.info(f"{'converted' if converted_now else 'kept'} {card.identity}: {card.parameters} parameters")
    return dg.MaterializeResult(
        metadata={
            "model": card.name,
            "identity": card.identity,
            "built_now": converted_now,
            "parameters": card.parameters,
            "vocab_size": card.vocab_size,
            "converted_from": card.gguf_file,
            "source_sha256": card.source_sha256,
            "build_seconds": card.seconds,
            "path": dg.MetadataValue.path(str(folder)),
        }
    )


# The training preset that fits each base model this project makes itself; other models start
# from the plain TrainingConfig defaults with their name as base_model.
PRESET_OF_BASE = {LOCAL_TINY_LLAMA: "tiny-llama", "smollm2-135m-instruct": "smollm2-135m"}


class TrainingResource(dg.ConfigurableResource):
    """How the twin is fine-tuned. Each field overrides the base model's preset; a run is keyed by
    the resulting config, so changing a field trains a new version beside the others."""

    dataset_size: str = "full"  # tiny, small or full: an export size of instruct_dataset
    num_epochs: float = 1.0
    max_steps: int | None = None  # when set, it wins over num_epochs
    learning_rate: float | None = None
    lora_r: int | None = None
    micro_batch_size: int | None = None
    sequence_len: int | None = None
    dpo: bool = False  # a DPO stage on preference_dataset after SFT
    tracker: str = "mlflow"  # or neptune (offline unless NEPTUNE_PROJECT and NEPTUNE_API_TOKEN are set)
    author: str = ""  # whose twin; empty means the only author in twin.yaml
    backend: str = LOCAL_BACKEND  # local (TRL in this process) or axolotl (through Pipes; AxolotlResource says where)

    def trainer(self) -> str:
        if self.backend not in (LOCAL_BACKEND, AXOLOTL_BACKEND):
            raise dg.Failure(f"training backend: {self.backend!r} is neither {LOCAL_BACKEND} nor {AXOLOTL_BACKEND}")
        return self.backend

    def config(self, base_model: str) -> TrainingConfig:
        overrides = {
            "dataset_size": self.dataset_size, "num_epochs": self.num_epochs, "max_steps": self.max_steps,
            "learning_rate": self.learning_rate, "lora_r": self.lora_r, "micro_batch_size": self.micro_batch_size,
            "sequence_len": self.sequence_len, "dpo": DpoStage() if self.dpo else None,
        }
        overrides = {k: v for k, v in overrides.items() if v is not None or k in ("max_steps", "dpo")}
        if self.lora_r is not None:
            overrides["lora_alpha"] = 2 * self.lora_r
        try:
            if base_model in PRESET_OF_BASE:
                return TrainingConfig.from_preset(PRESET_OF_BASE[base_model], **overrides)
            return TrainingConfig(base_model=base_model, **overrides)
        except ValidationError as exc:
            raise dg.Failure(f"invalid training settings: {exc}") from exc

    def author_id(self, twin_config: TwinConfigResource) -> str:
        config = twin_config.load()
        try:
            return (config.author(self.author) if self.author else config.sole_author("set the training resource's author")).id
        except ConfigError as exc:
            raise dg.Failure(f"training author: {exc}") from exc


def _loss_curve(card: dict[str, Any]) -> bytes:
    """The loss per step of each stage, and the SFT eval loss, as a PNG."""
    series = {
        f"{stage} train": [(point["step"], point["loss"]) for point in summary["loss_history"]]
        for stage, summary in card["stages"].items()
    }
    evaluation = [(point["step"], point["eval_loss"]) for point in card["stages"]["sft"]["eval_history"]]
    if evaluation:
        series["sft eval"] = evaluation
    return png(line_chart({k: v for k, v in series.items() if v}, f"Loss of {card['version']}", "step", "loss"))


@dg.asset(
    deps=[INSTRUCT_DATASET.name, PREFERENCE_DATASET.name, base_model],
    group_name=TRAINING_GROUP,
    kinds={"pytorch", "mlflow"},
    description="The fine-tuned twin: a LoRA adapter (and merged weights) trained with TRL on instruct_dataset "
    "(and DPO on preference_dataset when enabled), tracked in MLflow and registered with the alias `candidate`.",
)
def twin_model(
    context: dg.AssetExecutionContext, lake: LakeResource, base: BaseModelResource, training: TrainingResource,
    twin_config: TwinConfigResource, axolotl: AxolotlResource,
):
    store = lake.lake()
    store.require(INSTRUCT_DATASET, "twin_model")
    base.require(lake, "twin_model")
    author = training.author_id(twin_config)
    config = training.config(base.name)
    backend = training.trainer()
    datasets_dir, home = lake.local_dir("datasets"), lake.local_dir("")
    instruct = DatasetRef.at(datasets_dir, INSTRUCT_DATASET.name, store.version(INSTRUCT_DATASET))
    preference = None
    if config.dpo:
        store.require(PREFERENCE_DATASET, "twin_model")
        preference = DatasetRef.at(datasets_dir, PREFERENCE_DATASET.name, store.version(PREFERENCE_DATASET))
    base_ref = BaseModelRef(base.location(lake), base.identity(lake))
    version = version_name(config, base_ref, instruct, preference, backend)
    models_dir = lake.local_dir("models")

    trained = read_twin(models_dir, version)
    run_url, reported, loss_curve = None, {}, None
    if trained is None:
        with tracked_run(home, author, version, training.tracker) as run:
            run.log_params(config.to_dict())
            run.set_tags({"dagster_run_id": context.run_id, "twin_version": version, "backend": backend,
                          f"dataset.{instruct.name}": instruct.version, "base_model": base_ref.identity})
            if backend == AXOLOTL_BACKEND:
                tracking = None
                if run.backend == "mlflow":  # Axolotl's own runs appear as children of this one
                    tracking = {"tracking_uri": mlflow_tracking_uri(home), "experiment_name": experiment_name(author),
                                "parent_run_id": run.run_id}
                request = AxolotlRequest(config, base_ref, instruct, preference, models_dir, version, tracking)
                reported = axolotl.launch(context, request, home)
                written = read_twin(models_dir, version)
                if written is None:
                    raise dg.Failure(f"Axolotl reported success but {models_dir / 'twin' / version} holds no trained twin")
                trained = replace(written, reused=False)
                _log_steps(run, trained)
            else:
                trained = _train_locally(context, run, version, config, base_ref, instruct, models_dir, preference)
            loss_curve = _loss_curve(trained.card)
            (trained.folder / "loss_curve.png").write_bytes(loss_curve)
            run.log_final_metrics({k: trained.card[k] for k in ("train_loss", "eval_loss", "tokens_per_second", "seconds")
                                   if trained.card[k] is not None})
            run.log_artifact(trained.folder / "card.json")
            run.log_artifact(trained.folder / "loss_curve.png")
            run_url = getattr(run, "url", None)
            registered = register_version(
                home, author, trained.folder, lineage_from_card(trained.card, context.run_id),
                run_id=run.run_id if run.backend == "mlflow" else None,
            )
            context.log.info(f"registered {model_name(author)} version {registered.version} as candidate")
    else:
        context.log.info(f"{version} was trained earlier with these exact inputs: nothing to train")
    card = trained.card
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "trained_now": not trained.reused,
            "author": author,
            "registered_model": model_name(author),
            "base_model": card["base_model"]["identity"],
            "instruct_dataset_version": dg.MetadataValue.int(instruct.version),
            "dataset_size": config.dataset_size,
            "train_samples": card["datasets"][INSTRUCT_DATASET.name]["train_samples"],
            "stages": ", ".join(card["stages"]),
            "backend": card.get("backend", LOCAL_BACKEND),
            "config_hash": card["config_hash"][:12],
            "config": dg.MetadataValue.json(card["config"]),
            "code_version": card["code_version"] or "unknown",
            "train_loss": card["train_loss"],
            "eval_loss": card["eval_loss"],
            "tokens_seen": card["tokens_seen"],
            "tokens_per_second": round(card["tokens_per_second"] or 0.0, 1),
            "train_seconds": card["seconds"],
            "device": card["device"],
            "loss_curve": dg.MetadataValue.md(markdown_image(loss_curve or _loss_curve(card), "loss curve")),
            "path": dg.MetadataValue.path(str(trained.folder)),
            **({"mlflow_run": dg.MetadataValue.url(run_url)} if run_url else {}),
            # What the Axolotl process reported through Pipes when it finished.
            **{f"reported_{key}": value for key, value in reported.items() if key in ("axolotl_version", "device")},
        }
    )


def _train_locally(
    context: dg.AssetExecutionContext, run: TrackedRun, version: str, config: TrainingConfig, base_ref: BaseModelRef,
    instruct: DatasetRef, models_dir: Path, preference: DatasetRef | None,
) -> TrainedTwin:
    def on_step(step: StepMetrics) -> None:
        run.log_metrics({f"{step.stage}/loss": step.loss, f"{step.stage}/learning_rate": step.learning_rate,
                         f"{step.stage}/tokens_per_second": step.tokens_per_second}, step=step.step)
        context.log.info(f"{step.stage} step {step.step}/{step.max_steps}: loss {step.loss:.4f}, "
                         f"{step.tokens_per_second:.0f} tokens/s")

    try:
        return train_twin(config, base_ref, instruct, models_dir, preference, on_step)
    except ValueError as exc:  # bad inputs, found before any training
        raise dg.Failure(f"training {version} cannot start: {exc}") from exc


def _log_steps(run: TrackedRun, trained: TrainedTwin) -> None:
    """The per-step losses of a twin trained in another process, from its card, so every tracked
    run holds the same curves whichever backend trained."""
    for stage, summary in trained.card["stages"].items():
        for point in summary["loss_history"]:
            run.log_metrics({f"{stage}/loss": point["loss"], f"{stage}/learning_rate": point["learning_rate"] or 0.0},
                            step=point["step"])
