"""When dbt build may be skipped: the same inputs and untouched outputs, per selection of models."""

from twin_assets.clean.build_state import BuildLedger, build_inputs, project_digest

RAW = {"raw_articles": 3, "raw_posts": 1, "raw_repositories": None}
MODELS = {"stg_articles", "cleaned_documents"}
OUTPUTS = {"cleaned_documents": 2, "warehouse_mtime_ns": 123}


def test_the_fingerprint_changes_with_each_input_and_not_with_order():
    same = build_inputs(dict(reversed(RAW.items())), "rules-1", "project", reversed(sorted(MODELS)))
    assert build_inputs(RAW, "rules-1", "project", MODELS) == same
    others = [
        build_inputs({**RAW, "raw_posts": 2}, "rules-1", "project", MODELS),
        build_inputs(RAW, "rules-2", "project", MODELS),
        build_inputs(RAW, "rules-1", "project-edited", MODELS),
        build_inputs(RAW, "rules-1", "project", MODELS | {"dropped_documents"}),
    ]
    assert same not in others and len(set(others)) == len(others)


def test_the_ledger_skips_only_an_identical_build_with_outputs_as_it_left_them(tmp_path):
    ledger = BuildLedger(tmp_path / "dbt" / "builds.json")
    inputs = build_inputs(RAW, "rules-1", "project", MODELS)
    assert not ledger.unchanged(MODELS, inputs, OUTPUTS)  # never built
    ledger.record(MODELS, inputs, OUTPUTS)
    assert ledger.unchanged(MODELS, inputs, OUTPUTS)
    assert not ledger.unchanged({"stg_articles"}, inputs, OUTPUTS)  # another selection was never built
    assert not ledger.unchanged(MODELS, build_inputs(RAW, "rules-2", "project", MODELS), OUTPUTS)
    assert not ledger.unchanged(MODELS, inputs, {**OUTPUTS, "cleaned_documents": 3})  # someone wrote the table
    assert not ledger.unchanged(MODELS, inputs, {**OUTPUTS, "warehouse_mtime_ns": None})  # warehouse deleted


def test_a_damaged_ledger_means_build_again(tmp_path):
    path = tmp_path / "builds.json"
    path.write_text("{not json")
    ledger = BuildLedger(path)
    assert not ledger.unchanged(MODELS, "x", OUTPUTS)
    ledger.record(MODELS, "x", OUTPUTS)
    assert ledger.unchanged(MODELS, "x", OUTPUTS)


def test_the_project_digest_follows_models_and_settings_but_not_run_artifacts(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "target").mkdir()
    model = tmp_path / "models" / "a.sql"
    model.write_text("select 1")
    before = project_digest(tmp_path)
    (tmp_path / "target" / "manifest.yml").write_text("anything")
    (tmp_path / "models" / "notes.txt").write_text("not part of the build")
    assert project_digest(tmp_path) == before
    model.write_text("select 2")
    assert project_digest(tmp_path) != before
