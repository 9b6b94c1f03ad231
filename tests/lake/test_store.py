import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import polars as pl
import pytest

from tests.conftest import REPO_ROOT
from twin_assets.lake import CRAWL_ERRORS, RAW_POSTS, Lake, LakeError

NOW = datetime(2025, 3, 1, tzinfo=timezone.utc)


def posts(ids, contents):
    contents = contents if isinstance(contents, list) else [contents] * len(ids)
    return pl.DataFrame(
        {
            "id": ids, "author_id": "jane", "platform": "linkedin", "category": "post", "url": ids,
            "title": None, "content": contents, "published_at": None, "crawled_at": NOW,
            "content_hash": contents, "source": "export", "metadata": "{}",
        }
    )


def test_lives_under_root_layer_and_name(lake):
    assert lake.uri(RAW_POSTS).endswith("/home/lake/raw/raw_posts")


def test_upsert_inserts_updates_and_leaves_unchanged_rows_alone(lake):
    first = lake.upsert(RAW_POSTS, posts(["a", "b"], "one"))
    assert (first.inserted, first.updated, first.unchanged, first.version) == (2, 0, 0, 0)

    again = lake.upsert(RAW_POSTS, posts(["a", "b"], "one"))
    assert (again.written, again.unchanged, again.version) == (0, 2, 0)  # no new commit

    changed = lake.upsert(RAW_POSTS, posts(["a", "c"], ["two", "one"]))
    assert (changed.inserted, changed.updated, changed.unchanged, changed.version) == (1, 1, 0, 1)
    current = dict(lake.read(RAW_POSTS).select("id", "content").iter_rows())
    assert current == {"a": "two", "b": "one", "c": "one"}


def test_time_travel_and_history(lake):
    lake.upsert(RAW_POSTS, posts(["a"], "one"))
    lake.upsert(RAW_POSTS, posts(["a"], "two"))
    assert lake.read(RAW_POSTS, version=0)["content"].to_list() == ["one"]
    assert lake.read(RAW_POSTS)["content"].to_list() == ["two"]
    assert lake.read(RAW_POSTS, version=0, columns=["id", "content"]).rows() == [("a", "one")]
    assert [h["operation"] for h in lake.history(RAW_POSTS)] == ["MERGE", "WRITE"]
    with pytest.raises(LakeError, match="version 7"):
        lake.read(RAW_POSTS, version=7)


def test_duplicate_keys_in_one_batch_keep_the_last(lake):
    lake.upsert(RAW_POSTS, posts(["a", "a"], ["first", "last"]))
    assert lake.read(RAW_POSTS)["content"].to_list() == ["last"]


def test_bad_rows_are_refused_and_stored_rows_kept(lake):
    lake.upsert(RAW_POSTS, posts(["a"], "one"))
    with pytest.raises(LakeError, match="lack columns: content"):
        lake.upsert(RAW_POSTS, posts(["b"], "x").drop("content"))
    with pytest.raises(LakeError, match="null key"):
        lake.upsert(RAW_POSTS, posts([None], "x"))
    assert lake.read(RAW_POSTS)["id"].to_list() == ["a"] and lake.version(RAW_POSTS) == 0


def test_a_never_written_table_reads_empty_with_its_schema(lake):
    empty = lake.read(CRAWL_ERRORS)
    assert empty.is_empty() and empty.columns == list(CRAWL_ERRORS.schema)
    assert lake.version(CRAWL_ERRORS) is None and lake.history(CRAWL_ERRORS) == []


def test_a_column_added_to_the_schema_reaches_tables_written_before_it(lake):
    from dataclasses import replace

    from deltalake import write_deltalake

    older = replace(CRAWL_ERRORS, schema={k: v for k, v in CRAWL_ERRORS.schema.items() if k != "message"})
    row = {"id": "e1", "author_id": "jane", "source": "s", "url": "u", "kind": "timeout", "occurred_at": NOW}
    write_deltalake(lake.uri(CRAWL_ERRORS), pl.DataFrame([row], schema=older.schema).to_arrow())

    read = lake.read(CRAWL_ERRORS)  # the new column reads as null, at any version
    assert read.schema == pl.Schema(CRAWL_ERRORS.schema) and read["message"].to_list() == [None]
    assert lake.read(CRAWL_ERRORS, columns=["message"]).height == 1
    result = lake.upsert(CRAWL_ERRORS, pl.DataFrame([{**row, "id": "e2", "message": "timed out"}]))
    assert result.inserted == 1  # the table gained the column first
    assert lake.add_missing_columns(CRAWL_ERRORS) == []
    assert sorted(lake.read(CRAWL_ERRORS)["message"].to_list(), key=str) == [None, "timed out"]
    assert lake.read(CRAWL_ERRORS, version=0)["message"].to_list() == [None]
    with pytest.raises(LakeError):
        lake.read(CRAWL_ERRORS, columns=["no_such_column"])


def test_delete_by_key_in_one_commit(lake):
    lake.upsert(RAW_POSTS, posts(["a", "b", "it's"], "one"))
    assert lake.delete(RAW_POSTS, ["b", "it's", "zzz"]) == 2
    assert lake.read(RAW_POSTS)["id"].to_list() == ["a"]
    assert lake.delete(RAW_POSTS, ["zzz"]) == 0 and lake.version(RAW_POSTS) == 1


WRITER = textwrap.dedent(
    """
    import sys
    import polars as pl
    from datetime import datetime, timezone
    from twin_assets.lake import Lake, RAW_POSTS
    lake = Lake(sys.argv[1])
    batch = 20_000
    for round in range(10_000):
        ids = [f"{round}-{i}" for i in range(batch)]
        text = "x" * 200
        frame = pl.DataFrame({"id": ids, "author_id": "a", "platform": "web", "category": "post", "url": ids,
            "title": None, "content": text, "published_at": None, "crawled_at": datetime.now(timezone.utc),
            "content_hash": str(round), "source": "s", "metadata": "{}"})
        lake.upsert(RAW_POSTS, frame)
        print(round, flush=True)
    """
)


def test_a_writer_killed_mid_write_leaves_the_last_committed_version_readable(tmp_path):
    root = tmp_path / "home"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True,
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        for _ in range(3):  # let it commit a few versions, then kill it while it writes the next
            assert writer.stdout.readline(), "the writer died on its own"
        time.sleep(0.15)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    lake = Lake(str(root))
    version = lake.version(RAW_POSTS)
    assert version is not None and version >= 2
    stored = lake.read(RAW_POSTS)
    assert stored.height == 20_000 * (version + 1)  # whole commits only
    assert stored["id"].n_unique() == stored.height
