"""A user's profile: their facts grouped by attribute, current or as believed at a given time.

```
mem.profile()            the facts believed now: active (and disputed) facts, by attribute
mem.profile(as_of=t)     the facts believed at user time t (bi-temporal): said by t, and not yet replaced
                         by a later statement said by t; a fact a correction retracted was believed until
                         the correction, and never after
Profile.format_context() a compact prompt block of the facts (quoted data, as recall renders memories)
```
Facts carry their validity (``valid_from``/``valid_to``, when the value held in the user's world) and
provenance (the episodes they were taken from).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from psm_core.attributes import OTHER, attribute
from psm_core.ledger import RETRACTED, SUPERSEDED_BY
from psm_core.render import render_block, render_line
from psm_core.types import MemoryRecord, Status, Tier

__all__ = ["PROFILE_HEADER", "Profile", "ProfileFact", "build_profile"]

PROFILE_HEADER = "What is known about the user now (one fact per line):"


class ProfileFact(BaseModel):
    """One fact of a profile."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    attribute: str
    role: str
    status: Status
    valid_from: datetime | None
    valid_to: datetime | None
    observed_at: datetime
    confidence: float
    provenance: list[str]

    def render(self) -> str:
        """The fact as one prompt line of quoted data."""
        return render_line(self.text, when=self.valid_from or self.observed_at, role=self.role, tier=Tier.SEMANTIC,
                           status=self.status if self.status is Status.FLAGGED else Status.ACTIVE)  # fmt: skip


class Profile(BaseModel):
    """The facts of one user believed at ``as_of`` (None: now), by attribute (attributes in taxonomy order)."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    as_of: datetime | None
    attributes: dict[str, list[ProfileFact]]

    def __len__(self) -> int:
        return sum(len(v) for v in self.attributes.values())

    def facts(self) -> list[ProfileFact]:
        return [f for facts in self.attributes.values() for f in facts]

    def format_context(self, header: str | None = None) -> str:
        """A prompt block of the profile's facts (empty string when there are none)."""
        lines = [f.render() for f in self.facts()]
        if header is None:
            header = (
                PROFILE_HEADER
                if self.as_of is None
                else f"What was known about the user on {self.as_of:%Y-%m-%d} (one fact per line):"
            )
        return render_block(header, lines) if lines else ""


def _believed(fact: MemoryRecord, as_of: datetime | None, by_id: Mapping[str, MemoryRecord]) -> bool:
    if as_of is None:
        return fact.status in (Status.ACTIVE, Status.FLAGGED)
    if fact.observed_at > as_of:
        return False
    if fact.status is not Status.SUPERSEDED:
        return True
    later = by_id.get(str(fact.ledger.get(SUPERSEDED_BY, "")))
    if later is not None:  # believed until the statement that replaced it was said
        return later.observed_at > as_of
    if fact.ledger.get(RETRACTED) is True:
        return False
    return fact.valid_to is None or fact.valid_to > as_of


def build_profile(user_id: str, records: Iterable[MemoryRecord], as_of: datetime | None = None) -> Profile:
    """The profile of ``records`` (a user's persistent records) at ``as_of``."""
    recs = list(records)
    by_id = {r.id: r for r in recs}
    facts = [r for r in recs if r.tier is Tier.SEMANTIC and r.attribute and _believed(r, as_of, by_id)]
    order = {a: n for n, a in enumerate(_taxonomy_order())}
    grouped: dict[str, list[ProfileFact]] = {}
    for r in sorted(facts, key=lambda r: (order.get(r.attribute or OTHER, len(order)), r.valid_from or r.observed_at, r.id)):
        name = r.attribute or OTHER
        grouped.setdefault(name, []).append(
            ProfileFact(id=r.id, text=r.text, attribute=name, role=r.role, status=r.status, valid_from=r.valid_from,
                        valid_to=r.valid_to, observed_at=r.observed_at, confidence=r.confidence, provenance=list(r.provenance))
        )  # fmt: skip
    return Profile(user_id=user_id, as_of=as_of, attributes=grouped)


def _taxonomy_order() -> list[str]:
    from psm_core.attributes import ATTRIBUTE_NAMES

    return [attribute(n).name for n in ATTRIBUTE_NAMES]
