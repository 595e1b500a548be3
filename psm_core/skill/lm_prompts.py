"""Prompts and output schemas of PSM-LM (shared with its LoRA recipe, so training and use agree).

Each operation asks for one JSON object validated by a pydantic model below. The prompts are
short: PSM-LM is meant for small instruction-tuned models loaded in 4-bit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from psm_core.types import Kind

__all__ = [
    "CorrectionOut",
    "DecayOut",
    "GateOut",
    "InterfereOut",
    "PatternItem",
    "PatternsOut",
    "SYSTEM",
    "WeighOut",
    "correction_prompt",
    "decay_prompt",
    "gate_prompt",
    "interfere_prompt",
    "patterns_prompt",
    "weigh_prompt",
]

SYSTEM = (
    "You are PSM, a memory curator for a chat assistant. You decide what is worth remembering about a user "
    "and how memories relate. Reply with one JSON object only, no prose."
)
_KINDS = ", ".join(k.value for k in Kind)


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GateOut(_Out):
    keep: bool
    kind: Kind = Kind.FACT
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    emotional_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)


class InterfereOut(_Out):
    relation: str = Field(pattern="^(unrelated|duplicate|update|contradiction|complement)$")
    probability: float = Field(ge=0.0, le=1.0)


class WeighOut(_Out):
    scores: list[float]


class DecayOut(_Out):
    half_life_days: float = Field(gt=0.0, le=36500.0)


class PatternItem(_Out):
    text: str = Field(min_length=1)
    kind: Kind = Kind.FACT
    confidence: float = Field(ge=0.0, le=1.0)
    episodes: list[int] = Field(min_length=1)


class PatternsOut(_Out):
    patterns: list[PatternItem]


class CorrectionOut(_Out):
    is_correction: bool
    probability: float = Field(ge=0.0, le=1.0)


def gate_prompt(text: str, role: str, context: Sequence[str]) -> str:
    ctx = "\n".join(f"- {c}" for c in context[-3:]) or "- (none)"
    return (
        f"Recent turns:\n{ctx}\nNew turn by {role}: {text}\n\n"
        "Is the new turn worth remembering long-term (facts, preferences, events, plans, relations; not greetings or "
        f"small talk)? Answer as JSON with keys keep (true/false), kind (one of {_KINDS}), importance (0-1), "
        'emotional_weight (0-1), confidence (0-1). Example: {"keep": true, "kind": "fact", "importance": 0.7, '
        '"emotional_weight": 0.1, "confidence": 0.9}'
    )


class AttributeOut(_Out):
    attribute: str = Field(min_length=1)
    fact: str = ""


def attribute_prompt(text: str, attributes: Sequence[str]) -> str:
    names = ", ".join(attributes)
    return (
        f"Statement by the user: {text}\n\n"
        f"Which personal attribute of the user is it about? attribute is one of {names}, other (personal but none of "
        "these) or none (not about the user: a question, a request, small talk). fact restates what it says about the "
        "user in one short sentence in the third person (empty for none). Answer as JSON: "
        '{"attribute": "employer", "fact": "The user works at Anybotics."}'
    )


def interfere_prompt(new: str, existing: str) -> str:
    return (
        f"Existing memory: {existing}\nNew statement: {new}\n\n"
        "How does the new statement relate to the existing memory? relation is one of unrelated, duplicate (same "
        "information), update (the same attribute changed over time), contradiction (denies it), complement "
        '(adds information about the same thing). Answer as JSON: {"relation": "update", "probability": 0.8}'
    )


def weigh_prompt(query: str, texts: Sequence[str]) -> str:
    items = "\n".join(f"{i}. {t[:200]}" for i, t in enumerate(texts))
    return (
        f"Question: {query}\nMemories:\n{items}\n\n"
        f"Score how useful each memory is for answering the question, from 0 to 1, in order ({len(texts)} numbers). "
        'Answer as JSON: {"scores": [0.9, 0.1]}'
    )


def decay_prompt(text: str, kind: str, tier: str, recalls: int) -> str:
    return (
        f"Memory ({kind}, {tier} tier, recalled {recalls} times): {text}\n\n"
        "For how many days will this memory stay useful before its strength should halve? "
        'Answer as JSON: {"half_life_days": 90}'
    )


def patterns_prompt(texts: Sequence[str]) -> str:
    items = "\n".join(f"{i}. {t[:300]}" for i, t in enumerate(texts))
    example = json.dumps(
        {"patterns": [{"text": "The user is vegetarian.", "kind": "preference", "confidence": 0.8, "episodes": [0, 3]}]}
    )
    return (
        f"Episodes:\n{items}\n\n"
        "Write the lasting facts these episodes support, each as one short third-person or first-person statement, "
        f"with the episode numbers it is based on. Skip small talk. Answer as JSON: {example}"
    )


def correction_prompt(user_turn: str, previous_answer: str) -> str:
    return (
        f"Assistant said: {previous_answer}\nUser replied: {user_turn}\n\n"
        "Does the user's reply correct something the assistant got wrong? Answer as JSON: "
        '{"is_correction": true, "probability": 0.9}'
    )
