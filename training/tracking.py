"""Experiment tracking: one interface, two backends.

MLflow is the default: a SQLite store at `<home>/mlflow/mlflow.db` with artifacts under
`<home>/mlflow/artifacts` (`mlflow ui --backend-store-uri sqlite:///<home>/mlflow/mlflow.db`
shows the runs), or the server MLFLOW_TRACKING_URI names. Neptune logs offline under
`<home>/neptune` (`neptune sync --path <home>/neptune` uploads later) unless NEPTUNE_PROJECT and
NEPTUNE_API_TOKEN name a server. Each author has one experiment, `twin-<author>`.

Parameters are flattened (`lora.r`), and anything that looks like a secret (by its key, or a
value holding the value of a secret environment variable) is left out of parameters and tags.
mlflow and neptune are imported inside the functions that use them, so importing this module
(and the Dagster definitions) stays fast.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

BACKENDS = ("mlflow", "neptune")
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"  # where `mlflow ui` listens by default
FINAL_PREFIX = "final/"  # final metrics never mix with the per-step series of the same name
SECRET_NAME = re.compile(r"api[_-]?key|access[_-]?key|token|secret|password|passwd|credential|authorization", re.IGNORECASE)
# Names that match SECRET_NAME but count things rather than hold secrets.
NOT_SECRET = re.compile(r"tokens\b|max_new_tokens|_token_id|pad_token|eos_token|bos_token|tokenizer", re.IGNORECASE)
MLFLOW_PARAM_BATCH = 100  # log_batch takes at most 100 params per call
MLFLOW_MAX_PARAM_LENGTH = 6000

Scalar = str | int | float | bool


def experiment_name(author: str) -> str:
    return f"twin-{author}"


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Scalar]:
    """Nested mappings become dotted keys; lists, None and other values become JSON or text."""
    flat: dict[str, Scalar] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, str | int | float | bool):
            flat[name] = value
        elif isinstance(value, list | tuple) or value is None:
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = str(value)
    return flat


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET.search(name)


def secret_values(environ: Mapping[str, str]) -> set[str]:
    """Values of environment variables named like secrets; short values would match too much."""
    return {value for name, value in environ.items() if is_secret_name(name) and len(value) >= 8}


def without_secrets(values: Mapping[str, Scalar], environ: Mapping[str, str] | None = None) -> dict[str, Scalar]:
    """`values` less the entries named like secrets or holding a secret environment variable's value."""
    secrets = secret_values(os.environ if environ is None else environ)
    return {
        name: value for name, value in values.items()
        if not is_secret_name(name) and not any(secret in str(value) for secret in secrets)
    }


def backend_from_environment() -> str:
    """TWIN_TRACKER: `mlflow` (the default) or `neptune`."""
    backend = os.environ.get("TWIN_TRACKER", "mlflow")
    if backend not in BACKENDS:
        raise ValueError(f"TWIN_TRACKER must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return backend


class TrackedRun(ABC):
    """A run being tracked: `run_id` and `url` name it in its backend."""

    backend: str
    run_id: str
    url: str

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Logs a (nested) configuration, flattened, without secrets."""
        self._log_params(without_secrets(flatten(params)))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._set_tags({name: str(value) for name, value in without_secrets(flatten(tags)).items()})

    def log_final_metrics(self, metrics: Mapping[str, float]) -> None:
        """The run's results (held-out loss, perplexity), named `final/<name>`."""
        self.log_metrics({f"{FINAL_PREFIX}{name}": value for name, value in metrics.items()})

    @abstractmethod
    def _log_params(self, params: dict[str, Scalar]) -> None: ...

    @abstractmethod
    def _set_tags(self, tags: dict[str, str]) -> None: ...

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    @abstractmethod
    def log_artifact(self, path: Path, folder: str = "") -> None:
        """A file or a whole folder, under `folder` among the run's artifacts."""

    @abstractmethod
    def log_json(self, name: str, data: Any) -> None:
        """`data` as the artifact `name` (a card, a summary)."""

    @abstractmethod
    def end(self, failed: bool = False) -> None: ...


def mlflow_tracking_uri(home: Path) -> str:
    """MLFLOW_TRACKING_URI when set (a server), else the SQLite store under `home`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(home / 'mlflow' / 'mlflow.db').resolve()}"


def mlflow_client(home: Path) -> Any:
    from mlflow import MlflowClient

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        (home / "mlflow").mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=mlflow_tracking_uri(home), registry_uri=mlflow_tracking_uri(home))


def mlflow_experiment(client: Any, home: Path, author: str) -> str:
    """The author's experiment id, created on first use with its artifacts under `home`."""
    from mlflow.exceptions import MlflowException

    name = experiment_name(author)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None if os.environ.get("MLFLOW_TRACKING_URI") else (home / "mlflow" / "artifacts").resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # another process created it in between
        return client.get_experiment_by_name(name).experiment_id


def mlflow_ui_url(home: Path, experiment_id: str, run_id: str) -> str:
    uri = mlflow_tracking_uri(home)
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else DEFAULT_MLFLOW_UI
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


class MlflowRun(TrackedRun):
    backend = "mlflow"

    def __init__(self, home: Path, author: str, run_name: str) -> None:
        self._client = mlflow_client(home)
        self.experiment_id = mlflow_experiment(self._client, home, author)
        run = self._client.create_run(self.experiment_id, run_name=run_name)
        self.run_id = run.info.run_id
        self.artifact_uri = run.info.artifact_uri
        self.url = mlflow_ui_url(home, self.experiment_id, self.run_id)

    def _log_params(self, params: dict[str, Scalar]) -> None:
        from mlflow.entities import Param

        items = [Param(name, str(value)[:MLFLOW_MAX_PARAM_LENGTH]) for name, value in params.items()]
        for start in range(0, len(items), MLFLOW_PARAM_BATCH):
            self._client.log_batch(self.run_id, params=items[start : start + MLFLOW_PARAM_BATCH])

    def _set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self._client.log_batch(self.run_id, tags=[RunTag(name, value) for name, value in tags.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(name, float(value), now, step or 0) for name, value in metrics.items()]
        self._client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, folder: str = "") -> None:
        if path.is_dir():
            self._client.log_artifacts(self.run_id, str(path), folder or None)
        else:
            self._client.log_artifact(self.run_id, str(path), folder or None)

    def log_json(self, name: str, data: Any) -> None:
        self._client.log_dict(self.run_id, data, name)

    def end(self, failed: bool = False) -> None:
        self._client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")


def neptune_data_dir(home: Path) -> Path:
    """`neptune sync --path <home>/neptune` looks for a `.neptune` folder inside the path it is given."""
    return home / "neptune" / ".neptune"


def _field(name: str) -> str:
    """A Neptune field path from an artifact or metric name: namespaces by '/', no dots in names."""
    return "/".join(part.replace(".", "_") for part in name.split("/") if part)


class NeptuneRun(TrackedRun):
    backend = "neptune"

    def __init__(self, home: Path, author: str, run_name: str) -> None:
        import neptune

        project, token = os.environ.get("NEPTUNE_PROJECT"), os.environ.get("NEPTUNE_API_TOKEN")
        online = bool(project and token)
        self._data_dir = neptune_data_dir(home)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        # The client reads its data folder from the environment while the run is open.
        self._previous_dir = os.environ.get("NEPTUNE_DATA_DIRECTORY")
        os.environ["NEPTUNE_DATA_DIRECTORY"] = str(self._data_dir)
        self._run = neptune.init_run(
            project=project if online else None, api_token=token if online else None,
            mode="async" if online else "offline", name=run_name, tags=[experiment_name(author)],
            # Hardware, console and source capture add threads and could copy secrets from the console.
            capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False, capture_traceback=False,
            source_files=[], git_ref=False,
        )
        self._run["author"] = author
        self.run_id = self._run._id
        self.url = self._run.get_url() if online else self.offline_folder().as_uri()

    def offline_folder(self) -> Path:
        """Where this offline run's operations are queued until `neptune sync`."""
        return next((self._data_dir / "offline").glob(f"run__{self.run_id}__*"))

    def _log_params(self, params: dict[str, Scalar]) -> None:
        for name, value in params.items():
            self._run[f"parameters/{_field(name.replace('.', '/'))}"] = value

    def _set_tags(self, tags: dict[str, str]) -> None:
        for name, value in tags.items():
            self._run[f"tags/{_field(name.replace('.', '/'))}"] = value

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for name, value in metrics.items():
            if name.startswith(FINAL_PREFIX):
                self._run[_field(name)] = float(value)
            else:
                self._run[f"metrics/{_field(name)}"].append(float(value), step=step)

    def log_artifact(self, path: Path, folder: str = "") -> None:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        root = path if path.is_dir() else path.parent
        for file in files:
            self._upload(f"{folder}/{file.relative_to(root)}", file.read_bytes(), file.suffix.lstrip("."))

    def log_json(self, name: str, data: Any) -> None:
        self._upload(name, json.dumps(data, indent=2, default=str).encode(), "json")

    def _upload(self, name: str, content: bytes, extension: str) -> None:
        # From content, so the offline folder keeps its own copy: an upload by path is read only at sync time.
        from neptune.types import File

        self._run[f"artifacts/{_field(name)}"].upload(File.from_content(content, extension=extension))

    def end(self, failed: bool = False) -> None:
        self._run["sys/failed"] = failed
        self._run.stop()
        if self._previous_dir is None:
            os.environ.pop("NEPTUNE_DATA_DIRECTORY", None)
        else:
            os.environ["NEPTUNE_DATA_DIRECTORY"] = self._previous_dir


def step_logger(run: TrackedRun) -> Callable[[Any], None]:
    """An `on_step` for training.run.train_twin: each step's numbers (training.runtime.StepMetrics)
    as `<stage>/<name>` series, so SFT's and DPO's steps stay apart."""

    def log(step: Any) -> None:
        numbers = {name: value for name, value in asdict(step).items() if name not in ("stage", "step")}
        run.log_metrics({f"{step.stage}/{name}": value for name, value in numbers.items()}, step=step.step)

    return log


def start_run(home: Path, author: str, run_name: str, backend: str = "mlflow") -> TrackedRun:
    """Opens a run in the author's experiment; `home` is the local TWIN_HOME folder."""
    if backend == "mlflow":
        return MlflowRun(home, author, run_name)
    if backend == "neptune":
        return NeptuneRun(home, author, run_name)
    raise ValueError(f"unknown tracker {backend!r}; choose one of {', '.join(BACKENDS)}")


@contextmanager
def tracked_run(home: Path, author: str, run_name: str, backend: str = "mlflow") -> Iterator[TrackedRun]:
    """start_run as a context: the run ends FINISHED, or FAILED when the block raises."""
    run = start_run(home, author, run_name, backend)
    try:
        yield run
    except BaseException:
        run.end(failed=True)
        raise
    run.end()
