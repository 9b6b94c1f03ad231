import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from twin_assets.collect.exports import read_linkedin_export, read_medium_export, read_substack_export

DEMO_EXPORTS = REPO_ROOT / "demo" / "exports"
READERS = {
    "linkedin": read_linkedin_export,
    "substack": read_substack_export,
    "medium": read_medium_export,
}


def zipped(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_linkedin_export_posts_and_articles(tmp_path, as_zip):
    path = zipped(DEMO_EXPORTS / "linkedin", tmp_path / "li.zip") if as_zip else DEMO_EXPORTS / "linkedin"
    result = read_linkedin_export("mara", str(path))
    assert not result.failures
    posts = [d for d in result.documents if d.category == "post"]
    articles = [d for d in result.documents if d.category == "article"]
    assert len(posts) == 14  # the bare reshare without commentary is left out
    assert len(articles) == 2
    numbered = next(p for p in posts if p.content.startswith("I asked our analysts"))
    assert "1. Not knowing which table is the right one\n2. Not knowing if it is fresh" in numbered.content
    assert numbered.url.startswith("https://www.linkedin.com/feed/update/")
    assert numbered.published_at.isoformat() == "2025-02-11T07:55:00+00:00"
    assert any("🧪" in p.content for p in posts)
    article = next(a for a in articles if a.title == "What I look for in a data engineer")
    assert article.content.startswith("After a few dozen interviews")  # title and datelines removed
    assert "- A healthy fear of duplicates." in article.content
    assert {d.platform for d in result.documents} == {"linkedin"}


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_substack_export_published_posts_only(tmp_path, as_zip):
    path = zipped(DEMO_EXPORTS / "substack", tmp_path / "ss.zip") if as_zip else DEMO_EXPORTS / "substack"
    result = read_substack_export("mara", str(path))
    assert not result.failures
    titles = sorted(d.title for d in result.documents)
    assert len(titles) == 5 and "Ideas for next year" not in titles
    naming = next(d for d in result.documents if d.title == "On naming things")
    assert "- Prefix by layer: `raw_`, `stg_`" in naming.content
    assert naming.published_at.isoformat() == "2025-08-12T08:00:00+00:00"
    assert naming.metadata["subtitle"] == "The hardest problem, again"


def test_medium_export_uses_canonical_urls_and_skips_drafts(tmp_path):
    result = read_medium_export("mara", str(zipped(DEMO_EXPORTS / "medium", tmp_path / "medium.zip")))
    assert not result.failures
    assert len(result.documents) == 6
    backfills = next(d for d in result.documents if d.title == "A short guide to backfills")
    assert backfills.url == "https://medium.com/@maralindqvist/a-short-guide-to-backfills-5b2d8f1c3e6a"
    assert "select partition_date, count(*)\nfrom orders" in backfills.content
    assert not backfills.content.startswith("#")  # Medium's repeated title heading is dropped


@pytest.mark.parametrize("platform", sorted(READERS))
def test_truncated_zip_is_a_bad_archive(tmp_path, platform):
    whole = zipped(DEMO_EXPORTS / platform, tmp_path / "whole.zip").read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    result = READERS[platform]("mara", str(cut))
    assert not result.documents
    assert [f.kind for f in result.failures] == ["bad_archive"]


@pytest.mark.parametrize("platform", sorted(READERS))
def test_wrongly_laid_out_archive_names_what_was_expected(tmp_path, platform):
    wrong = tmp_path / "wrong"
    (wrong / "stuff").mkdir(parents=True)
    (wrong / "stuff" / "notes.txt").write_text("not an export")
    result = READERS[platform]("mara", str(zipped(wrong, tmp_path / "wrong.zip")))
    assert not result.documents
    [failure] = result.failures
    assert failure.kind == "bad_layout"
    assert "expected" in failure.message and "stuff/notes.txt" in failure.message


def test_missing_archive_and_missing_member(tmp_path):
    assert [f.kind for f in read_substack_export("mara", str(tmp_path / "nope.zip")).failures] == ["missing_archive"]
    export = tmp_path / "substack"
    shutil.copytree(DEMO_EXPORTS / "substack", export)
    (export / "posts" / "103.three-questions-before-any-dashboard.html").unlink()
    result = read_substack_export("mara", str(export))
    assert len(result.documents) == 4  # the others are still read
    assert [f.kind for f in result.failures] == ["missing_member"]


def test_linkedin_shares_without_commentary_column(tmp_path):
    export = tmp_path / "li"
    export.mkdir()
    (export / "Shares.csv").write_text("Date,ShareLink,Text\n2025-01-01,https://x,hello\n")
    [failure] = read_linkedin_export("mara", str(export)).failures
    assert failure.kind == "bad_layout" and "ShareCommentary" in failure.message


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_oversized_member_is_refused_the_same_way_from_folder_and_zip(tmp_path, monkeypatch, as_zip):
    from twin_assets.collect import exports

    export = tmp_path / "substack"
    shutil.copytree(DEMO_EXPORTS / "substack", export)
    oversized = export / "posts" / "101.notes-from-a-data-on-call-week.html"
    oversized.write_text(oversized.read_text() + "<p>" + "padding " * 300 + "</p>")
    path = zipped(export, tmp_path / "ss.zip") if as_zip else export
    monkeypatch.setattr(exports, "MAX_MEMBER_BYTES", 1_500)
    result = read_substack_export("mara", str(path))
    assert [(f.kind, f.url.rsplit("/", 1)[-1]) for f in result.failures] == [("too_large", oversized.name)]
    assert len(result.documents) == 4
