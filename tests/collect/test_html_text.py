from twin_assets.collect.html_text import drop_title_heading, html_to_text


def test_structure_is_kept_as_markdown_like_text():
    text = html_to_text(
        "<div><h2>Plan</h2><p>First &amp; <em>foremost</em> 🚀<br>new line</p>"
        "<ol><li>one</li><li>two<ul><li>nested</li></ul></li></ol>"
        "<blockquote><p>said once</p><p>said twice</p></blockquote>"
        "<pre><code>if x:\n    return 1\n</code></pre><script>track()</script><img src='a.png'></div>"
    )
    assert text == (
        "## Plan\n\nFirst & foremost 🚀\nnew line\n\n1. one\n2. two\n  - nested\n\n"
        "> said once\n>\n> said twice\n\n```\nif x:\n    return 1\n```"
    )


def test_inline_code_and_loose_text():
    assert html_to_text("<div>Use <code>make test</code> first.<p>Then more.</p>tail</div>") == (
        "Use `make test` first.\n\nThen more.\n\ntail"
    )


def test_empty_markup():
    assert html_to_text("") == "" and html_to_text("<html><body><nav>menu</nav></body></html>") == ""


def test_drop_title_heading_only_when_it_repeats_the_title():
    assert drop_title_heading("# Hello\n\nBody", "Hello") == "Body"
    assert drop_title_heading("# Other\n\nBody", "Hello") == "# Other\n\nBody"
    assert drop_title_heading("Hello\n\nBody", "Hello") == "Hello\n\nBody"
    assert drop_title_heading("# Hello\n\nBody", None) == "# Hello\n\nBody"
