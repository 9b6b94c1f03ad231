"""The lake: Delta tables under TWIN_HOME (a local directory or an s3:// prefix)."""

from twin_assets.lake.store import Lake, LakeError, NotMaterialized, UpsertResult
from twin_assets.lake.tables import (
    CLEANED_DOCUMENTS,
    CRAWL_ERRORS,
    DOCUMENT_CHUNKS,
    INSTRUCT_DATASET,
    LAKE_TABLES,
    MODEL_EVALUATION,
    PREFERENCE_DATASET,
    PROMPT_LOGS,
    PROMPT_METRICS,
    RAW_ARTICLES,
    RAW_DOCUMENT_TABLES,
    RAW_POSTS,
    RAW_REPOSITORIES,
    TableSpec,
)

__all__ = [
    "CLEANED_DOCUMENTS",
    "CRAWL_ERRORS",
    "DOCUMENT_CHUNKS",
    "INSTRUCT_DATASET",
    "LAKE_TABLES",
    "MODEL_EVALUATION",
    "PREFERENCE_DATASET",
    "PROMPT_LOGS",
    "PROMPT_METRICS",
    "RAW_ARTICLES",
    "RAW_DOCUMENT_TABLES",
    "RAW_POSTS",
    "RAW_REPOSITORIES",
    "Lake",
    "LakeError",
    "NotMaterialized",
    "TableSpec",
    "UpsertResult",
]
