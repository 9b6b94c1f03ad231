"""When `dbt build` can be skipped: its inputs are exactly those of the last successful build.

The inputs of a build are the raw tables' Delta versions, the cleaning rules (their version),
the dbt project's files and the models selected. The ledger lives under TWIN_HOME, so two
homes never share it, and it records a build only after it succeeded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

PROJECT_SUFFIXES = frozenset({".sql", ".yml", ".yaml"})


def project_files(project_dir: Path) -> list[Path]:
    """The dbt project's models, macros and settings, sorted; not its target or logs."""
    return [
        path
        for path in sorted(project_dir.rglob("*"))
        if path.suffix in PROJECT_SUFFIXES and not {"target", "logs"} & set(path.relative_to(project_dir).parts)
    ]


def project_digest(project_dir: Path) -> str:
    """sha256 over the project's files (see project_files), names and contents."""
    digest = hashlib.sha256()
    for path in project_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_inputs(
    raw_versions: Mapping[str, int | None], cleaning_version: str, project: str, models: Iterable[str],
) -> str:
    """One fingerprint of everything a build's result depends on."""
    state = {
        "raw_versions": dict(sorted(raw_versions.items())),
        "cleaning_version": cleaning_version,
        "project": project,
        "models": sorted(models),
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


class BuildLedger:
    """The inputs and outputs of the last successful build, per selection of models."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _entries(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}  # no ledger, or a damaged one: build, and write a new one

    @staticmethod
    def _selection(models: Iterable[str]) -> str:
        return ",".join(sorted(models))

    def unchanged(self, models: Iterable[str], inputs: str, outputs: Mapping[str, int | None]) -> bool:
        """True when the last build of these models had these inputs and its outputs are still as it left them."""
        entry = self._entries().get(self._selection(models))
        return entry is not None and entry["inputs"] == inputs and entry["outputs"] == dict(outputs)

    def record(self, models: Iterable[str], inputs: str, outputs: Mapping[str, int | None]) -> None:
        entries = self._entries()
        entries[self._selection(models)] = {"inputs": inputs, "outputs": dict(outputs)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(entries, indent=2, sort_keys=True))
        partial.replace(self.path)
