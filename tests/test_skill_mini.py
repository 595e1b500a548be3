"""PSM-mini and the baseline policy behind the MemorySkill contract, with the shipped weights and the real embedder."""

from __future__ import annotations

import math
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from psm_core import PSM, PSMSettings
from psm_core.config import PSMSettings as Settings
from psm_core.embeddings import load_embedder
from psm_core.errors import ConfigurationError, InvalidInputError
from psm_core.skill import load_skill
from psm_core.skill.base import Candidate, Correction, GateDecision, Interference, MemorySkill, Pattern, Relation
from psm_core.skill.baseline import BaselinePolicy
from psm_core.skill.mini import DEFAULT_WEIGHTS, PSMMini
from psm_core.types import Event, Kind, MemoryRecord, Tier

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    s = Settings()
    return load_embedder(s.embedder, s.embedder_backend, s.model_cache / "models")


@pytest.fixture(scope="module")
def mini(embedder) -> PSMMini:  # type: ignore[no-untyped-def]
    return PSMMini.load(embedder=embedder)


@pytest.fixture(scope="module", params=["baseline", "mini"])
def skill(request, embedder, mini) -> MemorySkill:  # type: ignore[no-untyped-def]
    return BaselinePolicy() if request.param == "baseline" else mini


def _episodes(embedder, texts: list[str]) -> tuple[list[MemoryRecord], np.ndarray]:  # type: ignore[no-untyped-def]
    recs = [
        MemoryRecord(user_id="u", text=t, tier=Tier.EPISODIC, observed_at=T0 + timedelta(days=i), importance=0.6)
        for i, t in enumerate(texts)
    ]
    return recs, embedder.embed(texts)


def _candidates(n: int) -> list[Candidate]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rec = MemoryRecord(user_id="u", text=f"memory {i}", tier=Tier.EPISODIC, kind=list(Kind)[i % 6],
                           observed_at=T0 - timedelta(days=i), recall_count=i % 4)  # fmt: skip
        out.append(Candidate(record=rec, similarity=float(rng.uniform(0, 0.9)), lexical=float(rng.uniform()), dense_rank=i,
                             lexical_rank=None if i % 3 else i, neighbor_similarity=float(rng.uniform(0, 0.5))))  # fmt: skip
    return out


# -- the interface contract, for both skills ------------------------------------------------------
def test_contract(skill: MemorySkill, embedder) -> None:  # type: ignore[no-untyped-def]
    events = [
        Event(text="I adopted a beagle named Bruno last week.", role="user", session_id="s", timestamp=T0),
        Event(text="haha ok", role="user", session_id="s", timestamp=T0),
    ]
    single = [skill.gate(e, events[:i]) for i, e in enumerate(events)]
    assert all(isinstance(d, GateDecision) and 0 <= d.importance <= 1 and 0 <= d.confidence <= 1 for d in single)
    batch = skill.gate_batch(events, None, [events[:i] for i in range(len(events))])
    assert [d.keep for d in batch] == [d.keep for d in single]

    inter = skill.interfere("I moved to Berlin last month.", "I live in Paris.")
    assert isinstance(inter, Interference) and inter.relation in set(Relation) and 0 <= inter.probability <= 1
    pairs = [("I moved to Berlin last month.", "I live in Paris."), ("I love sushi.", "My sister is a nurse.")]
    assert [i.relation for i in skill.interfere_batch(pairs)][0] == skill.interfere(*pairs[0]).relation

    cands = _candidates(40)
    scores = skill.weigh("what pet does the user have?", cands, T0)
    assert scores.dtype == np.float64 and scores.shape == (40,) and np.isfinite(scores).all()
    assert skill.weigh("q", [], T0).shape == (0,)

    rate = skill.decay(cands[0].record)
    assert rate > 0 and math.isfinite(rate)
    assert skill.decay_batch([c.record for c in cands[:3]]) == [skill.decay(c.record) for c in cands[:3]]

    recs, vecs = _episodes(
        embedder, ["I'm vegetarian.", "I am a vegetarian.", "Just so you know, I'm vegetarian!", "My car is red."]
    )
    patterns = skill.extract_patterns(recs, vecs)
    assert all(isinstance(p, Pattern) and set(p.episode_ids) <= {r.id for r in recs} for p in patterns)
    assert skill.extract_patterns([], np.zeros((0, embedder.dim), np.float32)) == []

    corr = skill.is_correction("No, I live in Porto, not Lisbon.", "Since you live in Lisbon, try these cafes.")
    assert isinstance(corr, Correction) and 0 <= corr.probability <= 1
    assert [c.is_correction for c in skill.is_correction_batch([("No, it's Porto.", "You live in Lisbon.")])] == [
        skill.is_correction("No, it's Porto.", "You live in Lisbon.").is_correction
    ]
    assert skill.gate_batch([]) == []


# -- PSM-mini specifics ---------------------------------------------------------------------------
def test_default_skill_is_mini(home: Path) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        assert isinstance(psm.skill, PSMMini) and psm.skill.name == "psm-mini"
        mem = psm.for_user("alice")
        kept = mem.observe("I just moved to Lisbon with my partner Ana.", session_id="s1", timestamp=T0)
        dropped = mem.observe("lol ok", session_id="s1", timestamp=T0 + timedelta(minutes=1))
        assert kept.tier is Tier.EPISODIC and dropped.tier is Tier.WORKING
        res = mem.recall("Where does the user live?", k=3)
        assert res.memories and res.memories[0].id == kept.id


def test_loads_offline_without_network(embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    skill = PSMMini.load(embedder=embedder)
    assert skill.gate(Event(text="My sister Mia lives in Porto.")).keep
    assert (DEFAULT_WEIGHTS / "model.safetensors").stat().st_size < 5_000_000
    assert (DEFAULT_WEIGHTS / "MODEL_CARD.md").exists()


def test_deterministic_across_loads(embedder) -> None:  # type: ignore[no-untyped-def]
    a, b = PSMMini.load(embedder=embedder), PSMMini.load(embedder=embedder)
    ev = [Event(text=t) for t in ("I work as a nurse at St. Mary's.", "Thanks, you too!", "We're flying to Japan in May.")]
    assert a.gate_batch(ev) == b.gate_batch(ev)
    cands = _candidates(50)
    assert np.array_equal(a.weigh("q", cands, T0), b.weigh("q", cands, T0))
    pairs = [("I switched to tea.", "I drink coffee every morning."), ("I have two cats.", "I have two cats.")]
    assert np.array_equal(a.interference_probabilities(pairs), b.interference_probabilities(pairs))


def test_save_and_load_weights_dir(mini: PSMMini, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mini.save(tmp_path)
    again = load_skill(str(tmp_path), embedder)
    assert isinstance(again, PSMMini)
    cands = _candidates(30)
    assert np.array_equal(again.weigh("q", cands, T0), mini.weigh("q", cands, T0))


def test_learned_behaviour_on_handwritten_examples(mini: PSMMini) -> None:
    keep = mini.gate_batch([Event(text=t) for t in (
        "My daughter starts kindergarten in September, I'm so nervous.",
        "I've been allergic to peanuts since I was a kid.",
    )])  # fmt: skip
    drop = mini.gate_batch([Event(text=t) for t in ("lol ok", "Thanks so much, talk soon!", "See you later!")])
    assert all(d.keep for d in keep) and not any(d.keep for d in drop)
    assert mini.interfere("We moved to Denver in June.", "Our apartment is in Chicago.").relation is Relation.UPDATE
    assert mini.interfere("I don't have any siblings.", "My brother Tom is a chef.").relation is Relation.CONTRADICTION
    assert (
        mini.interfere("My favourite band is Radiohead.", "I work night shifts at the hospital.").relation is Relation.UNRELATED
    )
    assert mini.is_correction("No, she's my sister, not my cousin.", "Your cousin Mia is visiting soon.").is_correction
    assert not mini.is_correction("Perfect, thanks a lot!", "Here's a packing list for Iceland.").is_correction


def test_patterns_group_restatements(mini: PSMMini, embedder) -> None:  # type: ignore[no-untyped-def]
    texts = ["I'm vegetarian.", "Just so you know, I'm vegetarian!", "I've been vegetarian for years.", "I drive a red Mazda."]
    recs, vecs = _episodes(embedder, texts)
    patterns = mini.extract_patterns(recs, vecs)
    assert patterns, "restatements of one fact form a pattern"
    top = patterns[0]
    assert {r.id for r in recs[:3]} >= set(top.episode_ids) and len(top.episode_ids) >= 2
    assert recs[3].id not in top.episode_ids and "vegetarian" in top.text.lower()


# -- bad inputs -----------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors(mini: PSMMini, embedder) -> None:  # type: ignore[no-untyped-def]
    recs, vecs = _episodes(embedder, ["a fact", "another fact"])
    with pytest.raises(InvalidInputError, match="one row per episode"):
        mini.extract_patterns(recs, vecs[:1])
    with pytest.raises(InvalidInputError, match="non-empty"):
        mini.interfere("", "I live in Paris.")
    with pytest.raises(InvalidInputError, match="non-empty"):
        mini.is_correction("   ", "You live in Paris.")
    with pytest.raises(InvalidInputError, match="384-d vector"):
        mini.gate(Event(text="I live in Paris."), vector=np.zeros(10, np.float32))
    with pytest.raises(InvalidInputError, match="contexts"):
        mini.gate_batch([Event(text="hi")], None, [[], []])


def test_huge_batches(mini: PSMMini) -> None:
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(5000, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    events = [Event(text=f"I have {i} plants on my balcony.") for i in range(5000)]
    decisions = mini.gate_batch(events, vecs)
    assert len(decisions) == 5000
    pairs = [("I moved to Berlin.", "I live in Paris."), ("I love tea.", "I drink coffee.")] * 2500
    rel = mini.interfere_batch(pairs)
    assert len(rel) == 5000 and rel[0] == rel[2] and rel[1] == rel[3]
    assert mini.weigh("q", _candidates(3000), T0).shape == (3000,)


def test_non_english_text(mini: PSMMini) -> None:
    texts = ["我下个月搬到上海。", "Я переехала в Берлин в прошлом месяце.", "سأسافر إلى القاهرة الأسبوع المقبل"]
    for d in mini.gate_batch([Event(text=t) for t in texts]):
        assert d.keep and d.confidence <= 0.5  # outside the training distribution: kept, with low confidence
    assert mini.interfere(texts[0], texts[1]).relation in set(Relation)
    assert 0 <= mini.is_correction("不，我住在北京。", "你住在上海。").probability <= 1


def test_wrong_embedder_or_missing_weights(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    class Tiny:
        name, dim = "tiny", 8

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 8), np.float32) / math.sqrt(8)

    with pytest.raises(ConfigurationError, match="384-d"):
        PSMMini.load(embedder=Tiny())
    with pytest.raises(ConfigurationError, match="psm train"):
        PSMMini.load(tmp_path, embedder=embedder)


def test_weigh_is_cheap(mini: PSMMini) -> None:
    import time

    cands = _candidates(60)
    mini.weigh("q", cands, T0)
    t0 = time.perf_counter()
    for _ in range(50):
        mini.weigh("q", cands, T0)
    per_call = (time.perf_counter() - t0) / 50
    assert per_call < 0.005, f"weigh took {per_call * 1000:.2f} ms for 60 candidates"  # ~0.3 ms unloaded; shared CI CPUs
