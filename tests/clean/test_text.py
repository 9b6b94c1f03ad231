"""Each cleaning rule, with the text before and after."""

import pytest

from twin_assets.clean.text import (
    clean_code,
    clean_prose,
    clean_text,
    edge_lines,
    is_boilerplate_line,
    plain_letters,
    remove_edge_lines,
    strip_tracking,
    word_count,
)


def test_html_remnants_are_removed_and_entities_decoded():
    before = "Hello<br>world &amp; friends, <span class=\"x\">this</span> stays.<!-- tracking pixel -->"
    assert clean_prose(before) == "Hello\nworld & friends, this stays."


def test_inline_and_fenced_code_keep_their_markup_and_indentation():
    before = (
        "Use `<div>` and `a &amp; b` as written.\n\n"
        "```\n"
        "def f(x):\n"
        "    return \"<b>\" if x else '&amp;'\n"
        "```"
    )
    assert clean_prose(before) == before


def test_paragraphs_lists_punctuation_and_emoji_are_kept():
    before = "First paragraph — with punctuation!?\n\n- one\n  - nested\n- two 🧪\n\nA family: 👩‍👩‍👧 stays whole."
    assert clean_prose(before) == before


def test_runs_of_blank_lines_collapse_and_trailing_spaces_go():
    assert clean_prose("one   \n\n\n\n\ntwo\t\n") == "one\n\ntwo"


def test_invisible_characters_go_and_odd_spaces_become_spaces():
    assert clean_prose("zero\u200bwidth\u00a0space soft\u00adhyphen") == "zerowidth space softhyphen"


@pytest.mark.parametrize(
    "line",
    [
        "Subscribe now",
        "Subscribe for free to receive new posts and support my work.",
        "Thanks for reading Plain Pipelines! Subscribe for free to receive new posts.",
        "Follow me on LinkedIn for more",
        "**Share this post**",
        "Originally published at mara.example.com.",
        "Home | About | Archive | RSS",
        "Like · Comment · Repost · Send",
        "© 2025 Mara Lindqvist",
        "Photo by Someone on Unsplash",
        "Member-only story",
        "Next post: Why my pipelines fail at night",
        "← Older posts",
        "5 min read",
        "If you enjoyed this, share it with a friend who runs pipelines.",
    ],
)
def test_boilerplate_lines_are_recognised(line):
    assert is_boilerplate_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Subscribe the consumer to the Kafka topic before producing messages.",
        "I follow a simple rule: every table has a key.",
        "Share nothing between jobs except the lake.",
        "We joined the two tables on the natural key and it was fine.",
        "Next is creating a storage bucket (adding the below to main.tf).",
        "Next we need to create an S3 bucket",
        "Sign up flows are where most of our events come from, and I wrote about why that matters for "
        "anyone who owns a product analytics pipeline and wants their free time back now and then.",
    ],
)
def test_the_authors_own_sentences_are_not_boilerplate(line):
    assert not is_boilerplate_line(line)


def test_boilerplate_and_image_only_lines_leave_the_text():
    before = (
        "Home | About | RSS\n\n"
        "The real first paragraph.\n\n"
        "![architecture diagram](https://cdn.example.com/diagram.png)\n\n"
        "https://cdn.example.com/photo.jpg?w=800\n\n"
        "A sentence with an ![inline](x.png) image stays.\n\n"
        "Thanks for reading! Subscribe for free to receive new posts."
    )
    assert clean_prose(before) == "The real first paragraph.\n\nA sentence with an ![inline](x.png) image stays."


def test_styled_unicode_letters_become_plain_letters_and_emoji_stay():
    assert plain_letters("𝗕𝗼𝗹𝗱 𝘪𝘵𝘢𝘭𝘪𝘤 𝚖𝚘𝚗𝚘 𝟭𝟮𝟯 Ｆｕｌｌ Ⓒircled 🚀") == "Bold italic mono 123 Full Circled 🚀"
    assert plain_letters("Ärger, naïve, 日本語") == "Ärger, naïve, 日本語"


def test_styled_boilerplate_is_recognised_after_mapping():
    assert clean_prose("Real point.\n\n𝘍𝘰𝘭𝘭𝘰𝘸 𝘮𝘦 𝘧𝘰𝘳 𝘮𝘰𝘳𝘦. 🔔") == "Real point."


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("https://a.example/p?utm_source=x&utm_medium=y", "https://a.example/p"),
        ("https://a.example/p?id=7&utm_campaign=z&fbclid=abc", "https://a.example/p?id=7"),
        ("https://www.linkedin.com/posts/x?trk=public_post&lipi=abc", "https://www.linkedin.com/posts/x"),
        ("https://medium.com/@m/post-1?source=rss----1", "https://medium.com/@m/post-1"),
        ("https://mara.substack.com/p/x?r=2abc&utm_medium=email", "https://mara.substack.com/p/x"),
        # `source` and `r` mean something elsewhere, so they stay
        ("https://search.example/?q=dbt&source=docs", "https://search.example/?q=dbt&source=docs"),
        ("https://a.example/p", "https://a.example/p"),
    ],
)
def test_tracking_parameters_leave_urls(before, after):
    assert strip_tracking(before) == after


def test_tracking_parameters_leave_links_inside_text():
    before = "Read it here: https://mara.example.com/posts/x.html?utm_source=linkedin&utm_medium=social."
    assert clean_prose(before) == "Read it here: https://mara.example.com/posts/x.html."


def test_code_keeps_indentation_and_tabs_and_loses_only_line_noise():
    before = "\ufeffdef f():\r\n\tif True:   \r\n\t\treturn 1\r\n\r\n"
    assert clean_code(before) == "def f():\n\tif True:\n\t\treturn 1"


def test_clean_text_dispatches_on_category():
    html_like = "<b>x</b> &amp; y"
    assert clean_text(html_like, "post") == "x & y"
    assert clean_text(html_like, "repository") == html_like
    assert clean_text(None, "article") == ""


def test_repeated_sign_offs_are_removed_only_at_the_edges():
    text = "Hi friends,\n\nBody line one.\n\nUntil next week,\nMara"
    assert edge_lines(text, head=1, tail=2) == ["hi friends", "mara", "until next week"]
    repeated = ["hi friends", "until next week", "mara"]
    assert remove_edge_lines(text, repeated) == "Body line one."
    middle = "Intro.\n\n" + "\n".join(f"Point {i}." for i in range(8)) + "\n\nMara\n\n" + "\n".join(
        f"More {i}." for i in range(8)
    )
    assert "Mara" in remove_edge_lines(middle, repeated)  # the same words mid-text are content
    assert remove_edge_lines(text, None) == text


def test_repeated_headings_are_structure_not_signatures():
    text = "## Covered topics\n\nBody.\n\n## Results\n\nSee you tomorrow"
    assert edge_lines(text) == ["body", "see you tomorrow"]
    assert remove_edge_lines(text, ["covered topics", "results", "see you tomorrow"]) == (
        "## Covered topics\n\nBody.\n\n## Results"
    )


def test_word_count():
    assert word_count("one two\nthree\t four") == 4
    assert word_count("") == 0 and word_count(None) == 0
