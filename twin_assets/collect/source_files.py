"""Recognising source files that must not be kept: binary-looking, minified, or holding a secret.

The repository collector skips such files, and the raw_repositories expectation suite checks the
stored rows against the same patterns, in case one slipped through. Pages have their own markers
(pages.py); a scraper's code that quotes a bot-challenge phrase is still the author's code.
(Not named secrets.py: that would shadow the standard library module of the same name.)
"""

from __future__ import annotations

import re

# The expectation suite runs these patterns through pandas on Arrow strings, that is through RE2:
# they keep to the syntax RE2 and Python's re share (no lookaround, no repeat count above 1000).

# Text that decodes as UTF-8 yet is binary data: a NUL, or control characters in a row.
# Tab, newline, form feed and carriage return are left out: plain text uses them.
BINARY_TEXT_PATTERN = r"\x00|[\x01-\x08\x0b\x0e-\x1f\x7f]{4}"
# Minifiers and generators write lines no person writes; a README written one paragraph per
# line stays well below this. Anchored at line starts, so Python's re searches in linear time.
MAX_LINE_CHARS = 3_000
MINIFIED_TEXT_PATTERN = r"(?m)^" + r".{1000}" * (MAX_LINE_CHARS // 1000)
# Credentials that must never reach training data, in the shapes their issuers document.
SECRET_PATTERNS = (
    # A private key with its body: a bare header, as in key-handling code, holds no key.
    r"-----BEGIN[ A-Z0-9]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]{64,}?"
    r"-----END[ A-Z0-9]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",  # AWS access key ids
    # GitHub tokens: classic personal, OAuth, user-to-server, server-to-server, refresh; fine-grained.
    r"\bgh[pousr]_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{82}\b",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack tokens: xoxb- (bot), xoxp- (user) and their kin
    # A credential-named variable or key assigned a quoted literal of 20+ characters with no space:
    # issued values are long random strings; placeholders ("<your key>", "changeme") are not.
    r"(?i)(?:api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|password|passwd|secret|token)[\"']?\s*[:=]\s*"
    r"[\"'][a-z0-9+/=_.-]{20,}[\"']",
)
_BINARY_TEXT = re.compile(BINARY_TEXT_PATTERN)
_MINIFIED_TEXT = re.compile(MINIFIED_TEXT_PATTERN)
_SECRETS = tuple(re.compile(pattern) for pattern in SECRET_PATTERNS)


def text_skip_reason(text: str) -> str | None:
    """Why a decoded source file must not be kept ('binary', 'minified' or 'secret'), or None to keep it."""
    if _BINARY_TEXT.search(text):
        return "binary"
    if _MINIFIED_TEXT.search(text):
        return "minified"
    if any(secret.search(text) for secret in _SECRETS):
        return "secret"
    return None
