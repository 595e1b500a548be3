"""``UserMemory.sources``: the observed episodes behind a memory, through its provenance, oldest first."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from psm_core import PSM, NotFoundError, Tier
from psm_core.provenance import sources

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def _turns(mem, texts, session="S1"):
    return mem.observe_many(
        [{"text": t, "role": "Alice", "session_id": session, "timestamp": T0 + timedelta(minutes=i),
          "metadata": {"dia_id": f"D1:{i + 1}"}} for i, t in enumerate(texts)]
    )  # fmt: skip


def test_a_consolidated_fact_names_the_episodes_it_came_from(pass_psm: PSM) -> None:
    mem = pass_psm.for_user("alice")
    recs = _turns(mem, ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."])
    pass_psm.consolidate("alice")
    (fact,) = mem.records(Tier.SEMANTIC)
    assert [r.id for r in mem.sources(fact.id)] == [recs[0].id, recs[1].id]  # oldest first
    assert mem.sources(recs[0].id) == []  # an episode is its own source: nothing behind it


def test_sources_follow_facts_of_facts_oldest_first_and_skip_what_was_forgotten(baseline_psm: PSM) -> None:
    mem = baseline_psm.for_user("bob")
    e1, e2, e3 = (mem.remember(f"episode {i}", tier="episodic", timestamp=T0 + timedelta(days=i)) for i in (1, 2, 3))
    # provenance lists are kept sorted by record id, which is random: the order given must not matter
    a = mem.remember("fact a", provenance=[e2.id, e1.id], timestamp=T0 + timedelta(days=4))
    b = mem.remember("fact b", provenance=[e3.id, a.id], timestamp=T0 + timedelta(days=5))
    assert [r.id for r in mem.sources(b.id)] == [e1.id, e2.id, e3.id]
    assert [r.text for r in mem.sources(a.id)] == ["episode 1", "episode 2"]

    mem.forget(e2.id)
    assert [r.id for r in mem.sources(b.id)] == [e1.id, e3.id]

    mem.update(a.id, provenance=[b.id, e1.id])  # a cycle a -> b -> a ends the walk, it does not loop
    assert [r.id for r in mem.sources(b.id)] == [e1.id, e3.id]
    assert [r.id for r in mem.sources(a.id)] == [e1.id, e3.id]
    assert [r.id for r in asyncio.run(mem.asources(b.id))] == [e1.id, e3.id]


def test_sources_stop_at_the_depth_limit_and_reject_unknown_ids(baseline_psm: PSM) -> None:
    mem = baseline_psm.for_user("carol")
    prev = mem.remember("the first episode", tier="episodic", timestamp=T0)
    chain = [prev]
    for i in range(4):
        chain.append(mem.remember(f"fact {i}", provenance=[chain[-1].id], timestamp=T0 + timedelta(hours=i + 1)))
    assert [r.id for r in sources(chain[-1], mem.get, max_depth=4)] == [prev.id]
    assert sources(chain[-1], mem.get, max_depth=3) == []  # the episode lies four links down
    with pytest.raises(NotFoundError):
        mem.sources("no-such-record")
    with pytest.raises(NotFoundError):
        baseline_psm.for_user("dave").sources(prev.id)  # another user's record is not found
