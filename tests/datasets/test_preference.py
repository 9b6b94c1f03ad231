"""Preference pairs: the filters, the suite, the exports, and the asset with each generator."""

import hashlib
import json

import dagster as dg
import polars as pl
import pytest

from tests.conftest import lake_resource
from tests.datasets.conftest import GENERIC_ANSWER
from tests.datasets.test_instruct import LONG, cleaned
from tests.documents import ARTICLE, OTHER_ARTICLE
from twin_assets.datasets.exports import PREFERENCE_FORMATS, export_dataset
from twin_assets.datasets.instruct import build_instruct
from tests.monitoring.rows import log_frame, log_row
from twin_assets.datasets.preference import (
    build_preference,
    complete_sentences,
    feedback_pairs,
    feedback_sample_id,
    pair,
    with_retained_feedback,
)
from twin_assets.lake import CLEANED_DOCUMENTS, INSTRUCT_DATASET, PREFERENCE_DATASET, PROMPT_LOGS
from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA
from twin_assets.quality.expectations import run_parameters, validate


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("One sentence. And half a", None, "One sentence."),
        ('He said "stop." Then', None, 'He said "stop."'),
        ("Is it? Yes! Done… and", None, "Is it? Yes! Done…"),
        ("no end at all", None, ""),
        ("First one. Second one. Third one.", 25, "First one. Second one."),
        ("Version 1.2 shipped", None, ""),  # a dot inside a number ends nothing
        ("Broken \ufffd byte. Rest", None, "Broken  byte."),
    ],
)
def test_complete_sentences_cut_at_the_last_sentence_end(text, limit, expected):
    assert complete_sentences(text, limit) == expected


CHOSEN = OTHER_ARTICLE


@pytest.mark.parametrize(
    ("chosen", "answer", "reason"),
    [
        ("Too short to teach anything.", GENERIC_ANSWER, "chosen_incomplete_or_short"),
        (CHOSEN, "a generic answer that never ends its sentence", "rejected_incomplete"),
        (CHOSEN, "", "rejected_incomplete"),
        (CHOSEN, "Dashboards matter. They do.", "rejected_short"),
        (CHOSEN, CHOSEN, "rejected_copies_chosen"),
    ],
    ids=["short-chosen", "no-sentence-end", "empty", "short-rejected", "copy"],
)
def test_a_pair_is_dropped_with_its_reason(chosen, answer, reason):
    assert pair(chosen, answer) == reason


def test_a_kept_pair_has_complete_sentences_and_a_rejected_side_of_comparable_length():
    chosen, rejected = pair(CHOSEN + "\n\n- a list item without a period", GENERIC_ANSWER * 10)
    assert chosen == CHOSEN  # the author's text, cut back to its last sentence: still an exact prefix
    assert rejected.endswith(".") and len(rejected) <= 2 * len(chosen)
    assert "\n\n\n" not in pair(CHOSEN, GENERIC_ANSWER.replace(". ", ".\n\n\n\n"))[1]


def instruct_samples() -> pl.DataFrame:
    code = cleaned("repo", "def upsert(rows):\n    return merge(rows, key='id')\n" * 8)
    documents = [cleaned("a", LONG), cleaned("b", ARTICLE), cleaned("c", OTHER_ARTICLE), {**code, "category": "repository"}]
    return build_instruct(pl.DataFrame(documents, schema=CLEANED_DOCUMENT_SCHEMA), test_fraction=0.4)


def test_pairs_keep_their_instruct_sample_id_and_split_and_skip_code():
    samples = instruct_samples()
    answers = {s: GENERIC_ANSWER for s in samples["sample_id"]}
    pairs, dropped = build_preference(samples, answers)
    prose = samples.filter(pl.col("category") != "repository")
    assert pairs.height + sum(dropped.values()) == prose.height and pairs.height > 0
    joined = pairs.join(samples, on="sample_id")
    assert (joined["split"] == joined["split_right"]).all() and (joined["prompt"] == joined["instruction"]).all()
    assert all(output.startswith(chosen) for chosen, output in zip(joined["chosen"], joined["output"], strict=True))
    assert "repository" not in set(pairs["category"])
    first = pairs["sample_id"][0]
    without, dropped = build_preference(samples, {**answers, first: None})
    assert first not in set(without["sample_id"]) and dropped["no_answer"] == 1


def test_preference_exports_load_with_the_datasets_library(tmp_path):
    from datasets import load_dataset

    pairs, _ = build_preference(instruct_samples(), {s: GENERIC_ANSWER for s in instruct_samples()["sample_id"]})
    written = export_dataset(pairs, tmp_path, {"full": None}, PREFERENCE_FORMATS)
    split = "train" if written["full"]["train"] else "test"
    plain = load_dataset("json", data_files=str(tmp_path / "full" / f"{split}.pairs.jsonl"), split="train")
    assert plain.column_names == ["system", "prompt", "chosen", "rejected"] and len(plain) == written["full"][split]
    chat = load_dataset("json", data_files=str(tmp_path / "full" / f"{split}.chat.jsonl"), split="train")
    assert [m["role"] for m in chat[0]["prompt"]] == ["system", "user"]
    assert chat[0]["chosen"][0]["content"] in set(pairs["chosen"]) and chat[0]["rejected"][0]["role"] == "assistant"


@pytest.mark.parametrize(
    ("change", "expectation"),
    [
        (lambda r: {**r, "rejected": r["rejected"] + " and then"}, "expect_column_values_to_match_regex:rejected"),
        (lambda r: {**r, "rejected": r["rejected"] + " Mail me at jo@example.org."},
         "expect_column_values_to_not_match_regex_list:rejected"),
        (lambda r: {**r, "chosen": ""}, "expect_column_value_lengths_to_be_between:chosen"),
        (lambda r: {**r, "category": "repository"}, "expect_column_values_to_be_in_set:category"),
    ],
    ids=["unfinished-sentence", "email", "empty-chosen", "code"],
)
def test_the_preference_suite_catches_bad_pairs(change, expectation):
    pairs, _ = build_preference(instruct_samples(), {s: GENERIC_ANSWER for s in instruct_samples()["sample_id"]})
    good = validate(pairs, "preference_dataset", run_parameters(["en"]), key_column="sample_id")
    assert good.success, good.summary()
    rows = pairs.to_dicts()
    bad = pl.DataFrame([change(rows[0]), *rows[1:]], schema=pairs.schema)
    report = validate(bad, "preference_dataset", run_parameters(["en"]), key_column="sample_id")
    assert expectation in {f"{f.expectation}:{f.column}" for f in report.failures}, report.summary()


DRAFT = "Pipelines are important. They move data. In conclusion, pipelines matter for every team."
EDIT = "Reruns should be boring: same input, same table, no duplicates.\n\nThat is the whole trick 🙂"


def feedback_logs():
    """One edited draft, one rated-only answer, one edit that leaves the draft as it was."""
    return log_frame(
        log_row(trace_id="a" * 32, prompt="Write a post about idempotent reruns.", answer=DRAFT, category="article",
                feedback_edited_text=EDIT, feedback_rating=1),
        log_row(trace_id="b" * 32, answer=DRAFT, feedback_rating=-1, feedback_reason="too generic"),
        log_row(trace_id="c" * 32, answer=DRAFT, feedback_edited_text=DRAFT + "  "),
    )


def test_an_edited_draft_becomes_one_feedback_pair():
    pairs = feedback_pairs(feedback_logs())
    assert pairs.schema == pl.Schema(PREFERENCE_DATASET.schema)
    assert pairs.to_dicts() == [{
        "sample_id": feedback_sample_id("a" * 32), "split": "train", "prompt": "Write a post about idempotent reruns.",
        "chosen": EDIT, "rejected": DRAFT, "category": "article", "document_id": None, "source": "feedback",
    }]
    assert feedback_sample_id("a" * 32) == hashlib.sha256(("feedback:" + "a" * 32).encode()).hexdigest()


@pytest.mark.parametrize(
    ("row", "kept"),
    [
        ({"category": None}, True),  # a request that named no category asked for a post
        ({"category": "repository"}, False),  # pairs are for prose
        ({"feedback_edited_text": EDIT + " Mail me at jo@example.org."}, False),
        ({"prompt": "Write to jo@example.org about reruns."}, False),
        ({"answer": None, "operation": "search", "endpoint": "http:/search"}, False),  # a search has no draft
        ({"feedback_edited_text": "   "}, False),
        ({"error": "Timeout"}, True),  # a draft cut short by a failure, edited by the author, still teaches
    ],
    ids=["no-category", "code", "email-in-edit", "email-in-prompt", "search", "blank-edit", "failed-draft"],
)
def test_which_edits_make_pairs(row, kept):
    pairs = feedback_pairs(log_frame(log_row(**{"answer": DRAFT, "feedback_edited_text": EDIT, "category": "post", **row})))
    assert pairs.height == int(kept)
    if kept:
        assert pairs["category"].to_list() == ["post"]


def test_the_same_prompt_edited_to_the_same_text_twice_is_one_pair():
    twice = [log_row(prompt="Same ask.", answer=DRAFT, feedback_edited_text=EDIT) for _ in range(2)]
    assert feedback_pairs(log_frame(*twice)).height == 1


def test_feedback_pairs_outlive_their_requests_but_follow_requests_still_logged():
    stored = feedback_pairs(log_frame(
        log_row(trace_id="a" * 32, prompt="Deleted by retention.", answer=DRAFT, feedback_edited_text=EDIT),
        log_row(trace_id="b" * 32, prompt="Still logged.", answer=DRAFT, feedback_edited_text=EDIT),
    ))
    instruct_pair = stored.head(1).with_columns(sample_id=pl.lit("x"), source=pl.lit("instruct"))
    now = log_frame(log_row(trace_id="b" * 32, prompt="Still logged.", answer=DRAFT, feedback_edited_text=DRAFT))
    kept = with_retained_feedback(feedback_pairs(now), pl.concat([stored, instruct_pair]), ["b" * 32])
    # a's request is gone: its pair stays. b's author undid the edit: no pair. Instruct pairs are not feedback's.
    assert kept["sample_id"].to_list() == [feedback_sample_id("a" * 32)]


def test_the_suite_passes_feedback_pairs_and_keeps_them_out_of_the_test_split():
    samples = instruct_samples()
    instruct, _ = build_preference(samples, {s: GENERIC_ANSWER for s in samples["sample_id"]})
    pairs = pl.concat([instruct, feedback_pairs(feedback_logs())])
    good = validate(pairs, "preference_dataset", run_parameters(["en"]), key_column="sample_id")
    assert good.success, good.summary()
    assert set(instruct["source"]) == {"instruct"}

    for change, expectation in [
        ({"split": "test"}, "expect_column_values_to_be_in_set:split"),
        ({"source": None}, "expect_column_values_to_not_be_null:source"),
        ({"source": "scraped"}, "expect_column_values_to_be_in_set:source"),
    ]:
        bad = pairs.with_columns(
            **{name: pl.when(pl.col("document_id").is_null()).then(pl.lit(value, pl.String)).otherwise(pl.col(name))
               for name, value in change.items()}
        )
        report = validate(bad, "preference_dataset", run_parameters(["en"]), key_column="sample_id")
        assert expectation in {f"{f.expectation}:{f.column}" for f in report.failures}, report.summary()
    unsourced = pairs.with_columns(document_id=pl.lit(None, pl.String))  # instruct pairs must name their document
    report = validate(unsourced, "preference_dataset", run_parameters(["en"]), key_column="sample_id")
    assert "expect_column_values_to_not_be_null:document_id" in {f"{f.expectation}:{f.column}" for f in report.failures}


def preference_resources(tmp_path, base_model_folder, **datasets):
    from twin_assets.datasets.assets import DatasetResource
    from twin_assets.models.assets import BaseModelResource

    lake = lake_resource(tmp_path)
    lake.lake().replace(INSTRUCT_DATASET, instruct_samples())
    lake.lake().replace(CLEANED_DOCUMENTS, pl.DataFrame([cleaned("a", LONG)], schema=CLEANED_DOCUMENT_SCHEMA))
    return {"lake": lake, "datasets": DatasetResource(**datasets), "base": BaseModelResource(name=str(base_model_folder))}


def test_the_endpoint_writes_rejected_answers_once_and_a_rerun_sends_nothing(
    server_factory, tmp_path, monkeypatch, tiny_base_model,
):
    from twin_assets.datasets.assets import preference_dataset

    server = server_factory("answer")
    monkeypatch.setenv("TWIN_LLM_BASE_URL", server.url)
    monkeypatch.setenv("TWIN_LLM_API_KEY", "very-secret-key")
    resources = preference_resources(tmp_path, tiny_base_model)
    result = dg.materialize([preference_dataset], resources=resources)
    metadata = result.asset_materializations_for_node("preference_dataset")[0].metadata
    lake = resources["lake"].lake()
    pairs = lake.read(PREFERENCE_DATASET)
    assert metadata["rejected_from"].value == "llm gpt-4o-mini" and pairs.height > 0
    assert set(pairs["rejected"]) == {GENERIC_ANSWER}
    assert metadata["tokens"].value["tokenizer"] == str(tiny_base_model)
    assert "very-secret-key" not in json.dumps({k: str(v.value) for k, v in metadata.items()})
    requests, version = len(server.bodies), lake.version(PREFERENCE_DATASET)
    assert dg.materialize([preference_dataset], resources=resources).success
    assert len(server.bodies) == requests and lake.version(PREFERENCE_DATASET) == version


@pytest.mark.parametrize("behaviour", ["error", "not-json"])
def test_a_failing_endpoint_fails_the_asset_and_keeps_the_pairs_already_stored(
    server_factory, tmp_path, monkeypatch, tiny_base_model, behaviour,
):
    from twin_assets.datasets.assets import preference_dataset

    monkeypatch.setenv("TWIN_LLM_BASE_URL", server_factory("answer").url)
    resources = preference_resources(tmp_path, tiny_base_model, rejected_from="llm")
    assert dg.materialize([preference_dataset], resources=resources).success
    lake = resources["lake"].lake()
    stored, version = lake.read(PREFERENCE_DATASET), lake.version(PREFERENCE_DATASET)
    assert stored.height > 0

    monkeypatch.setenv("TWIN_LLM_BASE_URL", server_factory(behaviour).url)  # another endpoint: nothing cached for it
    failed = dg.materialize([preference_dataset], resources=resources, raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Nothing was written" in failure.event_specific_data.error.message
    assert lake.version(PREFERENCE_DATASET) == version and lake.read(PREFERENCE_DATASET).equals(stored)


def test_the_base_model_writes_rejected_answers_by_default_when_no_endpoint_is_set(tmp_path, monkeypatch, tiny_base_model):
    from twin_assets.datasets.assets import preference_dataset

    monkeypatch.delenv("TWIN_LLM_BASE_URL", raising=False)
    resources = preference_resources(tmp_path, tiny_base_model, max_new_tokens=64)
    result = dg.materialize([preference_dataset], resources=resources)
    metadata = result.asset_materializations_for_node("preference_dataset")[0].metadata
    assert metadata["rejected_from"].value == str(tiny_base_model)
    prose = instruct_samples().filter(pl.col("category") != "repository").height
    assert metadata["prose_samples"].value == prose
    assert metadata["dagster/row_count"].value + sum(metadata["dropped"].value.values()) == prose


@pytest.mark.parametrize(
    ("datasets", "message"),
    [({"rejected_from": "gpt"}, "rejected_from must be one of"), ({"rejected_from": "llm"}, "TWIN_LLM_BASE_URL is not set")],
)
def test_a_misconfigured_generator_fails_with_a_clear_error(tmp_path, monkeypatch, tiny_base_model, datasets, message):
    from twin_assets.datasets.assets import preference_dataset

    monkeypatch.delenv("TWIN_LLM_BASE_URL", raising=False)
    result = dg.materialize(
        [preference_dataset], resources=preference_resources(tmp_path, tiny_base_model, **datasets), raise_on_error=False,
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert message in failure.event_specific_data.error.message


def test_the_authors_edits_join_the_train_split_and_stay_after_retention(server_factory, tmp_path, monkeypatch, tiny_base_model):
    from twin_assets.datasets.assets import preference_dataset

    monkeypatch.setenv("TWIN_LLM_BASE_URL", server_factory("answer").url)
    resources = preference_resources(tmp_path, tiny_base_model)
    lake = resources["lake"].lake()
    lake.upsert(PROMPT_LOGS, feedback_logs())
    result = dg.materialize([preference_dataset], resources=resources)
    metadata = result.asset_materializations_for_node("preference_dataset")[0].metadata
    pairs = lake.read(PREFERENCE_DATASET)
    feedback = pairs.filter(pl.col("source") == "feedback")
    assert metadata["feedback_pairs"].value == 1 and metadata["by_source"].value["feedback"] == 1
    assert feedback["chosen"].to_list() == [EDIT] and feedback["rejected"].to_list() == [DRAFT]
    assert set(pairs.filter(pl.col("source") == "instruct")["rejected"]) == {GENERIC_ANSWER}
    exported = metadata["exports_path"].value
    with open(f"{exported}/full/train.pairs.jsonl", encoding="utf-8") as lines:
        assert EDIT in [json.loads(line)["chosen"] for line in lines]

    lake.delete(PROMPT_LOGS, lake.read(PROMPT_LOGS)["trace_id"].to_list())  # retention took the requests
    version = lake.version(PREFERENCE_DATASET)
    again = dg.materialize([preference_dataset], resources=resources)
    metadata = again.asset_materializations_for_node("preference_dataset")[0].metadata
    assert metadata["feedback_pairs_from_retained"].value == 1
    assert lake.version(PREFERENCE_DATASET) == version  # nothing changed, nothing written
