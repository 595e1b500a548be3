"""Time expressions in queries ("in May 2023", "last week", "3 days ago") as a window of user time.

Recall uses the window as evidence: memories observed inside it (or near it) match the query's time.
Only English expressions are understood; a query without one gets no window (and no effect).
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import datetime, timedelta

__all__ = ["TimeWindow", "query_window", "temporal_match"]

TimeWindow = tuple[datetime, datetime]

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS.pop("may", None)
_MONTHS["may"] = 5
_MON = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])"
_YEAR = r"((?:19|20)\d\d)"
_UNITS = {"day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "month": 30.4, "months": 30.4, "year": 365.0, "years": 365.0}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "couple of": 2,
    "few": 3,
}
_NUM = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|couple of|few)"

_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\.?,?\s+{_YEAR}\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b{_MON}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR}\b", re.I)
_MONTH_YEAR = re.compile(rf"\b{_MON}\.?,?\s+(?:of\s+)?{_YEAR}\b", re.I)
_ISO = re.compile(r"\b((?:19|20)\d\d)[-/](\d{1,2})[-/](\d{1,2})\b")
_MONTH_DAY = re.compile(rf"\b{_MON}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\b", re.I)
_YEAR_ONLY = re.compile(rf"\b(?:in|during|of|since)\s+{_YEAR}\b", re.I)
_MONTH_ONLY = re.compile(rf"\b(?:in|during|last|this)\s+{_MON}\b", re.I)
_AGO = re.compile(rf"\b{_NUM}\s+(day|days|week|weeks|month|months|year|years)\s+ago\b", re.I)
_PAST = re.compile(rf"\b(?:past|last|previous)\s+{_NUM}\s+(day|days|week|weeks|month|months|year|years)\b", re.I)
_RELATIVE = {
    "yesterday": (1.5, 0.5),
    "today": (0.5, 0.0),
    "tonight": (0.5, 0.0),
    "last night": (1.5, 0.5),
    "this week": (7.0, 0.0),
    "last week": (14.0, 5.0),
    "past week": (7.0, 0.0),
    "last weekend": (9.0, 1.0),
    "this month": (31.0, 0.0),
    "last month": (62.0, 25.0),
    "past month": (31.0, 0.0),
    "this year": (366.0, 0.0),
    "last year": (730.0, 330.0),
    "recently": (30.0, 0.0),
}
_RELATIVE_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _RELATIVE), key=len, reverse=True)) + r")\b", re.I)


def _month(name: str) -> int:
    key = name.lower().rstrip(".")
    return _MONTHS.get(key) or _MONTHS[key[:3]]


def _day(year: int, month: int, day: int, now: datetime) -> TimeWindow | None:
    try:
        start = now.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
    except ValueError:
        return None
    return start, start + timedelta(days=1)


def _month_window(year: int, month: int, now: datetime) -> TimeWindow:
    start = now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=year + 1, month=1) if month == 12 else start.replace(month=month + 1)
    return start, end


def _latest_year(month: int, day: int, now: datetime) -> int:
    """The year of the latest <month day> not after ``now``."""
    return now.year if (month, day) <= (now.month, now.day) else now.year - 1


def query_window(query: str, now: datetime) -> TimeWindow | None:
    """The time window a query refers to, in ``now``'s timezone, or None when it names no time."""
    m = _DAY_MONTH_YEAR.search(query)
    if m:
        return _day(int(m.group(3)), _month(m.group(2)), int(m.group(1)), now)
    m = _MONTH_DAY_YEAR.search(query)
    if m:
        return _day(int(m.group(3)), _month(m.group(1)), int(m.group(2)), now)
    m = _ISO.search(query)
    if m:
        return _day(int(m.group(1)), int(m.group(2)), int(m.group(3)), now)
    m = _MONTH_YEAR.search(query)
    if m:
        return _month_window(int(m.group(2)), _month(m.group(1)), now)
    m = _AGO.search(query)
    if m:
        n = _NUMBERS.get(m.group(1).lower()) or int(m.group(1))
        unit = _UNITS[m.group(2).lower()]
        centre = now - timedelta(days=n * unit)
        half = timedelta(days=max(1.0, unit / 2))
        return centre - half, centre + half
    m = _PAST.search(query)
    if m:
        n = _NUMBERS.get(m.group(1).lower()) or int(m.group(1))
        return now - timedelta(days=n * _UNITS[m.group(2).lower()]), now
    m = _MONTH_DAY.search(query)
    if m:
        name, day = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        month, d = _month(name), int(day)
        if 1 <= d <= 31 and name != "may":  # lower-case "may" is the verb
            return _day(_latest_year(month, d, now), month, d, now)
    m = _YEAR_ONLY.search(query)
    if m:
        year = int(m.group(1))
        start = now.replace(year=year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return start, start.replace(year=year + 1)
    m = _RELATIVE_RE.search(query)
    if m:
        back, until = _RELATIVE[m.group(1).lower()]
        return now - timedelta(days=back), now - timedelta(days=until)
    m = _MONTH_ONLY.search(query)
    if m and m.group(1) != "may":
        month = _month(m.group(1))
        year = now.year if month <= now.month else now.year - 1
        return _month_window(year, month, now)
    return None


def temporal_match(when: datetime, window: TimeWindow | None) -> float:
    """1 inside the window, decaying with the distance outside it (scale: the window's length, ≥ 3 days)."""
    if window is None:
        return 0.0
    start, end = window
    if start <= when < end:
        return 1.0
    gap = (start - when) if when < start else (when - end)
    scale = max(3.0, (end - start).total_seconds() / 86400)
    return math.exp(-gap.total_seconds() / 86400 / scale)
