from twin_assets.clean.language import detect_language


def test_detects_the_language_of_prose():
    assert detect_language("The pipeline failed at night because the source system sent late data again on Monday.") == "en"
    assert detect_language("Die Pipeline ist in der Nacht ausgefallen, weil das Quellsystem am Montag wieder zu spät geliefert hat.") == "de"


def test_too_short_or_empty_text_has_no_language():
    assert detect_language("Hiring! DM me 👋") is None
    assert detect_language(None) is None


def test_the_answer_is_repeatable():
    text = "Small teams do not need a big lakehouse; they need tables they can trust and rerun safely."
    assert len({detect_language(text) for _ in range(5)}) == 1
