"""The model registry on a real MLflow SQLite store: versions, lineage tags, aliases."""

import json
import os
import shutil
from pathlib import Path

import pytest

from training.tracking import mlflow_client, tracked_run
from twin_assets.models.registry import (
    CANDIDATE,
    PRODUCTION,
    Lineage,
    get_version_by_alias,
    lineage_from_card,
    list_versions,
    register_version,
    set_alias,
)


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def trained_folder(root: Path, version: str, instruct_version: int) -> Path:
    """What the trainer leaves in <TWIN_HOME>/models/twin/<version>/, with tiny stand-in weights."""
    folder = root / "models" / "twin" / version
    for part in ("adapter", "merged"):
        (folder / part).mkdir(parents=True)
        (folder / part / "config.json").write_text(json.dumps({"part": part, "version": version}))
    card = {
        "version": version, "base_model": {"name": "local:tiny-llama", "identity": "local:tiny-llama@abc.def"},
        "datasets": {"instruct_dataset": {"version": instruct_version, "size": "tiny"},
                     "preference_dataset": {"version": 2, "size": "tiny"}},
        "config_hash": f"hash-{version}", "code_version": "0123abcd", "eval_loss": 1.5,
    }
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def lineage_of(folder: Path) -> Lineage:
    return lineage_from_card(json.loads((folder / "card.json").read_text()), dagster_run_id="dagster-run-1")


def test_a_trained_folder_becomes_a_candidate_version_tagged_with_its_lineage(tmp_path):
    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    registered = register_version(home, "mara", folder, lineage_of(folder))
    assert registered.version == 1 and registered.aliases == (CANDIDATE,)
    assert registered.tags == {
        "twin_version": "tiny-sft-aaa", "base_model": "local:tiny-llama@abc.def", "config_hash": "hash-tiny-sft-aaa",
        "code_version": "0123abcd", "dagster_run_id": "dagster-run-1", "dataset.instruct_dataset": "3",
        "dataset.preference_dataset": "2", "mlflow_run_id": registered.run_id, "backend": "local",
    }
    # The registry holds its own copy: the trained folder may be cleaned up.
    assert registered.path != folder and str(home / "mlflow" / "artifacts") in str(registered.path)
    assert json.loads((registered.path / "merged" / "config.json").read_text())["version"] == "tiny-sft-aaa"
    assert json.loads((registered.path / "card.json").read_text())["version"] == "tiny-sft-aaa"
    run = mlflow_client(home).get_run(registered.run_id)
    assert run.data.tags["twin_version"] == "tiny-sft-aaa" and run.data.tags["dataset.instruct_dataset"] == "3"
    assert get_version_by_alias(home, "mara", CANDIDATE) == registered


def test_the_registry_links_the_trained_files_and_keeps_them_when_the_folder_is_removed(tmp_path):
    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    registered = register_version(home, "mara", folder, lineage_of(folder))
    weights = registered.path / "merged" / "config.json"
    assert weights.stat().st_ino == (folder / "merged" / "config.json").stat().st_ino  # one file on disk, not two
    shutil.rmtree(folder)
    assert json.loads(weights.read_text())["version"] == "tiny-sft-aaa"


def test_where_links_are_refused_the_registry_copies(tmp_path, monkeypatch):
    def refuse(source, destination):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    registered = register_version(home, "mara", folder, lineage_of(folder))
    copied = registered.path / "merged" / "config.json"
    assert copied.stat().st_ino != (folder / "merged" / "config.json").stat().st_ino
    assert copied.read_bytes() == (folder / "merged" / "config.json").read_bytes()


def test_the_training_run_holds_the_version_when_it_was_tracked_with_mlflow(tmp_path):
    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    with tracked_run(home, "mara", "sft tiny") as run:
        run.log_metrics({"loss": 1.0}, step=1)
    registered = register_version(home, "mara", folder, lineage_of(folder), run_id=run.run_id)
    assert registered.run_id == run.run_id == registered.tags["mlflow_run_id"]
    artifacts = [a.path for a in mlflow_client(home).list_artifacts(run.run_id, "model")]
    assert sorted(artifacts) == ["model/adapter", "model/card.json", "model/merged"]


def test_a_second_version_takes_the_candidate_alias_and_production_moves_only_when_set(tmp_path):
    home = tmp_path / "home"
    first_folder, second_folder = trained_folder(tmp_path, "tiny-sft-aaa", 3), trained_folder(tmp_path, "tiny-sft-bbb", 4)
    first = register_version(home, "mara", first_folder, lineage_of(first_folder))
    set_alias(home, "mara", PRODUCTION, first.version)
    second = register_version(home, "mara", second_folder, lineage_of(second_folder))
    assert second.version == 2 and second.tags["dataset.instruct_dataset"] == "4"
    assert get_version_by_alias(home, "mara", CANDIDATE).version == 2
    assert get_version_by_alias(home, "mara", PRODUCTION).version == 1
    set_alias(home, "mara", PRODUCTION, second.version)  # promotion moves the alias off version 1
    versions = list_versions(home, "mara")
    assert [(v.version, v.aliases) for v in versions] == [(1, ()), (2, (CANDIDATE, PRODUCTION))]
    assert [v.tags["twin_version"] for v in versions] == ["tiny-sft-aaa", "tiny-sft-bbb"]


def test_authors_have_separate_models(tmp_path):
    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    register_version(home, "mara", folder, lineage_of(folder))
    assert list_versions(home, "jane") == []
    assert get_version_by_alias(home, "jane", CANDIDATE) is None
    assert get_version_by_alias(home, "mara", PRODUCTION) is None  # no version promoted yet


def test_a_folder_that_is_not_a_trained_twin_is_refused_before_anything_is_logged(tmp_path):
    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    lineage = lineage_of(folder)
    for part in ("merged", "adapter"):
        (folder / part / "config.json").unlink()
        (folder / part).rmdir()
    with pytest.raises(ValueError, match="is not a trained twin: it lacks adapter, merged"):
        register_version(home, "mara", folder, lineage)
    assert list_versions(home, "mara") == []


def test_an_alias_cannot_point_at_a_version_that_does_not_exist(tmp_path):
    from mlflow.exceptions import MlflowException

    home = tmp_path / "home"
    folder = trained_folder(tmp_path, "tiny-sft-aaa", 3)
    register_version(home, "mara", folder, lineage_of(folder))
    with pytest.raises(MlflowException):
        set_alias(home, "mara", PRODUCTION, 7)
    assert get_version_by_alias(home, "mara", PRODUCTION) is None
