"""Inside Axolotl's own environment (`make axolotl`; `make test` creates it): Axolotl accepts what
every preset renders, and a run killed mid-training resumes from its last checkpoint."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from training.axolotl import render_stage, to_yaml
from training.axolotl_run import AxolotlRequest
from training.config import DpoStage, TrainingConfig
from training.data import INSTRUCT_DATASET, DatasetRef
from training.presets import PRESETS
from training.prompts import CHATML_TEMPLATE, chat_messages
from training.run import BaseModelRef, read_twin

AXOLOTL_PYTHON = REPO_ROOT / ".venv-axolotl" / "bin" / "python"
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "AXOLOTL_DO_NOT_TRACK": "1"}

VALIDATE = """
import json, sys, yaml
from axolotl.utils.config import validate_config
from axolotl.utils.dict import DictDefault
gpu = {"bf16": True, "fp8": False, "n_gpu": 1, "compute_capability": "sm_90"}
for path in sys.argv[1:]:
    checked = validate_config(DictDefault(yaml.safe_load(open(path))), capabilities=gpu,
                              env_capabilities={"torch_version": "2.11.0"})
    print(json.dumps({"file": path, "adapter": checked.adapter, "load_in_4bit": bool(checked.load_in_4bit),
                      "rl": str(checked.rl) if checked.rl else None, "sequence_len": checked.sequence_len,
                      "plugins": checked.plugins or []}))
"""


@pytest.fixture(scope="module")
def axolotl_python() -> Path:
    if not AXOLOTL_PYTHON.is_file():
        pytest.fail(f"Axolotl's environment is missing ({AXOLOTL_PYTHON}): run `make axolotl` (make test does)")
    return AXOLOTL_PYTHON


def test_axolotl_accepts_what_every_preset_renders_for_both_stages(axolotl_python, tmp_path):
    dataset = DatasetRef.at(tmp_path / "datasets", INSTRUCT_DATASET, 1)
    expected = {}
    for name in PRESETS:
        config = TrainingConfig.from_preset(name, dpo=DpoStage())
        for stage in ("sft", "dpo"):
            rendered = render_stage(config, stage, base_model=config.base_model, chat_template_jinja=CHATML_TEMPLATE,
                                    dataset=dataset, output_dir=tmp_path / name / stage, device="cuda", precision="bf16",
                                    sft_adapter=tmp_path / name / "sft" / "adapter")
            path = tmp_path / f"{name}-{stage}.yml"
            path.write_text(to_yaml(rendered))
            expected[str(path)] = (config.adapter, config.adapter == "qlora", stage == "dpo", config.sequence_len, config.liger)
    out = subprocess.run([str(axolotl_python), "-c", VALIDATE, *expected], env=ENV, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    checked = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(checked) == len(expected) == 2 * len(PRESETS)
    for result in checked:
        adapter, four_bit, dpo, sequence_len, liger = expected[result["file"]]
        assert (result["adapter"], result["load_in_4bit"], result["sequence_len"]) == (adapter, four_bit, sequence_len)
        assert ("dpo" in (result["rl"] or "").lower()) == dpo
        assert bool(result["plugins"]) == liger


def write_chat_export(dataset: DatasetRef, size: str, count: int) -> None:
    folder = dataset.folder / size
    folder.mkdir(parents=True)
    for split, rows in (("train", count), ("test", 2)):
        with (folder / f"{split}.chat.jsonl").open("w") as out:
            for i in range(rows):
                answer = f"Note {i} from the {split} split: pipelines fail quietly, so measure what they write."
                out.write(json.dumps({"messages": chat_messages(f"Write note {i}.", answer)}) + "\n")


def test_a_run_killed_mid_training_resumes_from_its_last_checkpoint(axolotl_python, tiny_base_model, tmp_path):
    dataset = DatasetRef.at(tmp_path / "datasets", INSTRUCT_DATASET, 1)
    write_chat_export(dataset, "tiny", 24)
    config = TrainingConfig.from_preset("tiny-llama", dataset_size="tiny", max_steps=40, save_steps=2, micro_batch_size=1,
                                        gradient_accumulation_steps=1, sequence_len=256)
    request = AxolotlRequest(config, BaseModelRef(str(tiny_base_model), "tiny@test"), dataset, None,
                             tmp_path / "models", "tiny-sft-resume")
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request.to_dict()))
    command = [str(axolotl_python), "-m", "training.axolotl_run", str(request_file)]
    checkpoints = tmp_path / "models" / "twin" / "tiny-sft-resume.work" / "sft" / "axolotl"

    first = subprocess.Popen(command, env=ENV, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("checkpoint-*/trainer_state.json")) and first.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # Axolotl and its children, as a crash or an evicted pod would end
    first.wait()
    assert read_twin(tmp_path / "models", "tiny-sft-resume") is None  # a killed run leaves no version behind

    second = subprocess.run(command, env=ENV, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert "resuming from checkpoint-" in second.stdout
    twin = read_twin(tmp_path / "models", "tiny-sft-resume")
    sft = twin.card["stages"]["sft"]
    assert sft["resumed_from_step"] >= 2 and sft["steps"] == 40 and twin.card["backend"] == "axolotl"
    assert [p["step"] for p in sft["loss_history"]] == list(range(1, 41))  # the history spans the kill
    assert (twin.folder / "merged" / "model.safetensors").is_file()
    assert not (tmp_path / "models" / "twin" / "tiny-sft-resume.work").exists()
