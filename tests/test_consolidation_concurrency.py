"""Writes that arrive during a pass survive it: observe() from other threads, recalls, and edits of
records the pass is changing (optimistic concurrency: version check, recompute, retry)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from psm_core import Tier

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
RAMEN = ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."]


def test_observe_and_recall_during_a_pass_all_survive(pass_psm):
    mem = pass_psm.for_user("alice")
    for i, t in enumerate(RAMEN + ["I work as a nurse at the city hospital.", "My sister Mia lives in Porto."]):
        mem.observe(t, session_id="s0", timestamp=T0 + timedelta(minutes=i))
    started = threading.Event()
    written: list[str] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        started.wait(10)
        try:
            for i in range(12):
                rec = mem.observe(f"Note {n}-{i}: I planted {i + 2} tomato plants in pot number {n}.", session_id=f"w{n}",
                                  timestamp=T0 + timedelta(days=1, minutes=i))  # fmt: skip
                written.append(rec.id)
                mem.recall("tomato plants", k=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def hook(event: str) -> None:
        if event == "snapshot":
            started.set()
        if not event.startswith("write"):
            time.sleep(0.05)  # pace the pass so the writers interleave with every step

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    rep = pass_psm.consolidation.consolidate("alice", hook=hook)
    for t in threads:
        t.join(30)
    assert not errors and len(written) == 36
    assert rep.facts_created == 1 and rep.archived == 2
    stored = {r.id for tier in (Tier.EPISODIC, Tier.ARCHIVAL) for r, _ in pass_psm.store.scan(mem.key, tier)}
    assert set(written) <= {r.id for r in mem.records()} and set(written) <= stored
    seen_by_pass = [i for i in written if mem.get(i).ledger.get("seen") == rep.pass_id]
    arrived_during = [i for i in written if i not in seen_by_pass]
    assert arrived_during  # the writers really overlapped the pass
    assert all(mem.get(i).tier is Tier.EPISODIC and "seen" not in mem.get(i).ledger for i in arrived_during)
    assert sum(mem.get(i).recall_count for i in written) > 0  # recalls during the pass kept their counts
    nxt = pass_psm.consolidate("alice")  # the next pass picks up what arrived during this one
    assert nxt.new_episodes == len(arrived_during)
    assert all("seen" in mem.get(i).ledger for i in written)


def test_an_edit_racing_the_pass_is_merged_not_lost(pass_psm):
    mem = pass_psm.for_user("alice")
    ramen = [mem.observe(t, session_id="s0", timestamp=T0 + timedelta(minutes=i)) for i, t in enumerate(RAMEN)]
    state = {"phase": None, "edited": 0}

    def hook(event: str) -> None:
        if event == "reinforce":
            state["phase"] = "prune"
        elif event == "computed" and state["phase"] == "prune" and not state["edited"]:
            # the app edits a record after the pass computed its change and before it writes it
            for r in ramen:
                cur = mem.get(r.id)
                mem.update(r.id, expected_version=cur.version, importance=0.95, metadata={**cur.metadata, "tag": "edited"})
            state["edited"] = 1

    rep = pass_psm.consolidation.consolidate("alice", hook=hook)
    assert state["edited"] and rep.archived == 2
    for r in ramen:
        got = mem.get(r.id)
        assert got.tier is Tier.ARCHIVAL  # the pass's change
        assert got.importance == 0.95 and got.metadata["tag"] == "edited"  # the app's edit
        assert got.ledger["seen"] == rep.pass_id
        assert got.version == r.version + 2  # one write each: the edit, then the recomputed pass change
