"""psm_core.feedback.attribution: the one rule by which adapters trace an answer to surfaced memories
and turn the user's next turn into per-memory outcomes."""

from __future__ import annotations

import pytest

import psm_core.feedback as feedback
from psm_core import InvalidInputError, MemoryRecord, Tier
from psm_core.feedback import Outcome, blamed_memories, correction_terms, group_by_outcome, memory_outcomes, used_memories
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


def test_a_correction_no_memory_carried_blames_no_memory() -> None:
    # the model said Porto, no memory says Porto: the correction belongs to the retrieval, not to a memory
    out = memory_outcomes("You live in Porto.", "Where do I live?", [PIXEL, RAMEN, LISBON], corrected=True)
    assert out == [None] * 3
    assert memory_outcomes("Porto.", "Where?", [], corrected=True) == []


def test_a_memory_stating_the_corrected_value_is_not_blamed() -> None:
    # "Lisbon" is the user's corrected value: the memory was right and ignored, not misleading
    lisbon = "I moved to Lisbon last spring."
    grew_up = "I grew up in Porto."
    answer, question, user = "You live in Porto.", "Where do I live?", "No, that's wrong, I live in Lisbon."
    assert used_memories(answer, question, [lisbon, grew_up]) == [False, True]
    assert blamed_memories(answer, question, user, [lisbon, grew_up]) == [False, True]
    both = "I moved from Porto to Lisbon."  # carries the wrong value and the right one: not blamed
    assert blamed_memories(answer, question, user, [both]) == [False]


def test_the_memory_carrying_the_denied_value_is_blamed() -> None:
    klein, dentist = "My manager is Klein.", "My dentist appointment is on Friday."
    answer, question = "Your manager is Klein.", "Who is my manager?"
    user = "No, my manager is Stein, not Klein."
    assert correction_terms(answer, question, user) == ({"klein"}, {"stein"})
    assert memory_outcomes(answer, question, [klein, dentist], corrected=True, user_turn=user) == [Outcome.CORRECTED, None]
    # a memory that already names Stein is not what misled, even if it mentions Klein
    assert blamed_memories(answer, question, user, ["Klein left; Stein is my manager now."]) == [False]


def test_wrong_content_is_what_the_correction_denies_or_does_not_repeat() -> None:
    answer = "Your manager is Klein and you work at Siemens."
    question = "Who is my manager?"
    # "Siemens" is repeated (confirmed), "Klein" denied: only the Klein memory is blamed
    user = "Siemens is right, but my manager is Stein, not Klein."
    assert correction_terms(answer, question, user)[0] == {"klein"}
    assert blamed_memories(answer, question, user, ["My manager is Klein.", "I work at Siemens."]) == [True, False]
    # a correction repeating every answer word without denying any still rejects the answer
    wrong, corrected = correction_terms("Your dog is called Pixel.", QUESTION, "No: Pixel was my cat, my dog is Rex.")
    assert wrong == {"pixel"} and corrected == {"cat", "rex"}
    # a bare "that's wrong" rejects every answer word and gives no value
    assert correction_terms("Your dog is called Pixel.", QUESTION, "That's wrong.") == ({"pixel"}, set())


def test_a_correction_blames_only_memories_the_answer_used() -> None:
    user = "No, that's wrong: I outgrew that allergy years ago."
    peanuts = "Alice is allergic to peanuts."
    out = memory_outcomes(
        "You are allergic to peanuts.", "What am I allergic to?", [peanuts, RAMEN, LISBON], corrected=True, user_turn=user
    )
    assert out == [Outcome.CORRECTED, None, None]


def test_group_by_outcome_keeps_order_and_drops_memories_without_an_event() -> None:
    outs = [Outcome.HELPFUL, None, Outcome.NEUTRAL, Outcome.HELPFUL]
    assert group_by_outcome(["a", "b", "c", "d"], outs) == {Outcome.HELPFUL: ["a", "d"], Outcome.NEUTRAL: ["c"]}
    assert group_by_outcome([], []) == {}
    with pytest.raises(InvalidInputError):
        group_by_outcome(["a"], [])


def test_exported_from_psm_core_feedback() -> None:
    assert feedback.__all__ == sorted(feedback.__all__)
    for name in ("blamed_memories", "correction_terms", "group_by_outcome", "memory_outcomes", "used_memories"):
        assert name in feedback.__all__


def test_outcomes_are_plain_outcome_names() -> None:
    # adapters pass them straight to UserMemory.feedback(..., outcome)
    assert {o.value for o in memory_outcomes("Pixel.", QUESTION, [PIXEL, RAMEN], corrected=False) if o} == {"helpful", "neutral"}
