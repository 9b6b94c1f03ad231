"""Cleaning assets: the dbt project in twin_dbt/ as Dagster assets, raw_* -> stg_* -> cleaned_documents.

dbt tests become asset checks. Each raw source maps to its raw_* asset, so lineage runs unbroken
from the crawl through the models; the lake plugin (duckdb_plugin.py) writes cleaned_documents
back to the lake as a Delta table.
"""

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from twin_assets.clean.dbt_cli import DBT_PROJECT_DIR, dbt_executable
from twin_assets.clean.report import WAREHOUSE_FILE, cleaning_summary, row_counts
from twin_assets.clean.build_state import BuildLedger, build_inputs, project_digest, project_files
from twin_assets.lake import CLEANED_DOCUMENTS, LAKE_TABLES, RAW_DOCUMENT_TABLES, NotMaterialized
from twin_assets.metadata import counts_by, markdown_sample, table_metadata, typed_columns
from twin_assets.resources import LakeResource

CLEAN_GROUP = "clean"
CLEANED_KEY = dg.AssetKey(CLEANED_DOCUMENTS.name)
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist")

twin_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    return any(path.stat().st_mtime > built for path in project_files(DBT_PROJECT_DIR))


# `dbt parse` runs only when a model or YAML file changed since the manifest was written, so
# loading the definitions stays fast and never serves a stale graph.
if _manifest_is_stale(twin_dbt_project):
    (
        DbtCliResource(project_dir=twin_dbt_project, dbt_executable=dbt_executable())
        .cli(["parse", "--quiet"], target_path=twin_dbt_project.target_path)
        .wait()
    )


class TwinDbtTranslator(DagsterDbtTranslator):
    """Plain table names as asset keys (sources become the raw_* assets) and one `clean` group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return CLEAN_GROUP

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if self.get_resource_props(manifest, unique_id).get("config", {}).get("plugin") == "lake":
            contract = LAKE_TABLES[spec.key.to_user_string()]
            return spec.merge_attributes(kinds={"delta"}, metadata=table_metadata(contract))
        columns = spec.metadata.get("dagster/column_schema")
        if columns is None:
            return spec
        return spec.replace_attributes(metadata={**spec.metadata, "dagster/column_schema": typed_columns(columns)})


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a subprocess started inside the block, then restore them."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _cleaned_documents_metadata(lake: LakeResource) -> dict[str, Any]:
    store = lake.lake()
    stored = store.read(CLEANED_DOCUMENTS)
    summary = cleaning_summary(lake.local_dir("warehouse"))
    version = store.version(CLEANED_DOCUMENTS)
    return {
        "documents_in": summary.documents_in,
        "documents_out": summary.documents_out,
        "dropped_by_reason": dg.MetadataValue.json(summary.dropped_by_reason),
        "dropped_examples": dg.MetadataValue.json(summary.dropped_examples),
        "cross_posted_pieces": summary.cross_posted,
        "rows_by_category": dg.MetadataValue.json(counts_by(stored, "category")),
        "rows_by_platform": dg.MetadataValue.json(counts_by(stored, "platform")),
        "delta_version": dg.MetadataValue.int(version) if version is not None else None,
        "path": dg.MetadataValue.path(store.uri(CLEANED_DOCUMENTS)),
        "sample": dg.MetadataValue.md(markdown_sample(stored.sort("published_at", descending=True), ["title", "url", "word_count"])),
    }


def _build_inputs(lake: LakeResource, models: set[str]) -> str:
    """What a build of `models` depends on (see build_state.py)."""
    from twin_assets.clean.functions import CLEANING_VERSION

    store = lake.lake()
    raw_versions = {spec.name: store.version(spec) for spec in RAW_DOCUMENT_TABLES.values()}
    return build_inputs(raw_versions, CLEANING_VERSION, project_digest(DBT_PROJECT_DIR), models)


def _build_outputs(lake: LakeResource) -> dict[str, int | None]:
    """What a build leaves behind, so that a table or warehouse changed since is noticed."""
    warehouse = lake.local_dir("warehouse") / WAREHOUSE_FILE
    return {
        CLEANED_DOCUMENTS.name: lake.lake().version(CLEANED_DOCUMENTS),
        "warehouse_mtime_ns": warehouse.stat().st_mtime_ns if warehouse.exists() else None,
    }


def _missing_table(error: DagsterDbtCliRuntimeError, lake: LakeResource, models: set[str]) -> NotMaterialized | None:
    """A model selected without its upstream fails in DuckDB; say which asset to materialize first."""
    found = _MISSING_TABLE.search(str(error))
    if found is None:
        return None
    needed_by = next(iter(models)) if len(models) == 1 else "the selected dbt models"
    return NotMaterialized(found.group(1), needed_by, lake.root)


@dbt_assets(
    manifest=twin_dbt_project.manifest_path,
    project=twin_dbt_project,
    dagster_dbt_translator=TwinDbtTranslator(),
)
def twin_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource):
    """Runs `dbt build` (models and their tests, in dependency order), unless its inputs are unchanged."""
    models = {key.to_user_string() for key in context.selected_asset_keys}
    ledger = BuildLedger(lake.local_dir("dbt") / "builds.json")
    # dbt reads only the raw tables, so the inputs are the same before and after the build.
    inputs = _build_inputs(lake, models)
    if ledger.unchanged(models, inputs, _build_outputs(lake)):
        yield from _skipped_build(context, lake)
        return
    environment = {
        **lake.environment(),
        # Tests run only when every model they read is selected: a relationship test on an
        # unselected table would fail for a table nobody asked for.
        "DBT_INDIRECT_SELECTION": "cautious",
        "DBT_LOG_PATH": str(lake.local_dir("dbt") / "logs"),
    }
    with _environment(environment):
        # The subprocess takes the environment here; run artifacts stay under TWIN_HOME.
        invocation = dbt.cli(["build"], context=context, target_path=lake.local_dir("dbt") / "target")
    # Events are gathered first: the warehouse can be read only once dbt has let go of it.
    try:
        events = list(invocation.stream())
    except DagsterDbtCliRuntimeError as exc:
        missing = _missing_table(exc, lake, models)
        if missing is None:
            raise
        raise missing from exc
    produced = {context.asset_key_for_output(e.output_name) for e in events if isinstance(e, dg.Output)}
    counts = row_counts(lake.local_dir("warehouse"), [key.to_user_string() for key in produced])
    for event in events:
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
            extra = {"dagster/row_count": counts.get(key.to_user_string())}
            if key == CLEANED_KEY:
                extra.update(_cleaned_documents_metadata(lake))
            event = event.with_metadata({**event.metadata, **extra})
        yield event
    ledger.record(models, inputs, _build_outputs(lake))


def _skipped_build(context: dg.AssetExecutionContext, lake: LakeResource):
    """Nothing changed since the last build: cleaned_documents is recorded as it stands (so assets
    downstream still run and decide for themselves), the other models are not touched, and the
    dbt tests keep the outcome of that build, which passed them all (only successful builds are
    recorded)."""
    reason = "skipped: inputs unchanged since the last build"
    context.log.info("dbt build skipped: raw tables, cleaning rules and dbt project unchanged since the last build")
    if CLEANED_KEY in context.selected_asset_keys:
        yield dg.Output(
            None,
            output_name=context.output_for_asset_key(CLEANED_KEY),
            metadata={"dbt_build": reason, **_cleaned_documents_metadata(lake)},
        )
    for check in context.selected_asset_check_keys:
        yield dg.AssetCheckResult(
            asset_key=check.asset_key, check_name=check.name, passed=True,
            metadata={"dbt_build": reason + ", which passed this test"},
        )
