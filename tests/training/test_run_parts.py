"""The small pure parts of a training run: precision, chat template, checkpoints, version names,
the stage summary and reading the exports."""

import re
import subprocess
from pathlib import Path

import pytest

from training.config import DpoStage, TrainingConfig
from training.data import DatasetRef, prompt_completion, read_jsonl
from training.prompts import CHATML_TEMPLATE, chat_messages
from training.run import BaseModelRef, git_commit, stage_summary, version_name
from training.runtime import TRAINER_STATE, batch_shape, chat_template_for, last_complete_checkpoint, resolve_precision


@pytest.mark.parametrize(
    ("requested", "cuda", "bf16", "expected"),
    [("auto", False, False, "fp32"), ("auto", True, True, "bf16"), ("auto", True, False, "fp16"),
     ("fp32", True, True, "fp32"), ("bf16", False, False, "bf16"), ("fp16", True, False, "fp16")],
)
def test_precision_follows_the_device(requested, cuda, bf16, expected):
    assert resolve_precision(requested, cuda, bf16) == expected


def test_on_cpu_the_effective_batch_goes_one_sample_at_a_time():
    config = TrainingConfig(micro_batch_size=8, gradient_accumulation_steps=2)
    assert batch_shape(config, "cpu") == (1, 16)
    assert batch_shape(config, "cuda") == (8, 2)


def test_fp16_on_cpu_is_refused():
    with pytest.raises(ValueError, match="precision: fp16"):
        resolve_precision("fp16", False, False)


def test_the_chat_template_is_the_tokenizers_unless_it_has_none_or_chatml_is_asked_for():
    own = "{{ messages }}"
    assert chat_template_for("tokenizer_default", own) == own
    assert chat_template_for("tokenizer_default_fallback_chatml", own) == own
    assert chat_template_for("tokenizer_default_fallback_chatml", None) == CHATML_TEMPLATE
    assert chat_template_for("chatml", own) == CHATML_TEMPLATE
    with pytest.raises(ValueError, match="chat_template"):
        chat_template_for("tokenizer_default", None)


def test_resuming_picks_the_newest_checkpoint_that_was_written_to_the_end(tmp_path):
    assert last_complete_checkpoint(tmp_path / "none yet") is None
    for step, complete in ((2, True), (10, True), (12, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / TRAINER_STATE).write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-10"  # numerically, not as text ("2" > "10")


BASE = BaseModelRef(location="/models/a", identity="local:tiny-llama@abc.def")
INSTRUCT = DatasetRef.at(Path("/home/datasets"), "instruct_dataset", 3)
PAIRS = DatasetRef.at(Path("/home/datasets"), "preference_dataset", 4)


def test_the_version_name_depends_on_what_determines_the_weights_only():
    config = TrainingConfig(dataset_size="tiny")
    name = version_name(config, BASE, INSTRUCT)
    assert re.fullmatch(r"tiny-sft-[0-9a-f]{12}", name)
    moved = (BaseModelRef("/elsewhere", BASE.identity), DatasetRef.at(Path("/other/home"), "instruct_dataset", 3))
    assert version_name(config, *moved) == name
    assert version_name(config, BASE, INSTRUCT, PAIRS) == name  # no DPO stage: the pairs do not matter
    changed = [
        version_name(config.model_copy(update={"lora_r": 8}), BASE, INSTRUCT),
        version_name(config, BaseModelRef(BASE.location, "local:tiny-llama@abc.xyz"), INSTRUCT),
        version_name(config, BASE, DatasetRef.at(Path("/home/datasets"), "instruct_dataset", 4)),
    ]
    assert len({name, *changed}) == 4


def test_a_dpo_run_is_named_by_its_preference_version_too():
    config = TrainingConfig(dataset_size="small", dpo=DpoStage())
    name = version_name(config, BASE, INSTRUCT, PAIRS)
    assert name.startswith("small-sft-dpo-")
    assert version_name(config, BASE, INSTRUCT, DatasetRef.at(Path("/d"), "preference_dataset", 5)) != name


def test_the_stage_summary_keeps_every_step_and_evaluation():
    history = [
        {"loss": 3.0, "learning_rate": 1e-3, "num_input_tokens_seen": 100, "step": 1},
        {"loss": 2.0, "learning_rate": 1e-3, "num_input_tokens_seen": 200, "step": 2},
        {"eval_loss": 2.5, "step": 2},
        {"train_runtime": 1.0, "train_loss": 2.5, "step": 2},
    ]
    summary = stage_summary(history, 2.5, tokens_seen=200, session_tokens=100, session_seconds=4.0, resumed_from_step=1)
    assert summary["steps"] == 2 and summary["train_loss"] == 2.5 and summary["tokens_per_second"] == 25.0
    assert [s["step"] for s in summary["loss_history"]] == [1, 2] and summary["loss_history"][1]["tokens_seen"] == 200
    assert summary["eval_history"] == [{"step": 2, "eval_loss": 2.5}] and summary["resumed_from_step"] == 1


def test_a_chat_sample_becomes_a_prompt_and_the_authors_completion():
    pair = prompt_completion({"messages": chat_messages("Write a post.", "The author's text.")})
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
    assert pair["completion"] == [{"role": "assistant", "content": "The author's text."}]
    with pytest.raises(ValueError, match="assistant"):
        prompt_completion({"messages": chat_messages("Write a post.")})


def test_a_missing_export_names_its_path(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "tiny" / "train.chat.jsonl"))):
        read_jsonl(DatasetRef(name="instruct_dataset", version=1, folder=tmp_path).export_file("tiny", "train"))


def test_the_code_version_is_this_checkouts_commit():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    assert git_commit() == (head.stdout.strip() if head.returncode == 0 else None)
