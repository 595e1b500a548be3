"""Sentence vectors: a consolidation pass embeds each episode's first-person sentences, recall reads the
best one, and they live and die with their record (reload, forget, text update, tier move, erase)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from psm_core import PSM, PSMSettings, Tier
from psm_core.consolidation.links import statements_about_speaker
from psm_core.errors import ConfigurationError
from psm_core.skill.base import Candidate
from psm_core.skill.mini import SENTENCE_HEAD, PSMMini
from psm_core.skill.mini_features import SENTENCE_FEATURE_NAMES, WEIGH_FEATURE_NAMES, sentence_matrix
from psm_core.skill.mini_heads import MLP
from psm_core.stores.chroma import user_key
from psm_core.types import MemoryRecord

T0 = datetime(2024, 3, 1, 9, tzinfo=timezone.utc)
CAKE = (
    "I'm looking for recipe ideas for a dinner party next weekend. Do you have dessert suggestions? "
    "By the way, I just baked a chocolate cake for my friend's birthday party and it turned out amazing."
)


def _fill(mem) -> MemoryRecord:
    cake = mem.observe(CAKE, session_id="s1", timestamp=T0)
    mem.observe("Can you recommend a podcast about space exploration?", session_id="s2", timestamp=T0 + timedelta(days=1))
    mem.observe("My commute to work takes 30 minutes by bus every morning.", session_id="s2", timestamp=T0 + timedelta(days=1))
    return cake


def test_a_pass_embeds_first_person_sentences_and_recall_reads_them(home: Path, psm: PSM) -> None:
    mem = psm.for_user("alice")
    cake = _fill(mem)
    assert cake.tier is Tier.EPISODIC
    q = "What did I bake for my friend?"
    before = {m.id: m for m in mem.recall(q, k=5, touch=False)}
    assert cake.id in before
    rep = psm.consolidate("alice")
    assert rep.sentences_indexed >= 2  # the cake turn and the commute turn speak in the first person
    stored = psm.store.scan_sentences(user_key("alice"))
    said = statements_about_speaker(CAKE)
    assert stored[cake.id].shape == (len(said), psm.embedder.dim) and len(said) == 2
    # the stored rows are the embeddings of those sentences
    assert np.allclose(stored[cake.id], psm.embedder.embed(said), atol=1e-5)
    assert psm.consolidate("alice").sentences_indexed == 0  # a rerun embeds nothing again
    best = float((stored[cake.id] @ psm.embedder.embed([q])[0]).max())
    idx = mem._ensure_loaded()
    assert idx.sentence_similarity(cake.id, psm.embedder.embed([q])[0]) == best
    assert best > idx.similarities([cake.id], psm.embedder.embed([q])[0])[0]  # the sentence says it more plainly
    # a new process reads them back
    psm.close()
    with PSM(PSMSettings(home=home)) as again:
        mem2 = again.for_user("alice")
        assert np.allclose(mem2._ensure_loaded().sentences[cake.id], stored[cake.id])
        assert cake.id in mem2.recall(q, k=3, touch=False).ids


def test_sentence_vectors_go_with_their_record(psm: PSM) -> None:
    mem = psm.for_user("bob")
    cake = _fill(mem)
    commute = next(r for r in mem.records() if "commute" in r.text)
    psm.consolidate("bob")
    key = user_key("bob")
    assert {cake.id, commute.id} <= set(psm.store.scan_sentences(key))
    mem.update(commute.id, tier="archival")  # a tier move keeps them
    assert commute.id in psm.store.scan_sentences(key) and commute.id in mem._ensure_loaded().sentences
    mem.update(cake.id, text="I baked a lemon tart for my neighbour yesterday.")  # new words: old vectors go
    assert cake.id not in psm.store.scan_sentences(key) and cake.id not in mem._ensure_loaded().sentences
    assert psm.consolidate("bob").sentences_indexed == 1  # the next pass embeds the new text
    assert psm.store.scan_sentences(key)[cake.id].shape[0] == 1
    mem.forget(cake.id)
    assert cake.id not in psm.store.scan_sentences(key)
    mem.erase()
    assert psm.store.scan_sentences(key) == {}


def test_a_record_with_incomplete_sentence_rows_is_embedded_again(home: Path, psm: PSM) -> None:
    mem = psm.for_user("carl")
    cake = _fill(mem)
    psm.consolidate("carl")
    key = user_key("carl")
    col = psm.store._sentences(key)
    col.delete(ids=[f"{cake.id}#1/2"])  # as if a write had been cut short after the first row
    assert cake.id not in psm.store.scan_sentences(key)
    psm.close()
    with PSM(PSMSettings(home=home)) as again:
        assert again.consolidate("carl").sentences_indexed == 1  # only the incomplete record
        assert again.store.scan_sentences(key)[cake.id].shape[0] == 2


def _sentence_only_head() -> MLP:
    """A recall head that scores by the best sentence cosine alone (to see which head recall uses)."""
    n = len(WEIGH_FEATURE_NAMES) + len(SENTENCE_FEATURE_NAMES)
    w = np.zeros((n, 1), dtype=np.float32)
    w[len(WEIGH_FEATURE_NAMES), 0] = 1.0
    return MLP(np.zeros(n, np.float32), np.ones(n, np.float32), [w], [np.zeros(1, np.float32)])


def test_the_sentence_head_decides_only_where_sentence_vectors_exist(psm: PSM) -> None:
    shipped = psm.skill
    assert isinstance(shipped, PSMMini)
    skill = PSMMini({**shipped.heads, SENTENCE_HEAD: _sentence_only_head()}, shipped.config, shipped.embedder)
    rec = [MemoryRecord(user_id="u", tier=Tier.EPISODIC, text=t, observed_at=T0) for t in ("a b c", "d e f")]
    plain = [Candidate(record=rec[0], similarity=0.9), Candidate(record=rec[1], similarity=0.2)]
    after = [Candidate(record=rec[0], similarity=0.9, sentence_similarity=0.1),
             Candidate(record=rec[1], similarity=0.2, sentence_similarity=0.95)]  # fmt: skip
    assert np.allclose(skill.weigh("q", plain, T0), shipped.weigh("q", plain, T0))  # no vectors: the usual head
    assert np.allclose(skill.weigh("q", after, T0), [0.9, 0.95])  # max(sentence, memory) cosine, by the sentence head
    m = sentence_matrix(after)
    assert m.shape == (2, 3) and np.allclose(m[:, 1], [0.9 - 0.95, 0.0]) and list(m[:, 2]) == [1.0, 1.0]
    assert list(sentence_matrix(plain)[:, 2]) == [0.0, 0.0]
    stale = {**shipped.config, "weigh_sentence_features": ["sentence_similarity"]}
    with pytest.raises(ConfigurationError, match="other sentence features"):
        PSMMini(skill.heads, stale, shipped.embedder)
