"""Great Expectations 1.x suites (JSON files in expectations/) run against lake tables.

Suites stay data files so they can be reviewed and edited without touching code. Values that
change per run (the current time, the configured languages) and the patterns the collectors use
(challenge-page markers, binary, minified and secret-bearing source files) are suite parameters,
filled in here, so each pattern is defined once. Each validation also updates the Data
Docs site under TWIN_HOME, which the Dagster check links to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from twin_assets.collect.pages import BOT_CHALLENGE_PATTERN, ERROR_PAGE_PATTERN
from twin_assets.collect.source_files import BINARY_TEXT_PATTERN, MINIFIED_TEXT_PATTERN, SECRET_PATTERNS
from twin_assets.datasets.instruct import PERSONAL_DATA_PATTERNS

SUITES_DIR = Path(__file__).resolve().parents[2] / "expectations"
# Columns some expectations read that a table does not store: computed from the rows before validation.
def _splits_per_document(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("split").n_unique().over("document_id").alias("splits_per_document"))


DERIVED_COLUMNS = {"instruct_dataset": _splits_per_document, "preference_dataset": _splits_per_document}
MAX_EXAMPLES = 10  # failing rows listed per expectation; the count is always complete


class SuiteError(ValueError):
    """A suite file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    why: str
    unexpected_count: int | None
    examples: list[str]  # ids of failing rows (or values, for aggregate expectations)
    observed: Any = None


@dataclass
class ValidationReport:
    suite: str
    rows: int
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)
    docs_url: str | None = None

    @property
    def success(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line per failed expectation: what, on which column, how many rows, why it matters, which ids
        (the why tells apart two expectations of one type on one column)."""
        lines = []
        for failure in self.failures:
            where = f" on {failure.column}" if failure.column else ""
            count = f"{failure.unexpected_count} rows" if failure.unexpected_count is not None else "table"
            detail = f" observed {failure.observed}" if failure.observed is not None else ""
            why = f" - {failure.why}" if failure.why else ""
            examples = f": {', '.join(failure.examples)}" if failure.examples else ""
            lines.append(f"{failure.expectation}{where} failed ({count}{detail}){why}{examples}")
        return "\n".join(lines)


def load_suite(name: str, suites_dir: Path = SUITES_DIR) -> dict[str, Any]:
    path = suites_dir / f"{name}.json"
    if not path.is_file():
        raise SuiteError(f"no expectation suite for {name}: {path} does not exist")
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path} is not valid JSON: {exc}") from None
    if suite.get("name") != name or not isinstance(suite.get("expectations"), list):
        raise SuiteError(f"{path} must hold {{'name': {name!r}, 'expectations': [...]}}")
    return suite


def run_parameters(languages: list[str], now: datetime | None = None) -> dict[str, Any]:
    """Values the suites refer to as {"$PARAMETER": name}."""
    import pandas as pd

    return {
        "now": pd.Timestamp(now or datetime.now(timezone.utc)),
        "languages": sorted(set(languages)),
        "not_writing_patterns": [f"(?i){BOT_CHALLENGE_PATTERN}", f"(?i){ERROR_PAGE_PATTERN}"],
        "personal_data_patterns": list(PERSONAL_DATA_PATTERNS),
        "binary_text_pattern": BINARY_TEXT_PATTERN,
        "minified_text_pattern": MINIFIED_TEXT_PATTERN,
        "secret_patterns": list(SECRET_PATTERNS),
    }


def _context(docs_dir: Path | None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="twin",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _exception_messages(exception_info: dict | None) -> list[str]:
    """GX reports an expectation's own exception, or one per metric it could not compute, keyed by metric."""
    if not exception_info:
        return []
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    return [info.get("exception_message") for info in infos if info.get("raised_exception")]


def _failure(result, key_column: str) -> FailedExpectation:
    config = result.expectation_config
    details = result.result or {}
    column = config.kwargs.get("column")
    examples: list[str] = []
    for row in (details.get("unexpected_index_list") or [])[:MAX_EXAMPLES]:
        value = row.get(key_column) if isinstance(row, dict) else row
        examples.append("null" if value is None or value != value else str(value))  # NaN != NaN
    examples.extend(f"error: {message}" for message in _exception_messages(result.exception_info))
    return FailedExpectation(
        expectation=config.type,
        column=column,
        why=(config.meta or {}).get("why", ""),
        unexpected_count=details.get("unexpected_count"),
        examples=examples,
        observed=details.get("observed_value"),
    )


def validate(
    frame: pl.DataFrame,
    suite_name: str,
    parameters: dict[str, Any],
    docs_dir: Path | None = None,
    key_column: str = "id",
    suites_dir: Path = SUITES_DIR,
) -> ValidationReport:
    """Run one suite over a table's rows; failing rows are named by `key_column`."""
    suite_data = load_suite(suite_name, suites_dir)
    if suite_name in DERIVED_COLUMNS:
        frame = DERIVED_COLUMNS[suite_name](frame)
    if frame.is_empty():
        return ValidationReport(suite_name, rows=0, evaluated=0)

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = _context(docs_dir)
    batch_definition = (
        context.data_sources.add_pandas("lake")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    suite = gx.ExpectationSuite(name=suite_name, meta=suite_data.get("meta"))
    for item in suite_data["expectations"]:
        configuration = ExpectationConfiguration(type=item["type"], kwargs=item.get("kwargs", {}), meta=item.get("meta"))
        # add_expectation_configuration would replace an expectation of the same type on the same
        # column (two regexes on one column) instead of keeping both.
        suite.add_expectation(configuration.to_domain_obj())
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["twin"])] if docs_dir else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key_column]},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame.to_pandas()}, expectation_parameters=parameters)
    (validation,) = result.run_results.values()
    failures = [_failure(r, key_column) for r in validation.results if not r.success]
    docs_url = (docs_dir / "index.html").as_uri() if docs_dir else None
    return ValidationReport(suite_name, rows=len(frame), evaluated=len(validation.results), failures=failures,
                            docs_url=docs_url)
