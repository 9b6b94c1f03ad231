"""The deployment files agree with each other and with the service they deploy.

bentofile.yaml and deploy/bento-requirements.txt (the Bento), deploy/bentocloud.yaml (BentoCloud),
deploy/k8s/ (Kubernetes) and .github/workflows/ci.yml (CI) are parsed and checked for what breaks
a deployment when it drifts: probes on the wrong path or port, a Service that targets no container
port, a secret written in clear, an autoscaler aimed at nothing, a kustomization that forgets a
manifest, a pin that conflicts with what the tests ran on. The last test runs `bentoml build`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BENTOFILE = REPO / "bentofile.yaml"
BENTOCLOUD = REPO / "deploy" / "bentocloud.yaml"
REQUIREMENTS = REPO / "deploy" / "bento-requirements.txt"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
SERVICE_FILE = REPO / "bento" / "service.py"

SERVICE_PATH = "bento.service:TwinService"
SERVICE_NAME = "llm_twin"  # @bentoml.service(name=...): names the Bento and BentoCloud's service
HTTP_PORT, GRPC_PORT = 8000, 50051
# Packages the served process needs beyond pyproject.toml's dependencies.
SERVING_PACKAGES = ["grpcio", "grpcio-health-checking", "grpcio-reflection", "protobuf", "prometheus-client"]
# Pins allowed to differ from constraints.txt, each explained in bento-requirements.txt's header.
FORCED_BY_BENTOML = {"certifi", "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-semantic-conventions"}
# An env variable named like this holds a secret: never a literal `value:`.
SECRET_NAME = re.compile(r"(_KEY|_KEYS|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
# What the Bento's requirements are checked against: the platform the image runs on.
LINUX_PY311 = {
    "python_version": "3.11", "python_full_version": "3.11.9", "sys_platform": "linux", "platform_system": "Linux",
    "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def load_one(path: Path) -> dict[str, Any]:
    docs = load_all(path)
    assert len(docs) == 1, f"{path.relative_to(REPO)}: expected one YAML document, got {len(docs)}"
    return docs[0]


def k8s_manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one manifest of that kind in deploy/k8s (kustomization.yaml excluded)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_all(path):
            assert doc["kind"] not in found, f"two {doc['kind']} manifests in deploy/k8s"
            found[doc["kind"]] = doc
    return found


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    return k8s_manifests()


@pytest.fixture(scope="module")
def container(k8s) -> dict[str, Any]:
    containers = k8s["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one serving container per pod"
    return containers[0]


@pytest.fixture(scope="module")
def config_data(k8s) -> dict[str, str]:
    return k8s["ConfigMap"]["data"]


def container_port(container: dict[str, Any], port: int | str) -> dict[str, Any]:
    """The container's port entry a probe or a Service's targetPort names (by name or number)."""
    for entry in container["ports"]:
        if port in (entry.get("name"), entry["containerPort"]):
            return entry
    raise AssertionError(f"no container port {port!r} in {container['ports']}")


def service_port(service: dict[str, Any], name: str) -> dict[str, Any]:
    ports = {entry["name"]: entry for entry in service["spec"]["ports"]}
    assert name in ports, f"Service has no port named {name}: {sorted(ports)}"
    return ports[name]


def pins(path: Path) -> dict[str, str]:
    """canonical name -> pinned version of every `name==version` line."""
    result: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            result[canonicalize_name(name)] = version.strip()
    return result


# --- every file parses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [BENTOFILE, BENTOCLOUD, WORKFLOW, *sorted(K8S.glob("*.yaml"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_yaml_parses(path):
    docs = load_all(path)
    assert docs and all(isinstance(doc, dict) for doc in docs)


def test_k8s_manifests_are_named_kubernetes_objects(k8s):
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "PersistentVolumeClaim"} <= set(k8s)
    for kind, doc in k8s.items():
        assert doc.get("apiVersion") and doc["metadata"].get("name"), kind
    # Secrets are created in the cluster, never committed next to the manifests.
    assert "Secret" not in k8s


def unknown_fields(value: Any, type_name: str, where: str) -> list[str]:
    """Keys of `value` that the Kubernetes model `type_name` (kubernetes.client's naming) lacks."""
    import kubernetes.client

    if type_name.startswith("list[") and isinstance(value, list):
        return [bad for i, item in enumerate(value) for bad in unknown_fields(item, type_name[5:-1], f"{where}[{i}]")]
    model = getattr(kubernetes.client, type_name, None)
    if model is None or not isinstance(value, dict):
        return []  # a scalar, a map of strings, or an IntOrString ("object")
    fields = {json_key: model.openapi_types[attribute] for attribute, json_key in model.attribute_map.items()}
    problems = [f"{where}.{key}" for key in value if key not in fields]
    return problems + [
        bad for key, item in value.items() if key in fields for bad in unknown_fields(item, fields[key], f"{where}.{key}")
    ]


def test_k8s_manifests_use_only_known_fields(k8s):
    # A misspelt field (readinessprobe, targetport) is dropped by the API server without a word.
    pytest.importorskip("kubernetes")  # dagster-k8s's dependency, in the project's environment
    models = {"Deployment": "V1Deployment", "Service": "V1Service", "ConfigMap": "V1ConfigMap",
              "PersistentVolumeClaim": "V1PersistentVolumeClaim", "HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler"}
    problems = [bad for kind, doc in k8s.items() for bad in unknown_fields(doc, models[kind], kind)]
    assert not problems, f"fields Kubernetes does not know: {problems}"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kustomize_renders(tmp_path):
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc)
    assert kinds == sorted(k8s_manifests())


# --- Kubernetes: ports and probes -------------------------------------------------------------


def test_container_ports_are_http_8000_and_grpc_50051(container):
    assert container_port(container, "http")["containerPort"] == HTTP_PORT
    assert container_port(container, "grpc")["containerPort"] == GRPC_PORT


def test_service_targets_the_container_ports(k8s, container):
    service = k8s["Service"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    for name, number in (("http", HTTP_PORT), ("grpc", GRPC_PORT)):
        entry = service_port(service, name)
        assert entry["port"] == number
        target = entry.get("targetPort", entry["port"])
        assert container_port(container, target)["containerPort"] == number, f"{name} targets {target!r}"


def test_service_and_deployment_select_the_pods(k8s):
    deployment, service = k8s["Deployment"], k8s["Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_probes_hit_readyz_and_livez_on_the_services_http_port(k8s, container):
    http_target = service_port(k8s["Service"], "http").get("targetPort", HTTP_PORT)
    http = container_port(container, http_target)["containerPort"]
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe_name, path in expected.items():
        probe = container[probe_name]["httpGet"]
        assert probe["path"] == path, probe_name
        assert container_port(container, probe["port"])["containerPort"] == http, probe_name


def test_startup_probe_allows_minutes_of_model_loading(container):
    # Model and index loading takes minutes; liveness must not restart a pod that is still loading.
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] in ("/livez", "/readyz")
    budget_s = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    assert budget_s >= 600, f"startup probe gives up after {budget_s}s"
    liveness = container["livenessProbe"]
    assert liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3) < budget_s


def test_prometheus_scrapes_the_http_port(k8s, container):
    annotations = k8s["Deployment"]["spec"]["template"]["metadata"].get("annotations", {})
    assert int(annotations["prometheus.io/port"]) == container_port(container, "http")["containerPort"]
    assert annotations["prometheus.io/path"] == "/metrics"


# --- Kubernetes: configuration, secrets, storage ---------------------------------------------


def test_env_comes_from_the_configmap(k8s, container, config_data):
    refs = [source["configMapRef"]["name"] for source in container.get("envFrom", []) if "configMapRef" in source]
    assert refs == [k8s["ConfigMap"]["metadata"]["name"]]
    # The server listens where the container port and the Service say.
    assert int(config_data["TWIN_HTTP_PORT"]) == container_port(container, "http")["containerPort"]
    assert int(config_data["BENTOML_PORT"]) == container_port(container, "http")["containerPort"]
    assert int(config_data["TWIN_GRPC_PORT"]) == container_port(container, "grpc")["containerPort"]
    assert config_data["TWIN_SERVE_HOST"] == "0.0.0.0"  # 127.0.0.1 is unreachable through a Service
    assert config_data["BENTOML_DO_NOT_TRACK"] == "true" and config_data["HF_HUB_OFFLINE"] == "1"
    assert all(isinstance(value, str) for value in config_data.values()), "ConfigMap values must be strings"


def test_secrets_are_referenced_never_written(k8s, container, config_data):
    env = {entry["name"]: entry for entry in container.get("env", [])}
    for name in ("TWIN_API_KEYS", "TWIN_ENGINE_API_KEY"):
        assert "secretKeyRef" in env[name].get("valueFrom", {}), f"{name} must come from a Secret"
    for entry in env.values():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref.get("name") and ref.get("key"), f"{entry['name']}: secretKeyRef needs a Secret name and key"
        if SECRET_NAME.search(entry["name"]):
            assert "value" not in entry, f"{entry['name']} has a literal value"
    leaked = [key for key in config_data if SECRET_NAME.search(key)]
    assert not leaked, f"secret-looking keys in the ConfigMap: {leaked}"
    # The API keys are required: a pod that would serve without authentication does not start.
    assert not env["TWIN_API_KEYS"]["valueFrom"]["secretKeyRef"].get("optional", False)


def test_twin_home_is_the_mounted_claim(k8s, container, config_data):
    pod = k8s["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    home = config_data["TWIN_HOME"]
    assert home in mounts, f"TWIN_HOME={home} is not a mount path: {sorted(mounts)}"
    claim = volumes[mounts[home]]["persistentVolumeClaim"]["claimName"]
    assert claim == k8s["PersistentVolumeClaim"]["metadata"]["name"]


def test_claim_can_be_shared_by_every_replica(k8s):
    # Several pods on several nodes mount it: ReadWriteOnce would pin them all to one node.
    if k8s["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] > 1:
        assert "ReadWriteMany" in k8s["PersistentVolumeClaim"]["spec"]["accessModes"]


def test_shutdown_outlasts_a_request(k8s, config_data):
    grace = k8s["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > int(config_data["TWIN_REQUEST_TIMEOUT_S"])


def test_resources_requested(container):
    requests = container["resources"]["requests"]
    assert requests.get("cpu") and requests.get("memory")
    assert container["resources"]["limits"].get("memory")


# --- Kubernetes: autoscaling and kustomization ------------------------------------------------


def test_hpa_scales_the_deployment(k8s, container, config_data):
    hpa, deployment = k8s["HorizontalPodAutoscaler"], k8s["Deployment"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"], "Deployment", deployment["metadata"]["name"],
    )
    assert 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]
    # A fixed replica count would fight the autoscaler on every `kubectl apply`.
    assert "replicas" not in deployment["spec"]

    metrics = {metric["type"]: metric for metric in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert container["resources"]["requests"].get("cpu"), "CPU utilisation is relative to the CPU request"
    pods = metrics["Pods"]["pods"]
    assert pods["metric"]["name"] == "bentoml_service_request_in_progress"
    # Scale out before a pod reaches the in-flight limit it enforces.
    assert float(pods["target"]["averageValue"]) <= int(config_data["TWIN_MAX_CONCURRENCY"])


def test_kustomization_lists_every_manifest_and_only_existing_files():
    kustomization = load_one(K8S / "kustomization.yaml")
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a manifest listed twice"
    on_disk = {path.name for path in K8S.glob("*.y*ml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk, f"missing: {sorted(on_disk - set(listed))}, absent: {sorted(set(listed) - on_disk)}"
    # Its image override names the image the Deployment runs.
    images = {image["name"] for image in kustomization.get("images", [])}
    deployment = k8s_manifests()["Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.rsplit(":", 1)[0] in images


# --- BentoCloud -------------------------------------------------------------------------------


def test_bentocloud_config_is_a_valid_deployment():
    from bentoml._internal.cloud.schemas.schemasv2 import CreateDeploymentSchema
    from bentoml._internal.utils.cattr import bentoml_cattr

    config = load_one(BENTOCLOUD)
    # The schema ignores unknown keys, so a misspelt one would silently do nothing.
    known = {"name", "bento", "cluster", "dev", "access_authorization", "envs", "labels", "secrets", "services",
             "canary"}
    assert set(config) <= known, f"unknown keys: {sorted(set(config) - known)}"
    schema = bentoml_cattr.structure(config, CreateDeploymentSchema)
    assert schema.name and schema.bento.split(":")[0] == SERVICE_NAME

    assert list(schema.services) == [SERVICE_NAME], "services are keyed by the service's name"
    service = schema.services[SERVICE_NAME]
    assert 1 <= service.scaling.min_replicas <= service.scaling.max_replicas
    assert service.instance_type

    envs = {env.name: env.value for env in schema.envs or []}
    assert not [name for name in envs if SECRET_NAME.search(name)], "secrets belong in `secrets:`"
    assert schema.secrets and all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) for name in schema.secrets)
    # Concurrency-based autoscaling: BentoCloud adds a replica past this many requests in flight.
    concurrency = service.config_overrides["traffic"]["concurrency"]
    assert 1 <= concurrency <= int(envs["TWIN_MAX_CONCURRENCY"])
    assert int(service.config_overrides["traffic"]["timeout"]) == int(envs["TWIN_REQUEST_TIMEOUT_S"])


# --- the Bento --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build_config():
    from bentoml._internal.bento.build_config import BentoBuildConfig

    with BENTOFILE.open(encoding="utf-8") as f:
        return BentoBuildConfig.from_yaml(f)  # BentoML's own schema: unknown keys fail


def test_bentofile_names_the_service(build_config):
    assert build_config.service == SERVICE_PATH
    module, _, attribute = build_config.service.partition(":")
    assert re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module) and attribute.isidentifier()
    assert "bento/**" in build_config.include
    if SERVICE_FILE.exists():
        assert re.search(rf"^class {attribute}\b", SERVICE_FILE.read_text(encoding="utf-8"), re.MULTILINE)


def test_bentofile_includes_exist_and_excludes_hold(build_config):
    from bentoml._internal.bento.build_config import BentoPathSpec

    spec = BentoPathSpec(build_config.include, build_config.exclude, str(REPO))
    # The folders the includes reach; walking the whole repository would walk .venv.
    roots = {pattern.split("/", 1)[0].rstrip("*") for pattern in build_config.include}
    files = [
        path.relative_to(REPO).as_posix()
        for root in roots if (REPO / root).exists()
        for path in ([REPO / root] if (REPO / root).is_file() else (REPO / root).rglob("*"))
        if path.is_file()
    ]
    for pattern in build_config.include:
        if pattern == "bento/**" and not (REPO / "bento").exists():
            continue  # the service is being written; the build test covers it once it exists
        assert any(spec.include.match_file(path) for path in files), f"include {pattern!r} matches no file"
    included = [path for path in files if spec.includes(path)]
    for path in included:
        top = path.split("/", 1)[0]
        assert top not in {"tests", ".twin", ".venv", "gpu"}, path
        assert "__pycache__" not in path and not path.startswith("twin_dbt/target/"), path
        # BentoML warns above 10 MiB: large files are data, which belongs in TWIN_HOME.
        assert (REPO / path).stat().st_size <= 10 * 1024 * 1024, path
    for probe in ("tests/conftest.py", ".twin/lake/x.parquet", "gpu/bench.py", "twin_dbt/target/manifest.json",
                  "twin_assets/__pycache__/settings.cpython-311.pyc"):
        assert not spec.includes(probe), probe


def test_bentofile_environment(build_config):
    envs = {env.name: env.value for env in build_config.envs}
    assert envs == {"BENTOML_DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1", "TWIN_SERVE_HOST": "0.0.0.0"}
    assert build_config.docker.python_version == "3.11"
    # Pinned file, no locking: the build neither resolves nor downloads anything.
    assert build_config.python.requirements_txt == REQUIREMENTS.relative_to(REPO).as_posix()
    assert build_config.python.lock_packages is False


def test_bento_requirements_are_exact_pins_only():
    for number, line in enumerate(REQUIREMENTS.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            # No -c/-r/-e/paths (BentoML would inline or mis-resolve them), no ranges.
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", line), f"line {number}: {line}"
    # BentoML appends its own pin; a second one could disagree with the BentoML that built the Bento.
    assert "bentoml" not in pins(REQUIREMENTS)


def test_bento_requirements_cover_the_project_and_serving():
    pinned = pins(REQUIREMENTS)
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    for dependency in map(Requirement, project):
        name = canonicalize_name(dependency.name)
        if name == "bentoml":
            # Not pinned here: `bentoml build` appends the version that runs it, this one.
            assert dependency.specifier.contains(metadata.version("bentoml"), prereleases=True)
            continue
        assert name in pinned, f"{dependency} (pyproject.toml) is not pinned in {REQUIREMENTS.name}"
        assert dependency.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]} vs {dependency}"
    for name in SERVING_PACKAGES:
        assert canonicalize_name(name) in pinned, name


def test_bento_requirements_agree_with_constraints():
    pinned, constrained = pins(REQUIREMENTS), pins(REPO / "constraints.txt")
    stale = {
        name: (version, constrained[name])
        for name, version in pinned.items()
        if name in constrained and name not in FORCED_BY_BENTOML
        # Only the local label may differ (torch: 2.13.0+cpu here, the CUDA wheel in the image).
        and Version(version).public != Version(constrained[name]).public
    }
    assert not stale, f"bento-requirements.txt vs constraints.txt: {stale}"


def test_bento_requirements_are_closed_and_consistent():
    """Each pinned package that is installed here at its pinned version has all of its own
    requirements (on Linux, Python 3.11) pinned too, at versions it accepts."""
    pinned = pins(REQUIREMENTS)
    problems = []
    for name, version in pinned.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(dist.version).public != Version(version).public:
            continue  # another version here: its requirements may differ
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({**LINUX_PY311, "extra": ""}):
                continue
            needed = canonicalize_name(requirement.name)
            if needed == "bentoml":
                continue
            if needed not in pinned:
                problems.append(f"{name} needs {requirement}: not pinned")
            elif not requirement.specifier.contains(pinned[needed], prereleases=True):
                problems.append(f"{name} needs {requirement}: pinned {pinned[needed]}")
    assert not problems, "\n".join(problems)


# --- CI ---------------------------------------------------------------------------------------


def test_workflow_runs_the_readme_tests_then_builds_the_bento():
    workflow = load_one(WORKFLOW)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    # .ci/run is the README's test command (`make test`); CI calls it rather than repeating it.
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in (REPO / "README.md").read_text(encoding="utf-8")
    for job in workflow["jobs"].values():
        runs = [step.get("run", "") for step in job["steps"]]
        ci = [i for i, run in enumerate(runs) if "bash .ci/run" in run]
        build = [i for i, run in enumerate(runs) if "bentoml build" in run]
        if ci:
            break
    else:
        pytest.fail("no job runs `bash .ci/run`")
    assert "ubuntu" in job["runs-on"]
    image = job.get("container", "")
    image = image.get("image", "") if isinstance(image, dict) else image
    uses = " ".join(str(step.get("with", {}).get("python-version", "")) for step in job["steps"])
    assert "3.11" in image or "3.11" in uses, "Python 3.11"
    assert any("install" in run and "chromium" in run for run in runs), "Chromium for the web UI tests"
    assert build and build[0] > ci[0], "bentoml build runs after the tests, with the .venv they set up"
    assert ".venv/bin/bentoml build" in runs[build[0]]


# --- the real build ---------------------------------------------------------------------------


@pytest.mark.skipif(not SERVICE_FILE.exists(), reason="bento/service.py is not written yet")
def test_bentoml_build(tmp_path):
    """`bentoml build` imports bento/service.py (for the service's name, config and API schema)
    without instantiating it: with an empty TWIN_HOME and no network it must still succeed."""
    twin_home = tmp_path / "twin-home"
    twin_home.mkdir()
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "TWIN_HOME": str(twin_home),
        "HF_HUB_OFFLINE": "1",
    }
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml_cli)] if bentoml_cli.exists() else [sys.executable, "-m", "bentoml"]
    result = subprocess.run(
        [*command, "build", "--output", "tag"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tag = re.search(r"__tag__:(\S+)", result.stdout)
    assert tag, result.stdout
    name, version = tag.group(1).split(":")
    assert name == SERVICE_NAME

    bento = tmp_path / "bentoml" / "bentos" / name / version
    assert (bento / "src" / "bento" / "service.py").is_file()
    assert (bento / "src" / "twin_assets" / "settings.py").is_file()
    assert (bento / "src" / "twin.yaml").is_file()
    assert not (bento / "src" / "tests").exists() and not (bento / "src" / ".twin").exists()

    info = yaml.safe_load((bento / "bento.yaml").read_text(encoding="utf-8"))
    assert info["service"] == SERVICE_PATH
    assert info["entry_service"] == SERVICE_NAME  # the key deploy/bentocloud.yaml's services use
    assert {"BENTOML_DO_NOT_TRACK", "HF_HUB_OFFLINE", "TWIN_SERVE_HOST"} <= {env["name"] for env in info["envs"]}
    requirements = pins(bento / "env" / "python" / "requirements.txt")
    assert requirements["torch"] == pins(REQUIREMENTS)["torch"]
    assert requirements["bentoml"] == metadata.version("bentoml")
    # The build imported the service but loaded nothing into TWIN_HOME.
    assert not any(twin_home.iterdir())
