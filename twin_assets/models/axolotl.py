"""The Axolotl backend of twin_model, launched through Dagster Pipes: a subprocess in Axolotl's
own environment on this machine (`make axolotl` creates it), or a pod on Kubernetes from an
image holding Axolotl and this project's `training/` package (deploy/axolotl/Dockerfile).

Either way the external process is `python -m training.axolotl_run`: it receives the request
as a Pipes extra, streams each step's loss back as log lines, and reports its materialization
(losses, tokens/s, device) when the version folder is in place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError  # raised by Pipes clients; not re-exported by dagster

from training.axolotl_run import AxolotlRequest, failure_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNNER = ["-m", "training.axolotl_run"]
REQUEST_EXTRA = "request"


class AxolotlResource(dg.ConfigurableResource):
    """Where Axolotl runs. `subprocess` uses the environment `make axolotl` creates; `k8s` starts a
    pod with GPUs that mounts the claim holding TWIN_HOME, with secrets from a Kubernetes Secret."""

    launcher: str = "subprocess"  # or k8s
    python: str = str(PROJECT_ROOT / ".venv-axolotl" / "bin" / "python")
    # Kubernetes: the image deploy/axolotl/Dockerfile builds, and what the pod gets.
    image: str = "llm-twin-axolotl:0.19.0"
    namespace: str = "default"
    gpus: int = 1
    cpu: str = "8"
    memory: str = "64Gi"
    home_claim: str = "twin-home"  # a PersistentVolumeClaim holding TWIN_HOME, shared with Dagster
    home_mount: str = "/twin-home"
    secret_name: str = "llm-twin"  # a Secret whose keys (HF_TOKEN for gated models, ...) become env variables
    secret_keys: list[str] = ["HF_TOKEN", "MLFLOW_TRACKING_TOKEN"]
    node_selector: dict[str, str] = {}

    def pod_spec(self) -> dict[str, Any]:
        """The pod's spec, which PipesK8sClient merges its own container command and Pipes env into."""
        secrets = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": key, "optional": True}}}
            for key in self.secret_keys
        ]
        return {
            "restartPolicy": "Never",
            "containers": [{
                "name": "axolotl",
                "image": self.image,
                "workingDir": "/app",
                "env": [{"name": "AXOLOTL_DO_NOT_TRACK", "value": "1"}, {"name": "PYTHONPATH", "value": "/app"},
                        {"name": "TWIN_HOME", "value": self.home_mount}, *secrets],
                "resources": {
                    "requests": {"cpu": self.cpu, "memory": self.memory, "nvidia.com/gpu": str(self.gpus)},
                    "limits": {"memory": self.memory, "nvidia.com/gpu": str(self.gpus)},
                },
                "volumeMounts": [{"name": "twin-home", "mountPath": self.home_mount},
                                 {"name": "shm", "mountPath": "/dev/shm"}],
            }],
            "volumes": [
                {"name": "twin-home", "persistentVolumeClaim": {"claimName": self.home_claim}},
                # The default 64 MB of shared memory is too little for data loaders and NCCL.
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
            ],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            **({"nodeSelector": dict(self.node_selector)} if self.node_selector else {}),
        }

    def launch(self, context: dg.AssetExecutionContext, request: AxolotlRequest, home: Path) -> dict[str, Any]:
        """Runs the request to the end and returns the metadata the external process reported;
        dg.Failure carrying Axolotl's error when it fails."""
        try:
            if self.launcher == "subprocess":
                invocation = self._subprocess(context, request)
            elif self.launcher == "k8s":
                invocation = self._k8s(context, request.relocated(home, Path(self.home_mount)))
            else:
                raise dg.Failure(f"axolotl launcher: {self.launcher!r} is neither subprocess nor k8s")
        except DagsterPipesExecutionError as exc:
            failed = failure_file(request.models_dir, request.version)
            reason = failed.read_text() if failed.is_file() else str(exc)
            raise dg.Failure(f"Axolotl training of {request.version} failed: {reason}") from exc
        reported = invocation.get_materialize_result().metadata or {}
        return {key: getattr(value, "value", value) for key, value in reported.items()}

    def _subprocess(self, context: dg.AssetExecutionContext, request: AxolotlRequest) -> Any:
        python = Path(self.python)
        if not python.is_file():
            raise dg.Failure(f"Axolotl's environment is missing ({python} does not exist): run `make axolotl` first")
        env = {"PYTHONPATH": str(PROJECT_ROOT), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
        client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT))
        return client.run(context=context, command=[str(python), *RUNNER], env=env,
                          extras={REQUEST_EXTRA: request.to_dict()})

    def _k8s(self, context: dg.AssetExecutionContext, request: AxolotlRequest) -> Any:
        from dagster_k8s import PipesK8sClient

        return PipesK8sClient().run(
            context=context, image=self.image, command=["python", *RUNNER], namespace=self.namespace,
            base_pod_spec=self.pod_spec(), extras={REQUEST_EXTRA: request.to_dict()},
        )
