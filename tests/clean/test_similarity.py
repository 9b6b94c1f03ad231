from twin_assets.clean.similarity import jaccard, shingles, sketch

PIECE = (
    "If running your job twice gives you twice the rows, you do not have a pipeline. You have a countdown "
    "to a duplicate-revenue incident. Idempotency sounds academic until you need to rerun last week after "
    "fixing a bug. Then it is the only property that matters."
)


def test_identical_texts_are_fully_similar_whatever_the_formatting():
    assert jaccard(PIECE, PIECE.upper().replace(".", " .\n\n")) == 1.0


def test_a_lightly_edited_cross_post_stays_similar_and_shares_sketch_values():
    edited = PIECE.replace("twice the rows", "double the rows") + " Originally on my blog."
    assert jaccard(PIECE, edited) > 0.6
    assert set(sketch(PIECE)) & set(sketch(edited))


def test_unrelated_texts_are_not_similar():
    other = "Dashboards should answer three questions before anyone builds them: who reads it, what decision, how often."
    assert jaccard(PIECE, other) < 0.05


def test_empty_and_tiny_texts():
    assert jaccard("", PIECE) == 0.0 and jaccard(None, None) == 0.0
    assert shingles("two words") == {"two words"}
    assert sketch("") == []
    assert len(sketch(PIECE)) == 16 and all(0 <= value < 2**63 for value in sketch(PIECE))
