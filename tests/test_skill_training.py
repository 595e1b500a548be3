"""The curriculum generator, the `psm train` command and the docs examples of the memory skill."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from psm_core.cli import build_parser
from psm_core.skill.base import Relation
from psm_core.skill.training.curriculum import Curriculum
from psm_core.skill.training.lexicon import SLOTS, split

DOCS = Path(__file__).resolve().parents[1] / "docs" / "skill.md"


def test_curriculum_is_seeded() -> None:
    assert Curriculum(5).dialogue() == Curriculum(5).dialogue()
    assert [Curriculum(5).pair() for _ in range(3)] == [Curriculum(5).pair() for _ in range(3)]
    assert Curriculum(5).dialogue() != Curriculum(6).dialogue()


def test_held_out_split_uses_other_phrasings() -> None:
    for slot in SLOTS:
        for part in ("say", "update", "deny", "ask"):
            seq = getattr(slot, part)
            if len(seq) >= 4:
                assert not set(split(seq, True)) & set(split(seq, False)), (slot.name, part)


def test_curriculum_labels_cover_every_decision() -> None:
    cur = Curriculum(11)
    dialogues = [cur.dialogue() for _ in range(6)]
    turns = [t for d in dialogues for t in d.turns]
    assert any(t.keep for t in turns) and any(not t.keep for t in turns)
    for d in dialogues:
        for q in d.queries:
            assert q.gold and all(d.turns[i].keep for i in q.gold)
    assert {cur.pair().relation for _ in range(200)} == set(Relation)
    assert {cur.correction().is_correction for _ in range(50)} == {True, False}


def test_train_command_is_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--out", "x", "--weak-labels"])
    assert args.weak_labels and callable(args.func)
    args = parser.parse_args(["train-lora", "--model", "m", "--out", "o"])
    assert args.steps == 200 and callable(args.func)


@pytest.mark.slow
def test_train_small_end_to_end(tmp_path: Path) -> None:
    from psm_core.config import PSMSettings
    from psm_core.embeddings import load_embedder
    from psm_core.skill.mini import PSMMini
    from psm_core.skill.training.relations import RelationsConfig
    from psm_core.skill.training.train import TrainConfig, train

    small = RelationsConfig(statements=400, none_texts=100, pairs_per_class=100, persona_pairs_per_class=50,
                            heldout_statements=50, heldout_pairs_per_class=10, attribute_epochs=2, relate_epochs=2)  # fmt: skip
    cfg = TrainConfig(out=tmp_path, dialogues=12, eval_dialogues=3, weigh_dialogues=4, pairs=300, eval_pairs=100,
                      corrections=200, eval_corrections=50, relations_config=small)  # fmt: skip
    report = train(cfg)
    assert (tmp_path / "model.safetensors").exists() and "Must not be used for" in (tmp_path / "MODEL_CARD.md").read_text()
    assert 0 <= report.metrics["interfere"]["heldout_macro_f1"] <= 1
    s = PSMSettings()
    skill = PSMMini.load(tmp_path, embedder=load_embedder(s.embedder, s.embedder_backend, s.model_cache / "models"))
    assert skill.config["weak_labels"] is False
    assert "weigh_sentences" in skill.heads  # the recall head for stores after a pass
    assert report.metrics["weigh_sentences_lists"]["with_sentences"] > 0  # its lists were recorded after a pass
    assert skill.attribute_head is not None and skill.relate_head is not None  # a full retrain reproduces them
    assert "memops_test_relations" in report.metrics["relations"]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks(DOCS.read_text())
    assert blocks, "docs/skill.md has python examples"
    monkeypatch.setenv("PSM_HOME", str(tmp_path / "home"))
    for code in blocks:
        if "PSMLM" in code:
            continue  # needs a local LM directory; covered by tests/test_skill_lm.py
        exec(compile(code, str(DOCS), "exec"), {"__name__": "docs_example"})


def test_averaged_rankers_are_exactly_their_mean() -> None:
    import numpy as np

    from psm_core.skill.training import fit

    rng = np.random.default_rng(0)
    lists = []
    for _ in range(12):
        x = rng.normal(size=(8, 5)).astype(np.float32)
        y = np.zeros(8, dtype=np.float32)
        y[int(np.argmax(x[:, 0]))] = 1.0  # the first feature decides
        lists.append((x, y))
    heads = [fit.fit_ranker(lists, hidden=(4,), epochs=5, seed=s) for s in (0, 1, 2)]
    avg = fit.average_mlps(heads)
    probe = rng.normal(size=(20, 5)).astype(np.float32)
    assert avg.weights[0].shape == (5, 12)
    np.testing.assert_allclose(avg(probe), np.mean([h(probe) for h in heads], axis=0), rtol=1e-5, atol=1e-5)
    ens = fit.fit_ranker_ensemble(lists, seeds=[0, 1, 2], hidden=4, epochs=5)
    np.testing.assert_allclose(ens(probe), avg(probe), rtol=1e-5, atol=1e-5)  # seeded: the same heads
    with pytest.raises(ValueError, match="at least one"):
        fit.average_mlps([])
    with pytest.raises(ValueError, match="one hidden layer"):
        fit.average_mlps([fit.fit_ranker(lists, hidden=(4, 4), epochs=1)])
