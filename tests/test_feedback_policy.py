"""The utility policy: content-free training view, profiles, PolicySkill, versioned weights, PSM wiring, CLI."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from psm_core import PSM, PSMSettings
from psm_core.cli import main as cli_main
from psm_core.errors import ConfigurationError, NotFoundError
from psm_core.feedback import PROFILE_KEYS, PROFILE_TRAITS, FeedbackLog, PolicySkill, PolicyStore, UtilityPolicy
from psm_core.feedback.learn import events_from_view
from psm_core.feedback.policy import DECAY_INPUTS, RANK_INPUTS
from psm_core.skill import BaselinePolicy
from psm_core.skill.features import FEATURE_NAMES

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CANARY = "Zorblax-7741 lives at 12 Quimby Lane"


def _random_policy(seed: int = 0) -> UtilityPolicy:
    rng = np.random.default_rng(seed)
    p = UtilityPolicy.zeros()
    p.rank_w = rng.normal(0, 0.3, len(RANK_INPUTS))
    p.decay_w = rng.normal(0, 0.3, len(DECAY_INPUTS))
    p.rank_bound = np.array([0.2])
    return p


def _fill(psm: PSM, user: str = "dave") -> tuple[str, list[str]]:
    mem = psm.for_user(user)
    mem.observe(f"My neighbour {CANARY} and we garden together.", timestamp=T0 - timedelta(days=90))
    mem.observe("I planted tomatoes in my garden yesterday.", timestamp=T0 - timedelta(days=1))
    mem.observe("The garden fence needs repair after the storm.", timestamp=T0)
    res = mem.recall("what is happening in my garden", k=3)
    rid = mem.log_retrieval(res)
    recent = [m.id for m in res.memories if "tomatoes" in m.text or "fence" in m.text]
    old = [m.id for m in res.memories if m.id not in recent]
    mem.feedback(rid, "helpful", memory_ids=recent)
    mem.feedback(rid, "irrelevant", memory_ids=old)
    return rid, res.ids


def test_training_view_has_no_text_or_embedding(baseline_psm):
    _fill(baseline_psm)
    view = baseline_psm.feedback_log.training_view()
    assert len(view) == 3
    allowed = {"rank", "score", "value", "retrieval", "t", "policy_version", *FEATURE_NAMES, *(f"p_{t}" for t in PROFILE_KEYS)}
    for row in view:
        assert set(row) <= allowed
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in row.values())
        assert not any(k in ("text", "embedding", "vector", "memory_id", "user_key", "retrieval_id") for k in row)
    assert "Zorblax" not in repr(view) and "Quimby" not in repr(view)
    assert {row["retrieval"] for row in view} == {0}


def test_profile_tracks_which_memories_helped_and_is_erased(baseline_psm):
    _fill(baseline_psm)
    prof = baseline_psm.feedback_log.user_profile("dave")
    assert set(prof) == set(PROFILE_KEYS) == {*PROFILE_TRAITS, "mass"}
    assert prof["log_age_days"] < 0, "the helpful memories were the recent ones"
    assert prof["mass"] == pytest.approx(3 / 13), "3 outcomes against a prior of 10"
    assert baseline_psm.feedback_log.user_profile("erin") == dict.fromkeys(PROFILE_KEYS, 0.0)
    # the next retrieval stores the profile as it was then (the learning context)
    mem = baseline_psm.for_user("dave")
    mem.feedback(mem.recall("garden", k=2), "neutral")
    last = [r for r in baseline_psm.feedback_log.training_view() if r["retrieval"] == 1]
    assert last and last[0]["p_log_age_days"] == pytest.approx(prof["log_age_days"])
    mem.erase()
    assert baseline_psm.feedback_log.user_profile("dave") == dict.fromkeys(PROFILE_KEYS, 0.0)
    assert baseline_psm.feedback_log.training_view() == []


def test_untrained_policy_is_identical_to_the_base_skill(baseline_psm):
    mem = baseline_psm.for_user("dave")
    _fill(baseline_psm)
    base = BaselinePolicy()
    wrapped = PolicySkill(base, UtilityPolicy.zeros(), profile=baseline_psm.feedback_log.user_profile)
    from psm_core.candidates import gather_candidates
    from psm_core.types import Tier

    idx = mem._ensure_loaded()
    qv = baseline_psm.embed(["garden news"])[0]
    wanted = {Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL}
    with idx.lock:
        cands = gather_candidates(idx, baseline_psm.store, mem.key, "garden news", qv, wanted, False, 30)
    assert np.array_equal(wrapped.weigh("garden news", cands, T0), base.weigh("garden news", cands, T0))
    recs = mem.records()
    assert wrapped.decay_batch(recs) == base.decay_batch(recs)
    assert wrapped.name == "baseline+policy-v0" and wrapped.keep_threshold == base.keep_threshold
    # a trained policy changes scores and decay, within its bounds
    trained = PolicySkill(base, _random_policy(), profile=baseline_psm.feedback_log.user_profile)
    delta = trained.weigh("garden news", cands, T0) - base.weigh("garden news", cands, T0)
    assert np.any(np.abs(delta) > 1e-6) and np.all(np.abs(delta) <= 0.2 + 1e-12), "moves within the trust region"
    ratios = np.array(trained.decay_batch(recs)) / np.array(base.decay_batch(recs))
    assert np.all((ratios >= 0.5 - 1e-9) & (ratios <= 2 + 1e-9)) and not np.allclose(ratios, 1.0)


def test_a_user_without_feedback_gets_exactly_the_base_skill(baseline_psm):
    _fill(baseline_psm, "dave")
    mem = baseline_psm.for_user("erin")  # same memories, no feedback
    for text in ("I planted tomatoes in my garden yesterday.", "The garden fence needs repair after the storm."):
        mem.observe(text, timestamp=T0)
    base = BaselinePolicy()
    trained = PolicySkill(base, _random_policy(7), profile=baseline_psm.feedback_log.user_profile)
    from psm_core.candidates import gather_candidates
    from psm_core.types import Tier

    for user in ("erin", "dave"):
        m = baseline_psm.for_user(user)
        idx = m._ensure_loaded()
        qv = baseline_psm.embed(["garden"])[0]
        with idx.lock:
            cands = gather_candidates(idx, baseline_psm.store, m.key, "garden", qv, {Tier.EPISODIC}, False, 30)
        same = np.array_equal(trained.weigh("garden", cands, T0), base.weigh("garden", cands, T0))
        same_decay = trained.decay_batch(m.records()) == base.decay_batch(m.records())
        assert (same and same_decay) is (user == "erin"), user


def test_policy_store_versions_activate_rollback_and_checksum(tmp_path):
    store = PolicyStore(tmp_path / "policy")
    assert store.versions() == [] and store.active_version() == 0 and store.active() is None
    p1, p2 = _random_policy(1), _random_policy(2)
    v1 = store.save(p1, {"metrics": {"events": 10}})
    store.activate(v1)
    v2 = store.save(p2)
    store.activate(v2)
    assert (v1, v2) == (1, 2) and store.versions() == [1, 2]
    assert store.manifest(2)["parent"] == 1 and store.manifest(1)["parent"] == 0
    loaded = store.active()
    assert loaded is not None and loaded.version == 2 and np.array_equal(loaded.rank_w, p2.rank_w)
    assert store.rollback() == 1 and store.active_version() == 1
    assert store.rollback(2) == 2 and store.rollback(0) == 0 and store.active() is None
    with pytest.raises(NotFoundError):
        store.activate(7)
    with pytest.raises(NotFoundError):
        store.rollback()  # nothing active
    weights = tmp_path / "policy" / "v1" / "policy.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ConfigurationError):
        store.load(1)
    store.activate(1)
    assert store.active() is None  # a tampered version is not used


def test_psm_wraps_its_skill_and_logs_the_policy_version(home):
    store = PolicyStore(home / "policy")
    store.activate(store.save(_random_policy(3)))
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        assert isinstance(psm.skill, PolicySkill) and psm.skill.name == "baseline+policy-v1"
        _fill(psm)
        view = psm.feedback_log.training_view()
        assert {r["policy_version"] for r in view} == {1}
        store.rollback(0)
        assert isinstance(psm.reload_policy(), BaselinePolicy) and psm.skill.name == "baseline"
        store.activate(1)
        assert psm.reload_policy().name == "baseline+policy-v1"
    with PSM(PSMSettings(home=home, skill="baseline"), skill=BaselinePolicy()) as psm:
        assert psm.skill.name == "baseline", "an explicitly passed skill is used as given"


def test_recovered_base_scores_match_the_skill_exactly(home):
    store = PolicyStore(home / "policy")
    policy = _random_policy(4)
    store.activate(store.save(policy))
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        mem = psm.for_user("dave")
        mem.observe("I planted tomatoes in my garden yesterday.", timestamp=T0)
        mem.observe("The garden fence needs repair after the storm.", timestamp=T0)
        mem.observe("My sister visits in June.", timestamp=T0)
        from psm_core.candidates import gather_candidates
        from psm_core.types import Tier

        q = "garden"
        idx = mem._ensure_loaded()
        qv = psm.embed([q])[0]
        with idx.lock:
            cands = gather_candidates(idx, psm.store, mem.key, q, qv, {Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL}, False, 30)
        base_scores = {c.record.id: s for c, s in zip(cands, BaselinePolicy().weigh(q, cands, T0))}
        res = mem.recall(q, k=3, now=T0)
        mem.feedback(res, "helpful")
        ev = events_from_view(psm.feedback_log.training_view(), store)
        assert sorted(ev.base) == pytest.approx(sorted(base_scores[i] for i in res.ids), abs=1e-9)


def test_old_logs_are_migrated(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE retrievals (retrieval_id TEXT PRIMARY KEY, user_key TEXT NOT NULL, run_id TEXT, "
        "created_at REAL NOT NULL, user_time REAL NOT NULL, skill TEXT NOT NULL);"
        "INSERT INTO retrievals VALUES ('r1', 'k', NULL, 1.0, 1.0, 'baseline');"
    )
    con.close()
    log = FeedbackLog(path)
    try:
        with sqlite3.connect(path) as check:
            cols = {r[1] for r in check.execute("PRAGMA table_info(retrievals)")}
        assert {f"p_{t}" for t in PROFILE_KEYS} <= cols
        assert log.counts()["retrievals"] == 1
    finally:
        log.close()


def test_cli_learn_status_too_few_events_and_rollback(home, capsys):
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        _fill(psm)
    assert cli_main(["--home", str(home), "learn", "--status"]) == 0
    out = capsys.readouterr().out
    assert "active: none" in out and "retrievals_with_outcomes" in out
    assert cli_main(["--home", str(home), "learn", "-q", "--min-events", "50"]) == 0
    out = capsys.readouterr().out
    assert "fewer than the 50 required" in out and not (home / "policy" / "v1").exists()
    store = PolicyStore(home / "policy")
    store.activate(store.save(_random_policy()))
    store.activate(store.save(_random_policy(5)))
    assert cli_main(["--home", str(home), "learn", "--rollback"]) == 0
    assert "v1" in capsys.readouterr().out and store.active_version() == 1
    assert cli_main(["--home", str(home), "learn", "--rollback", "0"]) == 0 and store.active_version() == 0


def test_policy_rejects_malformed_arrays():
    with pytest.raises(ValueError):
        UtilityPolicy(np.zeros(3), np.ones(3), np.zeros(3), np.zeros(1), np.ones(1), np.zeros(1))
    bad = UtilityPolicy.zeros().arrays()
    bad["rank_w"] = np.full(len(RANK_INPUTS), np.nan)
    with pytest.raises(ValueError):
        UtilityPolicy(**bad)


async def test_async_reload_policy(home):
    store = PolicyStore(home / "policy")
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        assert psm.skill.name == "baseline"
        store.activate(store.save(_random_policy(8)))
        assert (await psm.areload_policy()).name == "baseline+policy-v1"
