"""HTML to plain text that keeps the author's shape: paragraphs, headings, lists, quotes, code.

newspaper4k's own `text` flattens code blocks onto one line; this walks the extracted
article HTML instead and writes Markdown-like text with code indentation intact.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html

BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "header", "footer", "main", "aside", "figure", "figcaption", "table", "tr"}
)
HEADING_LEVELS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "form", "button", "nav"})
_INLINE_SPACE = re.compile(r"[ \t\r\n\f\v]+")


def _inline_child(child) -> str:
    if not isinstance(child.tag, str) or child.tag in SKIPPED_TAGS:
        return ""
    if child.tag == "br":
        return "\n"
    if child.tag == "code":
        return "`" + (child.text_content() or "") + "`"
    return _inline_text(child)


def _inline_text(element) -> str:
    parts = [element.text or ""]
    for child in element:
        parts.append(_inline_child(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _normalise_inline(text: str) -> str:
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _is_block(element) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag in BLOCK_TAGS or tag in {"ul", "ol", "pre", "blockquote", "p"} or tag in HEADING_LEVELS


def _has_block_child(element) -> bool:
    return any(_is_block(c) for c in element)


def _blocks(element, out: list[str], list_depth: int = 0) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in SKIPPED_TAGS:
        return
    if tag == "pre":
        code = element.text_content().strip("\n")
        if code.strip():
            out.append("```\n" + code.rstrip() + "\n```")
        return
    if tag in HEADING_LEVELS:
        text = _normalise_inline(_inline_text(element))
        if text:
            out.append("#" * HEADING_LEVELS[tag] + " " + text)
        return
    if tag in {"ul", "ol"}:
        items: list[str] = []
        number = 0
        for child in element:
            if not isinstance(child.tag, str) or child.tag != "li":
                continue
            number += 1
            marker = f"{number}." if tag == "ol" else "-"
            nested: list[str] = []
            own = [c for c in child if isinstance(c.tag, str) and c.tag in {"ul", "ol"}]
            for sub in own:
                _blocks(sub, nested, list_depth + 1)
                sub.drop_tree()
            text = _normalise_inline(_inline_text(child)).replace("\n", " ")
            items.append("  " * list_depth + f"{marker} {text}")
            items.extend(nested)
        if items:
            out.append("\n".join(items))
        return
    if tag == "blockquote":
        inner: list[str] = []
        if _has_block_child(element):
            for child in element:
                _blocks(child, inner, list_depth)
        else:
            inner.append(_normalise_inline(_inline_text(element)))
        quoted = "\n".join("> " + line if line else ">" for line in "\n\n".join(inner).split("\n"))
        if inner:
            out.append(quoted)
        return
    if tag in {"img", "hr"}:
        return
    if _has_block_child(element):
        # Inline runs between blocks become paragraphs of their own.
        pending = [element.text or ""]

        def flush() -> None:
            text = _normalise_inline("".join(pending))
            pending.clear()
            if text:
                out.append(text)

        for child in element:
            if _is_block(child):
                flush()
                _blocks(child, out, list_depth)
            else:
                pending.append(_inline_child(child))
            pending.append(child.tail or "")
        flush()
        return
    text = _normalise_inline(_inline_text(element))
    if text:
        out.append(text)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML fragment or page; blocks are separated by one blank line."""
    if not markup or not markup.strip():
        return ""
    root = lxml_html.fromstring(markup)
    body = root.find(".//body")
    out: list[str] = []
    _blocks(body if body is not None else root, out)
    return "\n\n".join(block for block in out if block.strip())


def drop_title_heading(text: str, title: str | None) -> str:
    """Pages repeat their title as the first heading; the title column already holds it."""
    if title:
        first, _, rest = text.partition("\n\n")
        if first.lstrip("#").strip() == title.strip() and first.startswith("#"):
            return rest.lstrip()
    return text
