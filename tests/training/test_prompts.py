"""The grounded prompt the service sends: the same instruction training used, with context before it."""

from training.prompts import CONTEXT_BREAK, CONTEXT_HEADER, LINK_HEADER, grounded_instruction


def test_without_context_the_instruction_is_exactly_the_training_instruction():
    assert grounded_instruction("  Write about retries\n", []) == "Write about retries"


def test_context_comes_first_unnumbered_and_the_instruction_last():
    prompt = grounded_instruction("Write about retries", ["First passage.", " Second passage. "], ["A linked fact."])
    assert prompt == CONTEXT_BREAK.join([
        f"{CONTEXT_HEADER}\n\nFirst passage.{CONTEXT_BREAK}Second passage.",
        f"{LINK_HEADER}\n\nA linked fact.",
        "Write about retries",
    ])
    assert "[1]" not in prompt  # a small model copies numbering into its draft


def test_links_alone_make_a_context_of_their_own():
    assert grounded_instruction("Write", [], ["fact"]).startswith(LINK_HEADER)
