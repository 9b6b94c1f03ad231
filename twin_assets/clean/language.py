"""The natural language a document is written in (ISO 639-1), for the language expectation."""

from __future__ import annotations

from functools import cache

MIN_WORDS = 12  # below this the guess is noise


@cache
def _factory():
    from langdetect import DetectorFactory
    from langdetect.detector_factory import init_factory

    DetectorFactory.seed = 0  # langdetect samples randomly; a fixed seed makes the answer repeatable
    init_factory()
    from langdetect.detector_factory import _factory as factory

    return factory


def detect_language(text: str | None) -> str | None:
    """'en', 'de', ... or None when the text is too short to tell."""
    if not text or len(text.split()) < MIN_WORDS:
        return None
    from langdetect.lang_detect_exception import LangDetectException

    detector = _factory().create()
    detector.append(text[:5000])
    try:
        return detector.detect()
    except LangDetectException:
        return None
