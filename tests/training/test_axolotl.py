"""The training config rendered as Axolotl YAML, the request the Axolotl process receives, and the
pod a cluster would run it in. Pure: Axolotl's own validation of these renders runs in
tests/training/test_axolotl_env.py, inside Axolotl's environment."""

from pathlib import Path

import pytest
import yaml

from training.axolotl import LIGER_KEYS, LIGER_PLUGIN, LORA_KERNEL_KEYS, render_stage, to_yaml
from training.axolotl_run import AxolotlRequest, axolotl_error, step_losses
from training.config import DpoStage, TrainingConfig
from training.data import INSTRUCT_DATASET, PREFERENCE_DATASET, DatasetRef
from training.presets import PRESETS
from training.prompts import CHATML_TEMPLATE
from training.run import BaseModelRef, version_name

DATASETS = Path("/data/datasets")
INSTRUCT = DatasetRef.at(DATASETS, INSTRUCT_DATASET, 3)
PREFERENCE = DatasetRef.at(DATASETS, PREFERENCE_DATASET, 2)


def render(config, stage="sft", **options):
    settings = dict(base_model=config.base_model, chat_template_jinja=CHATML_TEMPLATE,
                    dataset=INSTRUCT if stage == "sft" else PREFERENCE, output_dir=Path("/out") / stage,
                    device="cuda", precision="bf16", sft_adapter=Path("/out/sft/adapter") if stage == "dpo" else None)
    return render_stage(config, stage, **{**settings, **options})


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_renders_its_settings_into_the_sft_stage(name):
    config = TrainingConfig.from_preset(name, dataset_size="small")
    rendered = render(config)
    assert rendered["base_model"] == config.base_model and rendered["adapter"] == config.adapter
    assert rendered["load_in_4bit"] == (config.adapter == "qlora")
    assert rendered["lora_target_modules"] == config.lora_target_modules
    for key in ("lora_r", "lora_alpha", "lora_dropout", "sequence_len", "sample_packing", "micro_batch_size",
                "gradient_accumulation_steps", "learning_rate", "num_epochs", "gradient_checkpointing", "optimizer",
                "lr_scheduler", "seed", "save_steps"):
        assert rendered[key] == getattr(config, key), key
    assert (rendered.get("plugins") == [LIGER_PLUGIN]) == config.liger
    assert all(rendered.get(key) is True for key in LIGER_KEYS) == config.liger
    # Same data, prompt format and loss mask as the local trainer: the author's turn is the only target.
    [train] = rendered["datasets"]
    assert train["path"] == "/data/datasets/instruct_dataset/v3/small/train.chat.jsonl"
    assert (train["type"], train["field_messages"], train["roles_to_train"]) == ("chat_template", "messages", ["assistant"])
    assert rendered["test_datasets"][0]["path"].endswith("/v3/small/test.chat.jsonl")
    assert (rendered["chat_template"], rendered["chat_template_jinja"]) == ("jinja", CHATML_TEMPLATE)
    assert rendered["output_dir"] == "/out/sft" and rendered["auto_resume_from_checkpoints"] is True
    assert yaml.safe_load(to_yaml(rendered)) == rendered


@pytest.mark.parametrize("name", list(PRESETS))
def test_the_dpo_stage_continues_the_sft_adapter_on_the_preference_export(name):
    config = TrainingConfig.from_preset(name, dataset_size="tiny", dpo=DpoStage(beta=0.2, learning_rate=1e-6, max_steps=7))
    rendered = render(config, "dpo")
    assert (rendered["rl"], rendered["rl_beta"], rendered["learning_rate"], rendered["max_steps"]) == ("dpo", 0.2, 1e-6, 7)
    assert rendered["lora_model_dir"] == "/out/sft/adapter"
    [train] = rendered["datasets"]
    assert train["path"] == "/data/datasets/preference_dataset/v2/tiny/train.chat.jsonl"
    assert (train["type"], train["field_messages"], train["field_chosen"], train["field_rejected"]) == \
        ("chat_template.default", "prompt", "chosen", "rejected")


def test_a_dpo_stage_without_dpo_settings_or_an_sft_adapter_is_refused():
    with pytest.raises(ValueError, match="needs the config's dpo settings and the SFT adapter"):
        render(TrainingConfig(), "dpo")
    with pytest.raises(ValueError, match="SFT adapter"):
        render(TrainingConfig(dpo=DpoStage()), "dpo", sft_adapter=None)


def test_cpu_renders_switch_off_half_precision_and_axolotls_cuda_kernels():
    on_cpu = render(TrainingConfig(), device="cpu", precision="fp32")
    assert (on_cpu["bf16"], on_cpu["fp16"]) == (False, False)
    assert all(on_cpu[key] is False for key in LORA_KERNEL_KEYS)
    on_gpu = render(TrainingConfig())
    assert on_gpu["bf16"] is True and not any(key in on_gpu for key in LORA_KERNEL_KEYS)  # Axolotl's default: on


def test_without_a_test_split_nothing_evaluates():
    rendered = render(TrainingConfig(), evaluates=False)
    assert "test_datasets" not in rendered and rendered["eval_strategy"] == "no"


def test_tracking_renders_axolotls_mlflow_keys():
    rendered = render(TrainingConfig(), tracking={"tracking_uri": "sqlite:////home/mlflow/mlflow.db",
                                                  "experiment_name": "twin-mara", "run_name": "v1 sft (axolotl)"})
    assert (rendered["mlflow_tracking_uri"], rendered["mlflow_experiment_name"], rendered["mlflow_run_name"]) == \
        ("sqlite:////home/mlflow/mlflow.db", "twin-mara", "v1 sft (axolotl)")
    assert not any(key.startswith("mlflow_") for key in render(TrainingConfig()))


def test_the_same_config_trained_by_axolotl_is_another_version_and_local_names_do_not_change():
    config, base = TrainingConfig(dataset_size="tiny"), BaseModelRef("/base", "tiny@abc")
    local = version_name(config, base, INSTRUCT)
    assert version_name(config, base, INSTRUCT, backend="local") == local
    assert version_name(config, base, INSTRUCT, backend="axolotl") != local
    assert version_name(config, base, INSTRUCT, backend="axolotl").startswith("tiny-sft-")


def request(home: Path) -> AxolotlRequest:
    return AxolotlRequest(
        TrainingConfig(dataset_size="tiny", dpo=DpoStage()), BaseModelRef(str(home / "models/base/tiny"), "tiny@abc"),
        DatasetRef.at(home / "datasets", INSTRUCT_DATASET, 4), DatasetRef.at(home / "datasets", PREFERENCE_DATASET, 1),
        home / "models", "tiny-sft-dpo-0123",
        {"tracking_uri": f"sqlite:///{home}/mlflow/mlflow.db", "experiment_name": "twin-mara", "parent_run_id": "r1"},
    )


def test_a_request_survives_the_trip_to_the_external_process():
    sent = request(Path("/srv/twin"))
    assert AxolotlRequest.from_dict(sent.to_dict()) == sent


def test_a_request_for_a_pod_moves_every_path_under_twin_home_to_the_mount():
    moved = request(Path("/srv/twin")).relocated(Path("/srv/twin"), Path("/twin-home"))
    assert str(moved.base.location) == "/twin-home/models/base/tiny" and moved.models_dir == Path("/twin-home/models")
    assert moved.instruct.folder == Path("/twin-home/datasets/instruct_dataset/v4")
    assert moved.preference.folder == Path("/twin-home/datasets/preference_dataset/v1")
    assert moved.tracking["tracking_uri"] == "sqlite:////twin-home/mlflow/mlflow.db"
    assert (moved.version, moved.config, moved.instruct.version) == ("tiny-sft-dpo-0123", request(Path("/x")).config, 4)
    hub = AxolotlRequest(TrainingConfig(), BaseModelRef("meta-llama/Llama-3.1-8B-Instruct", "id"), INSTRUCT, None,
                         Path("/srv/twin-other/models"), "v", None)
    kept = hub.relocated(Path("/srv/twin"), Path("/twin-home"))
    assert kept.base.location == "meta-llama/Llama-3.1-8B-Instruct" and kept.models_dir == Path("/srv/twin-other/models")


def test_step_lines_are_read_from_axolotls_output_and_other_lines_are_not():
    line = " 25%|##| 1/4 [00:00<00:00] {'loss': '6.144', 'grad_norm': '0.92', 'learning_rate': '0.0001707', 'epoch': '0.33'}"
    assert step_losses(line) == {"loss": 6.144, "grad_norm": 0.92, "learning_rate": 0.0001707, "epoch": 0.33}
    assert step_losses("[INFO] Starting trainer...") is None
    assert step_losses("{'loss': broken") is None


def test_axolotls_error_is_the_last_exception_line_of_its_output():
    tail = ["Traceback (most recent call last):", '  File "x.py", line 1', "ValueError: first", "", "  raise",
            "ValueError: Target modules {'x'} not found in the base model.", "  0%|   | 0/4"]
    assert axolotl_error(tail) == "ValueError: Target modules {'x'} not found in the base model."
    assert axolotl_error(["just a line", ""]) == "just a line"
    assert axolotl_error([]) == "no output"
