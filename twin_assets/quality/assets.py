"""Great Expectations suites as blocking Dagster asset checks.

dagster-ge supports only GX < 1.0, so the checks call the suites directly. A failed check has
severity ERROR and is blocking: assets downstream of the checked table are not materialized in
the same run. The check's metadata names each failed expectation and the ids of failing rows,
and links the Data Docs built under TWIN_HOME.
"""

import dagster as dg

from twin_assets.lake import (
    CLEANED_DOCUMENTS,
    CRAWL_ERRORS,
    INSTRUCT_DATASET,
    PREFERENCE_DATASET,
    RAW_ARTICLES,
    RAW_POSTS,
    RAW_REPOSITORIES,
    TableSpec,
)
from twin_assets.quality.expectations import ValidationReport, run_parameters, validate
from twin_assets.resources import LakeResource, TwinConfigResource

CHECK_NAME = "expectations"
RAW_TABLES = (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES, CRAWL_ERRORS)


def _check_result(report: ValidationReport, spec: TableSpec) -> dg.AssetCheckResult:
    metadata = {
        "suite": report.suite,
        "rows": report.rows,
        "expectations_evaluated": report.evaluated,
        "expectations_failed": len(report.failures),
    }
    if report.failures:
        metadata["failures"] = dg.MetadataValue.md(report.summary())
        metadata["failed_expectations"] = dg.MetadataValue.json(
            [
                {"expectation": f.expectation, "column": f.column, "why": f.why, "unexpected_count": f.unexpected_count,
                 "failing_ids": f.examples, "observed": None if f.observed is None else str(f.observed)}
                for f in report.failures
            ]
        )
    if report.docs_url:
        metadata["data_docs"] = dg.MetadataValue.url(report.docs_url)
    return dg.AssetCheckResult(
        asset_key=spec.name,
        check_name=CHECK_NAME,
        passed=report.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None if report.success else report.summary().splitlines()[0],
    )


def _validate(specs: list[TableSpec], lake: LakeResource, twin_config: TwinConfigResource):
    """One check result per table; twin.yaml and the lake are opened once for all of them."""
    parameters = run_parameters([author.language for author in twin_config.load().authors])
    store = lake.lake()
    for spec in specs:
        report = validate(store.read(spec), spec.name, parameters, docs_dir=lake.local_dir("data_docs"), key_column=spec.key)
        yield _check_result(report, spec)


def _spec(spec: TableSpec) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CHECK_NAME,
        asset=spec.name,
        blocking=True,
        description=f"Great Expectations suite expectations/{spec.name}.json; failures stop downstream assets.",
    )


@dg.multi_asset_check(specs=[_spec(spec) for spec in RAW_TABLES], can_subset=True)
def raw_expectations(context: dg.AssetCheckExecutionContext, lake: LakeResource, twin_config: TwinConfigResource):
    """One process validates every raw table, so Great Expectations is imported once."""
    selected = {key.asset_key.to_user_string() for key in context.selected_asset_check_keys}
    yield from _validate([spec for spec in RAW_TABLES if spec.name in selected], lake, twin_config)


@dg.multi_asset_check(specs=[_spec(CLEANED_DOCUMENTS)])
def cleaned_documents_expectations(lake: LakeResource, twin_config: TwinConfigResource):
    yield from _validate([CLEANED_DOCUMENTS], lake, twin_config)


@dg.multi_asset_check(specs=[_spec(INSTRUCT_DATASET)])
def instruct_dataset_expectations(lake: LakeResource, twin_config: TwinConfigResource):
    yield from _validate([INSTRUCT_DATASET], lake, twin_config)


@dg.multi_asset_check(specs=[_spec(PREFERENCE_DATASET)])
def preference_dataset_expectations(lake: LakeResource, twin_config: TwinConfigResource):
    yield from _validate([PREFERENCE_DATASET], lake, twin_config)
