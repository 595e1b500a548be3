"""The Chroma codec: a record survives the (document, metadata) round trip exactly, old metadata still reads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from psm_core import Kind, Status, Tier
from psm_core.stores.codec import from_chroma, to_chroma
from psm_core.types import MemoryRecord

PLUS2 = timezone(timedelta(hours=2))


def test_every_field_round_trips_through_one_json_value() -> None:
    rec = MemoryRecord(
        user_id="ü$`'\"", tier=Tier.SEMANTIC, text="Mia moved to \"Porto\" 🌊\nC:\\temp {x}", kind=Kind.RELATION, role="Caroline",
        session_id="s-1", context="Melanie: where is Mia now?", created_at=datetime(2024, 3, 1, 9, tzinfo=PLUS2),
        observed_at=datetime(2024, 3, 1, 8, tzinfo=timezone.utc), last_access=datetime(2024, 4, 1, tzinfo=PLUS2),
        strength=0.4, decay_rate=0.2, recall_count=3, emotional_weight=0.7, confidence=0.9, importance=0.6,
        provenance=["a", "b"], valid_from=datetime(2024, 3, 1, tzinfo=timezone.utc), valid_to=None,
        status=Status.FLAGGED, version=4, metadata={"n": 1.5, "tags": ["a"]}, ledger={"updated_by": ["x"]},
    )  # fmt: skip
    doc, meta = to_chroma(rec)
    assert doc == rec.text
    assert all(isinstance(v, (str, int, float, bool)) for v in meta.values())  # what Chroma accepts
    assert {"tier": "semantic", "kind": "relation", "status": "flagged", "session_id": "s-1"}.items() <= meta.items()
    back = from_chroma(rec.id, doc, meta)
    assert back == rec
    assert back.created_at.utcoffset() == timedelta(hours=2)  # offsets kept, not only instants


def test_metadata_written_one_key_per_field_is_still_read() -> None:
    legacy = {
        "user_id": "alice", "tier": "episodic", "kind": "event", "role": "user", "status": "active", "strength": 0.5,
        "decay_rate": 0.1, "recall_count": 2, "emotional_weight": 0.0, "confidence": 1.0, "importance": 0.5,
        "version": 3, "created_at": "2024-03-01T09:00:00+00:00", "observed_at": "2024-03-01T09:00:00+00:00",
        "last_access": "", "valid_from": "2024-03-01T09:00:00+00:00", "valid_to": "", "observed_ts": 1709283600.0,
        "session_id": "s1", "has_session": True, "context": "", "provenance": '["p1"]', "meta": '{"k": "v"}',
    }  # fmt: skip
    rec = from_chroma("r1", "We went hiking.", legacy)
    assert (rec.id, rec.text, rec.kind, rec.session_id, rec.context, rec.version) == (
        "r1",
        "We went hiking.",
        Kind.EVENT,
        "s1",
        None,
        3,
    )
    assert rec.provenance == ["p1"] and rec.metadata == {"k": "v"} and rec.last_access is None
    assert rec.observed_at == datetime(2024, 3, 1, 9, tzinfo=timezone.utc)


def test_a_ledger_kept_in_metadata_by_earlier_versions_moves_to_its_field() -> None:
    rec = MemoryRecord(user_id="alice", text="I live in Porto.", metadata={"n": 1})
    doc, meta = to_chroma(rec)
    fields = json.loads(meta["record"])
    del fields["ledger"]
    fields["metadata"] = {"n": 1, "_psm": {"seen": "p1", "updated_by": ["b"]}}
    back = from_chroma(rec.id, doc, {**meta, "record": json.dumps(fields)})
    assert back.metadata == {"n": 1} and back.ledger == {"seen": "p1", "updated_by": ["b"]}


def test_metadata_nested_past_the_json_parser_limit_is_kept_as_text_not_fatal() -> None:
    rec = MemoryRecord(user_id="alice", text="I live in Porto.")
    doc, meta = to_chroma(rec)
    fields = json.loads(meta["record"])
    deep: dict = {}
    cur = deep
    for _ in range(300):  # what an unvalidated write could store before metadata was checked at the door
        cur["x"] = {}
        cur = cur["x"]
    fields["metadata"] = deep
    back = from_chroma(rec.id, doc, {**meta, "record": json.dumps(fields)})
    assert back.text == rec.text and back.user_id == "alice"
    kept = back.metadata.get("psm_unreadable_metadata")
    assert back.metadata == deep or json.loads(kept) == deep  # nothing lost, the user's store still loads
