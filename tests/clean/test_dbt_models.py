"""The dbt project, run for real (dbt-duckdb) over raw Delta tables written in a temporary lake."""

import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.clean.voice import cleaned_daily_post, daily_post
from tests.documents import ARTICLE, OTHER_ARTICLE, doc, frame
from twin_assets.clean.dbt_cli import run_dbt
from twin_assets.collect.records import sha256
from twin_assets.lake import CLEANED_DOCUMENTS, RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES, Lake


def dbt_build(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_dbt(["build", *args], str(home), home / "warehouse", home / "dbt")


def warehouse(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "twin.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def test_cleaning_deduplicates_cross_posts_drops_short_pieces_and_keeps_the_authors_sign_offs(home):
    lake = Lake(str(home))
    blog = doc("https://jane.example/posts/idempotent.html", ARTICLE + "\n\nThanks for reading! Subscribe for free.")
    medium = doc("https://medium.com/@jane/idempotent-1a2b?source=rss", "Originally published at jane.example.\n\n"
                 + ARTICLE.replace("twice the rows", "double the rows"), platform="medium", published="2025-03-24")
    lake.upsert(RAW_ARTICLES, frame(blog, medium, doc("https://jane.example/posts/dashboards.html", OTHER_ARTICLE)))
    signed = [
        doc(f"https://www.linkedin.com/feed/update/{i}?trk=feed",
            f"Hi all,\n\n{body}\n\nCheers,\nJane\n\nFind me on Twitter @jane\n5 min read",
            category="post", platform="linkedin", published=f"2025-0{i}-01")
        for i, body in enumerate([
            "Unique keys, not-null ids and dates that are not in the future catch most incidents I see.",
            "𝗥𝗲𝗿𝗮𝗻 𝗮 𝘆𝗲𝗮𝗿 of pipeline history after a timezone fix and nothing was duplicated at all. 🎉",
            "Embedding every post I ever wrote turned up three that say the same thing in different words.",
        ], start=1)
    ]
    lake.upsert(RAW_POSTS, frame(*signed, doc("https://www.linkedin.com/feed/update/9", "Hiring! DM me 👋",
                                               category="post", platform="linkedin")))
    # raw_repositories was never written: cleaning still runs, with no code documents

    out = dbt_build(home)
    assert out.returncode == 0, out.stdout[-3000:]

    cleaned = Lake(str(home)).read(CLEANED_DOCUMENTS).sort("url")
    assert cleaned["url"].to_list() == [
        "https://jane.example/posts/dashboards.html",
        "https://jane.example/posts/idempotent.html",
        "https://www.linkedin.com/feed/update/1",
        "https://www.linkedin.com/feed/update/2",
        "https://www.linkedin.com/feed/update/3",
    ]
    kept = cleaned.filter(pl.col("url").str.ends_with("idempotent.html")).row(0, named=True)
    assert kept["duplicate_urls"] == ["https://medium.com/@jane/idempotent-1a2b"]
    assert "Subscribe" not in kept["text"] and kept["text"].endswith("where you started.")
    assert kept["language"] == "en" and kept["content_hash"] == sha256(kept["text"])
    posts = cleaned.filter(pl.col("category") == "post")
    # the greeting and sign-off repeated in every post are the author's; the contact line is a template's
    assert all(t.startswith("Hi all,\n\n") and t.endswith("\n\nCheers,\nJane") for t in posts["text"])
    assert posts.filter(pl.col("url").str.ends_with("/2"))["text"][0].startswith("Hi all,\n\nReran a year of pipeline")

    dropped = dict(warehouse(home, "select url, drop_reason from dropped_documents"))
    assert dropped == {
        "https://medium.com/@jane/idempotent-1a2b": "cross_posted_duplicate",
        "https://www.linkedin.com/feed/update/9": "too_short",
    }


def test_a_contact_line_in_fewer_documents_than_the_threshold_stays(home):
    lake = Lake(str(home))
    lake.upsert(RAW_ARTICLES, frame(
        doc("https://jane.example/a", ARTICLE + "\n\nCheers,\nJane\njane.dev"),
        doc("https://jane.example/b", OTHER_ARTICLE + "\n\nCheers,\nJane\njane.dev"),
    ))
    assert dbt_build(home).returncode == 0
    texts = Lake(str(home)).read(CLEANED_DOCUMENTS)["text"].to_list()
    assert all(text.endswith("Cheers,\nJane\njane.dev") for text in texts)


def test_lines_the_author_repeats_in_every_piece_stay_and_template_lines_go(home):
    third = (
        "Backfills are where pipelines show their design. A backfill that needs a runbook means the job "
        "was never idempotent; one that is a single command with a date range means it was. I now write "
        "the backfill command before the daily job, and the daily job is that command with today's date."
    )
    bodies = [ARTICLE, OTHER_ARTICLE, third]
    lake = Lake(str(home))
    lake.upsert(RAW_ARTICLES, frame(*(doc(f"https://jane.example/day-{i}", daily_post(b)) for i, b in enumerate(bodies))))
    assert dbt_build(home).returncode == 0
    cleaned = Lake(str(home)).read(CLEANED_DOCUMENTS).sort("url")
    assert cleaned["text"].to_list() == [cleaned_daily_post(body) for body in bodies]


def test_identical_files_in_two_repositories_are_kept_once(home):
    code = (
        "import hashlib\n\n\ndef stable_id(url: str) -> str:\n"
        "    \"\"\"A key that does not change between runs.\"\"\"\n"
        "    return hashlib.sha256(url.encode(\"utf-8\")).hexdigest()\n"
    )
    lake = Lake(str(home))
    lake.upsert(RAW_REPOSITORIES, frame(
        doc("https://github.com/jane/a#ids.py", code, category="repository", platform="github", published=None),
        doc("https://github.com/jane/b#ids.py", code, category="repository", platform="github", published=None),
    ))
    assert dbt_build(home).returncode == 0
    cleaned = Lake(str(home)).read(CLEANED_DOCUMENTS)
    assert cleaned.height == 1 and cleaned["text"][0] == code.rstrip("\n")
    assert cleaned["language"][0] is None and len(cleaned["duplicate_urls"][0]) == 1


def test_a_rerun_on_unchanged_raw_data_keeps_the_delta_version_and_changes_flow_through(home):
    lake = Lake(str(home))
    first, second = doc("https://jane.example/a", ARTICLE), doc("https://jane.example/b", OTHER_ARTICLE)
    lake.upsert(RAW_ARTICLES, frame(first, second))
    assert dbt_build(home).returncode == 0
    version = lake.version(CLEANED_DOCUMENTS)

    assert dbt_build(home).returncode == 0
    assert lake.version(CLEANED_DOCUMENTS) == version

    edited = {**first, "content": ARTICLE + "\n\nOne more thought.", "content_hash": sha256(ARTICLE + "!")}
    lake.upsert(RAW_ARTICLES, frame(edited))
    lake.delete(RAW_ARTICLES, [second["id"]])
    assert dbt_build(home).returncode == 0
    cleaned = lake.read(CLEANED_DOCUMENTS)
    assert cleaned["id"].to_list() == [first["id"]] and cleaned["text"][0].endswith("One more thought.")
    assert lake.version(CLEANED_DOCUMENTS) > version


def test_a_failing_dbt_test_stops_the_build_and_keeps_the_stored_cleaned_documents(home):
    lake = Lake(str(home))
    lake.upsert(RAW_ARTICLES, frame(doc("https://jane.example/a", ARTICLE)))
    assert dbt_build(home).returncode == 0
    before = lake.read(CLEANED_DOCUMENTS)

    lake.upsert(RAW_ARTICLES, frame(doc("https://jane.example/b", OTHER_ARTICLE, platform="myspace")))
    out = dbt_build(home)
    assert out.returncode != 0
    assert "accepted_values_stg_articles_platform" in out.stdout
    assert lake.read(CLEANED_DOCUMENTS).equals(before)


def test_staging_cleans_only_new_or_changed_rows_or_rows_cleaned_by_older_rules(home):
    lake = Lake(str(home))
    first, second = doc("https://jane.example/a", ARTICLE), doc("https://jane.example/b", OTHER_ARTICLE)
    lake.upsert(RAW_ARTICLES, frame(first, second))
    assert dbt_build(home).returncode == 0

    def staged_text(row_id: str) -> str:
        return warehouse(home, f"select text from stg_articles where id = '{row_id}'")[0][0]

    # Mark what the next run touches: a staged row that is re-cleaned loses the marker.
    with duckdb.connect(str(home / "warehouse" / "twin.duckdb")) as connection:
        connection.execute("update stg_articles set text = 'MARKER'")
        connection.execute(f"update stg_articles set cleaning_version = 'older rules' where id = '{second['id']}'")
    assert dbt_build(home).returncode == 0
    assert staged_text(first["id"]) == "MARKER"  # unchanged raw row, same rules: not cleaned again
    assert staged_text(second["id"]).startswith("Dashboards should answer")  # cleaned by older rules: again
