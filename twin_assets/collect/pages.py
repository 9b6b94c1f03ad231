"""Recognising pages that are not the author's writing: bot challenges, paywalls, empty shells."""

from __future__ import annotations

import re

# Markers of interstitials served instead of content (Cloudflare, DataDome, PerimeterX, hCaptcha, ...).
# The quality checks look for the same markers in stored text, in case one slipped through.
BOT_CHALLENGE_PATTERN = (
    r"just a moment\.\.\.|checking your browser|cf-chl-|challenge-platform|attention required! \| cloudflare"
    r"|enable javascript and cookies to continue|verify you are (?:a )?human|are you a robot|captcha-delivery"
    r"|px-captcha|g-recaptcha|h-captcha|ddos protection by"
)
_BOT_CHALLENGE = re.compile(BOT_CHALLENGE_PATTERN, re.IGNORECASE)
# An error page stored as if it were a document: its text opens with the status.
ERROR_PAGE_PATTERN = (
    r"^\s*(?:error\s*)?(?:(?:400|401|403|404|410|429|500|502|503|504)[\s:-]*(?:bad request|unauthorized|forbidden"
    r"|not found|gone|too many requests|internal server error|bad gateway|service unavailable|gateway timeout)"
    r"|page not found|internal server error|service unavailable|bad gateway|gateway timeout)\b"
)
_PAYWALL = re.compile(
    r"this post is for paid subscribers|subscribe to (continue|keep) reading|member-only story"
    r"|the rest of this (story|article) is (for|available to) (members|subscribers)"
    r"|already a (paid )?subscriber\? sign in|upgrade to paid to read",
    re.IGNORECASE,
)


def looks_like_bot_challenge(markup: str) -> bool:
    return bool(_BOT_CHALLENGE.search(markup[:200_000]))


def looks_like_paywall(markup: str, extracted_text: str, min_chars: int) -> bool:
    """A paywall marker with little readable text: the teaser is not the whole piece."""
    return bool(_PAYWALL.search(markup[:500_000])) and len(extracted_text) < 4 * min_chars
