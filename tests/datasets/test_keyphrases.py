"""Keyphrase topics: candidates from the text, ranked with the bundled embedding model."""

import polars as pl
import pytest

from tests.datasets.test_instruct import cleaned
from tests.documents import ARTICLE
from twin_assets.datasets.instruct import as_topic, build_instruct
from twin_assets.datasets.keyphrases import candidates, keyphrases
from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA

LAKEHOUSE = (
    "A small team does not need a big lakehouse. Keep raw data in Delta tables, clean it with dbt and DuckDB, "
    "and let one orchestrator run it. Delta tables give you time travel; DuckDB gives you SQL on a laptop. "
    "When the data outgrows the laptop, the same Delta tables move to object storage."
)


@pytest.fixture(scope="module")
def encode():
    from twin_assets.features.embedding import Embedder

    return Embedder("all-MiniLM-L6-v2").encode


def test_candidates_neither_start_nor_end_with_stop_words_nor_cross_a_sentence():
    found = candidates(LAKEHOUSE)
    assert "Delta tables" in found and "DuckDB" in found
    lowered = [c.lower().split() for c in found]
    assert not any(words[0] in {"a", "the", "and", "with"} or words[-1] in {"a", "the", "it"} for words in lowered)
    assert not any("laptop when" in c.lower() for c in found)  # "laptop. When" spans two sentences


def test_candidates_skip_code_and_links():
    text = "Use `select_star_everywhere` carefully.\n```python\nsecret_function_name()\n```\nSee https://example.com/page."
    found = " ".join(candidates(text)).lower()
    assert "select_star" not in found and "secret_function_name" not in found and "example" not in found


def test_the_ranked_phrases_name_the_topic_and_do_not_repeat_each_other(encode):
    (phrases,) = keyphrases([LAKEHOUSE], encode)
    assert len(phrases) == 3 and len({p.lower() for p in phrases}) == 3
    assert any("delta" in p.lower() or "lakehouse" in p.lower() for p in phrases), phrases
    (rerun,) = keyphrases([ARTICLE], encode)
    assert any(word in " ".join(rerun).lower() for word in ("idempoten", "rerun", "upsert", "duplicate")), rerun


def test_texts_without_candidates_get_no_phrases(encode):
    assert keyphrases(["The and of it.", ""], encode) == [[], []]


@pytest.mark.parametrize(
    ("phrases", "topic"),
    [(["Data contracts", "schema changes"], "data contracts and schema changes"),
     (["DuckDB for SQL", "Delta tables"], "DuckDB for SQL and delta tables"),
     (["CI"], "CI")],
)
def test_keyphrases_read_as_a_topic(phrases, topic):
    assert as_topic(phrases) == topic


def test_untitled_extracts_take_keyphrase_topics_and_titled_openings_keep_their_title():
    post = "Every pipeline PR gets one question from me: what happens if this runs twice? " * 3
    asked: list[list[str]] = []

    def phrases_of(extracts):
        asked.append(extracts)
        return [["pipeline reviews", "idempotent reruns"] for _ in extracts]

    posts = [cleaned(f"post-{i}", post + str(i)) | {"category": "post", "title": None} for i in range(12)]
    titled = cleaned("article-1", ARTICLE) | {"title": "Idempotent or it didn't happen"}
    samples = build_instruct(pl.DataFrame([*posts, titled], schema=CLEANED_DOCUMENT_SCHEMA), phrases_of=phrases_of)
    with_phrases = samples.filter(pl.col("instruction").str.contains("pipeline reviews and idempotent reruns"))
    assert 4 <= with_phrases.height < 12  # two in three, by a hash of the sample
    assert set(with_phrases["category"]) == {"post"}
    assert samples.filter(pl.col("category") == "article")["instruction"].str.contains('"Idempotent or it didn\'t happen"').all()
    assert len(asked) == 1 and len(asked[0]) == 12  # one batch; the titled article's only extract needed none
