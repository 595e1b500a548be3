"""The seeded relation curriculum: statements filed under attributes, and statement pairs with their relation.

```
RelationCurriculum(seed, held_out)
  .statement()    -> (text, attribute)         a personal statement of some slot (or a distractor: other)
  .none_text()    -> text                      not a personal statement: questions, requests, chit-chat, world
  .pair(relation) -> RelPair(new, old, relation, kind)
```
Phrasings and values come from :mod:`psm_core.skill.training.relations_lexicon` and
:mod:`psm_core.skill.training.relations_pools`; every fourth template and value is held out for the
held-out split. Texts are perturbed the way people type: openers and tails, lowercase, no final stop,
a typo, British or American spelling.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from psm_core.attributes import attribute as taxonomy_attribute
from psm_core.skill.base import Relation
from psm_core.skill.training.relations_lexicon import CONTRADICTIONS, DISTRACTORS, NONE_TEXTS, SLOTS, Contra, RSlot
from psm_core.skill.training.relations_pools import POOLS

__all__ = ["RELATED_SLOTS", "RelPair", "RelationCurriculum", "split"]

_T = TypeVar("_T")

# slot pairs that are neither unrelated nor a clean complement (a count and the children it counts, a diet and
# a food one loves): never sampled as cross-slot pairs
RELATED_SLOTS: frozenset[frozenset[str]] = frozenset(
    frozenset(p)
    for p in (
        ("quantity.kids", "children"),
        ("quantity.pets", "pets"),
        ("quantity.reports", "colleagues"),
        ("relationship_status", "partner"),
        ("relationship_status.person", "partner"),
        ("job_title", "employer"),
        ("job_title.promotion", "employer"),
        ("job_status", "employer"),
        ("job_status", "job_title"),
        ("job_status.hours", "job_title"),
        ("job_status.hours", "employer"),
        ("diet", "food_preference"),
        ("diet", "drink"),
        ("health.allergy", "food_preference"),
        ("fears", "pets"),
        ("vehicle", "bike"),
        ("team", "employer"),
        ("quantity.reports", "manager"),
        ("job_status", "schedule.commute"),
        ("residence", "rent"),
        ("education", "education.school"),
        ("relationship_status", "partner_job"),
        ("relationship_status.person", "partner_job"),
        ("laptop", "possessions"),
        ("membership.gym", "hobbies"),
        ("instrument", "hobbies"),
        ("travel", "plan.trip"),
        ("hobbies", "plan.goal"),
        ("running_pb", "plan.goal"),
        ("running_pb", "hobbies"),
        ("doctor", "appointment.gp"),
        ("schedule.therapy", "appointment.therapy"),
        ("schedule.book_club", "membership.club"),
        ("schedule.choir", "membership.club"),
        ("schedule.football", "membership.club"),
        ("schedule.quiz", "membership.club"),
        ("schedule.class", "membership.club"),
        ("schedule.class", "languages"),
    )  # fmt: skip
)
# attributes whose different slots both hold (another pet, another appointment): a cross-slot pair complements
_COMPLEMENT_ACROSS = frozenset(
    {"colleagues", "children", "family", "friends", "pets", "possessions", "health", "plan", "travel", "food_preference",
     "hobbies", "languages", "skills", "beliefs", "membership", "fears", "appointment", "favorite", "body", "partner"}
)  # fmt: skip
_UNRELATED_ACROSS = frozenset({"quantity", "schedule", "other"})  # different slots of these are different topics

_OPENERS = (
    "Oh, ", "Btw, ", "Quick update: ", "So, ", "Hey! ", "Guess what, ", "Anyway, ", "Right, ", "Ok so ", "Fun fact: ",
    "Oh and ", "Just so you know, ", "Random but ", "Hi! ", "Morning! ", "Ugh, ", "Honestly, ", "FYI ", "Also, ", "Well, ",
)  # fmt: skip
_TAILS = (
    " Anyway, how are you?", " lol", " :)", " Crazy, right?", " Any tips?", " Just thought I'd mention it.", " haha",
    " How's your week going?", " Long story.", " 🙂", " Can't complain.", " Wish me luck!", " Not much else to report.",
)  # fmt: skip
_RESTATE = (
    "As I said, ", "Like I mentioned, ", "Just reminding you, ", "Don't forget, ", "Again, ", "As you know, ",
    "For the record, ", "Like I said before, ", "Just to repeat, ",
)  # fmt: skip
# any single-valued slot with a noun value: the old value named, the new one replacing it
_GENERIC_UPDATE = (
    "Switched from {o} to {v}.", "I've gone from {o} to {v}.", "It's {v} now, not {o} any more.",
    "No more {o} - {v} from now on.", "Goodbye {o}, hello {v}!", "{V} instead of {o} these days.",
    "Changed from {o} to {v} last month.", "{O} is out, {v} is in.", "Ditched {o}, it's {v} now.",
)  # fmt: skip
# any multi-valued slot with a noun value: a further value
_GENERIC_MORE = ("{V} too now.", "And {v} as well!", "Plus {v} on top of that.", "{V} as well these days.", "Also {v} now.")
_SENTENCE_POOLS = frozenset({"job_status", "relstatus", "commute", "belief"})
_SPELLING = (
    ("favourite", "favorite"), ("colour", "color"), ("mum", "mom"), ("neighbour", "neighbor"), ("centre", "center"),
    ("travelled", "traveled"), ("cancelled", "canceled"), ("programme", "program"), ("organise", "organize"),
    ("realise", "realize"), ("flat", "apartment"), ("holiday", "vacation"), ("mate", "buddy"), ("uni", "college"),
)  # fmt: skip

_QUESTION_THINGS = (
    "address", "job", "job title", "manager's name", "dog's name", "cat's name", "phone number", "favourite band", "email",
    "salary", "wife's name", "husband's name", "dentist appointment", "physio appointment", "flight", "rent", "hometown",
    "daughter's name", "son's school", "boss", "car", "bank", "GP", "birthday", "sister's name", "diet", "allergy",
    "driving test", "weight", "hair colour", "team", "gym", "therapy day", "favourite show", "surname", "employer",
)  # fmt: skip
_QUESTION_FORMS = (
    "What's my {t}?", "Do you remember my {t}?", "Remind me, what is my {t}?", "When is my {t}?", "Who is my {t}?",
    "Can you tell me my {t}?", "what was my {t} again", "Did I tell you my {t}?", "What did I say my {t} was?",
    "Hmm, what's my {t} these days?", "Do you know my {t}?", "Have I mentioned my {t}?", "Which {t} do I have?",
)  # fmt: skip
_SELF_QUESTIONS = (
    "Where do I live now?", "Where am I living these days?", "Where did I say I grew up?", "Who do I work for now?",
    "Am I still at {c}?", "Do I live in {c}?", "Have I ever been to {k}?", "Do I have a dog?", "How many kids do I have?",
    "What languages do I speak?", "Do I speak {l}?", "What do I do for a living?", "Which hobbies have I mentioned?",
    "Where should I move to, {c} or {c2}?", "Is {c} a good place to live?", "What's it like living in {c}?",
    "Should I take the job at {co}?", "Is {co} a good company to work for?", "How do I learn {l} fast?",
)  # fmt: skip
_REQUEST_FORMS = (
    "Can you write a {f} about {x}?", "Write me a {f} about {x}.", "Could you draft a {f} about {x}?",
    "Give me three ideas for {y}.", "Any suggestions for {y}?", "Recommend a good {z}.", "Can you recommend a {z}?",
    "Explain {w} to me like I'm five.", "What is {w}?", "How does {w} work?", "Summarise the history of {w}.",
    "Translate '{p}' into {l}.", "please write a {f} about {x}", "can u suggest {y}", "I need you to write a {f} about {x}.",
    "Plan me a day out in {c}.", "What's the weather like in {c} in May?", "What are the best things to do in {k}?",
    "How far is {c} from {c2}?", "Tell me about {k}.",
)  # fmt: skip
_REQ_FILL = {
    "f": ("poem", "haiku", "limerick", "short story", "cover letter", "toast", "song", "tweet", "birthday message", "speech"),
    "x": ("autumn leaves", "my cat", "rainy Mondays", "the sea", "a retiring colleague", "coffee", "friendship", "Leeds",
          "a lost sock", "planes", "spring"),
    "y": ("a rainy Sunday", "a first date", "a team away day", "a kid's birthday party", "dinner tonight", "a weekend in Wales",
          "using up leftover rice", "a present for my sister"),
    "z": ("podcast about history", "fantasy novel", "running shoe", "board game for four", "budget laptop", "film for tonight",
          "fish and chip shop", "houseplant that's hard to kill"),
    "w": ("an index fund", "inflation", "photosynthesis", "a mortgage", "machine learning", "the offside rule", "compound interest",
          "blockchain", "the Roman empire", "black holes"),
    "p": ("good luck", "where is the station", "thank you very much", "see you tomorrow"),
}  # fmt: skip
_WORLD = (
    "{c} is lovely in the spring.", "{c} has great food.", "The trains to {c} are always late.", "{k} is on my list one day.",
    "{co} just announced record profits.", "{co} is hiring loads of people apparently.", "I heard {c} is expensive now.",
    "It's supposed to snow in {c} this week.", "{k} won the football last night.", "There's a new {z} out.",
    "Prices in {c} have gone mad.", "{co} had a massive outage today.", "The weather in {c} is awful this week.",
)  # fmt: skip


def split(items: Sequence[_T], held_out: bool) -> tuple[_T, ...]:
    """Every fourth item (starting with the fourth) is held out; the rest is for training."""
    if len(items) < 4:
        return tuple(items)
    return tuple(t for i, t in enumerate(items) if (i % 4 == 3) == held_out)


@dataclass
class RelPair:
    new: str
    old: str
    relation: Relation
    kind: str  # how it was made: "update", "end", "plain", "more", "cross", "deny", "never", "fixed", "restate", …


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _lower_start(text: str) -> str:
    if text.startswith(("I ", "I'm", "I've", "I'd", "I'll")):
        return text
    return text[:1].lower() + text[1:]


def _single(slot: RSlot) -> bool:
    if slot.single is not None:
        return slot.single
    return taxonomy_attribute(slot.attribute).cardinality == "single"


class RelationCurriculum:
    """One seeded generator; ``held_out=True`` uses only the held-out templates and values."""

    def __init__(self, seed: int = 0, held_out: bool = False) -> None:
        self.rng = random.Random(seed)
        self.held_out = held_out
        self.slots = SLOTS
        self.pools = {k: split(v, held_out) for k, v in POOLS.items()}
        self._tmpl: dict[tuple[str, str], tuple[str, ...]] = {}
        for s in SLOTS:
            for part in ("say", "update", "end", "more", "deny"):
                self._tmpl[(s.key, part)] = split(getattr(s, part), held_out)
        self._contra = {c.key: (split(c.never, held_out), split(c.does, held_out)) for c in CONTRADICTIONS}
        self.by_attribute: dict[str, list[RSlot]] = {}
        for s in SLOTS:
            self.by_attribute.setdefault(s.attribute, []).append(s)
        self.distractors = split(DISTRACTORS, held_out)
        self.none_fixed = split(NONE_TEXTS, held_out)
        self._single_slots = [s for s in SLOTS if self._has(s, "update") or self._has(s, "end") or (_single(s) and not s.fixed)]
        self._multi_slots = [s for s in SLOTS if self._has(s, "more") or not _single(s)]
        self._deny_slots = [s for s in SLOTS if self._has(s, "deny")]
        self._fixed_slots = [s for s in SLOTS if s.fixed]
        self._last = ""  # the template of the latest statement

    # -- filling -----------------------------------------------------------------------------------
    def _has(self, slot: RSlot, part: str) -> bool:
        return bool(self._tmpl[(slot.key, part)])

    def _value(self, slot: RSlot, avoid: str | None = None) -> str:
        pool = self.pools[slot.pool]
        for _ in range(20):
            v = self.rng.choice(pool)
            if v != avoid and (avoid is None or v.split("|")[-1] != avoid.split("|")[-1]):
                return v
        return self.rng.choice([v for v in POOLS[slot.pool] if v != avoid])

    @staticmethod
    def fill(template: str, value: str, old: str | None = None) -> str:
        parts = value.split("|")
        old_parts = (old or value).split("|")
        mapping = {
            "v": parts[0], "w": parts[-1], "V": _cap(parts[0]), "W": _cap(parts[-1]), "vl": _lower_start(parts[0]),
            "o": old_parts[0], "ow": old_parts[-1], "O": _cap(old_parts[0]), "Ow": _cap(old_parts[-1]),
        }  # fmt: skip
        return _cap(re.sub(r"\{(\w+)\}", lambda m: mapping[m.group(1)], template))

    def _say(self, slot: RSlot, value: str, part: str = "say", old: str | None = None, avoid: str | None = None) -> str:
        options = self._tmpl[(slot.key, part)]
        if avoid is not None and len(options) > 1:
            options = tuple(t for t in options if t != avoid) or options
        self._last = self.rng.choice(options)
        return self.fill(self._last, value, old)

    def perturb(self, text: str) -> str:
        """Typing noise: an opener or tail, lowercase, no final stop, a typo, the other spelling."""
        r = self.rng
        if r.random() < 0.2:
            text = r.choice(_OPENERS) + _lower_start(text)
        if r.random() < 0.1:
            text = text.rstrip() + r.choice(_TAILS)
        if r.random() < 0.3:
            for a, b in _SPELLING:
                if re.search(rf"\b{a}\b", text, re.I) and r.random() < 0.5:
                    text = re.sub(rf"\b{a}\b", b, text)
                elif re.search(rf"\b{b}\b", text, re.I) and r.random() < 0.5:
                    text = re.sub(rf"\b{b}\b", a, text)
        if r.random() < 0.12:
            text = text.lower()
        if r.random() < 0.15:
            text = text.rstrip(".!")
        if r.random() < 0.08:
            text = self._typo(text)
        return text

    def _typo(self, text: str) -> str:
        words = text.split(" ")
        idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if not idx:
            return text
        i = self.rng.choice(idx)
        w = words[i]
        j = self.rng.randrange(1, len(w) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if self.rng.random() < 0.5 else w[:j] + w[j + 1 :]
        return " ".join(words)

    # -- statements for the attribute head -------------------------------------------------------------
    def statement(self) -> tuple[str, str]:
        """A personal statement and its attribute (attributes drawn uniformly, then a slot, then a phrasing)."""
        r = self.rng
        if r.random() < 0.04:
            return self.perturb(r.choice(self.distractors)), "other"
        if r.random() < 0.08:
            c = r.choice(CONTRADICTIONS)
            never, does = self._contra[c.key]
            text = r.choice(never if r.random() < 0.5 else does)
            v = self.rng.choice(self.pools[c.pool]) if c.pool else ""
            return self.perturb(self.fill(text, v)), c.attribute
        attr = r.choice(sorted(self.by_attribute))
        slot = r.choice(self.by_attribute[attr])
        parts = [p for p in ("say", "say", "say", "update", "end", "more", "deny") if self._has(slot, p)]
        part = r.choice(parts)
        v = self._value(slot)
        old = self._value(slot, avoid=v)
        return self.perturb(self._say(slot, v, part, old=old)), slot.attribute

    def none_text(self) -> str:
        """Not a personal statement: a question about oneself, a request, chit-chat or a statement about the world."""
        r = self.rng
        fill = {
            "c": r.choice(self.pools["city"]), "c2": r.choice(self.pools["city"]), "k": r.choice(self.pools["country"]),
            "co": r.choice(self.pools["company"]), "l": r.choice(self.pools["language"]),
            **{k: r.choice(v) for k, v in _REQ_FILL.items()},
        }  # fmt: skip
        roll = r.random()
        if roll < 0.3:
            text = r.choice(self.none_fixed)
        elif roll < 0.5:
            text = r.choice(_QUESTION_FORMS).format(t=r.choice(_QUESTION_THINGS))
        elif roll < 0.62:
            text = r.choice(_SELF_QUESTIONS).format(**fill)
        elif roll < 0.85:
            text = r.choice(_REQUEST_FORMS).format(**fill)
        else:
            text = r.choice(_WORLD).format(**fill)
        return self.perturb(text)

    # -- pairs ----------------------------------------------------------------------------------------
    def pair(self, relation: Relation) -> RelPair:
        for _ in range(50):
            p = self._pair(relation)
            if p is not None and p.new.strip().lower() != p.old.strip().lower() or relation is Relation.DUPLICATE:
                if p is not None:
                    return p
        raise RuntimeError(f"could not make a {relation.value} pair")  # pragma: no cover

    def _pair(self, rel: Relation) -> RelPair | None:
        r = self.rng
        if rel is Relation.DUPLICATE:
            slot = r.choice(self.slots)
            v = self._value(slot)
            tmpl = r.choice(self._tmpl[(slot.key, "say")])
            old = self.fill(tmpl, v)
            roll = r.random()
            if roll < 0.1:
                return RelPair(self.perturb(old), self.perturb(old), rel, "repeat")
            new = self._say(slot, v, avoid=tmpl)
            kind = "paraphrase"
            if roll < 0.3:
                new, kind = r.choice(_RESTATE) + _lower_start(new), "restate"
            return RelPair(self.perturb(new), self.perturb(old), rel, kind)
        if rel is Relation.UPDATE:
            slot = r.choice(self._single_slots)
            v_old = self._value(slot)
            v_new = self._value(slot, avoid=v_old)
            old = self._say(slot, v_old)
            parts = [p for p in ("update", "update", "end") if self._has(slot, p)]
            if _single(slot) and not slot.fixed:
                parts.append("plain")
            part = r.choice(parts)
            if slot.pool not in _SENTENCE_POOLS and r.random() < 0.12:
                new = self.fill(r.choice(split(_GENERIC_UPDATE, self.held_out)), v_new, v_old)
                return RelPair(self.perturb(new), self.perturb(old), rel, "generic")
            if part == "plain":  # often the very same phrasing with another value: a swapped value is no restatement
                new = self._say(slot, v_new) if r.random() < 0.6 else self.fill(self._last, v_new)
            elif part == "end":
                new = self._say(slot, v_new, "end", old=v_old)
            else:
                new = self._say(slot, v_new, "update", old=v_old)
            return RelPair(self.perturb(new), self.perturb(old), rel, part)
        if rel is Relation.COMPLEMENT:
            if r.random() < 0.15:
                return self._cross(complement=True)
            slot = r.choice(self._multi_slots)
            v_old = self._value(slot)
            v_new = self._value(slot, avoid=v_old)
            old = self._say(slot, v_old)
            if slot.pool not in _SENTENCE_POOLS and not _single(slot) and r.random() < 0.1:
                new = self.fill(r.choice(split(_GENERIC_MORE, self.held_out)), v_new, v_old)
                return RelPair(self.perturb(new), self.perturb(old), rel, "generic")
            part = "more" if self._has(slot, "more") and (r.random() < 0.7 or _single(slot)) else "say"
            new = self._say(slot, v_new, part, old=v_old) if part == "more" or r.random() < 0.6 else self.fill(self._last, v_new)
            return RelPair(self.perturb(new), self.perturb(old), rel, part)
        if rel is Relation.CONTRADICTION:
            roll = r.random()
            if roll < 0.55:
                c: Contra = r.choice(CONTRADICTIONS)
                never, does = self._contra[c.key]
                v = r.choice(self.pools[c.pool]) if c.pool else ""
                a, b = self.fill(r.choice(never), v), self.fill(r.choice(does), v)
                new, old = (a, b) if r.random() < 0.5 else (b, a)
                return RelPair(self.perturb(new), self.perturb(old), rel, "never")
            if roll < 0.85:
                slot = r.choice(self._deny_slots)
                v = self._value(slot)
                a, b = (
                    self._say(slot, v, "deny"),
                    self._say(slot, v, r.choice(["say", "say", "more"]) if self._has(slot, "more") else "say"),
                )
                new, old = (a, b) if r.random() < 0.5 else (b, a)
                return RelPair(self.perturb(new), self.perturb(old), rel, "deny")
            slot = r.choice(self._fixed_slots)
            v_old = self._value(slot)
            old = self._say(slot, v_old)
            v_new = self._value(slot, avoid=v_old)
            new = self._say(slot, v_new) if r.random() < 0.6 else self.fill(self._last, v_new)
            return RelPair(self.perturb(new), self.perturb(old), rel, "fixed")
        return self.unrelated()

    def _any_statement(self, slot: RSlot, change: bool = False) -> str:
        """Any kind of statement about ``slot``: a value, a new value, an end, another value, a denial; with
        ``change`` a new value, an end or another value when the slot has one (the statements that, about the
        same slot, would update or complement)."""
        parts = [p for p in ("say", "say", "say", "update", "end", "more", "deny") if self._has(slot, p)]
        if change:
            parts = [p for p in ("update", "update", "end", "more") if self._has(slot, p)] or parts
        return self._say(slot, self._value(slot), self.rng.choice(parts), old=self._value(slot))

    def _cross(self, complement: bool) -> RelPair | None:
        """Two statements of different slots: the same attribute (complement) or different attributes (unrelated)."""
        r = self.rng
        if complement:
            attr = r.choice(sorted(a for a in _COMPLEMENT_ACROSS if len(self.by_attribute.get(a, ())) > 1))
            a, b = r.sample(self.by_attribute[attr], 2)
        else:
            a, b = r.sample(self.slots, 2)
            if a.attribute == b.attribute and a.attribute not in _UNRELATED_ACROSS:
                return None
        if frozenset((a.key, b.key)) in RELATED_SLOTS:
            return None
        if complement:
            new = self._say(b, self._value(b), r.choice([p for p in ("say", "say", "more") if self._has(b, p)]))
            old = self._say(a, self._value(a))
        else:
            new, old = self._any_statement(b, change=r.random() < 0.5), self._any_statement(a)
        return RelPair(self.perturb(new), self.perturb(old), Relation.COMPLEMENT if complement else Relation.UNRELATED, "cross")

    def _never_statement(self) -> tuple[str, str]:
        c = self.rng.choice(CONTRADICTIONS)
        never, does = self._contra[c.key]
        v = self.rng.choice(self.pools[c.pool]) if c.pool else ""
        return self.fill(self.rng.choice(never if self.rng.random() < 0.6 else does), v), c.attribute

    def unrelated(self) -> RelPair:
        """Two statements about different things: different slots, a never-statement and a statement of another
        attribute, or a statement and a distractor / world statement."""
        r = self.rng
        while True:
            roll = r.random()
            if roll < 0.6:
                p = self._cross(complement=False)
                if p is not None:
                    return p
                continue
            slot = r.choice(self.slots)
            stmt = self._any_statement(slot, change=r.random() < 0.5)
            if roll < 0.75:
                other, attr = self._never_statement()
                if attr == slot.attribute:
                    continue
            elif roll < 0.93:
                other = r.choice(self.distractors) if r.random() < 0.7 else self._never_statement()[0]
                if other not in self.distractors:
                    other, stmt = r.choice(self.distractors), other
            else:
                other = self.none_text()
            new, old = (stmt, other) if r.random() < 0.65 else (other, stmt)
            return RelPair(self.perturb(new), self.perturb(old), Relation.UNRELATED, "distractor")
