"""PSM-mini's query adapter: fitted on real embeddings, shipped, applied by recall, off where it cannot apply."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from psm_core import PSM, PSMSettings
from psm_core.config import PSMSettings as Settings
from psm_core.embeddings import Embedder, load_embedder
from psm_core.errors import ConfigurationError
from psm_core.skill.base import DelegatingSkill
from psm_core.skill.mini import QUERY_HEAD, SENTENCE_HEAD, PSMMini
from psm_core.skill.mini_heads import MLP
from psm_core.skill.training.adapter import adapter_examples, dense_recall, fit_query_adapter, identity_adapter
from psm_core.skill.training.recall_lists import Unit

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)

# turns that answer a question in other words than the question's; the rest are distractors
TURNS = [
    ("Ana", "I finally signed the lease on the flat near the river.", "Where does Ana live now?"),
    ("Ben", "Nice! We adopted a rescue greyhound last weekend, he's called Biscuit.", "What pet did Ben get?"),
    ("Ana", "My sister keeps sending me sourdough pictures.", None),
    ("Ben", "I start the night shift at the hospital in June.", "When does Ben change jobs?"),
    ("Ana", "The weather has been awful all week.", None),
    ("Ana", "I've been learning the cello, lessons twice a week.", "Which instrument is Ana studying?"),
    ("Ben", "Did you watch the match yesterday?", None),
    ("Ben", "My knee surgery went fine, the physio says six weeks.", "How is Ben recovering?"),
    ("Ana", "Grandma turns ninety next month, we're planning a party.", "Whose birthday is coming up?"),
    ("Ben", "Traffic was terrible this morning.", None),
]


class _Renamed:
    """The same vectors under another embedder name (weights trained elsewhere must not apply their map)."""

    def __init__(self, base: Embedder) -> None:
        self.base, self.name, self.dim = base, "some-other-model", base.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.base.embed(texts)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    s = Settings()
    return load_embedder(s.embedder, s.embedder_backend, s.model_cache / "models")


@pytest.fixture(scope="module")
def mini(embedder: Embedder) -> PSMMini:
    return PSMMini.load(embedder=embedder)


def _unit() -> Unit:
    events = [
        {"text": t, "role": who, "session_id": "s1", "timestamp": T0 + timedelta(minutes=i), "metadata": {"unit": f"t{i}"}}
        for i, (who, t, _) in enumerate(TURNS)
    ]
    queries = [(q, {f"t{i}"}, {}) for i, (_, _, q) in enumerate(TURNS) if q]
    return Unit("u", [events], queries)


def test_examples_embed_turns_as_recall_does(embedder: Embedder) -> None:
    (ex,) = adapter_examples([_unit()], embedder.embed)
    assert (
        ex.user == "u"
        and ex.turns.shape == (len(TURNS), embedder.dim)
        and ex.queries.shape == (sum(1 for *_, q in TURNS if q), embedder.dim)
    )
    assert ex.positives == [[i] for i, (_, _, q) in enumerate(TURNS) if q]
    assert np.allclose(np.linalg.norm(ex.turns, axis=1), 1.0, atol=1e-5)
    # a unit whose questions have no positive turn gives no example
    empty = Unit("v", _unit().sessions, [("Who won?", {"nope"}, {})])
    assert adapter_examples([empty], embedder.embed) == []


def test_fit_moves_questions_towards_their_answers(embedder: Embedder) -> None:
    examples = adapter_examples([_unit()], embedder.embed)
    before = dense_recall(examples, k=1)
    fitted = fit_query_adapter(examples, lam=0.001, epochs=60, lr=1e-2)
    assert dense_recall(examples, fitted, k=1) > before  # a fit on its own data
    assert dense_recall(examples, fitted, k=1) == 1.0
    assert dense_recall(examples, identity_adapter(embedder.dim), k=1) == before
    # a strong pull to the identity keeps W near it
    near = fit_query_adapter(examples, lam=100.0, epochs=10)
    assert np.abs(near.weights[0] - np.eye(embedder.dim)).max() < 0.01
    with pytest.raises(ValueError, match="at least one"):
        fit_query_adapter([])


def test_shipped_weights_carry_an_adapter(mini: PSMMini, embedder: Embedder) -> None:
    assert mini.adapter is not None and QUERY_HEAD in mini.heads
    assert mini.config["query_adapter"]["lam"] > 0
    v = embedder.embed(["What pet did Ben get?"])[0]
    out = mini.query_vector(v)
    assert out.shape == v.shape and out.dtype == np.float32
    assert abs(float(np.linalg.norm(out)) - 1.0) < 1e-5
    assert 0.5 < float(out @ v) < 0.9999  # moved, not replaced
    assert np.array_equal(out, mini.query_vector(v))  # deterministic


def test_adapter_only_for_its_own_embedder(mini: PSMMini, embedder: Embedder, tmp_path: Path) -> None:
    other = PSMMini(mini.heads, mini.config, _Renamed(embedder))
    v = embedder.embed(["Where does Ana live now?"])[0]
    assert other.adapter is None and np.array_equal(other.query_vector(v), v)
    # weights from before the adapter (no such head) load and search with the plain vector
    old = PSMMini({k: h for k, h in mini.heads.items() if k != QUERY_HEAD}, mini.config, embedder)
    old.save(tmp_path)
    again = PSMMini.load(tmp_path, embedder=embedder)
    assert again.adapter is None and SENTENCE_HEAD in again.heads and np.array_equal(again.query_vector(v), v)
    # an adapter of the wrong size is refused with a clear error
    bad = identity_adapter(8)
    with pytest.raises(ConfigurationError, match="query adapter"):
        PSMMini({**mini.heads, QUERY_HEAD: bad}, mini.config, embedder)


class _LookElsewhere(DelegatingSkill):
    """Searches with the vector of a fixed text, whatever the query (to see that recall uses query_vector)."""

    def __init__(self, base: PSMMini, target: np.ndarray) -> None:
        super().__init__(base)
        self.target = target

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        return self.target


def test_recall_searches_with_the_skills_query_vector(home: Path, embedder: Embedder, mini: PSMMini) -> None:
    target = embedder.embed(["Ben: Nice! We adopted a rescue greyhound last weekend, he's called Biscuit."])[0]
    with PSM(PSMSettings(home=home), embedder=embedder, skill=_LookElsewhere(mini, target)) as psm:
        mem = psm.for_user("ana")
        for i, (who, text, _) in enumerate(TURNS):
            mem.observe(text, role=who, session_id="s1", timestamp=T0 + timedelta(minutes=i))
        got = mem.recall("xylophone", k=3)  # no word in common with any memory: dense search decides
        assert got.memories and "greyhound" in got.memories[0].text
    with PSM(PSMSettings(home=home), embedder=embedder, skill=mini) as psm:
        got = psm.for_user("ana").recall("cello lessons", k=3)
        assert "cello" in got.memories[0].text  # the shipped skill: the adapter keeps plain questions on target


def test_adapter_head_roundtrip(mini: PSMMini, tmp_path: Path, embedder: Embedder) -> None:
    mini.save(tmp_path)
    again = PSMMini.load(tmp_path, embedder=embedder)
    assert isinstance(again.adapter, MLP) and mini.adapter is not None
    assert np.array_equal(again.adapter.weights[0], mini.adapter.weights[0])
