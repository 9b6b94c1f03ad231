from pathlib import Path

import pytest

from twin_assets.settings import ConfigError, SourceKind, load_config, parse_config, twin_home


def config_with(*sources, base=Path("/base")):
    return parse_config({"authors": [{"id": "jane", "name": "Jane", "sources": list(sources)}]}, base)


def test_source_kinds_are_inferred_and_paths_resolved():
    sources = config_with(
        "https://jane.example.com/feed.xml",
        "https://github.com/jane",
        "https://gitlab.example.com/jane/notes.git",
        "code/side-project",
        {"kind": "linkedin_export", "path": "exports/li.zip"},
        {"kind": "web", "path": "site/feed.xml"},
    ).authors[0].sources
    assert [s.kind for s in sources] == [
        SourceKind.web, SourceKind.github, SourceKind.git, SourceKind.git, SourceKind.linkedin_export, SourceKind.web,
    ]
    assert sources[3].path == "/base/code/side-project"
    assert sources[4].path == "/base/exports/li.zip"
    assert sources[5].url == "file:///base/site/feed.xml" and sources[5].path is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"kind": "myspace", "url": "https://x"}, "authors[0].sources[0].kind"),
        ({"kind": "web", "url": "https://x", "colour": "red"}, "authors[0].sources[0].colour: Extra inputs"),
        ({"kind": "linkedin_export", "url": "https://x"}, "needs a 'path'"),
        ({"kind": "web", "url": "https://x", "path": "y"}, "exactly one of 'url' or 'path'"),
        ({"kind": "web", "url": "ftp://x"}, "must start with http://"),
        ("exports/archive.zip", "cannot tell which platform exported"),
    ],
)
def test_bad_sources_fail_with_the_field_named(source, message):
    with pytest.raises(ConfigError, match="invalid twin config") as error:
        config_with(source)
    assert message in str(error.value)


def test_bad_authors_fail_early():
    with pytest.raises(ConfigError, match=r"authors\[0\]\.id"):
        parse_config({"authors": [{"id": "Jane Doe", "name": "J"}]}, Path("."))
    with pytest.raises(ConfigError, match="repeated: jane"):
        parse_config({"authors": [{"id": "jane", "name": "J"}, {"id": "jane", "name": "K"}]}, Path("."))
    with pytest.raises(ConfigError, match="authors: Field required"):
        parse_config({"writers": []}, Path("."))
    with pytest.raises(ConfigError, match="unknown author 'bob'; twin.yaml has: jane"):
        config_with().author("bob")


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="twin config not found"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("authors: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_the_bundled_demo_config_loads():
    config = load_config(Path(__file__).resolve().parents[1] / "twin.yaml")
    assert [a.id for a in config.authors] == ["mara"]
    assert all(Path(s.path).exists() for s in config.authors[0].sources if s.path)


def test_twin_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TWIN_HOME", "s3://bucket/prefix")
    assert twin_home() == "s3://bucket/prefix"
    monkeypatch.setenv("TWIN_HOME", str(tmp_path / "rel" / ".." / "home"))
    assert twin_home() == str(tmp_path / "home")
