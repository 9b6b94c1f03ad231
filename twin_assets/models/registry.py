"""The model registry: one registered MLflow model per author (`twin-<author>`), one version per
trained twin, tagged with its lineage, and the aliases `candidate` (just trained) and `production`
(what serving loads).

A version's files are the trained folder (`adapter/`, `merged/`, `card.json`) logged as the
`model` artifacts of an MLflow run, so the registry holds its own copy and the trained folder
may be cleaned up. With a local artifact store the copy is hard links where the filesystem
allows: a trained folder's files never change, and SmolLM2's merged weights alone are 538 MB.
Plain Python (no dagster), for the assets, the CLI and serving alike.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from training.tracking import experiment_name, mlflow_client, mlflow_experiment

CANDIDATE, PRODUCTION = "candidate", "production"
MODEL_ARTIFACTS = "model"  # the folder among the run's artifacts a version's source points at
REQUIRED = ("card.json", "adapter", "merged")


def model_name(author: str) -> str:
    return experiment_name(author)


@dataclass(frozen=True)
class Lineage:
    """What a version was made from; every field becomes a tag of the version and of its run."""

    twin_version: str  # the trained folder's name, fixed by what determines the weights
    base_model: str  # the base weights' identity
    config_hash: str
    dataset_versions: Mapping[str, int]  # Delta version of each dataset trained on, by asset name
    code_version: str | None = None  # the git commit that trained
    dagster_run_id: str | None = None
    backend: str = "local"  # the trainer: local (TRL) or axolotl

    def tags(self) -> dict[str, str]:
        tags = {
            "twin_version": self.twin_version, "base_model": self.base_model, "config_hash": self.config_hash,
            "code_version": self.code_version, "dagster_run_id": self.dagster_run_id, "backend": self.backend,
        }
        tags.update({f"dataset.{name}": str(version) for name, version in self.dataset_versions.items()})
        return {name: value for name, value in tags.items() if value is not None}


def lineage_from_card(card: Mapping[str, Any], dagster_run_id: str | None = None) -> Lineage:
    """The lineage a trained folder's card.json records."""
    return Lineage(
        twin_version=card["version"], base_model=card["base_model"]["identity"], config_hash=card["config_hash"],
        dataset_versions={name: entry["version"] for name, entry in card["datasets"].items()},
        code_version=card.get("code_version"), dagster_run_id=dagster_run_id, backend=card.get("backend", "local"),
    )


@dataclass(frozen=True)
class RegisteredVersion:
    version: int
    tags: dict[str, str]
    path: Path  # a local folder holding adapter/, merged/ and card.json
    run_id: str
    aliases: tuple[str, ...] = field(default=())


def _local_path(source: str) -> Path:
    """The local folder behind a version's source (a file:// URI with the default store)."""
    parsed = urlparse(source)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source))  # an MLflow server's store


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another filesystem, or one without hard links
        shutil.copy2(source, destination)


def _link_tree(folder: Path, destination: Path) -> None:
    """The trained folder's files under `destination`, linked where possible, else copied."""
    shutil.copytree(folder, destination, copy_function=_link_or_copy, dirs_exist_ok=True)


def _version(found: Any, aliases: list[str] | None = None) -> RegisteredVersion:
    return RegisteredVersion(
        version=int(found.version), tags=dict(found.tags), path=_local_path(found.source), run_id=found.run_id,
        aliases=tuple(sorted(found.aliases if aliases is None else aliases)),
    )


def _ensure_registered_model(client: Any, name: str, author: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description=f"The LLM twin of {author}")
        except MlflowException:  # another process registered it in between
            client.get_registered_model(name)


def register_version(
    home: Path, author: str, folder: Path, lineage: Lineage, run_id: str | None = None, alias: str = CANDIDATE,
) -> RegisteredVersion:
    """Logs the trained `folder` as the `model` artifacts of `run_id` (the training run, when it was
    tracked with MLflow; else a new run in the author's experiment), registers it as a new version
    tagged with `lineage` and the run id, and points `alias` at it."""
    missing = [name for name in REQUIRED if not (folder / name).exists()]
    if missing:
        raise ValueError(f"{folder} is not a trained twin: it lacks {', '.join(missing)}")
    client = mlflow_client(home)
    name = model_name(author)
    if run_id is None:
        run_id = client.create_run(mlflow_experiment(client, home, author), run_name=f"register {lineage.twin_version}").info.run_id
        client.set_terminated(run_id)
    from mlflow.entities import RunTag

    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in lineage.tags().items()])
    source = f"{client.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACTS}"
    if urlparse(source).scheme in ("", "file"):
        _link_tree(folder, _local_path(source))
    else:
        client.log_artifacts(run_id, str(folder), MODEL_ARTIFACTS)
    _ensure_registered_model(client, name, author)
    created = client.create_model_version(name, source=source, run_id=run_id, tags={**lineage.tags(), "mlflow_run_id": run_id})
    client.set_registered_model_alias(name, alias, created.version)
    return _version(client.get_model_version(name, created.version))


def set_alias(home: Path, author: str, alias: str, version: int) -> None:
    """Points `alias` at `version`, moving it off whichever version held it."""
    mlflow_client(home).set_registered_model_alias(model_name(author), alias, str(version))


def get_version_by_alias(home: Path, author: str, alias: str) -> RegisteredVersion | None:
    """The version `alias` points at, or None when the author has no such alias (or no model yet)."""
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow_client(home).get_model_version_by_alias(model_name(author), alias)
    except MlflowException:
        return None
    return _version(found)


def list_versions(home: Path, author: str) -> list[RegisteredVersion]:
    """Every version of the author's model, oldest first; empty before the first registration."""
    client, name = mlflow_client(home), model_name(author)
    found = client.search_model_versions(f"name = '{name}'")
    if not found:
        return []
    # A search leaves the versions' aliases out; the registered model lists them.
    held = client.get_registered_model(name).aliases
    return sorted(
        (_version(v, [alias for alias, version in held.items() if int(version) == int(v.version)]) for v in found),
        key=lambda v: v.version,
    )


PRODUCTION_HISTORY = "production_history"  # a registered-model tag: every move of `production`, oldest first


def production_history(home: Path, author: str) -> list[dict[str, Any]]:
    """Each promotion and rollback so far: version, when, who and why."""
    from mlflow.exceptions import MlflowException

    try:
        tags = mlflow_client(home).get_registered_model(model_name(author)).tags
    except MlflowException:
        return []
    return json.loads(tags.get(PRODUCTION_HISTORY, "[]"))


def promote(home: Path, author: str, version: int, who: str, why: str, action: str = "promote") -> RegisteredVersion:
    """Points `production` at `version` and records who moved it and why, on the version (tags)
    and in the model's production history; the version that held it stays registered."""
    from mlflow.exceptions import MlflowException

    client, name = mlflow_client(home), model_name(author)
    try:
        target = client.get_model_version(name, str(version))  # an unknown version fails here, before anything moves
    except MlflowException:
        raise ValueError(f"{name} has no version {version}") from None
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    client.set_registered_model_alias(name, PRODUCTION, str(version))
    for key, value in {"promoted_at": at, "promoted_by": who, "promotion_reason": why}.items():
        client.set_model_version_tag(name, str(version), key, value)
    history = [*production_history(home, author), {"version": int(version), "at": at, "by": who, "why": why, "action": action}]
    client.set_registered_model_tag(name, PRODUCTION_HISTORY, json.dumps(history))
    return _version(client.get_model_version(name, target.version), [PRODUCTION])


def rollback(home: Path, author: str, who: str, why: str) -> RegisteredVersion:
    """Moves `production` back to the version that held it before the current one."""
    held = production_stack(production_history(home, author))
    if len(held) < 2:
        raise ValueError(f"{model_name(author)} has no earlier production version to roll back to")
    return promote(home, author, held[-2], who, why, action="rollback")


def production_stack(history: list[dict[str, Any]]) -> list[int]:
    """The versions production has held, the current one last, with rolled-back ones taken off:
    a second rollback goes further back, not forth again."""
    held: list[int] = []
    for entry in history:
        if entry["action"] == "rollback":
            held.pop()
        else:
            held.append(entry["version"])
    return held
