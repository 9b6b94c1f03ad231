"""Dataset assets: instruct_dataset and preference_dataset (Delta, versioned), each with a
dataset card in its metadata and JSONL exports per version and size."""

import functools
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from training.generate import Sampling
from twin_assets.datasets.cache import AnswerCache
from twin_assets.datasets.exports import INSTRUCT_FORMATS, PREFERENCE_FORMATS, export_dataset
from twin_assets.datasets.instruct import TEST_FRACTION, build_instruct, withhold_personal_data
from twin_assets.datasets.keyphrases import keyphrases
from twin_assets.datasets.llm import JSONChat, LLMError, LLMSettings, llm_answer, llm_instruction
from twin_assets.datasets.preference import build_preference, feedback_pairs, prose_samples, with_retained_feedback
from twin_assets.features.assets import EmbeddingResource
from twin_assets.lake import CLEANED_DOCUMENTS, INSTRUCT_DATASET, PREFERENCE_DATASET, PROMPT_LOGS, TableSpec
from twin_assets.metadata import counts_by, markdown_sample, table_metadata
from twin_assets.models.assets import BaseModelResource, base_model
from twin_assets.resources import LakeResource

DATASETS_GROUP = "datasets"
GENERATORS = ("auto", "base_model", "llm")


class DatasetResource(dg.ConfigurableResource):
    """Dataset sizes exported side by side (a `full` size is always added), the test share, and
    what writes the rejected answers: `base_model`, `llm` (the OpenAI-compatible endpoint), or
    `auto` (the endpoint when TWIN_LLM_BASE_URL is set, else the base model)."""

    sizes: dict[str, int] = {"tiny": 50, "small": 500}
    test_fraction: float = TEST_FRACTION
    rejected_from: str = "auto"
    # Rejected answers are cut to complete sentences and to about twice the author's text anyway
    # (the demo's median is 147 tokens); generating 384 tokens made SmolLM2's answers take 10 min
    # of a 2-core `make run`, and every token past 256 was mostly cut away.
    max_new_tokens: int = 256

    def all_sizes(self) -> dict[str, int | None]:
        return {**self.sizes, "full": None}


def answer_cache_path(lake: LakeResource) -> Path:
    return lake.local_dir("cache") / "answers.sqlite"


def _token_stats(counts: list[int]) -> dict[str, float]:
    if not counts:
        return {}
    ordered = sorted(counts)
    return {
        "min": ordered[0], "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1],
    }


def _token_card(frame: pl.DataFrame, columns: list[str], base: BaseModelResource, lake: LakeResource) -> dict:
    """Token length statistics per column, counted with the training tokenizer (the base model's)."""
    tokenizer = base.tokenizer(lake)
    stats = {}
    for column in columns:
        texts = frame[column].to_list()
        counts = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
        stats[column] = _token_stats(counts)
    return {"tokenizer": base.name, **stats}


def _publish(
    context: dg.AssetExecutionContext, lake: LakeResource, spec: TableSpec, rows: pl.DataFrame, sizes: dict,
    formats: dict, text_columns: list[str], base: BaseModelResource,
) -> dict:
    """Writes a new Delta version when the rows changed, exports it, and returns the dataset card
    every dataset shares: counts per category and split, token statistics, versions, samples."""
    store = lake.lake()
    result = store.replace(spec, rows)
    version = store.version(spec)
    folder = lake.local_dir("datasets") / spec.name / f"v{version}"
    exported = export_dataset(rows, folder, sizes, formats)
    context.log.info(f"{spec.name} v{version}: {rows.height} rows, {result.written} written")
    return {
        "dagster/row_count": rows.height,
        "delta_version": version,
        "cleaned_documents_version": store.version(CLEANED_DOCUMENTS),
        "inserted": result.inserted,
        "updated": result.updated,
        "removed": result.deleted,
        "documents": rows["document_id"].drop_nulls().n_unique(),
        "by_category": dg.MetadataValue.json(counts_by(rows, "category")),
        "by_split": dg.MetadataValue.json(counts_by(rows, "split")),
        "tokens": dg.MetadataValue.json(_token_card(rows, text_columns, base, lake)),
        "exports": dg.MetadataValue.json(exported),
        "exports_path": dg.MetadataValue.path(str(folder)),
        "sample": dg.MetadataValue.md(markdown_sample(rows.sort("sample_id"), ["split", *text_columns], 3, 160)),
    }


@dg.asset(
    deps=[CLEANED_DOCUMENTS.name, base_model],
    group_name=DATASETS_GROUP,
    kinds={"delta", "python"},
    metadata=table_metadata(INSTRUCT_DATASET),
    description="Instruction samples whose output is always the author's own text; split by document.",
)
def instruct_dataset(
    context: dg.AssetExecutionContext, lake: LakeResource, datasets: DatasetResource, embedding: EmbeddingResource,
    base: BaseModelResource,
):
    store = lake.lake()
    store.require(CLEANED_DOCUMENTS, "instruct_dataset")
    base.require(lake, "instruct_dataset")
    settings = LLMSettings.from_environment()
    chat = JSONChat(settings, answer_cache_path(lake)) if settings else None
    cache = AnswerCache(answer_cache_path(lake))
    llm_problem: list[str] = []  # the first error; an endpoint that failed every retry is not asked again
    fallbacks = 0

    def write_instruction(extract: str, category: str) -> str | None:
        nonlocal fallbacks
        if not llm_problem:
            try:
                return llm_instruction(chat, extract, category)
            except LLMError as exc:
                llm_problem.append(str(exc))
        fallbacks += 1  # this sample gets a template instruction; the run goes on
        return None

    def phrases_of(extracts: list[str]) -> list[list[str]]:
        return cache.map(("keyphrases", embedding.model), extracts, lambda texts: keyphrases(texts, embedding.embedder().encode))

    try:
        samples = build_instruct(
            store.read(CLEANED_DOCUMENTS), datasets.test_fraction, write_instruction if chat else None, phrases_of,
        )
    finally:
        cache.close()
        if chat:
            chat.close()
    samples, withheld = withhold_personal_data(samples)
    card = _publish(context, lake, INSTRUCT_DATASET, samples, datasets.all_sizes(), INSTRUCT_FORMATS, ["instruction", "output"], base)
    if llm_problem:
        context.log.warning(f"{fallbacks} instructions fell back to templates: {llm_problem[0]}")
    return dg.MaterializeResult(
        metadata={
            **card,
            "instructions_from": "llm " + settings.model if settings else "templates",
            "llm_requests": chat.requests if chat else 0,
            "llm_fallbacks": fallbacks,
            "withheld_personal_data": withheld,
        }
    )


def _rejected_writer(
    datasets: DatasetResource, base: BaseModelResource, lake: LakeResource, problems: list[str],
) -> tuple[str, tuple, Callable[[list[str]], list[str | None]]]:
    """(the generator's name, its cache namespace, instructions -> answers) as configured."""
    if datasets.rejected_from not in GENERATORS:
        raise dg.Failure(f"rejected_from must be one of {', '.join(GENERATORS)}, not {datasets.rejected_from!r}")
    settings = LLMSettings.from_environment()
    if datasets.rejected_from == "llm" and not settings:
        raise dg.Failure("rejected_from is llm but TWIN_LLM_BASE_URL is not set")
    if settings and datasets.rejected_from != "base_model":

        def ask_endpoint(instructions: list[str]) -> list[str | None]:
            chat = JSONChat(settings, answer_cache_path(lake))
            answers: list[str | None] = []
            try:
                for instruction in instructions:
                    try:
                        answers.append(None if problems else llm_answer(chat, instruction))
                    except LLMError as exc:  # the endpoint is down: not asked again this run
                        problems.append(str(exc))
                        answers.append(None)
            finally:
                chat.close()
            return answers

        return f"llm {settings.model}", ("rejected", settings.base_url, settings.model), ask_endpoint

    @functools.cache  # loaded by the first batch that needs it, then kept for the others
    def generator() -> Any:
        from training.generate import TextGenerator

        return TextGenerator(base.location(lake), Sampling(max_new_tokens=datasets.max_new_tokens))

    def ask_base_model(instructions: list[str]) -> list[str | None]:
        return generator().answer(instructions)

    return base.name, ("rejected", base.identity(lake), datasets.max_new_tokens), ask_base_model


@dg.asset(
    deps=[INSTRUCT_DATASET.name, base_model, PROMPT_LOGS.name],
    group_name=DATASETS_GROUP,
    kinds={"delta", "python"},
    metadata=table_metadata(PREFERENCE_DATASET),
    description="Preference pairs for articles and posts: the author's text is chosen, a generic answer to the "
    "same instruction (the base model's, or an LLM endpoint's) is rejected; split like instruct_dataset. Plus, "
    "from prompt_logs, a train pair for each draft of the served twin the author edited: the edit is chosen, "
    "the draft rejected (source `feedback`); those stay after retention deletes their requests.",
)
def preference_dataset(
    context: dg.AssetExecutionContext, lake: LakeResource, datasets: DatasetResource, base: BaseModelResource,
):
    store = lake.lake()
    store.require(INSTRUCT_DATASET, "preference_dataset")
    base.require(lake, "preference_dataset")
    prose = prose_samples(store.read(INSTRUCT_DATASET))
    problems: list[str] = []
    generator, namespace, write = _rejected_writer(datasets, base, lake, problems)
    cache = AnswerCache(answer_cache_path(lake))
    try:
        # Saved one generation batch at a time: on CPU a real model takes minutes per batch.
        answers = cache.map(namespace, prose["instruction"].to_list(), write, batch=Sampling.batch_size)
    finally:
        cache.close()
    if problems:  # writing now would drop every pair still missing its answer
        got = sum(answer is not None for answer in answers)
        raise dg.Failure(
            f"{generator} failed after {got} of {len(answers)} answers: {problems[0]}. Nothing was written; "
            "the answers so far are cached, so the next run asks only for the rest."
        )
    pairs, dropped = build_preference(prose, dict(zip(prose["sample_id"].to_list(), answers, strict=True)))
    logs = store.read(PROMPT_LOGS, columns=["trace_id", "category", "prompt", "answer", "feedback_edited_text"])
    fresh = feedback_pairs(logs)  # a lake whose service never ran has no prompt_logs: no feedback pairs
    feedback = with_retained_feedback(fresh, store.read(PREFERENCE_DATASET), logs["trace_id"].to_list())
    pairs = pl.concat([pairs, feedback])
    card = _publish(
        context, lake, PREFERENCE_DATASET, pairs, datasets.all_sizes(), PREFERENCE_FORMATS, ["prompt", "chosen", "rejected"], base,
    )
    return dg.MaterializeResult(
        metadata={
            **card,
            "rejected_from": generator,
            "prose_samples": prose.height,
            "dropped": dg.MetadataValue.json(dropped),
            "instruct_dataset_version": store.version(INSTRUCT_DATASET),
            "feedback_pairs": feedback.height,
            "feedback_pairs_from_retained": feedback.height - fresh.height,
            "by_source": dg.MetadataValue.json(counts_by(pairs, "source")),
            "prompt_logs_version": store.version(PROMPT_LOGS),
        }
    )
