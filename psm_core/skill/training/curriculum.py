"""The seeded memory-operations curriculum: synthetic dialogues, statement pairs and corrections.

```
Curriculum(seed, held_out)      one generator; held_out=True uses only held-out templates, values, names
  .dialogue()    -> Dialogue    two friends (or a user and an assistant) over several dated sessions,
                                every turn labelled for the gate, plus questions with their gold turns
  .pair()        -> PairExample (new, existing, relation) for interference
  .correction()  -> CorrectionExample (user turn, previous answer, is it a correction?)
```
Personas have slots (city, job, pet, partner, hobbies, plans, counts…) whose values are stated,
restated in other words, updated, contradicted and complemented over time, wrapped in the social
talk real dialogue puts around facts. Nothing here is user data: it is all generated from
:mod:`psm_core.skill.training.lexicon` and :mod:`psm_core.skill.training.lexicon_talk`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from psm_core.skill.base import Relation
from psm_core.skill.training import lexicon_talk as talk
from psm_core.skill.training.heldout import CORRECTION_SET
from psm_core.skill.training.lexicon import FIRST_NAMES, SLOTS, Slot, split
from psm_core.types import Kind

__all__ = ["CorrectionExample", "Curriculum", "Dialogue", "PairExample", "Query", "Turn"]


@dataclass
class Turn:
    """One labelled turn: should the gate keep it, and how to file it."""

    speaker: str
    text: str
    session: int
    timestamp: datetime
    keep: bool
    kind: Kind = Kind.CHITCHAT
    emotion: float = 0.1
    confidence: float = 0.9
    fact: tuple[str, str, str] | None = None  # (speaker, slot, value) this turn states
    observed: bool = True  # False for assistant turns left out of LongMemEval-style indexing


@dataclass
class Query:
    text: str
    gold: list[int]  # turn indices that answer it


@dataclass
class Dialogue:
    turns: list[Turn]
    queries: list[Query]
    style: str  # "friends" or "assistant"


@dataclass
class PairExample:
    new: str
    existing: str
    relation: Relation


@dataclass
class CorrectionExample:
    turn: str
    answer: str
    is_correction: bool


@dataclass
class _Persona:
    name: str
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    number: dict[str, int] = field(default_factory=dict)


def _cap(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:] if text else text


_LOWER_OK = frozenset(
    "my our the we being nothing on since life home as after here's here this these last yesterday two ugh bad big so "
    "quick update turns got just heads in for when to most playing juggling someday sadly change we're after being "
    "work lately today guess".split()
)


def _join(opener: str, core: str) -> str:
    """``opener`` + ``core``, lowercasing the first word of ``core`` only when it is a common word."""
    if not opener:
        return _cap(core)
    first = core.split(" ", 1)[0].rstrip(",.!:").lower()
    if first in _LOWER_OK:
        core = core[:1].lower() + core[1:]
    return _cap(opener + core)


def _grammar(q: str) -> str:
    q = q.replace("I's ", "my ").replace("{does} I", "do I").replace("{does}", "does")
    q = re.sub(r"\b([Dd])oes I\b", r"\1o I", q)
    q = re.sub(r"\bIs I\b", "Am I", q)
    q = re.sub(r"\bis I\b", "am I", q)
    return q


class Curriculum:
    """A seeded generator; equal seeds give equal data. ``held_out`` selects the evaluation split."""

    ACK_RATE = 0.2  # share of informative turns followed by a bare acknowledgement

    def __init__(self, seed: int = 0, held_out: bool = False) -> None:
        self.rng = random.Random(seed)
        self.held_out = held_out
        self.names = split(FIRST_NAMES, held_out)
        self.slots = SLOTS
        self._t: dict[str, tuple[str, ...]] = {}
        self._acks = random.Random(seed + 1_000_003)  # bare acknowledgements after informative turns

    # -- helpers --------------------------------------------------------------------------------
    def _pick(self, seq: tuple[str, ...], key: str = "") -> str:
        if key:
            if key not in self._t:
                self._t[key] = split(seq, self.held_out)
            seq = self._t[key]
        return self.rng.choice(seq)

    def _tmpl(self, slot: Slot, part: str) -> str:
        seq: tuple[str, ...] = getattr(slot, part)
        return self._pick(seq, f"{slot.name}.{part}")

    def _value(self, slot: Slot, avoid: tuple[str, ...] | None = None) -> tuple[str, ...]:
        vals = split(slot.values, self.held_out) or slot.values
        choices: list[tuple[str, ...]] = [v for v in vals if v != avoid] or list(slot.values)
        return self.rng.choice(choices)

    def _fill(self, template: str, value: tuple[str, ...], old: tuple[str, ...] | None = None, n: int = 0, m: int = 0) -> str:
        v = value[0]
        w = value[1] if len(value) > 1 else value[0]
        o = old[0] if old else v
        ow = (old[1] if len(old) > 1 else old[0]) if old else w
        x = self._pick_extra_cache
        text = template.format(v=v, w=w.format(n=n), o=o, ow=ow.format(n=m), x=x, n=n)
        return _cap(text)

    _pick_extra_cache = ""

    def _say(self, slot: Slot, value: tuple[str, ...], part: str = "say", old: tuple[str, ...] | None = None, n: int = 3) -> str:
        self._pick_extra_cache = self._pick(slot.extra, f"{slot.name}.extra")
        m = max(1, n - self.rng.randint(1, 9))
        return self._fill(self._tmpl(slot, part), value, old, n=n, m=m)

    def _persona(self) -> _Persona:
        p = _Persona(self.rng.choice(self.names))
        for slot in self.rng.sample(self.slots, k=self.rng.randint(7, 12)):
            p.values[slot.name] = self._value(slot)
            p.number[slot.name] = self.rng.randint(3, 60)
        return p

    def _social(self, other: str, topics: list[str]) -> str:
        r = self.rng
        c = r.randrange(9)
        react = self._pick(talk.REACTIONS, "react")
        if c == 0:
            parts = [self._pick(talk.GREETINGS, "greet"), r.choice(["", self._pick(talk.QUESTIONS, "q")])]
        elif c == 1:
            parts = [f"{react}, {other}!" if r.random() < 0.5 else f"{react}!", self._pick(talk.COMMENTS, "c")]
            parts.append(r.choice(["", self._pick(talk.QUESTIONS, "q")]))
        elif c == 2 and topics:
            t = self._pick(talk.TOPIC_REACTIONS, "tr").format(react=react, topic=r.choice(topics))
            parts = [t, r.choice(["", self._pick(talk.QUESTIONS, "q")])]
        elif c == 3:
            parts = [
                self._pick(talk.THANKS, "thanks"),
                r.choice(["", self._pick(talk.SUPPORT, "s"), self._pick(talk.CLOSERS, "cl")]),
            ]
        elif c == 4:
            parts = [self._pick(talk.ACKS, "ack"), r.choice(["", self._pick(talk.COMMENTS, "c")])]
        elif c == 5:
            parts = [self._pick(talk.CLOSERS, "cl")]
        elif c == 6:
            parts = [self._pick(talk.SUPPORT, "s"), self._pick(talk.COMMENTS, "c")]
        elif c == 7:
            parts = [self._pick(talk.COMMENTS, "c"), self._pick(talk.QUESTIONS, "q")]
        else:
            parts = [self._pick(talk.QUESTIONS, "q")]
        return _cap(" ".join(p for p in parts if p).replace("{name}", other))

    def _request(self) -> str:
        t = self._pick(talk.REQUESTS, "req")
        fill = {k: self.rng.choice(v) for k, v in talk.REQUEST_FILL.items()}
        return _cap(t.format(**fill))

    def _statement(self, p: _Persona, other: str, part: str, slot: Slot) -> tuple[str, float, float]:
        """A fact of ``p`` wrapped like real dialogue; returns (text, emotion, confidence)."""
        r = self.rng
        value = p.values[slot.name]
        core = self._say(slot, value, part, n=p.number[slot.name])
        conf = 0.9
        if r.random() < 0.1 and part == "say":
            core = _join(self._pick(talk.HEDGES, "hedge"), core)
            conf = 0.5
        emo = 0.7 if slot.emotional else 0.1
        tail = ""
        if r.random() < 0.2:
            tail = self._pick(talk.EMOTION_TAILS, "emo")
            emo = 0.8
        tail += self._pick(talk.TAILS, "tail")
        opener = self._pick(talk.OPENERS, "open").replace("{name}", other)
        if r.random() < 0.08:
            tail += f" [shares a photo: a photo of {r.choice(slot.extra)}]"
        return _join(opener, core) + tail, emo, conf

    # -- dialogues ------------------------------------------------------------------------------
    def dialogue(self, sessions: int | None = None) -> Dialogue:
        """A multi-session dialogue with gate labels and recall questions."""
        r = self.rng
        style = "assistant" if r.random() < 0.35 else "friends"
        a, b = self._persona(), self._persona()
        while b.name == a.name:
            b.name = r.choice(self.names)
        speakers = [a] if style == "assistant" else [a, b]
        stated: dict[tuple[str, str], list[int]] = {}
        turns: list[Turn] = []
        when = datetime(2022, 1, 1, tzinfo=timezone.utc) + timedelta(days=r.randint(0, 700))
        for s in range(sessions or r.randint(4, 8)):
            when += timedelta(days=r.randint(1, 40), hours=r.randint(0, 12))
            for i in range(r.randint(8, 20)):
                ts = when + timedelta(minutes=2 * i)
                if style == "assistant" and i % 2 == 1:
                    turns.append(Turn("assistant", self._pick(talk.ASSISTANT, "asst"), s, ts, False, observed=r.random() < 0.5))
                    continue
                p = speakers[i % len(speakers)]
                other = speakers[(i + 1) % len(speakers)].name if style == "friends" else "there"
                turns.append(self._turn(p, other, s, ts, style, stated, len(turns), [b, a][i % 2] if style == "friends" else a))
                if turns[-1].keep and self._acks.random() < self.ACK_RATE:
                    turns.append(self._ack_turn(turns[-1], speakers, style))
        queries = self._queries(speakers, stated, style)
        return Dialogue(turns, queries, style)

    def _ack_turn(self, after: Turn, speakers: list[_Persona], style: str) -> Turn:
        """A bare acknowledgement ("ok", "lol", "thanks!") right after an informative turn: dropped.

        Drawn from its own random stream, so the rest of the dialogue is the same with or without it.
        """
        r = self._acks
        text = r.choice(split(talk.BARE_ACKS, self.held_out))
        if r.random() < 0.35:
            text = text[:1].upper() + text[1:]
        if r.random() < 0.2 and text[-1].isalnum():
            text += r.choice(["!", ".", " :)", "!!"])
        if style == "friends" and r.random() < 0.7:
            speaker = next((sp.name for sp in speakers if sp.name != after.speaker), after.speaker)
        else:
            speaker = after.speaker
        ts = after.timestamp + timedelta(minutes=1)
        return Turn(speaker, text, after.session, ts, False, Kind.CHITCHAT, 0.05, 0.9)

    def _turn(
        self,
        p: _Persona,
        other: str,
        s: int,
        ts: datetime,
        style: str,
        stated: dict[tuple[str, str], list[int]],
        idx: int,
        listener: _Persona,
    ) -> Turn:
        r = self.rng
        speaker = p.name if style == "friends" else "user"
        if r.random() < (0.5 if style == "friends" else 0.3):
            if style == "assistant":
                text = self._request() if r.random() < 0.7 else self._pick(talk.ACKS, "ack")
            else:
                topics = [v[0] for v in listener.values.values()][:4]
                text = self._social(other, topics)
            return Turn(speaker, text, s, ts, False, Kind.CHITCHAT, 0.2 if "!" in text else 0.05, 0.9)
        slot = r.choice([sl for sl in self.slots if sl.name in p.values])
        key = (p.name, slot.name)
        part = "say"
        if key in stated:
            part = r.choices(["say", "more", "update"], weights=[3, 3, 2 if slot.update else 0])[0]
            if part == "update":
                old = p.values[slot.name]
                p.values[slot.name] = self._value(slot, avoid=old)
                p.number[slot.name] += r.randint(2, 15)
                stated[key] = []
                core = self._say(slot, p.values[slot.name], "update", old=old, n=p.number[slot.name])
                text = _join(self._pick(talk.OPENERS, "open").replace("{name}", other), core)
                stated[key].append(idx)
                return Turn(speaker, text, s, ts, True, slot.kind, 0.3, 0.9, (p.name, slot.name, p.values[slot.name][0]))
        text, emo, conf = self._statement(p, other, part, slot)
        if style == "assistant" and r.random() < 0.5:
            text = text + " " + self._request()
        stated.setdefault(key, []).append(idx)
        return Turn(speaker, text, s, ts, True, slot.kind, emo, conf, (p.name, slot.name, p.values[slot.name][0]))

    def _queries(self, speakers: list[_Persona], stated: dict[tuple[str, str], list[int]], style: str) -> list[Query]:
        out = []
        for (name, slot_name), gold in stated.items():
            if not gold:
                continue
            slot = next(sl for sl in self.slots if sl.name == slot_name)
            p = next(sp for sp in speakers if sp.name == name)
            who = "I" if style == "assistant" else name
            value = p.values[slot_name]
            q = self._tmpl(slot, "ask").replace("{p}", who)
            q = _grammar(q).format(v=value[0], w=(value[1] if len(value) > 1 else value[0]).format(n=p.number[slot_name]))
            out.append(Query(_cap(q), list(gold)))
        return out

    # -- interference pairs ---------------------------------------------------------------------
    def _wrap(self, text: str) -> str:
        r = self.rng
        if r.random() < 0.35:
            opener = self._pick(talk.OPENERS, "open").replace("{name}", r.choice(self.names))
            text = _join(opener, text)
        if r.random() < 0.25:
            text += self._pick(talk.TAILS, "tail")
        return text

    def pair(self, relation: Relation | None = None) -> PairExample:
        """A (new, existing) statement pair with its relation (uniform over relations by default)."""
        r = self.rng
        rel = relation or r.choice(list(Relation))
        slot = r.choice([s for s in self.slots if s.update]) if rel is Relation.UPDATE else r.choice(self.slots)
        v = self._value(slot)
        n = r.randint(3, 60)
        old = self._say(slot, v, n=n)
        if rel is Relation.DUPLICATE:
            new = old if r.random() < 0.08 else self._say(slot, v, n=n)
        elif rel is Relation.UPDATE:
            v2 = self._value(slot, avoid=v)
            n2 = n + r.randint(2, 20)
            new = self._say(slot, v2, "update", old=v, n=n2) if r.random() < 0.75 else self._say(slot, v2, n=n2)
        elif rel is Relation.CONTRADICTION:
            new = self._say(slot, v, "deny", n=n)
        elif rel is Relation.COMPLEMENT:
            new = self._say(slot, v, "more", n=n)
            if r.random() < 0.3:
                for _ in range(8):  # another detail of the same thing, when the split has one
                    other_detail = self._say(slot, v, "more", n=n)
                    if other_detail != new:
                        old = other_detail
                        break
        else:
            other = r.choice([s for s in self.slots if s.name != slot.name])
            new = self._say(other, self._value(other), r.choice(["say", "say", "more"]), n=n)
        return PairExample(self._wrap(new), self._wrap(old), rel)

    # -- corrections ----------------------------------------------------------------------------
    def correction(self, positive: bool | None = None) -> CorrectionExample:
        """A user turn replying to an assistant answer; half are corrections by default.

        Corrections come with a fix (a new value, a denial, "I asked for X"), as a short fix
        ("Nope, it's Rex.") or bare ("That's wrong.", "Not quite."); non-corrections include the hard
        negatives: confirmations ("Yes, it's Rex."), polite replies ("No worries!", "Nothing else,
        thanks") and a "No." that declines an offer. A turn of the hand-written held-out set
        (:mod:`psm_core.skill.training.heldout`) is never generated.
        """
        for _ in range(100):
            ex = self._correction(positive)
            if _norm(ex.turn) not in _HELD_OUT_TURNS:
                return ex
        raise RuntimeError("the correction templates only produce held-out turns")  # pragma: no cover

    def _correction(self, positive: bool | None) -> CorrectionExample:
        r = self.rng
        pos = r.random() < 0.5 if positive is None else positive
        slot = r.choice(self.slots)
        v = self._value(slot)
        n = r.randint(3, 60)
        self._pick_extra_cache = self._pick(slot.extra, f"{slot.name}.extra")
        answer = self._fill(self._tmpl(slot, "answer"), v, n=n)
        if r.random() < 0.2:
            answer = self._pick(talk.ASSISTANT, "asst") + " " + answer
        thing = r.choice(talk.REQUEST_FILL["thing"])
        short = slot.name not in _VERB_SLOTS
        style = r.random()
        if pos and style < 0.22:
            return CorrectionExample(self._bare_correction(), answer, True)
        if pos and style < 0.4 and short:
            v2 = self._value(slot, avoid=v)
            fix = self._pick(talk.SHORT_FIXES, "short").format(v=v2[-1].format(n=n + 3), o=v[-1].format(n=n))
            return CorrectionExample(_cap(fix), answer, True)
        if not pos and style < 0.15:
            fix = self._pick(talk.CONFIRMATIONS, "confirm").format(v=v[-1].format(n=n))
            return CorrectionExample(_cap(fix), answer, False)
        if not pos and style < 0.3:
            return CorrectionExample(self._pick(talk.POLITE_REPLIES, "polite"), answer, False)
        if not pos and style < 0.42:
            offer = self._pick(talk.OFFERS, "offer")
            offer = offer if r.random() < 0.5 else answer + " " + offer
            return CorrectionExample(self._pick(talk.OFFER_REPLIES, "offer_reply"), offer, False)
        if pos:
            choice = r.random()
            if choice < 0.55:
                v2 = self._value(slot, avoid=v)
                fix = self._say(slot, v2, n=n + 3)
            elif choice < 0.8:
                fix = self._say(slot, v, "deny", n=n)
            elif choice < 0.9:
                v2 = self._value(slot, avoid=v)
                fix = f"it's {v2[-1].format(n=n + 3)}, not {v[-1].format(n=n)}."
            else:
                thing2 = r.choice(talk.REQUEST_FILL["thing"])
                fix = r.choice(
                    [f"I asked for {thing}, not {thing2}.", f"I meant {thing}.", f"that's not what I asked. I wanted {thing}."]
                )
            turn = self._pick(talk.CORRECTIONS, "corr").format(fix=fix)
        else:
            other = r.choice([s for s in self.slots if s.name != slot.name])
            turn = self._pick(talk.NON_CORRECTIONS, "noncorr").format(
                more=self._say(slot, v, "more", n=n), thing=thing, other=self._say(other, self._value(other), n=n)
            )
        return CorrectionExample(_cap(turn), answer, pos)

    def _bare_correction(self) -> str:
        """A correction that says only that the answer is wrong ("That's wrong.", "Nope, not quite!")."""
        r = self.rng
        core = self._pick(talk.BARE_CORRECTION_CORES, "bare")
        opener = self._pick(talk.BARE_CORRECTION_OPENERS, "bare_open") if r.random() < 0.5 else ""
        if core in ("no", "nope", "wrong") and _norm(opener) in ("no", "nope", "nah"):
            opener = ""  # not "Nope, no"
        end = r.choice([".", ".", "!", "", "...", ". " + self._pick(talk.BARE_CORRECTION_CORES, "bare").capitalize() + "."])
        return _cap(opener + core + end)


_VERB_SLOTS = frozenset({"event", "health", "goal"})  # values are verb phrases: no "Actually it's <value>."


def _norm(text: str) -> str:
    """Lowercase words only: "No, that's wrong!" and "no that's wrong" are the same turn."""
    return re.sub(r"[^a-z0-9']+", " ", text.lower().replace("\u2019", "'")).strip()


_HELD_OUT_TURNS = frozenset(_norm(turn) for turn, _, _ in CORRECTION_SET)
