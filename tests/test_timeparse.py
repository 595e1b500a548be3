"""Time expressions in queries become windows of user time; recall favours memories inside them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from psm_core.timeparse import query_window, temporal_match

NOW = datetime(2023, 8, 10, 12, 0, tzinfo=timezone.utc)


def _d(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("What did Maria donate in December 2022?", _d(2022, 12, 1), _d(2023, 1, 1)),
        ("When did she go on 7 May 2023?", _d(2023, 5, 7), _d(2023, 5, 8)),
        ("What happened on May 7, 2023", _d(2023, 5, 7), _d(2023, 5, 8)),
        ("and on 2023-05-07?", _d(2023, 5, 7), _d(2023, 5, 8)),
        ("in 2022", _d(2022, 1, 1), _d(2023, 1, 1)),
        ("what did I do in June", _d(2023, 6, 1), _d(2023, 7, 1)),
        ("what about in October", _d(2022, 10, 1), _d(2022, 11, 1)),  # latest October before now
        ("yesterday?", _d(2023, 8, 9), _d(2023, 8, 10)),
        ("in the past two weeks", NOW - timedelta(days=14), NOW),
    ],
)
def test_windows(query: str, start: datetime, end: datetime) -> None:
    got = query_window(query, NOW)
    assert got is not None and got[0].date() == start.date() and got[1].date() == end.date()


@pytest.mark.parametrize("query", ["what is my dog called", "in married life", "I may 2 go", "number 2023 of them"])
def test_no_window(query: str) -> None:
    assert query_window(query, NOW) is None


def test_match_is_one_inside_and_fades_outside() -> None:
    window = (_d(2023, 5, 1), _d(2023, 6, 1))
    assert temporal_match(_d(2023, 5, 15), window) == 1.0
    near, far = temporal_match(_d(2023, 6, 3), window), temporal_match(_d(2023, 12, 1), window)
    assert 1.0 > near > far > 0.0
    assert temporal_match(_d(2023, 5, 15), None) == 0.0


def test_recall_prefers_the_named_month(baseline_psm) -> None:
    mem = baseline_psm.for_user("maria")
    may = mem.observe("I donated old clothes to the shelter.", timestamp=_d(2023, 5, 3))
    dec = mem.observe("I donated old clothes to the shelter again.", timestamp=_d(2023, 12, 2))
    assert mem.recall("What did I donate in December 2023?", k=1).ids == [dec.id]
    assert mem.recall("What did I donate in May 2023?", k=1).ids == [may.id]
