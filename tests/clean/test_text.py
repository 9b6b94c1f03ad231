"""Each cleaning rule, with the text before and after."""

import pytest

from tests.clean.voice import cleaned_daily_post, daily_post
from twin_assets.clean.text import (
    boilerplate_rule,
    clean_code,
    clean_prose,
    clean_text,
    edge_lines,
    is_boilerplate_line,
    is_contact_line,
    plain_letters,
    removals_by_rule,
    remove_repeated_edge_lines,
    repeated_edge_lines,
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
        "Copyright 2025 Mara Lindqvist",
        "Jane Doe. All rights reserved.",
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
        "- Previous: how many times the customer was called before (numeric)",
        "(c) Weekend traffic: fewer commuters, more trips to the parks",
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


def test_removals_are_counted_by_rule():
    before = (
        "Home | About | RSS\n"
        "![diagram](https://cdn.example.com/d.png)\n"
        "The real paragraph.\n"
        "```\nShare\n```\n"  # code is never boilerplate
        "5 min read\n"
        "Subscribe now\n"
        "© 2025 Mara Lindqvist"
    )
    assert removals_by_rule(before) == {
        "navigation": 1, "image_only": 1, "platform_chrome": 1, "call_to_action": 1, "footer": 1,
    }
    assert boilerplate_rule("The real paragraph.") is None
    assert removals_by_rule(clean_prose(before)) == {}


@pytest.mark.parametrize(
    "line",
    [
        "Find me on Twitter @jane",
        "Follow me on LinkedIn: https://linkedin.com/in/jane",
        "jane.dev · github.com/jane",
        "[Twitter](https://twitter.com/jane) | [GitHub](https://github.com/jane)",
        "Questions? jane@example.com",
    ],
)
def test_contact_and_profile_lines_are_recognised(line):
    assert is_contact_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Hello :) Today is Day 12!",
        "That is all for today!",
        "Cheers,",
        "Jane",
        "I moved the service from Flask to Node.js this week",
        "All the code for this series lives at https://github.com/jane/series, and it runs on a laptop.",
    ],
)
def test_the_authors_lines_are_not_contact_lines(line):
    assert not is_contact_line(line)


def _clean_pieces(bodies: list[str]) -> list[str]:
    """clean_prose, then the repeated-edge rule over all pieces, as int_documents runs them."""
    staged = [clean_prose(daily_post(body)) for body in bodies]
    counts: dict[str, int] = {}
    for text in staged:
        for line in edge_lines(text):
            counts[line] = counts.get(line, 0) + 1
    repeated = sorted(line for line, n in counts.items() if n >= 3)
    return [remove_repeated_edge_lines(text, repeated) for text in staged]


def test_the_authors_repeated_lines_stay_and_template_lines_go():
    bodies = ["* trained a model", "* read a paper", "* wrote a parser"]
    for body, after in zip(bodies, _clean_pieces(bodies), strict=True):
        assert after == cleaned_daily_post(body)
    # in fewer pieces than the threshold a contact line may be the author's: it stays
    assert all(after.endswith("\nFind me on Twitter @jane") for after in _clean_pieces(bodies[:2]))


def test_repeated_edge_lines_lists_the_repeated_lines_at_the_edges_only():
    text = "Hi friends,\n\nBody line one.\n\nUntil next week,\nMara\nmara.dev"
    repeated = ["hi friends", "until next week", "mara", "mara dev", "body line one"]
    assert repeated_edge_lines(text, repeated, head=1, tail=3) == ["Hi friends,", "Until next week,", "Mara", "mara.dev"]
    assert remove_repeated_edge_lines(text, repeated, head=1, tail=3) == (
        "Hi friends,\n\nBody line one.\n\nUntil next week,\nMara"
    )
    assert remove_repeated_edge_lines(text, None) == text


def test_a_repeated_contact_line_in_the_middle_is_content():
    middle = "Intro.\n\n" + "\n".join(f"Point {i}." for i in range(8)) + "\n\njane.dev\n\n" + "\n".join(
        f"More {i}." for i in range(8)
    )
    assert remove_repeated_edge_lines(middle, ["jane dev"]) == middle


def test_any_repeated_edge_line_can_be_removed_when_asked():
    text = "Hi friends,\n\nBody.\n\nUntil next week,\nMara"
    assert remove_repeated_edge_lines(text, ["hi friends", "mara"], removable=lambda line: True) == (
        "Body.\n\nUntil next week,"
    )


def test_repeated_headings_are_structure_not_signatures():
    text = "## Covered topics\n\nBody.\n\n## Results\n\njane.dev"
    assert edge_lines(text) == ["body", "jane dev"]
    assert remove_repeated_edge_lines(text, ["covered topics", "results", "jane dev"]) == (
        "## Covered topics\n\nBody.\n\n## Results"
    )


def test_word_count():
    assert word_count("one two\nthree\t four") == 4
    assert word_count("") == 0 and word_count(None) == 0
