"""Instruction samples: exact extracts of the author's text, varied instructions, stable splits, exports."""

import json

import polars as pl
import pytest

from tests.documents import ARTICLE, OTHER_ARTICLE
from twin_assets.datasets.exports import INSTRUCT_FORMATS, export_dataset
from twin_assets.datasets.instruct import (
    MAX_EXTRACT_CHARS,
    MIN_EXTRACT_CHARS,
    build_instruct,
    document_samples,
    extracts,
    split_of,
    withhold_personal_data,
)
from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA
from twin_assets.quality.expectations import run_parameters, validate

LONG = "\n\n".join(f"{ARTICLE} Paragraph {i} adds one more detail." for i in range(6))


def cleaned(key: str, text: str, category: str = "article", title: str | None = "A title", path: str | None = None):
    return {
        "id": key, "author_id": "jane", "platform": "web", "category": category, "url": f"https://jane.example/{key}",
        "title": title, "text": text, "published_at": None, "crawled_at": None, "content_hash": key, "language": "en",
        "word_count": len(text.split()), "duplicate_urls": [], "metadata": json.dumps({"path": path} if path else {}),
    }


def test_long_pieces_become_extracts_of_the_authors_exact_text_cut_at_boundaries():
    pieces = extracts(LONG, "article")
    assert len(pieces) >= 2
    for piece in pieces:
        assert piece in LONG  # an exact extract, never rewritten
        assert MIN_EXTRACT_CHARS <= len(piece) <= MAX_EXTRACT_CHARS
        assert piece.endswith(".")  # cut at a sentence end


def test_short_pieces_are_used_whole_and_tiny_ones_only_when_they_are_posts():
    assert extracts(ARTICLE, "article") == [ARTICLE]
    assert extracts("Too short to teach anything.", "article") == []
    assert extracts("Short but a whole post. 🧪", "post") == ["Short but a whole post. 🧪"]


def test_instructions_are_well_formed_and_varied():
    documents = [cleaned(f"doc-{i}", f"{OTHER_ARTICLE} Variation {i}.", title=f"Title {i}") for i in range(40)]
    documents += [cleaned(f"post-{i}", f"Point number {i} is that keys matter. More words follow here.", "post", None)
                  for i in range(40)]
    samples = build_instruct(pl.DataFrame(documents, schema=CLEANED_DOCUMENT_SCHEMA))
    for instruction in samples["instruction"]:
        assert "{" not in instruction and "}" not in instruction and len(instruction) > 20
    articles = samples.filter(pl.col("category") == "article")["instruction"]
    assert len({i.split('"')[0] for i in articles}) >= 3  # several templates in use
    assert any('"Title 3"' in i for i in articles)
    posts = samples.filter(pl.col("category") == "post")["instruction"]
    assert all("keys matter" in i for i in posts)  # the topic comes from the text itself


def test_code_instructions_name_the_file_and_language():
    code = "def stable_id(url):\n    return url\n" * 30
    (sample,) = document_samples("repo-1", code[:1800], "repository", "tidy_pipes/ids.py", "tidy_pipes/ids.py")
    assert "`tidy_pipes/ids.py`" in sample.instruction and sample.output == code[:1800].strip()


def test_splits_are_by_document_stable_and_about_the_configured_share():
    ids = [f"document-{i}" for i in range(2000)]
    first = [split_of(i) for i in ids]
    assert first == [split_of(i) for i in ids]
    assert 0.07 < first.count("test") / len(ids) < 0.13
    samples = document_samples("doc-x", LONG, "article", "T")
    assert len({s.split for s in samples}) == 1


def test_the_same_documents_give_the_same_samples():
    frame = pl.DataFrame([cleaned("a", LONG), cleaned("b", ARTICLE)], schema=CLEANED_DOCUMENT_SCHEMA)
    assert build_instruct(frame).equals(build_instruct(frame))


def test_exports_load_with_the_datasets_library(tmp_path):
    from datasets import load_dataset

    frame = pl.DataFrame([cleaned(f"d{i}", f"{LONG} {i}") for i in range(12)], schema=CLEANED_DOCUMENT_SCHEMA)
    samples = build_instruct(frame, test_fraction=0.3)
    written = export_dataset(samples, tmp_path, {"tiny": 5, "full": None}, INSTRUCT_FORMATS)
    assert sum(written["tiny"].values()) == 5 and sum(written["full"].values()) == samples.height
    alpaca = load_dataset("json", data_files=str(tmp_path / "full" / "train.alpaca.jsonl"), split="train")
    assert alpaca.column_names == ["instruction", "input", "output"] and len(alpaca) == written["full"]["train"]
    chat = load_dataset("json", data_files=str(tmp_path / "full" / "train.chat.jsonl"), split="train")
    assert [m["role"] for m in chat[0]["messages"]] == ["system", "user", "assistant"]
    assert chat[0]["messages"][2]["content"] in set(samples["output"])


@pytest.mark.parametrize(
    ("change", "expectation"),
    [
        (lambda rows: [rows[0], {**rows[1], "document_id": rows[0]["document_id"], "split": "test"}],
         "expect_column_values_to_be_between:splits_per_document"),
        (lambda rows: [rows[0], {**rows[1], "output": rows[1]["output"] + " Write to me at jane@example.com."}],
         "expect_column_values_to_not_match_regex_list:output"),
        (lambda rows: [rows[0], {**rows[1], "output": rows[1]["output"] + " Call +1 415 555 0134."}],
         "expect_column_values_to_not_match_regex_list:output"),
        (lambda rows: [rows[0], {**rows[0], "sample_id": "other"}], "expect_compound_columns_to_be_unique:None"),
    ],
    ids=["document-in-both-splits", "email", "phone", "duplicate-sample"],
)
def test_the_dataset_suite_catches_leaks_and_duplicates(change, expectation):
    frame = pl.DataFrame([cleaned("a", LONG), cleaned("b", OTHER_ARTICLE)], schema=CLEANED_DOCUMENT_SCHEMA)
    rows = build_instruct(frame).to_dicts()[:2]
    good = validate(pl.DataFrame(rows), "instruct_dataset", run_parameters(["en"]), key_column="sample_id")
    assert good.success, good.summary()
    report = validate(pl.DataFrame(change(rows)), "instruct_dataset", run_parameters(["en"]), key_column="sample_id")
    assert expectation in {f"{f.expectation}:{f.column}" for f in report.failures}, report.summary()


def test_samples_holding_contact_details_are_withheld_and_counted():
    frame = pl.DataFrame([
        cleaned("a", LONG), cleaned("b", OTHER_ARTICLE + " Write to me at jane@example.com."),
        cleaned("c", OTHER_ARTICLE.replace("Dashboards", "Call +1 415 555 0134 about dashboards")),
    ], schema=CLEANED_DOCUMENT_SCHEMA)
    samples = build_instruct(frame)
    kept, withheld = withhold_personal_data(samples)
    assert withheld == 2 and kept.height == samples.height - 2
    assert set(kept["document_id"]) == {"a"}
    report = validate(kept, "instruct_dataset", run_parameters(["en"]), key_column="sample_id")
    assert report.success, report.summary()
