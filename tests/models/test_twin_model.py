"""twin_model in Dagster: trains from the demo datasets, tracks, registers, and trains nothing twice."""

import dagster as dg
import polars as pl
import pytest

from tests.test_pipeline import PIPELINE, materialization, pipeline_resources
from twin_assets.lake import INSTRUCT_DATASET, MODEL_EVALUATION
from twin_assets.models.assets import TrainingResource, twin_model
from twin_assets.models.evaluation_assets import EvaluationResource, model_evaluation, production_model
from twin_assets.models.registry import get_version_by_alias, list_versions, production_history

FAST_SETTINGS = dict(dataset_size="tiny", max_steps=3, micro_batch_size=2, sequence_len=256, learning_rate=1e-3)
FAST = TrainingResource(**FAST_SETTINGS)


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    """The demo corpus through the datasets, once for the tests below."""
    tmp_path = tmp_path_factory.mktemp("twin")
    resources = pipeline_resources(tmp_path)
    assert dg.materialize(PIPELINE, resources=resources).success
    return tmp_path, resources


def test_twin_model_trains_tracks_registers_and_a_rerun_trains_nothing(built_home):
    tmp_path, resources = built_home
    resources = {**resources, "training": FAST}
    result = dg.materialize([*PIPELINE, twin_model], resources=resources, selection="twin_model")
    assert result.success
    card = materialization(result, "twin_model")
    assert card["trained_now"].value and card["author"].value == "mara"
    assert card["instruct_dataset_version"].value == resources["lake"].lake().version(INSTRUCT_DATASET)
    assert card["train_loss"].value > 0 and card["tokens_seen"].value > 0 and card["device"].value == "cpu"
    assert card["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    assert card["mlflow_run"].value.startswith("http://127.0.0.1:5000/#/experiments/")
    home = tmp_path / "home"
    folder = home / "models" / "twin" / card["version"].value
    assert {"adapter", "merged", "card.json", "loss_curve.png"} <= {p.name for p in folder.iterdir()}

    candidate = get_version_by_alias(home, "mara", "candidate")
    assert candidate is not None and (candidate.path / "card.json").is_file()
    assert candidate.tags["twin_version"] == card["version"].value
    assert candidate.tags["dataset.instruct_dataset"] == str(card["instruct_dataset_version"].value)
    assert candidate.tags["dagster_run_id"] == result.run_id and candidate.tags["config_hash"]

    again = dg.materialize([*PIPELINE, twin_model], resources=resources, selection="twin_model")
    assert again.success and not materialization(again, "twin_model")["trained_now"].value
    assert len(list_versions(home, "mara")) == 1  # the same inputs are never trained or registered twice


def test_bad_training_settings_fail_before_training_and_register_nothing(built_home):
    tmp_path, resources = built_home
    before = len(list_versions(tmp_path / "home", "mara"))
    bad = {**resources, "training": TrainingResource(dataset_size="huge")}
    result = dg.materialize([*PIPELINE, twin_model], resources=bad, selection="twin_model", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "invalid training settings" in failure and "dataset_size" in failure
    assert len(list_versions(tmp_path / "home", "mara")) == before


AXOLOTL_SETTINGS = {**FAST_SETTINGS, "backend": "axolotl"}
AXOLOTL = TrainingResource(**AXOLOTL_SETTINGS)


def _runs_of(home, author):
    from training.tracking import mlflow_client, mlflow_experiment

    client = mlflow_client(home)
    return client.search_runs([mlflow_experiment(client, home, author)])


def test_the_axolotl_backend_trains_the_same_config_beside_the_local_version_through_pipes(built_home):
    tmp_path, resources = built_home
    home = tmp_path / "home"
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([*PIPELINE, twin_model], resources={**resources, "training": AXOLOTL}, selection="twin_model",
                            instance=instance)
    assert result.success
    card = materialization(result, "twin_model")
    assert card["backend"].value == "axolotl" and card["trained_now"].value
    folder = home / "models" / "twin" / card["version"].value
    assert {"adapter", "merged", "card.json", "loss_curve.png"} <= {p.name for p in folder.iterdir()}
    assert (folder / "adapter" / "adapter_model.safetensors").is_file() and (folder / "merged" / "config.json").is_file()
    assert card["train_loss"].value > 0 and card["tokens_seen"].value > 0

    # What the external process reported through Pipes: its log lines and its materialization.
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(message.startswith("sft step 1: loss") for message in logged)
    assert card["reported_axolotl_version"].value == "0.19.0" and card["reported_device"].value == "cpu"
    candidate = get_version_by_alias(home, "mara", "candidate")
    assert candidate.tags["twin_version"] == card["version"].value and candidate.tags["dagster_run_id"] == result.run_id
    assert candidate.tags["backend"] == "axolotl"

    # Axolotl's own MLflow run is a child of the asset's run, which holds the per-step losses too.
    runs = _runs_of(home, "mara")
    parent = next(r for r in runs if r.data.tags.get("twin_version") == card["version"].value)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert children and "sft/loss" in parent.data.metrics

    again = dg.materialize([*PIPELINE, twin_model], resources={**resources, "training": AXOLOTL}, selection="twin_model")
    assert again.success and not materialization(again, "twin_model")["trained_now"].value


def test_a_failing_axolotl_run_fails_the_asset_with_axolotls_error_and_registers_nothing(built_home):
    tmp_path, resources = built_home
    home = tmp_path / "home"
    before = len(list_versions(home, "mara"))
    too_short = TrainingResource(**{**AXOLOTL_SETTINGS, "sequence_len": 16})  # every sample is longer: Axolotl has nothing to train on
    result = dg.materialize([*PIPELINE, twin_model], resources={**resources, "training": too_short},
                            selection="twin_model", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    text = str(failure.message) + str(failure.cause.message if failure.cause else "")
    assert "Axolotl training of" in text and "num_samples" in text
    assert len(list_versions(home, "mara")) == before
    assert not [p for p in (home / "models" / "twin").iterdir() if p.is_dir() and not p.name.endswith(".work")
                and not (p / "card.json").is_file()]


def test_without_axolotls_environment_the_asset_says_how_to_create_it(built_home):
    from twin_assets.models.axolotl import AxolotlResource

    tmp_path, resources = built_home
    missing = {**resources, "training": TrainingResource(**{**AXOLOTL_SETTINGS, "learning_rate": 5e-4}),
               "axolotl": AxolotlResource(python=str(tmp_path / "no-env" / "bin" / "python"))}
    result = dg.materialize([*PIPELINE, twin_model], resources=missing, selection="twin_model", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "make axolotl" in failure


EVALUATION = dict(max_samples=3, max_new_tokens=16, pool_words=40)
LENIENT = EvaluationResource(**EVALUATION, perplexity_margin=-1.0, style_margin=-2.0, max_memorisation=1.0)
STRICT = EvaluationResource(**EVALUATION, perplexity_margin=0.99)
CHAIN = [*PIPELINE, twin_model, model_evaluation, production_model]


def _gate(result):
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}["promotion_gate"]


def test_model_evaluation_scores_candidate_base_and_retrieval_and_a_passing_gate_promotes(built_home):
    tmp_path, resources = built_home
    home = tmp_path / "home"
    resources = {**resources, "training": FAST, "evaluation": LENIENT}
    result = dg.materialize(CHAIN, resources=resources, selection=[twin_model, model_evaluation, production_model])
    assert result.success and _gate(result).passed
    candidate = get_version_by_alias(home, "mara", "candidate")
    assert get_version_by_alias(home, "mara", "production").version == candidate.version
    assert production_history(home, "mara")[-1]["by"] == f"dagster run {result.run_id}"

    lake = resources["lake"].lake()
    stored = lake.read(MODEL_EVALUATION)
    assert set(stored["role"]) == {"candidate", "base", "retrieval", "verifier", "author"}
    scored = set(stored.filter(pl.col("role") == "candidate")["metric"])
    assert {"perplexity", "cosine_delta", "style_profile_distance", "author_likeness", "memorisation_rate", "rouge_l",
            "length_ratio_error"} <= scored
    assert {"recall_at_k", "mrr"} <= set(stored.filter(pl.col("role") == "retrieval")["metric"])
    evaluation = materialization(result, "model_evaluation")
    assert "| perplexity | lower |" in evaluation["comparison"].value
    assert "| style/sentence_words | closer to author |" in evaluation["comparison"].value
    for plot in ("metrics_by_model", "perplexity_by_category", "style_profile"):
        assert evaluation[plot].value.startswith(f"![{plot}.png](data:image/png;base64,")
    from training.tracking import mlflow_client

    client = mlflow_client(home)
    assert {"eval/perplexity", "eval/style/sentence_words"} <= set(client.get_run(candidate.run_id).data.metrics)
    logged = {artifact.path for artifact in client.list_artifacts(candidate.run_id, "evaluation")}
    assert {"evaluation/metrics_by_model.png", "evaluation/style_profile.png", "evaluation/rows.json"} <= logged

    version_before = lake.version(MODEL_EVALUATION)
    again = dg.materialize(CHAIN, resources=resources, selection=[model_evaluation, production_model])
    assert again.success and lake.version(MODEL_EVALUATION) == version_before  # nothing new: nothing scored again
    assert not materialization(again, "production_model")["moved_now"].value


def test_a_failing_gate_stops_the_chain_and_production_stays_as_it_was(built_home):
    tmp_path, resources = built_home
    home = tmp_path / "home"
    production = get_version_by_alias(home, "mara", "production")
    retrained = {**resources, "training": TrainingResource(**{**FAST_SETTINGS, "learning_rate": 3e-3}), "evaluation": STRICT}
    result = dg.materialize(CHAIN, resources=retrained, selection=[twin_model, model_evaluation, production_model],
                            raise_on_error=False)
    gate = _gate(result)
    assert not gate.passed and "perplexity" in gate.description and "needs at most" in gate.description
    assert "production_model" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert get_version_by_alias(home, "mara", "candidate").version != production.version
    assert get_version_by_alias(home, "mara", "production").version == production.version


def test_promote_and_rollback_by_hand_are_recorded_with_who_and_why(built_home, monkeypatch, capsys):
    from twin_assets.cli import main

    tmp_path, _ = built_home
    home = tmp_path / "home"
    monkeypatch.setenv("TWIN_HOME", str(home))
    before = get_version_by_alias(home, "mara", "production").version
    candidate = get_version_by_alias(home, "mara", "candidate").version
    assert main(["promote", str(candidate), "--reason", "reads better in review"]) == 0
    promoted = get_version_by_alias(home, "mara", "production")
    assert promoted.version == candidate and promoted.tags["promotion_reason"] == "reads better in review"
    assert f"production is version {candidate}" in capsys.readouterr().out
    assert main(["rollback", "--reason", "drafts got worse"]) == 0
    assert get_version_by_alias(home, "mara", "production").version == before
    assert production_history(home, "mara")[-1] | {"at": None} == {
        "version": before, "at": None, "by": promoted.tags["promoted_by"], "why": "drafts got worse", "action": "rollback"}
    assert main(["promote", "999"]) == 2 and "has no version 999" in capsys.readouterr().err
    assert get_version_by_alias(home, "mara", "production").version == before  # a refused promotion moves nothing


def test_with_a_judge_configured_every_model_is_judged_and_the_candidate_compared_blind_with_production(
    built_home, monkeypatch,
):
    from tests.models.test_judge import JudgeServer

    tmp_path, resources = built_home

    def answer(system, user):
        return {"choice": "A", "reason": "r"} if "Answer A:" in user else {"accuracy": "2", "style": "3", "reason": "r"}

    server = JudgeServer(answer)
    monkeypatch.setenv("TWIN_LLM_BASE_URL", server.url)
    try:
        result = dg.materialize(CHAIN, resources={**resources, "training": FAST, "evaluation": LENIENT},
                                selection=[model_evaluation, production_model])
    finally:
        server.close()
    assert result.success and _gate(result).passed  # always "A": position bias cancels out to 0.5
    stored = resources["lake"].lake().read(MODEL_EVALUATION)
    judged = stored.filter(pl.col("evaluation") == materialization(result, "model_evaluation")["evaluation"].value)
    table = {(r["role"], r["metric"]): r["value"] for r in judged.to_dicts()}
    assert table[("candidate", "judge_accuracy")] == 2.0 and table[("base", "judge_style")] == 3.0
    assert table[("production", "judge_accuracy")] == 2.0 and table[("candidate", "judge_preference")] == 0.5
