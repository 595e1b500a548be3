"""Crash safety: a pass SIGKILLed after any step (or mid-write) and rerun leaves the same store as
an uninterrupted pass — same records in the same tiers, no duplicates, nothing lost."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import PSM, PSMSettings, Tier
from psm_core.consolidation import STEPS
from psm_core.embeddings import Embedder

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=60)
REPO = Path(__file__).resolve().parents[1]

KILLER = r"""
import os, signal, sys
from datetime import datetime
from psm_core import PSM, PSMSettings

home, kill_at, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
seen = {}

def hook(event):
    seen[event] = seen.get(event, 0) + 1
    if kill_at in (event, f"{event}#{seen[event]}"):
        os.kill(os.getpid(), signal.SIGKILL)

with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False)) as psm:
    psm.consolidation.consolidate("alice", now=now, hook=hook)
sys.exit(3)  # the kill point never came
"""

# every step, plus mid-step points: after the first write (fact creation) and between the copy of
# moved records into the archival tier and their deletion from the episodic tier
KILL_POINTS = [s for s in STEPS] + ["write#1", "write:copied#1"]


def _build(home: Path, embedder: Embedder) -> None:
    """A store with a previous pass, then new episodes (duplicate, update, contradiction), recalls and feedback."""
    with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False), embedder=embedder) as psm:
        mem = psm.for_user("alice")

        def say(texts, day):
            for i, t in enumerate(texts):
                mem.observe(t, session_id=f"d{day}", timestamp=T0 + timedelta(days=day, minutes=i))

        say(["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."], 0)
        say(["I have 3 bikes in my garage.", "I keep 3 bikes in my garage."], 1)
        say(["I drink coffee every morning.", "I drink coffee every morning, always a double espresso."], 2)
        say(["I adopted a beagle named Pixel last month.", "I work as a nurse at the city hospital."], 3)
        psm.consolidate("alice", now=T0 + timedelta(days=4))
        say(["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."], 20)  # again: merged
        say(
            ["I have 5 bikes in my garage now after buying two more.", "Now I own 5 bikes in my garage after buying two more."],
            40,
        )
        say(["I don't drink coffee every morning anymore.", "I don't drink coffee every morning anymore, my doctor said so."], 41)
        say(["My sister Mia is visiting on April 12, she loves surfing.", "We went hiking in Sintra last weekend."], 42)
        res = mem.recall("tell me about her dog Pixel", k=3)
        rid = mem.log_retrieval(res)
        mem.feedback(rid, "helpful", memory_ids=[res.ids[0]])
        mem.feedback(rid, "corrected", memory_ids=[res.ids[1]])


def _state(home: Path, embedder: Embedder) -> dict:
    """Everything a pass writes, read back from the store itself (not the in-process index)."""
    with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False), embedder=embedder) as psm:
        key = psm.for_user("alice").key
        tiers = {}
        for tier in (Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL):
            rows = psm.store.scan(key, tier)
            tiers[tier.value] = {r.id: r.model_dump(exclude={"created_at"}) for r, _ in rows}
            assert len(tiers[tier.value]) == len(rows)
        db = psm.consolidation.db
        conflicts = db.query("SELECT conflict_id, new_id, old_id, relation, state FROM conflicts ORDER BY conflict_id")
        journal = db.query("SELECT user_key FROM journal")
        pending = psm.feedback_log.pending_effects("alice")
    return {"tiers": tiers, "conflicts": conflicts, "journal": journal, "pending": pending}


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Embedder:
    with PSM(PSMSettings(home=tmp_path_factory.mktemp("e"), skill="baseline")) as psm:
        return psm.embedder


@pytest.fixture(scope="module")
def base(tmp_path_factory, embedder) -> Path:
    home = tmp_path_factory.mktemp("base") / "home"
    _build(home, embedder)
    return home


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory, embedder) -> dict:
    home = tmp_path_factory.mktemp("ref") / "home"
    shutil.copytree(base, home)
    with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False), embedder=embedder) as psm:
        rep = psm.consolidate("alice", now=NOW)
    assert rep.facts_created >= 2 and rep.facts_merged == 1 and rep.superseded >= 1 and rep.flagged == 1
    assert rep.archived >= 6 and rep.feedback_applied == 2 and rep.reinforced >= 3
    return _state(home, embedder)


def test_reference_pass_changed_the_store(base, reference, embedder):
    before = _state(base, embedder)
    ids = lambda s: {i for t in s["tiers"].values() for i in t}  # noqa: E731
    assert ids(before) < ids(reference)  # facts added, nothing removed
    assert reference["journal"] == [] and reference["pending"] == [] and len(reference["conflicts"]) == 1
    statuses = {r["status"] for r in reference["tiers"]["archival"].values()}
    assert statuses == {"archived", "superseded"}


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_killed_pass_reruns_to_the_same_store(kill_at, base, reference, tmp_path, embedder):
    home = tmp_path / "home"
    shutil.copytree(base, home)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(home), kill_at, NOW.isoformat()],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    with PSM(
        PSMSettings(home=home, skill="baseline", statement_facts=False), embedder=embedder
    ) as psm:  # the dead process released the lock
        rep = psm.consolidate("alice", now=NOW)
    assert rep.resumed == (kill_at not in ("snapshot", "done"))  # the plan is journaled before the "plan" event
    got = _state(home, embedder)
    assert got == reference
