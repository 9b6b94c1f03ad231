"""The Kubernetes launcher of the Axolotl backend: the pod it asks for, checked by dagster-k8s's own
pod builder (no cluster runs here)."""

from dagster_k8s.pipes import build_pod_body

from twin_assets.models.axolotl import AxolotlResource


def test_the_pod_asks_for_gpus_mounts_twin_home_and_takes_secrets_by_reference(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_from_this_machine")
    resource = AxolotlResource(launcher="k8s", image="registry.example/llm-twin-axolotl:0.19.0", gpus=2,
                               home_claim="twin-home-pvc", node_selector={"gpu": "h100"})
    pod = build_pod_body(
        pod_name="twin-model-axolotl", image=resource.image, command=["python", "-m", "training.axolotl_run"],
        env_vars={"DAGSTER_PIPES_CONTEXT": "ctx", "DAGSTER_PIPES_MESSAGES": "msgs"}, base_pod_meta=None,
        base_pod_spec=resource.pod_spec(),
    )
    [container] = pod.spec.containers
    assert container.image == "registry.example/llm-twin-axolotl:0.19.0"
    assert container.command == ["python", "-m", "training.axolotl_run"]
    assert container.resources.limits["nvidia.com/gpu"] == "2" and container.resources.requests["nvidia.com/gpu"] == "2"
    env = {e.name: e for e in container.env}
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES", "TWIN_HOME", "HF_TOKEN"} <= set(env)
    assert env["HF_TOKEN"].value is None and env["HF_TOKEN"].value_from.secret_key_ref.name == "llm-twin"
    assert "hf_secret_value_from_this_machine" not in str(pod.to_dict())  # secrets never travel in the spec
    mounts = {m.name: m.mount_path for m in container.volume_mounts}
    assert mounts["twin-home"] == "/twin-home" == env["TWIN_HOME"].value
    claims = {v.name: v.persistent_volume_claim for v in pod.spec.volumes}
    assert claims["twin-home"].claim_name == "twin-home-pvc"
    assert pod.spec.restart_policy == "Never" and pod.spec.node_selector == {"gpu": "h100"}
