"""Simulated users with hidden utility, for measuring how much PSM learns from feedback.

```
SimUser     a real PSM user whose store holds synthetic memories on a few topics; per topic 18
            memories of four archetypes: recent (episodic, days old), stable (semantic facts, confident,
            months old), emotional (episodic, high emotional weight), junk (chit-chat, unsure).
            Its hidden utility: the on-topic memories of ONE archetype (recent / stable / emotional)
            are useful to it. Nothing in the texts tells the archetypes apart.
Simulation  one PSM home for all users; step() = one feedback event through the real API:
            recall(k=5) -> log_retrieval -> simulated LLM: it succeeds when a useful memory is in the
            top 5 (helpful for those, irrelevant for the rest), else the user corrects it (corrected
            for all five). The consolidation pass applies the online effects every few events.
evaluate    precision@5 of useful memories on held-out phrasings, read-only (no access statistics
            change), for any skill on the same candidates.
```
Consolidation runs with fact extraction and conflict checks switched off (thresholds 1.0), so the
memory pool stays the one whose utility is known; decay and reinforcement run as in production.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from psm_core.candidates import gather_candidates
from psm_core.skill.base import MemorySkill
from psm_core.types import Kind, Tier

if TYPE_CHECKING:
    from psm_core.memory import UserMemory
    from psm_core.psm import PSM

__all__ = ["ARCHETYPES", "SIM_NOW", "SimUser", "Simulation", "USER_TYPES", "apply_online_effects"]

logger = logging.getLogger(__name__)

USER_TYPES = ("recent", "stable", "emotional")
ARCHETYPES = {"recent": 5, "stable": 5, "emotional": 5, "junk": 3}
SIM_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)

TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "garden": ("my garden", ("tomatoes", "roses", "fence", "compost", "shed")),
    "car": ("my car", ("brakes", "tires", "engine", "insurance", "paint job")),
    "running": ("my running", ("marathon", "shoes", "knee", "pace", "trail")),
    "piano": ("my piano lessons", ("teacher", "scales", "recital", "sheet music", "metronome")),
    "job": ("my job", ("manager", "deadline", "promotion", "office", "team")),
    "apartment": ("my apartment", ("landlord", "rent", "kitchen", "balcony", "neighbors")),
    "cooking": ("my cooking", ("pasta", "spices", "oven", "recipes", "knives")),
    "dog": ("my dog", ("vet", "leash", "walks", "food", "training")),
    "travel": ("my trip to Japan", ("flights", "hotel", "Kyoto", "rail pass", "visa")),
    "books": ("my book club", ("novel", "meeting", "host", "reading list", "author")),
    "health": ("my health", ("doctor", "sleep", "diet", "vitamins", "checkup")),
    "money": ("my savings", ("budget", "bank", "mortgage", "investments", "taxes")),
}
_PREDICATES = (
    "needs attention because of the {adj} {obj}",
    "got better after we changed the {obj}",
    "is going well with the {adj} {obj}",
    "had trouble with the {adj} {obj}",
    "reminds me of the {adj} {obj}",
    "depends a lot on the {obj}",
    "is all about the {adj} {obj} these days",
    "keeps coming back to the {obj}",
    "was discussed together with the {adj} {obj}",
)
_ADJS = ("old", "new", "cheap", "expensive", "small", "big", "local", "second", "usual", "odd")
_FILLER = ("ok sounds good", "thanks, talk later", "haha nice", "sure, why not", "good morning", "see you tomorrow")
TRAIN_QUERIES = ("What do you remember about {s}?", "Tell me about {s}.", "Anything I mentioned regarding {s}?")
EVAL_QUERIES = ("Remind me what I said about {s}.", "What should I keep in mind about {s}?")


@dataclass
class SimUser:
    """A simulated user: the ids of its memories by topic and archetype, and which archetype it finds useful."""

    user_id: str
    kind: str
    canary: str
    topics: list[str]
    memories: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (topic, archetype)

    def useful(self, topic: str) -> set[str]:
        """The memories that help this user with ``topic`` (its hidden utility)."""
        return {i for i, (t, a) in self.memories.items() if t == topic and a == self.kind}


def _attributes(arch: str, rng: random.Random) -> dict[str, Any]:
    u = rng.uniform
    if arch == "recent":
        return dict(tier=Tier.EPISODIC, kind=rng.choice([Kind.EVENT, Kind.PLAN]), age=u(0.2, 10), emotional_weight=u(0, 0.2),
                    confidence=u(0.6, 0.85), importance=u(0.3, 0.7))  # fmt: skip
    if arch == "stable":
        return dict(tier=Tier.SEMANTIC, kind=rng.choice([Kind.FACT, Kind.PREFERENCE, Kind.RELATION]), age=u(40, 400),
                    emotional_weight=u(0, 0.15), confidence=u(0.85, 1.0), importance=u(0.4, 0.8))  # fmt: skip
    if arch == "emotional":
        return dict(tier=Tier.EPISODIC, kind=rng.choice([Kind.EVENT, Kind.RELATION]), age=u(15, 200),
                    emotional_weight=u(0.6, 1.0), confidence=u(0.6, 0.9), importance=u(0.4, 0.9))  # fmt: skip
    return dict(tier=Tier.EPISODIC, kind=rng.choice([Kind.CHITCHAT, Kind.EVENT]), age=u(5, 300), emotional_weight=u(0, 0.2),
                confidence=u(0.3, 0.6), importance=u(0.2, 0.5))  # fmt: skip


def apply_online_effects(psm: PSM, mem: UserMemory, gain: float = 0.2) -> int:
    """Minimal per-record effects of pending outcomes (used only when PSM has no consolidation pass)."""
    pending = psm.feedback_log.pending_effects(mem.user_id)
    for _oid, mid, value in pending:
        try:
            r = mem.get(mid)
        except Exception:  # noqa: BLE001 - forgotten since
            continue
        s = r.strength + gain * value * (1 - r.strength) if value > 0 else r.strength * (1 + 0.5 * value)
        mem.update(mid, strength=float(min(1.0, max(0.01, s))))
    psm.feedback_log.mark_applied([int(p[0]) for p in pending])
    return len(pending)


class Simulation:
    """Simulated users in one real PSM (real embedder, real Chroma); see the module docstring."""

    def __init__(
        self,
        psm: PSM,
        *,
        users_per_type: int = 2,
        topics_per_user: int = 8,
        seed: int = 0,
        consolidate_every: int = 100,
        minutes_per_event: float = 1.0,
        types: Sequence[str] = USER_TYPES,
    ) -> None:
        self.psm = psm
        self.rng = random.Random(seed)
        self.consolidate_every = consolidate_every
        self.minutes_per_event = minutes_per_event
        self.events = 0
        self.users: list[SimUser] = []
        self.online_effects = "consolidation" if hasattr(psm, "consolidate") else "simulate.apply_online_effects"
        if hasattr(psm, "configure_consolidation"):
            from psm_core.consolidation import ConsolidationConfig

            off = 1.0
            psm.configure_consolidation(
                ConsolidationConfig(min_confidence=off, duplicate_threshold=off, update_threshold=off,
                                    contradiction_threshold=off, split_threshold=off, conflict_min_similarity=off)
            )  # fmt: skip
        names = list(TOPICS)
        for i in range(users_per_type):
            for kind in types:
                n = len(self.users)
                uid = f"sim-{kind}-{i}"
                topics = self.rng.sample(names, min(topics_per_user, len(names)))
                self.users.append(SimUser(uid, kind, f"canary-{seed}-{n}-{self.rng.getrandbits(40):010x}", topics))
        for u in self.users:
            self._populate(u)
        logger.info("simulation: %d users, %d memories", len(self.users), sum(len(u.memories) for u in self.users))

    def _populate(self, u: SimUser) -> None:
        mem = self.psm.for_user(u.user_id)
        for topic in u.topics:
            subj, objs = TOPICS[topic]
            seen: set[str] = set()
            for arch, count in ARCHETYPES.items():
                for _ in range(count):
                    text = ""
                    while not text or text in seen:
                        pred = self.rng.choice(_PREDICATES).format(adj=self.rng.choice(_ADJS), obj=self.rng.choice(objs))
                        text = f"{subj[0].upper()}{subj[1:]} {pred}."
                    seen.add(text)
                    if self.rng.random() < 0.3:
                        text = f"{text[:-1]} ({u.canary})."
                    a = _attributes(arch, self.rng)
                    rec = mem.remember(
                        text, kind=a["kind"], tier=a["tier"], confidence=a["confidence"], importance=a["importance"],
                        emotional_weight=a["emotional_weight"], timestamp=SIM_NOW - timedelta(days=a["age"]),
                    )  # fmt: skip
                    u.memories[rec.id] = (topic, arch)
        for f in self.rng.sample(_FILLER, 4):
            age = self.rng.uniform(1, 100)
            rec = mem.remember(f, kind=Kind.CHITCHAT, tier=Tier.EPISODIC, confidence=0.5, importance=0.1,
                               timestamp=SIM_NOW - timedelta(days=age))  # fmt: skip
            u.memories[rec.id] = ("", "filler")

    @property
    def now(self) -> datetime:
        return SIM_NOW + timedelta(minutes=self.minutes_per_event * self.events)

    # -- interaction ----------------------------------------------------------------------------
    def step(self, *, inverted: bool = False) -> bool:
        """One feedback event through the real API; returns whether the simulated LLM succeeded.

        ``inverted`` makes the feedback adversarial: useful memories are reported unhelpful and the others helpful.
        """
        u = self.rng.choice(self.users)
        topic = self.rng.choice(u.topics)
        query = self.rng.choice(TRAIN_QUERIES).format(s=TOPICS[topic][0])
        mem = self.psm.for_user(u.user_id)
        res = mem.recall(query, k=5, now=self.now)
        rid = mem.log_retrieval(res)
        useful = u.useful(topic)
        hits = [m.id for m in res.memories if m.id in useful]
        if inverted:
            rest = [m.id for m in res.memories if m.id not in useful]
            if rest:
                mem.feedback(rid, "helpful", memory_ids=rest, source="sim-adversary")
            if hits:
                mem.feedback(rid, "corrected", memory_ids=hits, source="sim-adversary")
        elif hits:
            mem.feedback(rid, "helpful", memory_ids=hits, source="sim")
            rest = [m.id for m in res.memories if m.id not in useful]
            if rest:
                mem.feedback(rid, "irrelevant", memory_ids=rest, source="sim")
        else:
            mem.feedback(rid, "corrected", source="sim")
        self.events += 1
        if self.consolidate_every and self.events % self.consolidate_every == 0:
            self.apply_effects()
        return bool(hits)

    def run(self, n: int, progress: Callable[[int], None] | None = None, *, inverted: bool = False) -> float:
        """``n`` feedback events; returns the simulated LLM's success rate over them."""
        ok = 0
        for _ in range(n):
            ok += self.step(inverted=inverted)
            if progress is not None:
                progress(1)
        return ok / max(1, n)

    def apply_effects(self) -> None:
        """The online per-record effects of the outcomes so far (the consolidation pass when PSM has one)."""
        for u in self.users:
            if self.online_effects == "consolidation":
                self.psm.consolidate(u.user_id, now=self.now)
            else:
                apply_online_effects(self.psm, self.psm.for_user(u.user_id))

    # -- evaluation -----------------------------------------------------------------------------
    def eval_queries(self) -> list[tuple[SimUser, str, str]]:
        """(user, topic, query) in held-out phrasings: every topic of every user."""
        return [(u, t, q.format(s=TOPICS[t][0])) for u in self.users for t in u.topics for q in EVAL_QUERIES]

    def evaluate(self, skills: dict[str, MemorySkill], k: int = 5) -> dict[str, dict[str, float]]:
        """Precision@k of useful memories per skill (overall and per user type), read-only, same candidates."""
        wanted = {Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL}
        hits: dict[str, dict[str, list[float]]] = {name: {} for name in skills}
        for u, topic, query in self.eval_queries():
            mem = self.psm.for_user(u.user_id)
            idx = mem._ensure_loaded()
            qv = self.psm.skill.query_vector(self.psm.embed([query])[0])
            useful = u.useful(topic)
            with idx.lock:
                cands = gather_candidates(
                    idx, self.psm.store, mem.key, query, qv, wanted, False, max(5 * k, 50), self.now,
                    exact_max=self.psm.settings.exact_search_max,
                )  # fmt: skip
                for name, skill in skills.items():
                    scores = skill.weigh(query, cands, self.now)
                    top = [cands[i].record.id for i in np.argsort(-scores, kind="stable")[:k]]
                    p = sum(i in useful for i in top) / k
                    hits[name].setdefault("all", []).append(p)
                    hits[name].setdefault(u.kind, []).append(p)
        return {name: {g: float(np.mean(v)) for g, v in by.items()} for name, by in hits.items()}
