"""TrainingConfig: validation that names the field, presets as one setting, a stable hash."""

import json

import pytest
from pydantic import ValidationError

from training.config import DpoStage, TrainingConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lora_r", 0), ("lora_dropout", 1.0), ("adapter", "full"), ("precision", "fp8"), ("dataset_size", "huge"),
        ("learning_rate", -1e-4), ("max_steps", 0), ("micro_batch_size", 0), ("warmup_ratio", 1.5),
        ("lora_target_modules", []), ("lora_target_modules", ["q_proj", " "]), ("chat_template", "alpaca"),
        ("save_steps", 0), ("lr_scheduler", "cyclic"),
    ],
)
def test_a_bad_value_fails_naming_its_field(field, value):
    with pytest.raises(ValidationError) as error:
        TrainingConfig(**{field: value})
    assert [e["loc"][0] for e in error.value.errors()] == [field]


def test_an_unknown_key_fails_naming_it():
    with pytest.raises(ValidationError, match="lora_rank"):
        TrainingConfig(lora_rank=8)
    with pytest.raises(ValidationError, match="dpo.gamma"):
        TrainingConfig(dpo={"gamma": 1})


def test_a_preset_decides_family_and_size_and_overrides_win():
    config = TrainingConfig.from_preset("qwen2.5-32b", learning_rate=1e-4, dataset_size="small")
    assert (config.preset, config.base_model, config.adapter) == ("qwen2.5-32b", "Qwen/Qwen2.5-32B-Instruct", "qlora")
    assert config.gradient_checkpointing and config.lora_target_modules[0] == "q_proj"
    assert (config.learning_rate, config.dataset_size) == (1e-4, "small")
    assert TrainingConfig.from_preset("llama-3.1-8b", adapter="qlora").adapter == "qlora"


def test_an_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="preset: unknown preset 'llama-4'.*llama-3.1-8b"):
        TrainingConfig.from_preset("llama-4")


def test_the_hash_is_the_same_however_the_config_was_written():
    one = TrainingConfig(lora_r=8, learning_rate=1e-3, dpo=DpoStage(beta=0.2))
    other = TrainingConfig(dpo={"beta": 0.2}, learning_rate=1e-3, lora_r=8)
    assert one.config_hash() == other.config_hash()
    assert len(one.config_hash()) == 64 and int(one.config_hash(), 16)
    again = TrainingConfig(**json.loads(json.dumps(one.to_dict())))
    assert again == one and again.config_hash() == one.config_hash()


@pytest.mark.parametrize("change", [{"lora_r": 9}, {"seed": 1}, {"dpo": {"beta": 0.3}}, {"dataset_size": "tiny"}])
def test_any_change_changes_the_hash(change):
    assert TrainingConfig(**change).config_hash() != TrainingConfig().config_hash()


def test_the_record_is_plain_json():
    record = TrainingConfig.from_preset("mistral-7b", dpo=DpoStage()).to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["dpo"]["beta"] == 0.1 and record["sequence_len"] == 2048 and record["lora_r"] == 16
