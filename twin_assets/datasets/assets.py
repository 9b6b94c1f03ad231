"""Dataset assets: instruct_dataset (Delta, versioned) with JSONL exports per version and size."""

import statistics

import dagster as dg

from twin_assets.datasets.exports import export_instruct
from twin_assets.datasets.instruct import TEST_FRACTION, build_instruct
from twin_assets.datasets.llm import JSONChat, LLMError, LLMSettings, llm_instruction
from twin_assets.features.assets import EmbeddingResource
from twin_assets.lake import CLEANED_DOCUMENTS, INSTRUCT_DATASET
from twin_assets.metadata import counts_by, markdown_sample
from twin_assets.resources import LakeResource

DATASETS_GROUP = "datasets"


class DatasetResource(dg.ConfigurableResource):
    """Dataset sizes exported side by side (a `full` size is always added) and the test share."""

    sizes: dict[str, int] = {"tiny": 50, "small": 500}
    test_fraction: float = TEST_FRACTION

    def all_sizes(self) -> dict[str, int | None]:
        return {**self.sizes, "full": None}


def _token_stats(counts: list[int]) -> dict[str, float]:
    if not counts:
        return {}
    ordered = sorted(counts)
    return {
        "min": ordered[0], "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1],
    }


@dg.asset(
    deps=[CLEANED_DOCUMENTS.name],
    group_name=DATASETS_GROUP,
    kinds={"delta", "python"},
    description="Instruction samples whose output is always the author's own text; split by document.",
)
def instruct_dataset(
    context: dg.AssetExecutionContext, lake: LakeResource, datasets: DatasetResource, embedding: EmbeddingResource,
):
    store = lake.lake()
    settings = LLMSettings.from_environment()
    chat = JSONChat(settings, lake.local_dir("llm_cache") / "answers.sqlite") if settings else None
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

    try:
        samples = build_instruct(store.read(CLEANED_DOCUMENTS), datasets.test_fraction, write_instruction if chat else None)
    finally:
        if chat:
            chat.close()
    result = store.replace(INSTRUCT_DATASET, samples)
    version = store.version(INSTRUCT_DATASET)
    folder = lake.local_dir("datasets") / INSTRUCT_DATASET.name / f"v{version}"
    exported = export_instruct(samples, folder, datasets.all_sizes())
    # The training tokenizer arrives with the training stage; until then the embedding model's stands in.
    count = embedding.embedder().count_tokens
    context.log.info(f"instruct_dataset v{version}: {samples.height} samples, {result.written} rows written")
    if llm_problem:
        context.log.warning(f"{fallbacks} instructions fell back to templates: {llm_problem[0]}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": samples.height,
            "instructions_from": "llm " + settings.model if settings else "templates",
            "llm_requests": chat.requests if chat else 0,
            "llm_fallbacks": fallbacks,
            "delta_version": version,
            "cleaned_documents_version": store.version(CLEANED_DOCUMENTS),
            "inserted": result.inserted,
            "updated": result.updated,
            "removed": result.deleted,
            "samples_by_category": dg.MetadataValue.json(counts_by(samples, "category")),
            "samples_by_split": dg.MetadataValue.json(counts_by(samples, "split")),
            "documents": samples["document_id"].n_unique(),
            "output_tokens": dg.MetadataValue.json(_token_stats([count(t) for t in samples["output"]])),
            "instruction_tokens": dg.MetadataValue.json(_token_stats([count(t) for t in samples["instruction"]])),
            "exports": dg.MetadataValue.json(exported),
            "exports_path": dg.MetadataValue.path(str(folder)),
            "sample": dg.MetadataValue.md(markdown_sample(samples.sort("sample_id"), ["split", "instruction", "output"], 3, 160)),
        }
    )
