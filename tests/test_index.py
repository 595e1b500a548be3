"""The in-process index: exact vector search, contextual vectors, and the live embedding cache."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from psm_core import PSM, PSMSettings, Tier
from psm_core.index import CONTEXT_WEIGHT, UserIndex, contextual_vectors, speaker_line
from psm_core.types import MemoryRecord

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def _records(n: int, rng: np.random.Generator) -> tuple[list[MemoryRecord], np.ndarray]:
    tiers = [Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL]
    recs = [
        MemoryRecord(user_id="u", text=f"memory {i}", tier=tiers[i % 3], session_id=f"s{i // 7}",
                     observed_at=T0 + timedelta(minutes=i))
        for i in range(n)
    ]  # fmt: skip
    vecs = rng.standard_normal((n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return recs, vecs


def test_nearest_is_exact_per_tier_and_follows_removals_and_tier_changes() -> None:
    rng = np.random.default_rng(0)
    recs, vecs = _records(300, rng)
    idx = UserIndex(16)
    idx.put_many(zip(recs, vecs))
    q = vecs[5] + 0.1 * rng.standard_normal(16).astype(np.float32)
    q /= np.linalg.norm(q)
    for tier in (Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL):
        got = idx.nearest(q, [tier], 10)
        rows = [i for i, r in enumerate(recs) if r.tier is tier]
        sims = vecs[rows] @ q
        want = [recs[rows[j]].id for j in np.argsort(-sims)[:10]]
        assert [rid for rid, _ in got] == want
        assert np.allclose([s for _, s in got], np.sort(sims)[::-1][:10], atol=1e-5)
    both = idx.nearest(q, [Tier.EPISODIC, Tier.SEMANTIC], 4)
    assert len(both) == 8 and [s for _, s in both] == sorted((s for _, s in both), reverse=True)
    best = idx.nearest(q, [Tier.EPISODIC], 1)[0][0]
    idx.remove(best)
    assert best not in [rid for rid, _ in idx.nearest(q, [Tier.EPISODIC], 50)]
    moved = recs[5]  # the query's neighbour, episodic -> archival
    idx.put(moved.model_copy(update={"tier": Tier.ARCHIVAL}), None)
    assert moved.id not in [rid for rid, _ in idx.nearest(q, [Tier.EPISODIC], 300)]
    assert idx.nearest(q, [Tier.ARCHIVAL], 1)[0][0] == moved.id
    assert idx.nearest(q, [], 5) == [] and idx.nearest(q, [Tier.EPISODIC], 0) == []
    assert UserIndex(16).nearest(q, [Tier.EPISODIC], 5) == []


def test_exact_search_and_chroma_hnsw_find_the_same_memories(tmp_path: Path) -> None:
    turns = [
        "My sister Ana is getting married in Lisbon next May.",
        "I adopted a grey cat called Pixel last winter.",
        "Work has been busy, we ship the new billing system on Friday.",
        "I started learning the cello, lessons are on Tuesdays.",
        "We are repainting the kitchen a pale green this weekend.",
        "My doctor told me to cut down on coffee.",
    ]
    results = {}
    for name, exact in (("exact", 50_000), ("hnsw", 0)):
        with PSM(PSMSettings(home=tmp_path / name, exact_search_max=exact)) as psm:
            mem = psm.for_user("alice")
            mem.observe_many(
                [{"text": t, "session_id": "s1", "timestamp": T0 + timedelta(minutes=i)} for i, t in enumerate(turns)]
            )
            got = mem.recall("when is the wedding?", k=3, touch=False)
            results[name] = [(m.text, round(m.score, 4)) for m in got.memories]
    assert results["exact"] == results["hnsw"]
    assert "married" in results["exact"][0][0]


def test_contextual_vectors_combine_head_and_context_and_embed_each_text_once(psm: PSM) -> None:
    seen: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return psm.embedder.embed(texts)

    head_a = speaker_line("Caroline", "I went to a support group yesterday.")
    head_b = speaker_line("Melanie", "How did it go?")
    out = contextual_vectors(embed, [(head_a, None), (head_b, head_a), (head_b, None)])
    assert seen == [[head_a, head_b]]  # head_a is embedded once, as a head and as a context
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    ea, eb = psm.embedder.embed([head_a, head_b])
    assert np.allclose(out[0], ea, atol=1e-5) and np.allclose(out[2], eb, atol=1e-5)
    mixed = eb + CONTEXT_WEIGHT * np.sqrt(len(head_a) / len(head_b)) * ea
    assert np.allclose(out[1], mixed / np.linalg.norm(mixed), atol=1e-5)
    assert float(out[1] @ ea) > float(eb @ ea)  # the answer now lies nearer its question


def test_a_live_turn_embeds_only_its_own_text(psm: PSM, monkeypatch: pytest.MonkeyPatch) -> None:
    embedded: list[str] = []
    inner = psm.embedder._embed_batch  # type: ignore[attr-defined]

    def spy(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return inner(texts)

    monkeypatch.setattr(psm.embedder, "_embed_batch", spy)
    mem = psm.for_user("bob")
    mem.observe("Are you coming to the climbing gym on Thursday?", role="Ann", session_id="s", timestamp=T0)
    embedded.clear()
    rec = mem.observe("Yes, I booked the 7pm slot.", role="Bob", session_id="s", timestamp=T0 + timedelta(minutes=1))
    assert rec.context == "Ann: Are you coming to the climbing gym on Thursday?"
    assert embedded == ["Bob: Yes, I booked the 7pm slot."]  # the context was embedded as the turn before
    hits = mem.recall("which slot did Bob book at the climbing gym?", k=1, touch=False)
    assert hits.memories[0].id == rec.id


def test_superseded_records_are_counted_and_take_no_place_in_recall(tmp_path: Path) -> None:
    from psm_core import Status

    rng = np.random.default_rng(1)
    recs, vecs = _records(30, rng)
    idx = UserIndex(16)
    idx.put_many(zip(recs, vecs))
    assert idx.superseded == 0
    idx.put(recs[0].model_copy(update={"status": Status.SUPERSEDED, "valid_to": recs[0].observed_at}), None)
    idx.put(recs[1].model_copy(update={"status": Status.SUPERSEDED, "valid_to": recs[1].observed_at}), None)
    assert idx.superseded == 2
    idx.remove(recs[1].id)
    idx.put(recs[0], None)  # back to active
    assert idx.superseded == 0

    with PSM(PSMSettings(home=tmp_path)) as psm:
        mem = psm.for_user("u")
        texts = [f"My favourite colour used to be shade number {i}." for i in range(12)]
        made = [mem.remember(t, tier=Tier.SEMANTIC) for t in texts]
        before = mem.recall("favourite colour", k=5, touch=False).ids
        for r in made[:6]:
            mem.update(r.id, status=Status.SUPERSEDED, valid_to=r.observed_at)
        after = mem.recall("favourite colour", k=5, touch=False).ids
        assert len(after) == 5 and not set(after) & {r.id for r in made[:6]}
        assert set(after) <= {r.id for r in made[6:]} and len(before) == 5
