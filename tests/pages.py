"""Fixture pages written for the tests: articles, feeds and the pages crawlers meet in the wild."""

from __future__ import annotations

from html import escape

PARAGRAPH = (
    "Pipelines fail at night because nobody told them what good input looks like. "
    "A contract that runs before anything downstream reads new data keeps yesterday's numbers in place. "
)


def article(title: str, body: str | None = None, canonical: str | None = None, date: str = "2025-03-01") -> str:
    body = body if body is not None else f"<p>{PARAGRAPH * 2}</p><p>{PARAGRAPH}</p>"
    canonical_link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
{canonical_link}<meta name="author" content="Test Author">
<meta property="article:published_time" content="{date}T08:00:00+00:00"></head>
<body><nav><a href="/">Home</a></nav><article><h1>{escape(title)}</h1>{body}</article>
<footer>Footer text</footer></body></html>"""


def rss(links: list[tuple[str, str]]) -> str:
    items = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(u)}</link><pubDate>Sat, 01 Mar 2025 08:00:00 +0000</pubDate></item>"
        for u, t in links
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title><link>http://x/</link>{items}</channel></rss>'


def atom(links: list[tuple[str, str]]) -> str:
    entries = "".join(
        f'<entry><title>{escape(t)}</title><link href="{escape(u)}"/><id>{escape(u)}</id>'
        f"<updated>2025-03-01T08:00:00Z</updated></entry>"
        for u, t in links
    )
    return f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>{entries}</feed>'


BOT_CHALLENGE = """<!DOCTYPE html><html><head><title>Just a moment...</title></head>
<body><div id="challenge-platform">Checking your browser before accessing the site.</div>
<noscript>Enable JavaScript and cookies to continue</noscript></body></html>"""

PAYWALL = """<!DOCTYPE html><html><head><title>Premium piece</title></head><body><article><h1>Premium piece</h1>
<p>The opening lines of a story that continue behind the wall.</p>
<p>This post is for paid subscribers. Subscribe to continue reading.</p></article></body></html>"""

EMPTY = """<!DOCTYPE html><html><head><title>Nothing here</title></head><body><nav>Home</nav></body></html>"""

MALFORMED = (
    "<html><head><title>Broken markup</title><body><article><h1>Broken markup<p>"
    + PARAGRAPH * 3
    + "<p>Unclosed <b>bold and <i>italic "
    + PARAGRAPH
    + "</div></span><ul><li>item one<li>item two</article>"
)
