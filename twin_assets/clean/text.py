"""Cleaning rules for one document's text: keep the author's voice, drop what is not theirs.

Kept: paragraph breaks, lists, emoji, punctuation, fenced code with its indentation, and the
greetings, lead-ins and sign-offs an author repeats in every piece (they are the author's voice).
Removed: HTML remnants, navigation, subscribe/follow/share calls, platform chrome and footers,
image-only lines, tracking parameters in links, invisible characters, and the contact and
profile lines a signature template repeats at the start or end of an author's pieces. Unicode
"styled" letters (the bold and italic alphabets pasted into LinkedIn) become plain letters.

These functions are registered on the dbt DuckDB connection (see `duckdb_functions`), so the
SQL models and the Python tests run exactly the same code.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PROSE_CATEGORIES = frozenset({"article", "post"})

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")

# Unicode ranges whose letters and digits are typographic variants of plain ASCII ones.
_STYLED_RANGES = (
    (0x1D400, 0x1D7FF),  # Mathematical Alphanumeric Symbols: 𝗯𝗼𝗹𝗱, 𝘪𝘵𝘢𝘭𝘪𝘤, 𝚖𝚘𝚗𝚘, 𝟭𝟮𝟯
    (0xFF01, 0xFF5E),  # fullwidth ASCII: Ｈｅｌｌｏ
    (0x24B6, 0x24E9),  # circled letters: Ⓗⓔⓛⓛⓞ
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"), None)  # ZWJ (U+200D) stays: emoji need it
_SPACES = {ord(c): " " for c in "\u00a0\u2007\u202f\u2009\u200a"}

_BREAK_TAG = re.compile(r"<\s*(br|/p|p|/div|div|/li|hr)\b[^<>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9:-]*(\s+[^<>]*)?/?>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

_URL = re.compile(r"https?://[^\s<>()\[\]\"']*[^\s<>()\[\]\"'.,;:!?]")  # sentence punctuation is not part of it
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi",
        "mkt_tok", "trk", "trkinfo", "trackingid", "lipi", "li_fat_id", "ref_src", "ref_url", "vero_id",
        "oly_enc_id", "spm", "sk", "source", "r", "publication_id", "post_id", "isfreemail",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_",)
# "source", "r", "sk" mean tracking only on the platforms that add them; elsewhere they may be real.
_PLATFORM_ONLY_PARAMS = frozenset({"source", "r", "sk", "publication_id", "post_id", "isfreemail"})
_PLATFORM_HOSTS = ("medium.com", "substack.com")

# Lines a platform or template adds, by rule: the name is what `removals_by_rule` counts.
_BOILERPLATE_RULES = {
    "call_to_action": r"""
        (subscribe|sign\ up|join)\b.*\b(newsletter|free|inbox|posts|updates|subscribers?|now|today)\b.*
      | subscribe( now)?
      | thanks\ for\ reading\b.*\b(subscribe|share)\b.*
      | (follow|connect\ with)\ (me|us)\b.*
      | (if\ you\ (enjoyed|liked)\ this|enjoyed\ this)\b.*\b(share|subscribe|follow|clap|repost)\b.*
      | share(\ this)?(\ (post|article|story))?
      | leave\ a\ comment | write\ a\ comment""",
    "platform_chrome": r"""
        \d+\ (comments?|likes?|reposts?)
      | (like|comment|repost|share|send)(\s*[·|•]\s*(like|comment|repost|share|send))+
      | open\ in\ app | sign\ in | get\ started | listen | member-only\ story | \d+\ min\ read
      | responses?(\ \(\d+\))? | more\ from\ .+ | recommended\ from\ medium | see\ all\ from\ .+
      | originally\ published\ (at|on|in)\b.*""",
    "navigation": r"""
        (previous|next)\ (post|article|story)\s*:\s.*  # a bare "Next: ..." is as often the author's
      | [←«]?\s*(previous|next|older|newer)(\ (post|posts|article|story))?\s*[→»]?
      | (home|about|archive|blog|contact|tags|rss|newsletter)(\s*[|·•/]\s*(home|about|archive|blog|contact|tags|rss|newsletter))+""",
    "footer": r"""
        ©\s.* | (\(c\)|copyright)\s+(©\s*)?\d{4}\b.*  # "(c)" alone also labels the author's list items
      | .*\ball\ rights\ reserved\b.*
      | (photo|image|illustration)\ (by|credit|via|courtesy)\b.*""",
}
_BOILERPLATE = {
    name: re.compile(rf"^({pattern})$", re.IGNORECASE | re.VERBOSE) for name, pattern in _BOILERPLATE_RULES.items()
}
_BOILERPLATE_MAX_WORDS = 30  # longer lines are the author's prose even if they mention subscribing

_IMAGE_ONLY = re.compile(
    r"""^(
        (\[?!\[[^\]]*\]\([^)]*\)(\]\([^)]*\))?\s*)+
      | https?://\S+\.(png|jpe?g|gif|webp|svg|avif)(\?\S*)?
      | \[(image|photo|img)[^\]]*\]
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

_BLANK_RUNS = re.compile(r"\n{3,}")

# What a profile, contact or signature template is made of: links, e-mail addresses, @handles.
_CONTACT_TOKEN = re.compile(
    r"""https?://\S+ | www\.\S+ | [\w.+-]+@[\w-]+(\.[\w-]+)+ | (?<![\w@])@\w{2,}
      | \b[\w-]+(\.[\w-]+)*\.(com|org|net|io|dev|me|co|ai|app|blog)\b(/\S*)?""",
    re.IGNORECASE | re.VERBOSE,
)
_CONTACT_LABEL_MAX_WORDS = 5  # "Connect with me on LinkedIn" labels a link; a longer line is the author's sentence
_SIGN_OFF_WORDS = re.compile(r"[\w']+")


def plain_letters(text: str) -> str:
    """Map styled letters and digits (bold, italic, script, fullwidth, circled) to plain ones."""
    if text.isascii():
        return text
    out = []
    for char in text:
        code = ord(char)
        if any(low <= code <= high for low, high in _STYLED_RANGES):
            out.append(unicodedata.normalize("NFKC", char))
        else:
            out.append(char)
    return "".join(out)


def strip_tracking(url: str) -> str:
    """Drop tracking query parameters (utm_*, fbclid, LinkedIn's trk, Medium's source=...) from a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    host = (parts.hostname or "").lower()
    on_platform = any(host == h or host.endswith("." + h) for h in _PLATFORM_HOSTS)

    def is_tracking(name: str) -> bool:
        name = name.lower()
        if name.startswith(_TRACKING_PREFIXES):
            return True
        if name in _PLATFORM_ONLY_PARAMS:
            return on_platform
        return name in _TRACKING_PARAMS

    params = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in params if not is_tracking(k)]
    if len(kept) == len(params):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _strip_tracking_in_text(text: str) -> str:
    return _URL.sub(lambda m: strip_tracking(m.group(0)), text)


def _strip_html(text: str) -> str:
    text = _HTML_COMMENT.sub("", text)
    text = _BREAK_TAG.sub("\n", text)
    return html.unescape(_HTML_TAG.sub("", text))


def _outside_inline_code(line: str, transform) -> str:
    """Apply `transform` to the parts of a line that are not `inline code`."""
    pieces, last = [], 0
    for match in _INLINE_CODE.finditer(line):
        pieces.append(transform(line[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(transform(line[last:]))
    return "".join(pieces)


def boilerplate_rule(line: str) -> str | None:
    """Which boilerplate rule a line falls under (navigation, subscribe/follow calls, platform
    chrome, footers and credits), or None when it is the author's."""
    stripped = line.strip().strip("*_#>- ").strip()
    if not stripped or len(stripped.split()) > _BOILERPLATE_MAX_WORDS:
        return None
    return next((name for name, pattern in _BOILERPLATE.items() if pattern.match(stripped)), None)


def is_boilerplate_line(line: str) -> bool:
    return boilerplate_rule(line) is not None


def is_image_only_line(line: str) -> bool:
    return bool(_IMAGE_ONLY.match(line.strip()))


def _removal_rule(line: str) -> str | None:
    return "image_only" if is_image_only_line(line) else boilerplate_rule(line)


def _clean_prose_line(line: str) -> list[tuple[str, str | None]]:
    """The line's pieces, each with the rule that removes it (None: kept)."""
    line = plain_letters(line.translate(_INVISIBLE).translate(_SPACES))
    line = _outside_inline_code(line, lambda part: _strip_tracking_in_text(_strip_html(part)))
    pieces = (piece.rstrip() for piece in line.split("\n"))  # a <br> or </p> remnant may have split the line
    return [(piece, _removal_rule(piece)) for piece in pieces]


def _judged_prose_lines(text: str) -> list[tuple[str, str | None]]:
    """Every line of an article or post with the rule that removes it (None: kept); lines of
    fenced code blocks are always kept."""
    out: list[tuple[str, str | None]] = []
    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append((line.rstrip(), None))
        elif in_fence:
            out.append((line.rstrip(), None))
        else:
            out.extend(_clean_prose_line(line))
    return out


def _collapse_blank_lines(lines: list[str]) -> str:
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def clean_prose(text: str) -> str:
    """Clean an article or post; fenced code blocks pass through untouched."""
    return _collapse_blank_lines([line for line, rule in _judged_prose_lines(text) if rule is None])


def removals_by_rule(text: str) -> Counter[str]:
    """How many lines of an article or post `clean_prose` removes, by rule: what the cleaning
    report counts."""
    return Counter(rule for _, rule in _judged_prose_lines(text) if rule is not None)


def clean_code(text: str) -> str:
    """Source files keep every character that matters; only line endings and trailing spaces change."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def clean_text(text: str | None, category: str) -> str:
    if text is None:
        return ""
    return clean_prose(text) if category in PROSE_CATEGORIES else clean_code(text)


def normalize_line(line: str) -> str:
    """A line's identity for spotting repeats: case, spacing and punctuation do not matter."""
    return " ".join(_SIGN_OFF_WORDS.findall(line.lower()))


def _edge_indexes(lines: list[str], head: int, tail: int) -> list[int]:
    # Headings are structure, not greetings or signatures, even when every piece repeats them.
    filled = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    return filled[:head] + filled[-tail:] if len(filled) > head + tail else filled


def edge_lines(text: str, head: int = 2, tail: int = 4) -> list[str]:
    """The normalized first and last lines of a text, where greetings, sign-offs and signatures live."""
    lines = text.split("\n")
    return sorted({normalize_line(lines[i]) for i in _edge_indexes(lines, head, tail)} - {""})


def is_contact_line(line: str) -> bool:
    """A profile, contact or signature-template line: links, e-mail addresses or @handles with at
    most a short label ("Find me on Twitter @jane", "jane.dev · github.com/jane")."""
    if not _CONTACT_TOKEN.search(line):
        return False
    return len(_SIGN_OFF_WORDS.findall(_CONTACT_TOKEN.sub(" ", line))) <= _CONTACT_LABEL_MAX_WORDS


def _repeated_edge_indexes(lines: list[str], repeated: set[str], head: int, tail: int) -> list[int]:
    return [i for i in _edge_indexes(lines, head, tail) if normalize_line(lines[i]) in repeated]


def repeated_edge_lines(text: str, repeated: list[str], head: int = 2, tail: int = 4) -> list[str]:
    """The lines at the start or end of a text that are among the author's `repeated` edge lines."""
    lines = text.split("\n")
    return [lines[i] for i in _repeated_edge_indexes(lines, set(repeated), head, tail)]


def remove_repeated_edge_lines(
    text: str, repeated: list[str] | None, removable: Callable[[str], bool] = is_contact_line, head: int = 2, tail: int = 4,
) -> str:
    """Remove the `removable` lines among those an author repeats at the start or end of documents.

    By default those are contact and profile lines a signature template adds: greetings, lead-ins
    and sign-offs the author repeats are the author's voice, and a twin should learn them.
    """
    if not repeated:
        return text
    lines = text.split("\n")
    drop = {i for i in _repeated_edge_indexes(lines, set(repeated), head, tail) if removable(lines[i])}
    return _collapse_blank_lines([line for i, line in enumerate(lines) if i not in drop])


def word_count(text: str | None) -> int:
    return len(text.split()) if text else 0
