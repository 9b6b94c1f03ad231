"""Compare an author's training runs side by side, from the MLflow store under TWIN_HOME.

One row per run: what it was trained from (base model, dataset version and size), how
(the key hyperparameters), how it did (losses, throughput, time), every result logged later
(`final/*` and `eval/*` metrics, such as evaluation scores) and, once registered, its registry
version and aliases. Plain Python: mlflow is imported inside the functions that read the store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from training.tracking import FINAL_PREFIX, experiment_name, mlflow_client
from twin_assets.models.registry import model_name

# Metrics with a column of their own; a run may log each as `final/<name>` or plain `<name>`.
KNOWN_METRICS = ("train_loss", "eval_loss", "tokens_per_second", "seconds")
# Results logged once per run. Unprefixed metrics are per-step series (loss, learning_rate),
# whose last value compares nothing: the MLflow UI plots them.
RESULT_PREFIXES = (FINAL_PREFIX, "eval/")
HYPERPARAMETERS = ("adapter", "lora_r", "learning_rate", "num_epochs", "max_steps")
COLUMNS = (
    "run_name", "started", "status", "base_model", "dataset_version", "dataset_size", *HYPERPARAMETERS,
    *KNOWN_METRICS, "registry_version", "aliases",
)
HEADERS = {  # short headers keep the table within a terminal; JSON keeps the full names
    "run_name": "run", "dataset_version": "data v", "dataset_size": "size", "learning_rate": "lr",
    "num_epochs": "epochs", "tokens_per_second": "tokens/s", "registry_version": "registry",
}
DATASET_TAG = "dataset.instruct_dataset"  # the Delta version trained on, tagged by training and the registry


def _param(value: str | None) -> Any:
    """A parameter as logged (always text) back to the number, None or text it was."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _started(milliseconds: int | None) -> str | None:
    if milliseconds is None:
        return None
    # ISO 8601 with the short UTC suffix: still parseable, and narrower in the table.
    return datetime.fromtimestamp(milliseconds / 1000, timezone.utc).isoformat(timespec="minutes").replace("+00:00", "Z")


def _results(metrics: Mapping[str, float]) -> dict[str, float]:
    """The run's one-off results by display name: `final/` dropped, known metrics left out."""
    results = {}
    for name, value in metrics.items():
        if name.startswith(RESULT_PREFIXES):
            short = name.removeprefix(FINAL_PREFIX)
            if short not in KNOWN_METRICS:
                results[short] = value
    return results


def comparison_row(run: Any, registered: Mapping[str, tuple[int, Sequence[str]]]) -> dict[str, Any]:
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    version, aliases = registered.get(run.info.run_id, (None, ()))
    dataset = _param(tags.get(DATASET_TAG))
    row = {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "started": _started(run.info.start_time),
        "status": run.info.status,
        # The configured name reads better than the identity tag (a hash) when both exist.
        "base_model": params.get("base_model") or tags.get("base_model"),
        "dataset_version": dataset,
        "dataset_size": _param(params.get("dataset_size")),
        **{name: _param(params.get(name)) for name in HYPERPARAMETERS},
        **{name: metrics.get(f"{FINAL_PREFIX}{name}", metrics.get(name)) for name in KNOWN_METRICS},
        "registry_version": version,
        "aliases": sorted(aliases),
    }
    return {**row, **_results(metrics)}


def comparison_rows(
    runs: Iterable[Any], registered: Mapping[str, tuple[int, Sequence[str]]] | None = None,
) -> list[dict[str, Any]]:
    """One row per run, newest first; `registered` maps a run id to (registry version, aliases)."""
    ordered = sorted(runs, key=lambda run: run.info.start_time or 0, reverse=True)
    return [comparison_row(run, registered or {}) for run in ordered]


def table_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The known columns some row fills, then every result column, sorted: nothing empty."""
    def filled(name: str) -> bool:
        return any(row.get(name) not in (None, [], "") for row in rows)

    results = sorted({name for row in rows for name in row} - set(COLUMNS) - {"run_id"})
    return [name for name in (*COLUMNS, *results) if filled(name)]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Fixed-width text: a header line, then one line per row; text left-aligned, numbers right."""
    cells = [[_cell(row.get(name)) for name in columns] for row in rows]
    headers = [HEADERS.get(name, name) for name in columns]
    widths = [max(len(text) for text in (header, *(line[i] for line in cells))) for i, header in enumerate(headers)]
    numeric = [all(isinstance(row.get(name), int | float) or row.get(name) is None for row in rows) for name in columns]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(
            text.rjust(width) if right else text.ljust(width) for text, width, right in zip(texts, widths, numeric)
        ).rstrip()

    return "\n".join([line(headers), *(line(texts) for texts in cells)])


def _has_store(home: Path) -> bool:
    """Whether runs can exist: a tracking server, or the SQLite store (opening a missing one creates it)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI")) or (home / "mlflow" / "mlflow.db").is_file()


def read_runs(home: Path, author: str) -> list[Any]:
    """The MLflow runs of the author's experiment; empty before the first training run."""
    if not _has_store(home):
        return []
    client = mlflow_client(home)
    experiment = client.get_experiment_by_name(experiment_name(author))
    if experiment is None:
        return []
    return list(client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"]))


def registered_by_run(home: Path, author: str) -> dict[str, tuple[int, list[str]]]:
    """Run id -> (registry version, its aliases) for every version of the author's model."""
    if not _has_store(home):
        return {}
    client, name = mlflow_client(home), model_name(author)
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        return {}
    # A search leaves the versions' aliases out; the registered model lists them.
    held = client.get_registered_model(name).aliases
    return {
        v.run_id: (int(v.version), sorted(alias for alias, at in held.items() if int(at) == int(v.version)))
        for v in versions
    }


def experiment_rows(home: Path, author: str) -> list[dict[str, Any]]:
    """The comparison rows of the author's runs as stored under `home`, newest first."""
    return comparison_rows(read_runs(home, author), registered_by_run(home, author))
