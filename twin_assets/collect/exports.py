"""Export archives the platforms give their users: LinkedIn, Substack and Medium, as zip or folder.

LinkedIn forbids scraping and needs a login; its data export is how people get their own
posts. Each reader checks the archive's layout first and names what it expected, then
reads every piece it can, recording the pieces it cannot.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath

from lxml import html as lxml_html

from twin_assets.collect.html_text import drop_title_heading, html_to_text
from twin_assets.collect.http import CrawlFailure
from twin_assets.collect.records import ARTICLE, POST, Document, SourceResult, utc

MAX_MEMBER_BYTES = 20_000_000


class Archive:
    """Read-only view of a zip file or a folder, addressed by POSIX paths relative to its root."""

    def __init__(self, path: str) -> None:
        self.path = path
        location = Path(path)
        if not location.exists():
            raise CrawlFailure("missing_archive", f"no export archive at {path}", path)
        self._zip: zipfile.ZipFile | None = None
        if location.is_dir():
            self.names = sorted(
                p.relative_to(location).as_posix() for p in location.rglob("*") if p.is_file()
            )
        else:
            try:
                self._zip = zipfile.ZipFile(location)
            except (zipfile.BadZipFile, OSError) as exc:
                raise CrawlFailure("bad_archive", f"not a readable zip archive ({exc})", path) from None
            self.names = sorted(n for n in self._zip.namelist() if not n.endswith("/"))

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def find(self, predicate: Callable[[PurePosixPath], bool]) -> list[str]:
        return [n for n in self.names if predicate(PurePosixPath(n))]

    def read(self, name: str) -> bytes:
        try:
            member = Path(self.path) / name
            size = member.stat().st_size if self._zip is None else self._zip.getinfo(name).file_size
            if size > MAX_MEMBER_BYTES:
                raise CrawlFailure("too_large", f"{name} is {size} bytes", self.member_url(name))
            return member.read_bytes() if self._zip is None else self._zip.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise CrawlFailure("bad_archive", f"cannot read {name}: {exc}", self.member_url(name)) from None

    def read_text(self, name: str) -> str:
        return self.read(name).decode("utf-8-sig", errors="replace")

    def member_url(self, name: str) -> str:
        return f"{self.path}#{name}"


def _layout_failure(archive: Archive, platform: str, expected: str) -> CrawlFailure:
    found = ", ".join(archive.names[:8]) + (" ..." if len(archive.names) > 8 else "") or "nothing"
    return CrawlFailure(
        "bad_layout", f"not a {platform} export: expected {expected}; found {found}", archive.path
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text.replace(" UTC", "")):
        try:
            return utc(datetime.fromisoformat(candidate))
        except ValueError:
            continue
    for pattern in ("%a, %d %b %Y %H:%M:%S %Z", "%b %d, %Y", "%Y-%m-%d %H:%M"):
        try:
            return utc(datetime.strptime(text, pattern))
        except ValueError:
            continue
    return None


def _parse(markup: str):
    return lxml_html.fromstring(markup if markup.strip() else "<html></html>")


def _text_of(root, xpath: str) -> str | None:
    found = root.xpath(xpath)
    if not found:
        return None
    node = found[0]
    text = node if isinstance(node, str) else node.text_content()
    return " ".join(text.split()) or None


def _csv_rows(archive: Archive, name: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(archive.read_text(name)))
    return [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]


def _export_result(author_id: str, archive_path: str, kind: str, read: Callable[[Archive, SourceResult], None]) -> SourceResult:
    result = SourceResult(author_id=author_id, source=archive_path, source_kind=kind)
    try:
        archive = Archive(archive_path)
    except CrawlFailure as failure:
        result.fail(failure)
        return result
    try:
        read(archive, result)
        result.succeeded_urls.append(archive_path)
    except CrawlFailure as failure:
        result.fail(failure)
    finally:
        archive.close()
    return result


def _read_each(result: SourceResult, names: list[str], archive: Archive, build: Callable[[str], Document | None]) -> None:
    for name in names:
        try:
            document = build(name)
        except CrawlFailure as failure:
            result.fail(failure)
            continue
        if document is not None:
            result.documents.append(document)
            result.succeeded_urls.append(archive.member_url(name))


def _article(archive: Archive, member: str, author_id: str, platform: str, title: str | None, body: str,
             published_at: datetime | None, metadata: dict, url: str | None = None) -> Document:
    """An article read from one archive member; its URL is the platform's canonical one when the export names it."""
    url = url or archive.member_url(member)
    if not body:
        raise CrawlFailure("empty", "the piece has no text", url)
    return Document(
        canonical_source=url,
        author_id=author_id,
        platform=platform,
        category=ARTICLE,
        url=url,
        title=title,
        content=body,
        published_at=published_at,
        source=archive.path,
        metadata=metadata,
    )


# LinkedIn ------------------------------------------------------------------------------------------


def read_linkedin_export(author_id: str, archive_path: str) -> SourceResult:
    """Shares.csv holds posts (Date, ShareLink, ShareCommentary, ...); Articles/ holds article HTML."""

    def read(archive: Archive, result: SourceResult) -> None:
        shares = archive.find(lambda p: p.name.lower() == "shares.csv")
        articles = archive.find(lambda p: p.suffix.lower() == ".html" and "articles" in p.parts[0].lower())
        if not shares and not articles:
            raise _layout_failure(archive, "LinkedIn", "Shares.csv and/or Articles/Articles/*.html")
        for name in shares:
            rows = _csv_rows(archive, name)
            if rows and "ShareCommentary" not in rows[0]:
                raise _layout_failure(archive, "LinkedIn", f"a ShareCommentary column in {name}")
            for row in rows:
                text = row["ShareCommentary"].strip()
                if not text:
                    continue  # a bare reshare carries none of the author's words
                link = row.get("ShareLink", "").strip() or archive.member_url(f"{name}:{row.get('Date', '')}")
                result.documents.append(
                    Document(
                        canonical_source=link,
                        author_id=author_id,
                        platform="linkedin",
                        category=POST,
                        url=link,
                        title=None,
                        content=text,
                        published_at=_parse_time(row.get("Date")),
                        source=archive_path,
                        metadata={"shared_url": row.get("SharedUrl") or None, "visibility": row.get("Visibility") or None},
                    )
                )
                result.succeeded_urls.append(link)

        def article(name: str) -> Document | None:
            markup = archive.read_text(name)
            root = _parse(markup)
            title = _text_of(root, "//h1")
            body = drop_title_heading(html_to_text(markup), title)
            published = _text_of(root, "//p[contains(@class,'published')]") or ""
            return _article(
                archive, name, author_id, "linkedin", title, _strip_dateline(body),
                _parse_time(published.replace("Published on", "").strip()), {"export_path": name},
            )

        _read_each(result, articles, archive, article)

    return _export_result(author_id, archive_path, "linkedin_export", read)


def _strip_dateline(body: str) -> str:
    """LinkedIn's article HTML opens with 'Created on ...' / 'Published on ...' lines."""
    lines = body.split("\n\n")
    while lines and lines[0].startswith(("Created on", "Published on")):
        lines.pop(0)
    return "\n\n".join(lines)


# Substack ------------------------------------------------------------------------------------------


def read_substack_export(author_id: str, archive_path: str) -> SourceResult:
    """posts.csv lists posts (post_id, post_date, is_published, title, subtitle, ...); posts/<post_id>.html."""

    def read(archive: Archive, result: SourceResult) -> None:
        index = archive.find(lambda p: p.name == "posts.csv")
        if not index:
            raise _layout_failure(archive, "Substack", "posts.csv and posts/<post_id>.html")
        name = index[0]
        folder = str(PurePosixPath(name).parent / "posts")
        folder = folder[2:] if folder.startswith("./") else folder
        rows = _csv_rows(archive, name)
        if rows and "post_id" not in rows[0]:
            raise _layout_failure(archive, "Substack", "a post_id column in posts.csv")

        def post(post_id: str) -> Document | None:
            row = by_id[post_id]
            member = f"{folder}/{post_id}.html"
            if member not in archive.names:
                raise CrawlFailure("missing_member", f"posts.csv lists {post_id} but {member} is absent", archive.member_url(member))
            return _article(
                archive, member, author_id, "substack", row.get("title") or None,
                html_to_text(archive.read_text(member)), _parse_time(row.get("post_date")),
                {"subtitle": row.get("subtitle") or None, "audience": row.get("audience") or None},
            )

        by_id = {r["post_id"]: r for r in rows if r.get("is_published", "true").strip().lower() == "true"}
        _read_each(result, list(by_id), archive, post)

    return _export_result(author_id, archive_path, "substack_export", read)


# Medium --------------------------------------------------------------------------------------------


def read_medium_export(author_id: str, archive_path: str) -> SourceResult:
    """posts/*.html, one file per story (drafts start with 'draft_'), with h-entry microformats."""

    def read(archive: Archive, result: SourceResult) -> None:
        stories = archive.find(lambda p: p.suffix == ".html" and len(p.parts) >= 2 and p.parts[-2] == "posts")
        if not stories:
            raise _layout_failure(archive, "Medium", "posts/*.html")

        def story(name: str) -> Document | None:
            if PurePosixPath(name).name.startswith("draft_"):
                return None
            markup = archive.read_text(name)
            root = _parse(markup)
            body_nodes = root.xpath("//section[@data-field='body']")
            if not body_nodes:
                raise CrawlFailure("bad_layout", "no <section data-field='body'> in the story", archive.member_url(name))
            body = html_to_text(lxml_html.tostring(body_nodes[0], encoding="unicode"))
            title = _text_of(root, "//h1[contains(@class,'p-name')]") or _text_of(root, "//title")
            body = drop_title_heading(body, title)
            return _article(
                archive, name, author_id, "medium", title, body,
                _parse_time(_text_of(root, "//time[contains(@class,'dt-published')]/@datetime")),
                {"export_path": name}, url=_text_of(root, "//a[contains(@class,'p-canonical')]/@href"),
            )

        _read_each(result, stories, archive, story)

    return _export_result(author_id, archive_path, "medium_export", read)
