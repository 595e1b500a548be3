"""Property-based fuzzing of the public API (issue 24 item 6): whatever a caller passes, only
:class:`PSMError` subclasses escape, the store still opens and recalls afterwards, and every
acknowledged write that was not forgotten is there after reopening."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psm_core import PSM, MemoryRecord, PSMError, PSMSettings, RecallResult, Tier

AWARE = st.datetimes(timezones=st.just(timezone.utc))
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=3),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.datetimes(),  # naive
    AWARE,
    st.sampled_from([t.value for t in Tier] + list(Tier) + [5, object(), "*", ""]),
    st.just(10**6),
    st.just(float("nan")),
)
NESTED = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.binary(max_size=4)),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=5), kids, max_size=3), st.sets(st.integers(), max_size=2)
    ),
    max_leaves=30,
)
TEXT = st.one_of(st.text(min_size=1, max_size=200), st.sampled_from(["I moved to Lisbon.", "My dog is called Rex."]), JUNK)
VALUE = st.one_of(JUNK, NESTED)


VALID: dict[str, st.SearchStrategy[Any]] = {
    "role": st.sampled_from(["user", "assistant", "Caroline"]),
    "session_id": st.sampled_from(["s1", "s2", None]),
    "timestamp": st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    "metadata": st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=2),
    "kind": st.sampled_from(["fact", "preference", "event"]),
    "tier": st.sampled_from(["episodic", "semantic", "archival"]),
    "confidence": st.floats(0, 1),
    "importance": st.floats(0, 1),
    "k": st.integers(1, 20),
    "strength": st.floats(0, 1),
    "text": st.text(min_size=1, max_size=50),
    "status": st.sampled_from(["active", "superseded", "flagged"]),
    "keep": st.sampled_from(["new", "old", "both"]),
    "outcome": st.sampled_from(["helpful", "irrelevant", "corrected"]),
}


def _kwargs(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={n: st.one_of(VALID[n], VALUE) if n in VALID else VALUE for n in names})


OPS = st.one_of(
    st.tuples(st.just("observe"), TEXT, _kwargs(["role", "session_id", "timestamp", "metadata"])),
    st.tuples(
        st.just("observe_many"),
        st.one_of(
            JUNK,
            st.lists(
                st.one_of(TEXT, st.dictionaries(st.sampled_from(["text", "role", "metadata", "timestamp", "x"]), VALUE)),
                max_size=3,
            ),
        ),
        st.just({}),
    ),
    st.tuples(
        st.just("remember"),
        TEXT,
        _kwargs(
            ["kind", "tier", "confidence", "importance", "emotional_weight", "provenance", "timestamp", "metadata", "record_id"]
        ),
    ),
    st.tuples(
        st.just("recall"),
        TEXT,
        _kwargs(["k", "tiers", "token_budget", "now", "include_superseded", "exclude_ids", "touch", "rerank"]),
    ),
    st.tuples(st.just("get"), VALUE, st.just({})),
    st.tuples(st.just("sources"), VALUE, st.just({})),
    st.tuples(st.just("records"), VALUE, _kwargs(["session_id"])),
    st.tuples(st.just("working"), VALUE, st.just({})),
    st.tuples(
        st.just("update"),
        VALUE,
        _kwargs(
            [
                "expected_version",
                "text",
                "kind",
                "strength",
                "metadata",
                "valid_from",
                "valid_to",
                "tier",
                "status",
                "provenance",
                "bogus",
            ]
        ),
    ),
    st.tuples(st.just("forget"), VALUE, st.just({})),
    st.tuples(st.just("feedback"), VALUE, _kwargs(["outcome", "memory_ids", "score"])),
    st.tuples(st.just("export"), st.none(), st.just({})),
    st.tuples(st.just("stats"), st.none(), st.just({})),
    st.tuples(st.just("review_queue"), st.none(), _kwargs(["include_resolved"])),
    st.tuples(st.just("resolve"), VALUE, _kwargs(["keep"])),
)


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "home"


@pytest.fixture(scope="module")
def fuzz_psm(fuzz_home: Path) -> Iterator[PSM]:
    with PSM(PSMSettings(home=fuzz_home)) as p:
        yield p


_ACKED: dict[str, set[str]] = {}


def _real_id(mem: Any, value: Any) -> Any:
    """Half of the ids point at a real record, so update/forget/get reach the store too."""
    recs = mem.records()
    if recs and isinstance(value, int) and not isinstance(value, bool):
        return recs[value % len(recs)].id
    return value


def _call(mem: Any, op: str, arg: Any, kwargs: dict[str, Any]) -> Any:
    if op in ("observe", "remember", "recall"):
        return getattr(mem, op)(arg, **kwargs)
    if op == "observe_many":
        return mem.observe_many(arg)
    if op in ("get", "sources", "forget", "update"):
        return getattr(mem, op)(_real_id(mem, arg), **kwargs)
    if op == "records":
        return mem.records(arg, **kwargs)
    if op == "working":
        return mem.working(arg)
    if op == "feedback":
        target = mem.recall("Lisbon", k=2) if arg is None else _real_id(mem, arg)
        return mem.feedback(target, kwargs.get("outcome", "helpful"), **{k: v for k, v in kwargs.items() if k != "outcome"})
    if op == "resolve":
        return mem.resolve(arg, **kwargs) if "keep" in kwargs else mem.resolve(arg, keep="new")
    return getattr(mem, op)(**kwargs)


def _track(user: str, op: str, result: Any, mem: Any) -> None:
    acked = _ACKED.setdefault(user, set())
    if op in ("observe", "remember") and isinstance(result, MemoryRecord) and result.tier is not Tier.WORKING:
        acked.add(result.id)
    if op == "observe_many" and isinstance(result, list):
        acked.update(r.id for r in result if r.tier is not Tier.WORKING)
    if op == "forget":
        acked.intersection_update(r.id for r in mem.records())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=6), user=st.sampled_from(["fuzz-a", "fuzz-b", "fuzz-c"]))
def test_only_psm_errors_escape_and_the_store_stays_usable(
    fuzz_psm: PSM, ops: list[tuple[str, Any, dict[str, Any]]], user: str
) -> None:
    mem = fuzz_psm.for_user(user)
    for op, arg, kwargs in ops:
        try:
            result = _call(mem, op, arg, kwargs)
        except PSMError:
            continue
        _track(user, op, result, mem)
    assert isinstance(mem.recall("anything at all", k=3), RecallResult)
    mem.export()  # every stored record serializes


def test_after_fuzzing_the_store_reopens_with_every_acknowledged_write(fuzz_psm: PSM, fuzz_home: Path) -> None:
    fuzz_psm.consolidate_all()  # a pass over whatever the fuzzer stored must not fail either
    fuzz_psm.close()
    with PSM(PSMSettings(home=fuzz_home)) as again:
        for user, ids in _ACKED.items():
            mem = again.for_user(user)
            have = {r.id for r in mem.records()}
            assert ids <= have, f"{user}: acknowledged writes lost: {sorted(ids - have)[:5]}"
            assert isinstance(mem.recall("anything", k=5), RecallResult)
            again.consolidate(user)


def test_extreme_but_accepted_timestamps_are_safe_in_every_pass(psm: PSM) -> None:
    """Item 5: the earliest and latest accepted years in one store; decay, passes and time parsing survive."""
    mem = psm.for_user("timelord")
    early, late = datetime(1000, 1, 1, tzinfo=timezone.utc), datetime(8999, 12, 31, tzinfo=timezone.utc)
    mem.observe("I planted an oak tree in the village square.", timestamp=early, session_id="a")
    mem.observe("I moved to a station orbiting Mars with my cat.", timestamp=late, session_id="b")
    mem.remember("I keep bees.", timestamp=late - timedelta(days=3))
    for _ in range(2):
        psm.consolidate("timelord")
    res = mem.recall("what happened last week? where do I live?", k=5)
    assert res.memories and all(math.isfinite(m.score) for m in res)
    assert all(0.0 <= r.strength <= 1.0 for r in mem.records())


@pytest.mark.parametrize("year", [1, 999, 9000, 9999])
def test_timestamps_outside_the_accepted_years_are_refused_at_the_door(psm: PSM, year: int) -> None:
    from psm_core import InvalidInputError

    mem = psm.for_user("timelord")
    when = datetime(year, 6, 1, tzinfo=timezone.utc)
    for call in (
        lambda: mem.observe("I moved house.", timestamp=when),
        lambda: mem.remember("I moved house.", timestamp=when),
        lambda: mem.recall("where?", now=when),
    ):
        with pytest.raises(InvalidInputError, match="year"):
            call()
    assert mem.stats().total == 0
