"""Evaluation and promotion: model_evaluation scores the candidate against the base model and
production on the author's held-out writing, its blocking promotion_gate check decides, and
production_model moves the registry alias `production` to a candidate that passed."""

import functools
import getpass
import hashlib
import json
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from twin_assets.datasets.assets import answer_cache_path
from twin_assets.datasets.cache import AnswerCache
from twin_assets.datasets.llm import JSONChat, LLMError, LLMSettings
from twin_assets.features.assets import EmbeddingResource, VectorIndexResource, vector_index
from twin_assets.lake import CLEANED_DOCUMENTS, INSTRUCT_DATASET, MODEL_EVALUATION, PREFERENCE_DATASET, Lake, NotMaterialized
from twin_assets.metadata import table_metadata
from twin_assets.models.assets import TRAINING_GROUP, BaseModelResource, TrainingResource, twin_model
from twin_assets.models.evaluation import (
    AUTHOR,
    HIGHER_IS_BETTER,
    EvaluationSettings,
    GateSettings,
    HeldOutSplit,
    comparison,
    evaluation_frame,
    gate_failures,
    generation_scores,
    is_style_metric,
    perplexity_rows,
    retrieval_rows,
    row,
    style_differences,
    style_rows,
)
from twin_assets.models.judge import judge_means, judge_preference_rate
from twin_assets.models.metrics import CopyIndex
from twin_assets.models.plots import bar_panels, grouped_bars, markdown_image, png
from twin_assets.models.registry import (
    CANDIDATE,
    PRODUCTION,
    RegisteredVersion,
    get_version_by_alias,
    model_name,
    promote,
)
from twin_assets.models.style import style_profile
from twin_assets.models.verifier import AuthorshipVerifier, author_likeness, verifier_auc
from twin_assets.resources import LakeResource, TwinConfigResource

GATE = "promotion_gate"


class EvaluationResource(dg.ConfigurableResource):
    """How candidates are scored and what they must show to reach production."""

    max_samples: int = EvaluationSettings.max_samples
    max_new_tokens: int = EvaluationSettings.max_new_tokens
    temperature: float = EvaluationSettings.temperature
    seed: int = EvaluationSettings.seed
    k: int = EvaluationSettings.k
    pool_words: int = EvaluationSettings.pool_words
    perplexity_margin: float = GateSettings.perplexity_margin
    style_margin: float = GateSettings.style_margin
    production_tolerance: float = GateSettings.production_tolerance
    max_memorisation: float = GateSettings.max_memorisation

    def settings(self) -> EvaluationSettings:
        return EvaluationSettings(max_samples=self.max_samples, max_new_tokens=self.max_new_tokens,
                                  temperature=self.temperature, seed=self.seed, k=self.k, pool_words=self.pool_words)

    def gate(self) -> GateSettings:
        return GateSettings(self.perplexity_margin, self.style_margin, self.production_tolerance, self.max_memorisation)


def _models_under_test(
    lake: LakeResource, base: BaseModelResource, author: str,
) -> tuple[RegisteredVersion, list[tuple[str, str, str]]]:
    """The candidate's registry version, and (role, name, folder) of the candidate, the base model
    and production when it is another version."""
    home = lake.local_dir("")
    candidate = get_version_by_alias(home, author, CANDIDATE)
    if candidate is None:
        raise NotMaterialized("twin_model", "model_evaluation", lake.root)
    models = [("candidate", f"v{candidate.version} {candidate.tags.get('twin_version', '')}".strip(),
               str(candidate.path / "merged")),
              ("base", base.identity(lake), base.location(lake))]
    production = get_version_by_alias(home, author, PRODUCTION)
    if production is not None and production.version != candidate.version:
        models.append(("production", f"v{production.version} {production.tags.get('twin_version', '')}".strip(),
                       str(production.path / "merged")))
    return candidate, models


def _tokenizer_signature(tokenizer: Any) -> str:
    return hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode()).hexdigest()[:12]


def _perplexity_scorer(folder: str, tokenizer: Any, split: HeldOutSplit, max_length: int = 1024):
    """score(positions) -> perplexity of the author's answers there, the model loaded once."""
    from training.base_model import load_model
    from training.perplexity import completion_perplexity
    from training.prompts import chat_messages

    model = load_model(folder)
    samples = [{"messages": chat_messages(i, o)} for i, o in zip(split.instructions, split.outputs, strict=True)]

    def score(positions: list[int]) -> float:
        return completion_perplexity(model, tokenizer, [samples[p] for p in positions], max_length=max_length)["perplexity"]

    return score


def _generations(lake: LakeResource, name: str, folder: str, split: HeldOutSplit, settings: EvaluationSettings) -> list[str]:
    """What the model writes for the test instructions; cached by model, instruction and settings."""
    from training.generate import Sampling, TextGenerator

    sampling = Sampling(max_new_tokens=settings.max_new_tokens, min_new_tokens=min(32, settings.max_new_tokens),
                        temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed)

    @functools.cache
    def generator() -> Any:
        return TextGenerator(folder, sampling)

    cache = AnswerCache(answer_cache_path(lake))
    try:
        return cache.map(("evaluation", name, asdict(sampling)), split.instructions, lambda batch: generator().answer(batch),
                         batch=sampling.batch_size)
    finally:
        cache.close()


def _ranked_documents(lake: LakeResource, embedding: EmbeddingResource, index: VectorIndexResource,
                      split: HeldOutSplit, k: int, author: str) -> list[list[str]]:
    """The document ids retrieval returns for each test instruction: the code the service uses."""
    from twin_assets.features.retrieval import Retriever

    retriever = Retriever(embedding.embedder().encode, index.open(lake))
    return [[hit.document_id for hit in retriever.search(instruction, k, author_id=author)]
            for instruction in split.instructions]


def _markdown_table(table: dict[str, dict[str, float]], roles: list[str], better: dict[str, str]) -> list[str]:
    roles = [r for r in roles if any(r in v for v in table.values())]
    lines = ["| metric | better | " + " | ".join(roles) + " |", "| --- | --- |" + " --- |" * len(roles)]
    for metric, values in table.items():
        cells = [f"{values[r]:.4g}" if r in values else "" for r in roles]
        lines.append(f"| {metric} | {better[metric]} | " + " | ".join(cells) + " |")
    return lines


def _comparison_markdown(rows: list[dict[str, Any]]) -> str:
    """The scores side by side, then each model's style profile beside the author's."""
    table = comparison(rows)
    scores = {m: v for m, v in table.items() if not is_style_metric(m)}
    style = {m: v for m, v in table.items() if is_style_metric(m)}
    lines = _markdown_table(scores, ["candidate", "base", "production", "retrieval", "verifier"],
                            {m: "higher" if HIGHER_IS_BETTER.get(m, True) else "lower" for m in scores})
    if style:
        lines += ["", *_markdown_table(style, [AUTHOR, "candidate", "base", "production"],
                                       {m: "closer to author" for m in style})]
    return "\n".join(lines)


def _plots(rows: list[dict[str, Any]]) -> dict[str, bytes]:
    """PNG charts: each model's scores (a panel per metric), perplexity per category, and how far
    each model's style measures are from the author's."""
    table = comparison(rows)
    scores = {m: v for m, v in table.items()
              if not is_style_metric(m) and m not in ("recall_at_k", "mrr", "verifier_auc")}
    perplexity: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["metric"] == "perplexity":
            perplexity.setdefault(r["category"], {})[r["role"]] = r["value"]
    plots = {"metrics_by_model.png": png(bar_panels(scores, "Scores per model (each panel on its own scale)"))}
    if perplexity:
        plots["perplexity_by_category.png"] = png(grouped_bars(perplexity, "Held-out perplexity per category", "perplexity"))
    differences = style_differences(rows)
    if differences:
        plots["style_profile.png"] = png(grouped_bars(
            differences, "Style against the author's (0: the same)",
            "(model - author) / larger of the two", horizontal=True, reference=0.0))
    return plots


@dg.asset(
    deps=[twin_model, INSTRUCT_DATASET.name, PREFERENCE_DATASET.name, vector_index],
    group_name=TRAINING_GROUP,
    kinds={"pytorch", "delta", "mlflow"},
    metadata=table_metadata(MODEL_EVALUATION),
    check_specs=[dg.AssetCheckSpec(GATE, asset="model_evaluation", blocking=True,
                                   description="The candidate beats the base model and holds up against production.")],
    description="Scores the candidate twin, the base model and production on the author's held-out test split: "
    "perplexity, style distance, authorship, memorisation, task fit and retrieval; the blocking promotion gate decides.",
)
def model_evaluation(
    context: dg.AssetExecutionContext, lake: LakeResource, base: BaseModelResource, training: TrainingResource,
    twin_config: TwinConfigResource, evaluation: EvaluationResource, embedding: EmbeddingResource,
    index: VectorIndexResource,
):
    store = lake.lake()
    store.require(INSTRUCT_DATASET, "model_evaluation")
    store.require(PREFERENCE_DATASET, "model_evaluation")
    author = training.author_id(twin_config)
    settings, gate = evaluation.settings(), evaluation.gate()
    candidate, models = _models_under_test(lake, base, author)
    instruct_version = store.version(INSTRUCT_DATASET)
    judge = LLMSettings.from_environment()
    evaluation_id = hashlib.sha256(json.dumps(
        [[name for _, name, _ in models], instruct_version, store.version(PREFERENCE_DATASET), asdict(settings),
         [judge.base_url, judge.model] if judge else None]
    ).encode()).hexdigest()[:16]

    stored = store.read(MODEL_EVALUATION).filter(pl.col("evaluation") == evaluation_id)
    if not stored.is_empty():
        context.log.info(f"evaluation {evaluation_id} ran earlier on these exact models and data: nothing to score")
        rows = stored.select("model", "role", "metric", "category", "value", "samples").to_dicts()
    else:
        rows = _evaluate(context, lake, author, models, settings, embedding, index, judge)
        store.upsert(MODEL_EVALUATION, evaluation_frame(rows, evaluation_id, instruct_version, datetime.now(timezone.utc)))

    table = comparison(rows)
    failures = gate_failures(table, gate)
    plots = _plots(rows)
    _log_to_candidate_run(lake, candidate.run_id, rows, plots)
    yield dg.MaterializeResult(
        metadata={
            "evaluation": evaluation_id,
            "candidate": models[0][1],
            "models": ", ".join(f"{role}: {name}" for role, name, _ in models),
            "instruct_dataset_version": dg.MetadataValue.int(instruct_version),
            "comparison": dg.MetadataValue.md(_comparison_markdown(rows)),
            "perplexity_note": "perplexity compares only models that share the candidate's tokenizer",
            **{name.removesuffix(".png"): dg.MetadataValue.md(markdown_image(image, name)) for name, image in plots.items()},
            "settings": dg.MetadataValue.json(asdict(settings)),
        }
    )
    yield dg.AssetCheckResult(
        check_name=GATE, passed=not failures,
        description="passed: the candidate may replace production" if not failures else "; ".join(failures),
        metadata={"failures": dg.MetadataValue.json(failures), "gate": dg.MetadataValue.json(asdict(gate)),
                  "candidate": models[0][1]},
    )


def _authors_rows(store: Lake, samples: pl.DataFrame, author: str) -> pl.DataFrame:
    """The samples made from `author`'s documents: a lake may hold several authors' writing."""
    documents = store.read(CLEANED_DOCUMENTS, columns=["id", "author_id"]).filter(pl.col("author_id") == author)
    return samples.filter(pl.col("document_id").is_in(documents["id"].implode()))


def _evaluate(
    context: dg.AssetExecutionContext, lake: LakeResource, author: str, models: list[tuple[str, str, str]],
    settings: EvaluationSettings, embedding: EmbeddingResource, index: VectorIndexResource, judge: LLMSettings | None,
) -> list[dict[str, Any]]:
    from training.base_model import load_tokenizer

    store = lake.lake()
    instruct = _authors_rows(store, store.read(INSTRUCT_DATASET), author)
    split = HeldOutSplit.of(instruct, settings.max_samples)
    author_texts = instruct.filter(pl.col("split") == "train")["output"].to_list()
    pairs = _authors_rows(store, store.read(PREFERENCE_DATASET), author)
    train_pairs, test_pairs = pairs.filter(pl.col("split") == "train"), pairs.filter(pl.col("split") == "test")
    try:
        verifier = AuthorshipVerifier.fit(train_pairs["chosen"].to_list(), train_pairs["rejected"].to_list())
    except ValueError as exc:
        raise dg.Failure(f"the authorship verifier cannot be trained on preference_dataset: {exc}") from exc
    rows = []
    if not test_pairs.is_empty():
        rows.append(row("verifier", "verifier", "verifier_auc",
                        verifier_auc(verifier, test_pairs["chosen"].to_list(), test_pairs["rejected"].to_list()),
                        samples=test_pairs.height))
    author_profile = style_profile(author_texts)
    rows.extend(style_rows(AUTHOR, AUTHOR, author_profile, len(author_texts)))
    copies = CopyIndex(author_texts)
    candidate_tokenizer = load_tokenizer(models[0][2])
    signature = _tokenizer_signature(candidate_tokenizer)
    generated = {}
    for role, name, folder in models:
        context.log.info(f"scoring {role} {name}")
        if _tokenizer_signature(load_tokenizer(folder)) == signature:
            rows.extend(perplexity_rows(name, role, _perplexity_scorer(folder, candidate_tokenizer, split), split))
        else:
            context.log.warning(f"{role} {name} has another tokenizer: its perplexity is not comparable and is left out")
        generations = generated[role] = _generations(lake, name, folder, split, settings)
        rows.extend(generation_scores(name, role, generations, split, author_texts, author_profile, copies,
                                      lambda texts: author_likeness(verifier, texts), settings))
    rows.extend(retrieval_rows(_ranked_documents(lake, embedding, index, split, settings.k, author), split, settings.k))
    if judge:
        rows.extend(_judged(lake, judge, models, generated, split))
    return rows


def _judged(lake: LakeResource, judge: LLMSettings, models: list[tuple[str, str, str]], generated: dict[str, list[str]],
            split: HeldOutSplit) -> list[dict[str, Any]]:
    """The optional judge's scores of every model, and its blind preference between candidate and production."""
    chat = JSONChat(judge, answer_cache_path(lake))
    rows = []
    try:
        for role, name, _ in models:
            for metric, value in judge_means(chat, split.instructions, generated[role], split.outputs).items():
                rows.append(row(name, role, metric, value, samples=len(split.outputs)))
        if "production" in generated:
            rate = judge_preference_rate(chat, split.instructions, split.outputs, generated["candidate"], generated["production"])
            rows.append(row(models[0][1], "candidate", "judge_preference", rate, samples=len(split.outputs)))
    except LLMError as exc:
        raise dg.Failure(f"the judge at {judge.base_url} failed: {exc}. Its answers so far are cached; unset "
                         "TWIN_LLM_BASE_URL to evaluate without the judge.") from exc
    finally:
        chat.close()
    return rows


def _log_to_candidate_run(lake: LakeResource, run_id: str, rows: list[dict[str, Any]], plots: dict[str, bytes]) -> None:
    """The candidate's own metrics and the plots, on the MLflow run that trained it."""
    from training.tracking import mlflow_client

    client = mlflow_client(lake.local_dir(""))
    metrics = {f"eval/{r['metric']}" + ("" if r["category"] == "all" else f"/{r['category']}"): r["value"]
               for r in rows if r["role"] in ("candidate", "retrieval", "verifier")}
    for name, value in metrics.items():
        client.log_metric(run_id, name, value)
    with tempfile.TemporaryDirectory() as folder:
        for name, image in plots.items():
            (Path(folder) / name).write_bytes(image)
        client.log_artifacts(run_id, folder, "evaluation")
    client.log_text(run_id, json.dumps(rows, indent=2), "evaluation/rows.json")


@dg.asset(
    deps=[model_evaluation],
    group_name=TRAINING_GROUP,
    kinds={"mlflow"},
    description="The model serving loads: the registry alias `production`, moved to a candidate that passed "
    "the promotion gate; the version it leaves stays registered for `twin rollback`.",
)
def production_model(
    context: dg.AssetExecutionContext, lake: LakeResource, training: TrainingResource, twin_config: TwinConfigResource,
) -> dg.MaterializeResult:
    home, author = lake.local_dir(""), training.author_id(twin_config)
    candidate = get_version_by_alias(home, author, CANDIDATE)
    if candidate is None:
        raise NotMaterialized("model_evaluation", "production_model", lake.root)
    current = get_version_by_alias(home, author, PRODUCTION)
    if current is not None and current.version == candidate.version:
        context.log.info(f"version {candidate.version} is already in production")
        moved = False
    else:
        promote(home, author, candidate.version, who=f"dagster run {context.run_id}", why=f"passed {GATE}")
        context.log.info(f"production: version {current.version if current else 'none'} -> {candidate.version}")
        moved = True
    return dg.MaterializeResult(metadata={
        "registered_model": model_name(author),
        "production_version": dg.MetadataValue.int(candidate.version),
        "previous_version": dg.MetadataValue.int(current.version) if current else "none",
        "moved_now": moved,
        "twin_version": candidate.tags.get("twin_version", ""),
        "path": dg.MetadataValue.path(str(candidate.path)),
    })


def current_user() -> str:
    """Who promoted or rolled back by hand, for the registry's record."""
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"

