"""Each kind of bad data fails the expectation meant for it, naming the failing rows."""

import json
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from tests.documents import ARTICLE, OTHER_ARTICLE, doc, frame
from twin_assets.collect.records import sha256
from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA
from twin_assets.quality.expectations import SuiteError, load_suite, run_parameters, validate

PARAMETERS = run_parameters(["en"], now=datetime(2026, 1, 1, tzinfo=timezone.utc))


def good_articles() -> pl.DataFrame:
    return frame(doc("https://jane.example/a", ARTICLE), doc("https://jane.example/b", OTHER_ARTICLE))


def failed(report) -> dict[str, list[str]]:
    """expectation type and column -> failing row ids"""
    return {f"{f.expectation}:{f.column}": f.examples for f in report.failures}


def test_good_raw_rows_pass_and_build_data_docs(tmp_path):
    report = validate(good_articles(), "raw_articles", PARAMETERS, docs_dir=tmp_path / "docs")
    assert report.success, report.summary()
    assert report.rows == 2 and report.evaluated == len(load_suite("raw_articles")["expectations"])
    assert (tmp_path / "docs" / "index.html").is_file() and report.docs_url.startswith("file://")


def test_an_empty_table_passes_without_running_the_suite():
    report = validate(frame(), "raw_posts", PARAMETERS)
    assert report.success and report.evaluated == 0


@pytest.mark.parametrize(
    ("change", "expectation"),
    [
        (lambda row: {**row, "id": None}, "expect_column_values_to_not_be_null:id"),
        (lambda row: {**row, "content": ""}, "expect_column_value_lengths_to_be_between:content"),
        (lambda row: {**row, "content": "Just a moment...\n\nChecking your browser before accessing the site."},
         "expect_column_values_to_not_match_regex_list:content"),
        (lambda row: {**row, "content": "404 Not Found\n\nnginx"}, "expect_column_values_to_not_match_regex_list:content"),
        (lambda row: {**row, "published_at": datetime(2030, 1, 1, tzinfo=timezone.utc)},
         "expect_column_values_to_be_between:published_at"),
        (lambda row: {**row, "category": "podcast"}, "expect_column_values_to_be_in_set:category"),
        (lambda row: {**row, "platform": "myspace"}, "expect_column_values_to_be_in_set:platform"),
    ],
    ids=["null-id", "empty-text", "bot-challenge", "error-page", "future-date", "unknown-category", "unknown-platform"],
)
def test_each_kind_of_bad_row_fails_its_expectation(change, expectation):
    good = doc("https://jane.example/good", ARTICLE)
    bad = change(doc("https://jane.example/bad", OTHER_ARTICLE))
    report = validate(frame(good, bad), "raw_articles", PARAMETERS)
    assert not report.success
    failures = failed(report)
    assert expectation in failures, report.summary()
    if bad["id"] is not None:
        assert failures[expectation] == [bad["id"]]  # the failing row is named, the good one is not
    assert report.summary().startswith(expectation.split(":")[0])


def test_duplicate_ids_name_the_duplicated_id():
    row = doc("https://jane.example/a", ARTICLE)
    report = validate(frame(row, {**row, "url": "https://jane.example/a?again"}), "raw_articles", PARAMETERS)
    assert failed(report)["expect_column_values_to_be_unique:id"] == [row["id"], row["id"]]


def test_too_many_duplicates_fail_the_duplicate_share_bound():
    rows = [doc(f"https://jane.example/{i}", ARTICLE) for i in range(5)]
    report = validate(frame(*rows), "raw_articles", PARAMETERS)
    failure = next(f for f in report.failures if f.expectation == "expect_column_proportion_of_unique_values_to_be_between")
    assert failure.column == "content_hash" and failure.observed == pytest.approx(0.2)


def cleaned_row(key: str, text: str, language: str | None = "en") -> dict:
    return {
        "id": sha256(key), "author_id": "jane", "platform": "web", "category": "article", "url": key, "title": key,
        "text": text, "published_at": datetime(2025, 3, 1, tzinfo=timezone.utc),
        "crawled_at": datetime(2025, 12, 1, tzinfo=timezone.utc), "content_hash": sha256(text),
        "language": language, "word_count": len(text.split()), "duplicate_urls": [], "metadata": json.dumps({}),
    }


def test_cleaned_documents_in_an_unconfigured_language_fail():
    rows = [cleaned_row(f"https://jane.example/{i}", f"{ARTICLE} {i}", "en") for i in range(3)]
    german = cleaned_row("https://jane.example/de", "Die Pipeline ist nachts ausgefallen, weil Daten zu spät kamen.", "de")
    good = validate(pl.DataFrame(rows, schema=CLEANED_DOCUMENT_SCHEMA), "cleaned_documents", PARAMETERS)
    assert good.success, good.summary()
    report = validate(pl.DataFrame([*rows, german], schema=CLEANED_DOCUMENT_SCHEMA), "cleaned_documents", PARAMETERS)
    assert failed(report)["expect_column_values_to_be_in_set:language"] == [german["id"]]
    german_too = run_parameters(["en", "de"], now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert validate(pl.DataFrame([*rows, german], schema=CLEANED_DOCUMENT_SCHEMA), "cleaned_documents", german_too).success


def test_a_cross_posted_duplicate_left_in_cleaned_documents_fails():
    rows = [cleaned_row(f"https://jane.example/{i}", f"{ARTICLE} {i}") for i in range(3)]
    copy = {**rows[0], "id": sha256("https://medium.com/@jane/copy"), "url": "https://medium.com/@jane/copy"}
    report = validate(pl.DataFrame([*rows, copy], schema=CLEANED_DOCUMENT_SCHEMA), "cleaned_documents", PARAMETERS)
    assert "expect_column_proportion_of_unique_values_to_be_between:content_hash" in failed(report)


def test_dates_are_checked_against_the_run_time():
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    row = {**doc("https://jane.example/a", ARTICLE), "published_at": tomorrow}
    assert not validate(frame(row), "raw_articles", run_parameters(["en"])).success


def test_a_missing_or_malformed_suite_is_a_clear_error(tmp_path):
    with pytest.raises(SuiteError, match="no expectation suite for nowhere"):
        validate(good_articles(), "nowhere", PARAMETERS, suites_dir=tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SuiteError, match="broken.json is not valid JSON"):
        load_suite("broken", tmp_path)
    (tmp_path / "other.json").write_text(json.dumps({"name": "something-else", "expectations": []}))
    with pytest.raises(SuiteError, match="must hold"):
        load_suite("other", tmp_path)
