"""psm_core.feedback.attribution: the one rule by which adapters trace an answer to surfaced memories
and turn the user's next turn into per-memory outcomes."""

from __future__ import annotations

import pytest

import psm_core.feedback as feedback
from psm_core import InvalidInputError, MemoryRecord, Tier
from psm_core.feedback import Outcome, group_by_outcome, memory_outcomes, used_memories
from psm_core.recall import ScoredMemory

PIXEL = "I adopted a beagle named Pixel last month."
RAMEN = "My favourite food is tonkotsu ramen."
LISBON = "Alice moved to Lisbon last spring with her dog Rex."
QUESTION = "What is my dog called?"


def test_an_answer_is_traced_to_the_memory_it_shares_a_new_word_with() -> None:
    assert used_memories("Your dog is called Pixel.", QUESTION, [PIXEL, RAMEN]) == [True, False]


def test_words_the_answer_echoes_from_the_question_attribute_nothing() -> None:
    # "dog" is in LISBON, but the question asked about the dog: only "pixel" is the answer's own
    assert used_memories("Your dog is called Pixel.", QUESTION, [LISBON, PIXEL]) == [False, True]
    assert used_memories("What is your dog called?", QUESTION, [LISBON, PIXEL]) == [False, False]


def test_content_words_are_compared_stemmed_and_without_stop_words() -> None:
    assert used_memories("You were adopting.", "What did I do?", [PIXEL]) == [True]  # adopting ~ adopted
    assert used_memories("It was the one you had.", "What did I do?", [PIXEL]) == [False]  # stop words only


def test_an_answer_can_draw_on_several_memories() -> None:
    answer = "Pixel the beagle, and you love tonkotsu ramen."
    assert used_memories(answer, "Tell me about me.", [PIXEL, LISBON, RAMEN]) == [True, False, True]


def test_empty_inputs() -> None:
    assert used_memories("Pixel.", QUESTION, []) == []
    assert used_memories("", QUESTION, [PIXEL, RAMEN]) == [False, False]
    assert used_memories("Pixel.", QUESTION, ["", "   "]) == [False, False]


def test_records_scored_memories_and_texts_are_all_accepted() -> None:
    rec = MemoryRecord(user_id="alice", tier=Tier.SEMANTIC, text=PIXEL)
    scored = ScoredMemory(
        record=MemoryRecord(user_id="alice", tier=Tier.SEMANTIC, text=RAMEN), score=1.0, similarity=0.5, lexical=0.0
    )
    assert used_memories("Pixel likes ramen.", "Who?", [rec, scored, LISBON]) == [True, True, False]


def test_no_correction_used_memories_are_helpful_and_the_rest_neutral() -> None:
    out = memory_outcomes("Your dog is called Pixel.", QUESTION, [PIXEL, RAMEN, LISBON], corrected=False)
    assert out == [Outcome.HELPFUL, Outcome.NEUTRAL, Outcome.NEUTRAL]
    assert memory_outcomes("I don't know.", QUESTION, [PIXEL, RAMEN], corrected=False) == [Outcome.NEUTRAL] * 2


def test_a_correction_blames_only_the_used_memories() -> None:
    out = memory_outcomes("Your dog is called Pixel.", QUESTION, [RAMEN, PIXEL, LISBON], corrected=True)
    assert out == [None, Outcome.CORRECTED, None]


def test_a_correction_nothing_can_be_attributed_to_blames_every_surfaced_memory() -> None:
    out = memory_outcomes("You live in Porto.", "Where do I live?", [PIXEL, RAMEN, LISBON], corrected=True)
    assert out == [Outcome.CORRECTED] * 3
    assert memory_outcomes("Porto.", "Where?", [], corrected=True) == []


def test_group_by_outcome_keeps_order_and_drops_memories_without_an_event() -> None:
    outs = [Outcome.HELPFUL, None, Outcome.NEUTRAL, Outcome.HELPFUL]
    assert group_by_outcome(["a", "b", "c", "d"], outs) == {Outcome.HELPFUL: ["a", "d"], Outcome.NEUTRAL: ["c"]}
    assert group_by_outcome([], []) == {}
    with pytest.raises(InvalidInputError):
        group_by_outcome(["a"], [])


def test_exported_from_psm_core_feedback() -> None:
    assert feedback.__all__ == sorted(feedback.__all__)
    for name in ("group_by_outcome", "memory_outcomes", "used_memories"):
        assert name in feedback.__all__


def test_outcomes_are_plain_outcome_names() -> None:
    # adapters pass them straight to UserMemory.feedback(..., outcome)
    assert {o.value for o in memory_outcomes("Pixel.", QUESTION, [PIXEL, RAMEN], corrected=False) if o} == {"helpful", "neutral"}
