"""The Sources page: the plain functions over twin.yaml (`bento.ui.config_file`), then the page in
a real browser against the real service: a bad source is shown next to its field and changes
nothing; good changes are written with the previous version kept; exports are uploaded."""

import io
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from bento.ui import config_file as cf
from tests.bento.browser import needs_chromium, open_page, screenshot
from tests.bento.serving import REPO_ROOT
from tests.bento.test_ui_write import demo_config, ui_service
from twin_assets.settings import ConfigError, load_config, parse_config

REPO_CONFIG = (REPO_ROOT / "twin.yaml").read_text()


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def config_error(data, base: Path = Path("/")) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, base)
    return str(raised.value)


# ---------------------------------------------------------------- the plain functions


def test_the_header_comments_are_split_off_and_the_repository_config_renders_back_the_same():
    header, body = cf.split_header(REPO_CONFIG)
    assert header.startswith("# Who the twin learns from") and header.endswith("exports/linkedin.zip}\n")
    assert body.startswith("authors:")
    assert cf.render(header, cf.load_data(REPO_CONFIG)) == REPO_CONFIG
    assert cf.split_header("authors: []\n") == ("", "authors: []\n")
    assert cf.split_header("\n# one\n\n# two\n\nauthors: []\n") == ("\n# one\n\n# two\n", "authors: []\n")


def test_changes_build_new_data_and_leave_the_old_alone():
    data = cf.load_data(REPO_CONFIG)
    before = yaml.safe_dump(data)
    added = cf.add_source(data, "mara", "web", " https://mara.example/feed.xml ")
    assert added["authors"][0]["sources"][-1] == {"kind": "web", "url": "https://mara.example/feed.xml"}
    assert cf.add_source(data, "mara", "git", "code/repo")["authors"][0]["sources"][-1] == {"kind": "git", "path": "code/repo"}
    edited = cf.edit_source(data, "mara", 0, "web", "file:///srv/blog/feed.xml")
    assert edited["authors"][0]["sources"][0] == {"kind": "web", "url": "file:///srv/blog/feed.xml"}
    removed = cf.remove_source(data, "mara", 4)
    assert "demo/repositories/tidy-pipes" not in removed["authors"][0]["sources"] and len(removed["authors"][0]["sources"]) == 5
    authors = cf.add_author(data, "omar", "Omar K", "")["authors"]
    assert authors[-1] == {"id": "omar", "name": "Omar K", "language": "en", "sources": []}
    assert cf.add_author(None, "omar", "Omar K", "de") == {"authors": [{"id": "omar", "name": "Omar K", "language": "de", "sources": []}]}
    assert yaml.safe_dump(data) == before
    with pytest.raises(KeyError):
        cf.add_source(data, "nobody", "web", "https://x.example")
    with pytest.raises(KeyError):
        cf.remove_source(data, "mara", 6)


def test_the_settings_problems_are_sorted_onto_the_form_fields():
    data = cf.load_data(REPO_CONFIG)
    # An export given a URL: the source's own rule, next to the URL-or-path field.
    message = config_error(cf.add_source(data, "mara", "linkedin_export", "https://linkedin.com/in/mara"))
    errors, others = cf.field_errors(message, "authors[0].sources[6]", {".kind": "kind", ".url": "location"}, "location")
    assert errors == {"location": "a linkedin_export source needs a 'path' to the archive (zip or folder)"} and others == []
    # An unknown kind: next to the kind.
    message = config_error(cf.add_source(data, "mara", "poem", "odes/"))
    assert "authors[0].sources[6].kind:" in message
    errors, others = cf.field_errors(message, "authors[0].sources[6]", {".kind": "kind"}, "location")
    assert list(errors) == ["kind"] and "'web'" in errors["kind"] and others == []
    # Nothing given: the source itself is the problem.
    message = config_error(cf.add_source(data, "mara", "web", "  "))
    assert cf.field_errors(message, "authors[0].sources[6]", {".kind": "kind"}, "location")[0] == {
        "location": "give exactly one of 'url' or 'path'"}
    # A problem elsewhere in the file is not put on this form.
    broken = cf.add_author(cf.add_source(data, "mara", "poem", "x"), "Bad Id", "B")
    errors, others = cf.field_errors(config_error(broken), "authors[1]", {".id": "id"}, "id")
    assert errors == {"id": "author id must be lowercase letters, digits, '-' or '_'"}
    assert len(others) == 1 and others[0].startswith("authors[0].sources[6].kind: Input should be")
    assert cf.config_problems("invalid twin config: (top level): Value error, author ids must be unique, repeated: mara") == [
        ("(top level)", "author ids must be unique, repeated: mara")]


def test_saving_validates_keeps_the_previous_version_and_writes_atomically(tmp_path):
    path = tmp_path / "twin.yaml"
    path.write_text(REPO_CONFIG)
    header, _ = cf.split_header(REPO_CONFIG)
    data = cf.load_data(REPO_CONFIG)
    with pytest.raises(ConfigError, match=r"authors\[0\]\.sources\[6\]"):
        cf.save_config(path, header, cf.add_source(data, "mara", "medium_export", "https://medium.com/@mara"))
    assert path.read_text() == REPO_CONFIG and not (tmp_path / cf.HISTORY_DIR).exists()
    with pytest.raises(cf.StaleConfig):
        cf.save_config(path, header, cf.add_source(data, "mara", "web", "https://mara.example"), expected_digest="0" * 16)
    assert path.read_text() == REPO_CONFIG

    kept = cf.save_config(path, header, cf.add_source(data, "mara", "web", "https://mara.example"), cf.digest(REPO_CONFIG))
    assert kept.parent == tmp_path / cf.HISTORY_DIR and kept.read_text() == REPO_CONFIG
    text = path.read_text()
    assert text.startswith(header) and "  - {kind: web, url: 'https://mara.example'}\n" in text
    assert load_config(path).authors[0].sources[-1].url == "https://mara.example"
    assert sorted(p.name for p in tmp_path.iterdir()) == [cf.HISTORY_DIR, "twin.yaml"]  # no temporary file left


def test_history_keeps_the_newest_copies(tmp_path):
    path = tmp_path / "twin.yaml"
    for n in range(5):
        path.write_text(f"version {n}\n")
        cf.keep_history(path, keep=3, now=datetime(2030, 1, 1, 0, 0, n, tzinfo=timezone.utc))
    copies = sorted((tmp_path / cf.HISTORY_DIR).iterdir())
    assert [c.read_text() for c in copies] == ["version 2\n", "version 3\n", "version 4\n"]
    assert copies[0].name == "twin.yaml.20300101T000002.000000Z"
    assert cf.keep_history(tmp_path / "missing.yaml") is None


@pytest.mark.parametrize(("name", "kind", "safe"), [
    ("Basic_LinkedInDataExport_01-02-2030.zip", "linkedin_export", "Basic_LinkedInDataExport_01-02-2030.zip"),
    ("../../etc/passwd", "linkedin_export", "passwd.zip"),
    ("C:\\Users\\mara\\medium export (1).ZIP", "medium_export", "medium-export-1.zip"),
    (".zip", "substack_export", "substack-export.zip"),
    ("", "", "export.zip"),
    ("...", "medium_export", "medium-export.zip"),
])
def test_uploaded_file_names_are_made_safe(name, kind, safe):
    assert cf.safe_filename(name, kind) == safe


def test_an_export_is_saved_only_when_it_is_a_zip_under_the_cap(tmp_path):
    config = tmp_path / "twin.yaml"
    config.write_text(REPO_CONFIG)
    archive = zip_bytes({"Shares.csv": "Date,ShareCommentary\n"})
    saved = cf.save_export(config, "../linkedin.zip", io.BytesIO(archive), "linkedin_export")
    assert saved == tmp_path / "exports" / "linkedin.zip" and saved.read_bytes() == archive
    again = cf.save_export(config, "linkedin.zip", io.BytesIO(archive), "linkedin_export")
    assert again.name == "linkedin-2.zip" and cf.relative_to_config(config, again) == "exports/linkedin-2.zip"
    for content, kind, says in [
        (b"not a zip at all", "linkedin_export", "not a zip archive"),
        (b"PK\x03\x04 but broken", "medium_export", "not a zip archive"),
        (b"", "medium_export", "empty"),
        (archive + b"x" * 2000, "medium_export", "over the 1 KiB limit"),
        (archive, "web", "only exports"),
    ]:
        with pytest.raises(cf.UploadError, match=says):
            cf.save_export(config, "x.zip", io.BytesIO(content), kind, max_bytes=1024 if len(content) > 1024 else 10**6)
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["linkedin-2.zip", "linkedin.zip"]


def test_the_view_shows_sources_as_written_and_flags_missing_paths(tmp_path):
    (tmp_path / "demo" / "blog").mkdir(parents=True)
    (tmp_path / "demo" / "blog" / "feed.xml").write_text("<rss/>")
    (author,) = cf.authors_view(cf.load_data(REPO_CONFIG), tmp_path)
    assert (author.id, author.name, author.language) == ("mara", "Mara Lindqvist", "en")
    assert [(s.kind, s.location, s.missing) for s in author.sources[:2]] == [
        ("web", "demo/blog/feed.xml", False), ("substack_export", "demo/exports/substack", True)]
    assert author.sources[4].kind == "git" and author.sources[4].location == "demo/repositories/tidy-pipes"
    assert cf.source_kind("https://github.com/mara") == "github" and cf.source_kind("https://x.example/feed") == "web"
    assert cf.authors_view({"authors": "nonsense"}, tmp_path) == [] and cf.authors_view(None, tmp_path) == []


# ---------------------------------------------------------------- the page, in a browser


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base_model):
    with ui_service(tmp_path_factory, tiny_base_model, "sources") as running:
        yield running


def history(config: Path) -> list[Path]:
    folder = config.parent / cf.HISTORY_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def described_error(page, field) -> str:
    """The text of the error a field's aria-describedby points at (and the field is marked invalid)."""
    assert field.get_attribute("aria-invalid") == "true"
    ids = field.get_attribute("aria-describedby").split()
    errors = [i for i in ids if i.endswith("-error")]
    assert errors, ids
    return page.locator(f"#{errors[0]}").inner_text()


@needs_chromium
def test_the_page_lists_the_authors_and_refuses_a_bad_source_next_to_its_field(served, chromium, request):
    service, _, config = served
    original = config.read_bytes()
    page = open_page(chromium, service)
    page.goto("/sources")
    assert page.title() == "Sources · LLM Twin"
    assert page.get_by_test_id("config-path").inner_text() == str(config)
    section = page.locator("#author-mara")
    assert section.get_by_role("heading", level=2).inner_text() == "Mara Lindqvist · mara · writes in en"
    rows = section.get_by_test_id("source")
    assert rows.count() == 6
    assert [rows.nth(i).get_attribute("data-kind") for i in range(6)] == [
        "web", "substack_export", "medium_export", "linkedin_export", "git", "git"]
    assert rows.nth(0).get_attribute("data-location") == f"{REPO_ROOT}/demo/blog/feed.xml"
    assert "(not found)" not in section.inner_text()  # the demo paths exist
    screenshot(page, request, "sources")

    # An export with a URL instead of a path: the settings' own message, next to the field; nothing written.
    form = page.locator("#add-mara")
    form.get_by_label("Kind").select_option("linkedin_export")
    form.get_by_label("URL or path").fill("https://www.linkedin.com/in/mara")
    form.get_by_role("button", name="Add source").click()
    field = page.locator("#add-mara-location")
    assert described_error(page, field) == "a linkedin_export source needs a 'path' to the archive (zip or folder)"
    assert field.input_value() == "https://www.linkedin.com/in/mara"  # what was typed is kept
    assert page.evaluate("document.activeElement.id") == "add-mara-location"
    assert config.read_bytes() == original and history(config) == []
    screenshot(page, request, "sources-invalid-path")

    # A kind the select does not offer, posted by editing the form.
    page.goto("/sources")
    page.eval_on_selector("#add-mara-kind", "s => { s.options[0].value = 'poem'; s.selectedIndex = 0; }")
    page.locator("#add-mara-location").fill("odes/")
    page.locator("#add-mara").get_by_role("button", name="Add source").click()
    kind_error = described_error(page, page.locator("#add-mara-kind"))
    assert kind_error.startswith("Input should be 'web', 'github', 'git'")
    assert page.locator("#add-mara-location").get_attribute("aria-invalid") is None
    assert config.read_bytes() == original and history(config) == []
    screenshot(page, request, "sources-invalid-kind")
    assert page.errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"] * 2


@needs_chromium
def test_good_changes_are_written_with_the_previous_version_kept(served, chromium, request):
    service, _, config = served
    page = open_page(chromium, service)
    page.goto("/sources")
    before = config.read_text()
    header, _ = cf.split_header(before)

    form = page.locator("#add-mara")
    form.get_by_label("Kind").select_option("web")
    form.get_by_label("URL or path").fill("https://mara.example/notes/feed.xml")
    form.get_by_role("button", name="Add source").click()
    page.wait_for_url(re.compile(r"/sources\?done=source-added"))
    assert "Added a source to mara. The previous version is kept as" in page.get_by_role("status").first.inner_text()
    after_add = config.read_text()
    assert after_add.startswith(header)  # the comments survive
    assert load_config(config).authors[0].sources[-1].url == "https://mara.example/notes/feed.xml"
    (kept,) = history(config)
    assert kept.read_text() == before
    rows = page.locator("#author-mara").get_by_test_id("source")
    assert rows.count() == 7 and rows.nth(6).get_by_role("link").inner_text() == "https://mara.example/notes/feed.xml"
    screenshot(page, request, "sources-added")

    # Edit it: a path relative to the config (the page says it is not there).
    rows.nth(6).get_by_text("Edit", exact=True).click()
    edit = rows.nth(6).locator("form[action='/sources/edit']")
    edit.get_by_label("Kind").select_option("git")
    edit.get_by_label("URL or path").fill("code/notes")
    edit.get_by_role("button", name="Save source").click()
    page.wait_for_url(re.compile(r"done=source-edited"))
    assert load_config(config).authors[0].sources[-1].path == str(config.parent / "code" / "notes")
    assert cf.load_data(config.read_text())["authors"][0]["sources"][-1] == {"kind": "git", "path": "code/notes"}
    assert "(not found)" in page.locator("#author-mara").get_by_test_id("source").nth(6).inner_text()
    assert len(history(config)) == 2

    # Remove it, which asks first.
    row = page.locator("#author-mara").get_by_test_id("source").nth(6)
    row.get_by_text("Remove…").click()
    screenshot(page, request, "sources-remove-confirm")
    row.get_by_role("button", name="Remove source").click()  # not confirmed: the browser asks for the box
    assert config.read_text().count("code/notes") == 1
    row.get_by_label(re.compile("Yes, remove")).check()
    row.get_by_role("button", name="Remove source").click()
    page.wait_for_url(re.compile(r"done=source-removed"))
    assert page.locator("#author-mara").get_by_test_id("source").count() == 6
    assert cf.load_data(config.read_text()) == cf.load_data(before)
    assert config.read_text().startswith(header) and len(history(config)) == 3
    screenshot(page, request, "sources-removed")
    assert page.errors == []


@needs_chromium
def test_an_export_zip_is_uploaded_and_a_file_that_is_not_a_zip_is_refused(served, chromium, request, tmp_path):
    service, _, config = served
    page = open_page(chromium, service)
    page.goto("/sources")
    archive = tmp_path / "Basic_LinkedInDataExport 2030.zip"
    archive.write_bytes(zip_bytes({"Shares.csv": "Date,SharedUrl,ShareCommentary\n2030-01-01,,Idempotent jobs matter.\n"}))
    form = page.locator("#upload-mara")
    assert "up to " in form.inner_text()
    form.get_by_label("Exported from").select_option("linkedin_export")
    form.get_by_label("Export archive (.zip)").set_input_files(str(archive))
    form.get_by_role("button", name="Upload export").click()
    page.wait_for_url(re.compile(r"done=export-uploaded"))
    saved = config.parent / "exports" / "Basic_LinkedInDataExport-2030.zip"
    assert saved.read_bytes() == archive.read_bytes()
    source = load_config(config).authors[0].sources[-1]
    assert (source.kind.value, source.path) == ("linkedin_export", str(saved))
    assert cf.load_data(config.read_text())["authors"][0]["sources"][-1] == {
        "kind": "linkedin_export", "path": "exports/Basic_LinkedInDataExport-2030.zip"}
    row = page.locator("#author-mara").get_by_test_id("source").last
    assert row.get_attribute("data-location") == "exports/Basic_LinkedInDataExport-2030.zip"
    assert "(not found)" not in row.inner_text()
    screenshot(page, request, "sources-uploaded")

    before = config.read_bytes()
    not_zip = tmp_path / "export.zip"
    not_zip.write_text("Date,ShareCommentary\n")
    form = page.locator("#upload-mara")
    form.get_by_label("Exported from").select_option("medium_export")
    form.get_by_label("Export archive (.zip)").set_input_files(str(not_zip))
    form.get_by_role("button", name="Upload export").click()
    field = page.locator("#upload-mara-file")
    assert described_error(page, field) == "the file is not a zip archive: upload the .zip the platform gave you"
    assert page.locator("#upload-mara-kind").input_value() == "medium_export"
    assert config.read_bytes() == before
    assert sorted(p.name for p in (config.parent / "exports").iterdir()) == ["Basic_LinkedInDataExport-2030.zip"]
    screenshot(page, request, "sources-upload-refused")
    assert page.errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]


@needs_chromium
def test_an_author_is_added_with_the_keyboard_only(served, chromium, request):
    service, _, config = served
    page = open_page(chromium, service)
    page.goto("/sources")
    page.locator("h1").click()
    for _ in range(120):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "author-id":
            break
    else:
        raise AssertionError("Tab never reached the new author's id")
    page.keyboard.type("mara")  # taken: the settings say so, next to the id
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "author-name"
    page.keyboard.type("Another Mara")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    field = page.locator("#author-id")
    assert described_error(page, field) == "author ids must be unique, repeated: mara"
    assert page.evaluate("document.activeElement.id") == "author-id"  # the page puts the cursor on the problem
    screenshot(page, request, "sources-author-invalid")

    page.keyboard.press("Control+A")
    page.keyboard.type("omar")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("Omar Khalil")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "author-language"
    page.keyboard.press("Control+A")
    page.keyboard.type("sv")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Add author"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"done=author-added"))
    omar = load_config(config).author("omar")
    assert (omar.name, omar.language, omar.sources) == ("Omar Khalil", "sv", ())
    section = page.locator("#author-omar")
    assert section.get_by_role("heading", level=2).inner_text() == "Omar Khalil · omar · writes in sv"
    assert "No sources yet." in section.inner_text()
    screenshot(page, request, "sources-author-added")
    assert page.errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]
