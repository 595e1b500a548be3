"""The cross-encoder reranker: training writes an adapter that inference reproduces, the shipped adapter
ranks an answer above a distractor, and recall reranks its head through the public API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from psm_core import PSM, PSMSettings
from psm_core.errors import ConfigurationError, InvalidInputError
from psm_core.rerank import (
    DEFAULT_ADAPTER,
    CrossEncoder,
    load_cross_encoder,
    read_adapter,
    rerank_order,
    rerank_text,
    session_support,
)
from psm_core.skill.training.recall_lists import QueryResult
from psm_core.skill.training.rerank import RerankConfig, RerankGroup, groups_from_lists, train_reranker


def test_rerank_order_mixes_z_scores() -> None:
    # the skill's order alone at weight 0; the cross-encoder's alone when it dominates
    assert rerank_order([3.0, 2.0, 1.0], [0.0, 0.0, 9.0], 0.0) == [0, 1, 2]
    assert rerank_order([3.0, 2.0, 1.0], [0.0, 0.0, 9.0], 10.0) == [2, 0, 1]
    assert rerank_order([1.0, 1.0], [5.0, 5.0], 0.5) == [0, 1]  # ties keep the skill's order
    with pytest.raises(ValueError):
        rerank_order([1.0], [1.0, 2.0], 0.5)


def test_session_support_lifts_a_memory_beside_strong_candidates_of_its_session() -> None:
    # "a" (s1) leads, but its session's other candidates are weak; s2 holds the next three best. The session-less
    # 7 gets no lift; the weak lone 6 is pulled down by its own z, under it and under s1's weak pair
    scores = [5.0, 4.9, 4.8, 4.7, 1.0, 1.0, 1.0, 1.0]
    sessions = ["s1", "s2", "s2", "s2", "s1", "s1", "s3", None]
    assert session_support(scores, sessions, weight=0.3) == [1, 2, 3, 0, 7, 4, 5, 6]
    assert session_support(scores, sessions, weight=0.0) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert session_support([2.0, 3.0], ["s1", "s1"]) == [1, 0]  # one session: the skill's order
    assert session_support([1.0], ["s1"]) == [0]
    with pytest.raises(ValueError, match="differ in length"):
        session_support([1.0, 2.0], ["s1"])


def test_groups_from_lists_pairs_each_positive_with_non_gold_negatives() -> None:
    r = QueryResult(
        user="u", query="q?", gold={"a", "b"}, info={}, features=np.zeros((4, 1), np.float32),
        units=["a", "b", "c", "d"], positives=np.array([1, 0, 0, 0], np.float32),
        scores=np.array([0.1, 0.9, 0.5, 0.3]), texts=["A", "B", "C", "D"],
    )  # fmt: skip
    groups = groups_from_lists([r], top=2)
    assert [(g.query, g.positive) for g in groups] == [("q?", "A")]
    assert groups[0].negatives == ["C"]  # top 2 by score: B (gold unit, not a positive) and C
    with pytest.raises(ValueError, match="keep_texts"):
        groups_from_lists(
            [QueryResult("u", "q", {"a"}, {}, np.zeros((1, 1), np.float32), ["a"], np.ones(1, np.float32), np.ones(1))]
        )


def test_groups_from_lists_count_a_fact_by_the_turns_it_was_distilled_from() -> None:
    """After a pass a fact's unit is its own id: it is a positive when its provenance holds a gold answer
    turn, neither when it holds only another turn of a gold unit, a negative when it holds no gold unit."""
    r = QueryResult(
        user="u", query="q?", gold={"a"}, info={}, features=np.zeros((4, 1), np.float32),
        units=["a", "f1", "f2", "f3"], positives=np.array([1, 0, 0, 0], np.float32),
        scores=np.array([0.9, 0.8, 0.7, 0.6]), texts=["A", "F1", "F2", "F3"],
        covers=[(), (("a", True),), (("a", False),), (("z", True),)],
    )  # fmt: skip
    groups = groups_from_lists([r], top=4)
    assert [g.positive for g in groups] == ["A", "F1"]
    assert all(g.negatives == ["F3"] for g in groups)


def test_trained_adapter_is_reproduced_by_the_onnx_cross_encoder(tmp_path: Path) -> None:
    """A tiny adapter trained for real; the merged ONNX model scores as the torch LoRA model learned."""
    groups = [
        RerankGroup("Where does Mia live?", "Mia: I moved to Lisbon last spring.", ["I had pasta tonight.", "The game was fun."]),
        RerankGroup("What does Tom play?", "Tom: I play the cello in an orchestra.", ["It rained all day.", "My cat is asleep."]),
    ]
    out = tmp_path / "adapter.safetensors"
    summary = train_reranker(groups, out, RerankConfig(epochs=3, batch_groups=2, negatives=2, warmup=1, lr=3e-3))
    assert summary["steps"] == 3 and out.stat().st_size < 3_000_000
    tensors, meta = read_adapter(out)
    assert meta["rank"] == 8 and any(k.endswith("lora_B") for k in tensors)
    assert any(np.abs(v).max() > 0 for k, v in tensors.items() if k.endswith("lora_B"))  # the adapter moved

    ce = CrossEncoder(out, cache_dir=tmp_path / "models")
    texts = [groups[0].positive, *groups[0].negatives]
    onnx_scores = ce.score(groups[0].query, texts)

    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    from psm_core.embeddings import resolve_model_path
    from psm_core.rerank import merge_adapter

    base = resolve_model_path("default")
    model = AutoModel.from_pretrained(str(base)).eval()
    with torch.no_grad():
        merge_adapter(model, tensors, meta)
        tok = Tokenizer.from_file(str(base / "tokenizer.json"))
        tok.enable_truncation(128, strategy="longest_first")
        tok.enable_padding()
        enc = tok.encode_batch([(groups[0].query, t) for t in texts])
        ids, mask = torch.tensor([e.ids for e in enc]), torch.tensor([e.attention_mask for e in enc])
        states = model(
            input_ids=ids, attention_mask=mask, token_type_ids=torch.tensor([e.type_ids for e in enc])
        ).last_hidden_state
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        torch_scores = (pooled.numpy() @ tensors["head.weight"].reshape(-1) + tensors["head.bias"][0]).astype(np.float32)
    np.testing.assert_allclose(onnx_scores, torch_scores, rtol=1e-3, atol=1e-3)
    assert ce.score("q", []).shape == (0,)


def test_missing_adapter_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="psm train-reranker"):
        CrossEncoder(tmp_path / "nope.safetensors")


@pytest.mark.skipif(not DEFAULT_ADAPTER.exists(), reason="no shipped reranker adapter")
def test_shipped_cross_encoder_prefers_the_answer() -> None:
    ce = load_cross_encoder()
    q = "What instrument does Tom play?"
    texts = ["Tom: I had a long day at work and then cooked dinner.", "Tom: I've been practising the cello every evening."]
    s = ce.score(q, texts)
    assert s[1] > s[0]


@pytest.mark.skipif(not DEFAULT_ADAPTER.exists(), reason="no shipped reranker adapter")
def test_recall_reranks_its_head(tmp_path: Path) -> None:
    t0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
    turns = [
        "I went hiking with my dog on Saturday.", "My sister Mia moved to Lisbon in March.",
        "We watched a movie about Lisbon's history.", "Work has been busy with the new project.",
        "Mia says the food in Lisbon is amazing.", "I'm thinking about learning Portuguese.",
        "My favourite dish is grilled sardines.", "The weather was rainy all week.",
    ]  # fmt: skip
    with PSM(PSMSettings(home=tmp_path / "home", rerank=5)) as psm:
        mem = psm.for_user("alice")
        for i, t in enumerate(turns):
            mem.observe(t, role="user", session_id="s1", timestamp=t0 + timedelta(minutes=i))
        plain = mem.recall("Where did my sister move?", k=8, rerank=0, touch=False)
        ranked = mem.recall("Where did my sister move?", k=8, touch=False)
        assert all(m.rerank_score is None for m in plain.memories)
        head = ranked.memories[:5]
        assert all(m.rerank_score is not None for m in head)
        assert all(m.rerank_score is None for m in ranked.memories[5:])
        assert {m.id for m in head} == {m.id for m in plain.memories[:5]}  # only the head is reordered
        scores = [m.score for m in ranked.memories]
        assert scores == sorted(scores, reverse=True)  # scores stay best first (token budgets read them)
        assert "Lisbon" in ranked.memories[0].text and "Mia" in ranked.memories[0].text
        with pytest.raises(InvalidInputError, match="rerank"):
            mem.recall("x", rerank=-1)


def test_recall_orders_the_reranked_list_by_session_support(tmp_path: Path) -> None:
    # the whole pipeline from the public API: the skill's scores (rerank=0), the cross-encoder over the head,
    # then session_support over every candidate; recall(rerank=N) must give exactly that order
    t0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
    turns = [
        ("s1", "My sister Mia moved to Lisbon in March."), ("s1", "Mia says the food in Lisbon is amazing."),
        ("s1", "She found a flat near the river in Lisbon."), ("s2", "I went hiking with my dog on Saturday."),
        ("s2", "My sister called me about her new job."), ("s3", "Work has been busy with the new project."),
        ("s3", "The weather was rainy all week."), ("s3", "I'm thinking about learning Portuguese."),
    ]  # fmt: skip
    with PSM(PSMSettings(home=tmp_path / "home", rerank=4)) as psm:
        mem = psm.for_user("alice")
        for i, (sid, t) in enumerate(turns):
            mem.observe(t, role="user", session_id=sid, timestamp=t0 + timedelta(minutes=i))
        q = "What did my sister do?"
        plain = mem.recall(q, k=8, rerank=0, touch=False).memories
        assert len(plain) == 8
        ranked = mem.recall(q, k=8, touch=False).memories
        scores = np.array([m.score for m in plain])
        logits = psm.cross_encoder.score(q, [rerank_text(mem.get(m.id)) for m in plain[:4]])
        head = rerank_order(scores[:4], logits, psm.cross_encoder.weight)
        after = scores.copy()
        after[:4] = np.sort(scores[:4])[::-1][np.argsort(head)]  # the head's values in the new order
        order = session_support(after, [mem.get(m.id).session_id for m in plain])
        assert order != [int(i) for i in np.argsort(-after, kind="stable")]  # the session step moves something here
        assert [m.id for m in ranked] == [plain[i].id for i in order]
        assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)


def test_a_deep_rerank_head_does_not_widen_the_update_reordering(tmp_path: Path) -> None:
    """After a pass links an update to what it updates, recall puts the update first when both are among
    the best max(k, LIST_DEPTH); a rerank head of 20 must not let an update ranked 15th push a top-10
    memory out. With the cross-encoder's weight at 0 the reranker keeps the skill's order, so recall with
    and without it must return the same memories."""
    from psm_core.ordering import updated_by

    t0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
    fill = [
        "I bought a new bike helmet.", "My morning coffee is from the corner cafe.", "Work meetings start at nine.",
        "The traffic downtown is awful.", "I listen to podcasts about history.", "My boss wants the report by Friday.",
        "We moved to a flat near the river.", "The train was late yesterday.", "I read a novel on my tablet.",
        "My neighbour drives an old van.", "Parking at the office costs a lot.", "I take the stairs instead of the lift.",
        "I walk the dog before work.", "Lunch is usually a sandwich at my desk.", "I cycle on weekends along the canal.",
        "The office moved to a new building.", "I wake up at six every day.", "Our team has a new manager.",
        "Every morning I stretch for ten minutes.", "Every morning I make porridge.", "I check my email every morning.",
        "Every morning the bus stop is packed with students.", "I water the plants every morning.",
        "Every morning I feed the cat.",
    ]  # fmt: skip
    with PSM(PSMSettings(home=tmp_path / "home", statement_facts=False)) as psm:  # the pass's links alone
        mem = psm.for_user("alice")
        old = mem.observe("My commute to work takes 30 minutes by bus every morning.", session_id="s0", timestamp=t0)
        for i, t in enumerate(fill):
            mem.observe(t, session_id=f"f{i}", timestamp=t0 + timedelta(days=1 + i))
        new = mem.observe(
            "Thanks for the tips! Since we moved, my commute to work takes 45 minutes by bus. Any podcasts?",
            session_id="s1", timestamp=t0 + timedelta(days=40),
        )  # fmt: skip
        psm.consolidate("alice")
        assert updated_by(mem.get(old.id)) == {new.id}
        q = "What do I do every morning?"
        by_score = [m.id for m in sorted(mem.recall(q, k=25, touch=False).memories, key=lambda m: -(m.relevance or 0.0))]
        assert by_score.index(old.id) < 10 <= by_score.index(new.id) < 20  # the case this test is about
        psm.cross_encoder.weight = 0.0
        plain = mem.recall(q, k=10, rerank=0, touch=False).ids
        assert mem.recall(q, k=10, rerank=20, touch=False).ids == plain
        assert new.id not in plain and old.id in plain


def test_lists_recalled_after_a_pass_say_which_turns_a_fact_covers() -> None:
    """``run_units(consolidate=True, keep_texts=True)`` on a real PSM: the fact distilled from two turns
    lists them (its own unit is its id), so ``groups_from_lists`` makes it a positive, not a negative."""
    from datetime import datetime, timedelta, timezone

    from psm_core.embeddings import load_embedder
    from psm_core.skill import load_skill
    from psm_core.skill.training.recall_lists import Unit, run_units

    t0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
    texts = ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it.",
             "I work as a nurse at the city hospital, night shifts mostly."]  # fmt: skip
    events = [
        {"text": t, "role": "user", "session_id": f"day{i}", "timestamp": t0 + timedelta(days=2 * i),
         "metadata": {"unit": f"D{i}"}}
        for i, t in enumerate(texts)
    ]  # fmt: skip
    unit = Unit("u1", [events], [("What is my favourite food?", {"D0", "D1"}, {})])
    embedder = load_embedder()
    (before,) = run_units([unit], load_skill("baseline", embedder), embedder, k=5, keep_texts=True)
    assert set(before.units) <= {"D0", "D1", "D2"} and all(c == () for c in before.covers)
    (after,) = run_units([unit], load_skill("baseline", embedder), embedder, k=5, keep_texts=True, consolidate=True)
    facts = [i for i, u in enumerate(after.units) if u not in {"D0", "D1", "D2"}]
    assert facts and all(set(after.covers[i]) == {("D0", True), ("D1", True)} for i in facts)  # in provenance (id) order
    groups = groups_from_lists([after], top=5)
    assert after.texts[facts[0]] in {g.positive for g in groups}
    assert all(after.texts[facts[0]] not in g.negatives for g in groups)


def test_train_reranker_command_from_a_groups_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``psm train-reranker --groups FILE`` trains from saved groups (no list recording) and writes an adapter
    the cross-encoder loads; ``--after-pass`` is accepted alongside."""
    import json

    from psm_core.cli import main

    groups = [
        {"query": "Where does Mia live?", "positive": "Mia: I moved to Lisbon.", "negatives": ["I had pasta.", "It rained."]},
        {"query": "What does Tom play?", "positive": "Tom: I play the cello.", "negatives": ["My cat sleeps.", "Fun game."]},
    ]
    (tmp_path / "groups.json").write_text(json.dumps(groups))
    out = tmp_path / "adapter.safetensors"
    rc = main(["train-reranker", "--out", str(out), "--groups", str(tmp_path / "groups.json"), "--epochs", "1",
               "--weight", "0.7", "--after-pass", "--no-progress"])  # fmt: skip
    assert rc == 0 and out.exists()
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["groups"] == 2
    _, meta = read_adapter(out)
    assert meta["weight"] == 0.7 and meta["epochs"] == 1
