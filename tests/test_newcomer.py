"""Newcomer polish (issue 28 item 7), through the public API on the real store: ScoredMemory's record
fields, the async twins of records/working/sensory, import beside export, PSMRetriever's search_kwargs,
and the same process-default PSM in both adapters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import PSM, PSMSettings, Tier
from psm_core.errors import InvalidInputError, PSMError

T0 = datetime(2024, 3, 2, 18, 0, tzinfo=timezone.utc)
LISBON = "I moved to Lisbon with my partner Ana last spring."
CELLO = "Alice plays the cello in a community orchestra."


def test_scored_memory_exposes_the_record_fields(psm: PSM) -> None:
    mem = psm.for_user("alice")
    rec = mem.remember(CELLO, kind="preference", confidence=0.7, importance=0.6, timestamp=T0, metadata={"src": "t"})
    m = mem.recall("what instrument does alice play", k=1)[0]
    assert m.id == rec.id and m.text == CELLO and m.tier is Tier.SEMANTIC  # the existing ones
    got = mem.get(rec.id)
    for name in ("status", "kind", "role", "session_id", "observed_at", "valid_from", "valid_to", "confidence",
                 "importance", "attribute", "metadata", "recall_count"):  # fmt: skip
        assert getattr(m, name) == getattr(m.record, name), name
    assert m.kind.value == "preference" and m.status.value == "active" and m.confidence == 0.7
    assert m.metadata == {"src": "t"} and m.observed_at == T0 == m.valid_from and got.id == m.id


async def test_async_twins_of_records_working_and_sensory(psm: PSM) -> None:
    mem = psm.for_user("alice")
    ep = mem.observe(LISBON, session_id="s1", timestamp=T0)
    chat = mem.observe("lol", session_id="s1", timestamp=T0 + timedelta(minutes=1))
    assert await mem.arecords() == mem.records() and ep.id in {r.id for r in await mem.arecords()}
    assert await mem.arecords(Tier.EPISODIC, session_id="s1") == mem.records(Tier.EPISODIC, session_id="s1")
    assert [r.id for r in await mem.aworking("s1")] == [r.id for r in mem.working("s1")] and chat.id in mem.working("s1")[-1].id
    assert [e.text for e in await mem.asensory()] == [e.text for e in mem.sensory()] == [LISBON, "lol"]
    assert await mem.aprofile() == mem.profile()


def _store(mem_records: list) -> list[dict]:
    return sorted((r.model_dump(mode="json") for r in mem_records), key=lambda d: d["id"])


def _seed(psm: PSM) -> None:
    mem = psm.for_user("alice")
    mem.observe(LISBON, session_id="s1", timestamp=T0)
    mem.observe("lol", session_id="s1", timestamp=T0 + timedelta(minutes=1))  # working memory only
    mem.remember(CELLO, tier="archival", timestamp=T0, metadata={"k": [1, {"x": None}]})


def test_import_writes_an_export_back_with_the_same_ids_tiers_and_fields(psm: PSM, tmp_path: Path) -> None:
    _seed(psm)
    mem = psm.for_user("alice")
    text = mem.export(tmp_path / "alice.jsonl")
    before = _store(mem.records() + mem.records(Tier.WORKING))
    assert {r["tier"] for r in before} >= {"episodic", "archival", "working"}
    with PSM(PSMSettings(home=tmp_path / "other")) as other:  # a fresh home: the migration use
        new = other.for_user("alice")
        got = new.import_records(tmp_path / "alice.jsonl")
        assert len(got) == len(before)
        assert _store(new.records() + new.records(Tier.WORKING)) == before
        assert new.export() == text  # the same lines again
        assert new.recall("which city did I move to?", k=1, touch=False)[0].text == LISBON  # vectors recomputed
        assert new.recall("orchestra instrument", k=1, tiers=["archival"], touch=False)[0].text == CELLO
    with PSM(PSMSettings(home=tmp_path / "other")) as again:  # and persisted (all but working memory)
        assert _store(again.for_user("alice").records()) == _store(mem.records())


def test_import_takes_the_text_too_and_replaces_a_record_of_the_same_id(psm: PSM) -> None:
    mem = psm.for_user("alice")
    rec = mem.remember(CELLO, tier="episodic", timestamp=T0)
    row = rec.model_dump(mode="json") | {"tier": "semantic", "text": "Alice plays the viola.", "version": 3}
    (got,) = mem.import_records(json.dumps(row) + "\n")
    assert got.id == rec.id and mem.get(rec.id).tier is Tier.SEMANTIC and mem.get(rec.id).version == 3
    assert [r.id for r in mem.records()] == [rec.id]  # one copy, in the new tier only
    assert mem.recall("viola", k=1)[0].text == "Alice plays the viola."
    assert mem.import_records("") == []


def test_import_is_all_or_nothing_and_checked_at_the_door(psm: PSM, tmp_path: Path) -> None:
    _seed(psm)
    mem = psm.for_user("alice")
    lines = mem.export().splitlines()
    before = _store(mem.records())
    bob = psm.for_user("bob")
    good = [json.loads(line) for line in lines]
    bad_rows = {
        "metadata": {"_psm": {"x": 1}},  # the reserved key, as remember() refuses it
        "observed_at": "2024-03-02T18:00:00",  # no timezone
        "tier": "sensory",
        "confidence": 1.5,
        "provenance": "abc",
        "text": " ",
        "surprise": 1,
        "valid_to": "1999-01-01T00:00:00+00:00",  # before valid_from
    }
    for field, value in bad_rows.items():
        rows = [dict(r, user_id="bob") for r in good]
        rows[-1] = rows[-1] | {field: value}
        with pytest.raises(InvalidInputError, match=f"line {len(rows)}"):
            bob.import_records("\n".join(json.dumps(r) for r in rows))
        assert bob.records() == [] and bob.working() == [] and "bob" not in psm.users(), field
    with pytest.raises(InvalidInputError, match="line 2: not JSON"):
        bob.import_records(json.dumps(good[0] | {"user_id": "bob"}) + "\n{oops\n")
    with pytest.raises(InvalidInputError, match="appears twice"):
        bob.import_records("\n".join([json.dumps(good[0] | {"user_id": "bob"})] * 2))
    with pytest.raises(InvalidInputError, match="cannot read the export"):
        bob.import_records(str(tmp_path / "missing.jsonl"))
    with pytest.raises(InvalidInputError, match="a record of user 'alice', not 'bob'.*as_user=True"):
        bob.import_records("\n".join(lines))
    assert bob.records() == [] and "bob" not in psm.users()
    got = bob.import_records("\n".join(lines), as_user=True)  # ids kept; now bob's
    assert {r.user_id for r in got} == {"bob"} and {r.id for r in got} == {r["id"] for r in good}
    assert _store(mem.records()) == before  # alice untouched


def test_a_store_failure_mid_import_puts_back_what_was_there(psm: PSM, monkeypatch: pytest.MonkeyPatch) -> None:
    from psm_core.errors import StoreError

    mem = psm.for_user("alice")
    kept = mem.remember(CELLO, tier="episodic", timestamp=T0)
    before = _store(mem.records())
    rows = [
        kept.model_dump(mode="json") | {"tier": "semantic", "text": "Alice plays the viola."},  # replaces kept
        kept.model_dump(mode="json") | {"id": "new-one", "tier": "archival", "text": LISBON},
    ]
    real = psm.store.upsert
    calls: list[str] = []

    def failing(key, tier, records, vectors, **kw):  # the store fails on the second tier written
        calls.append(tier.value)
        if len(calls) == 2:
            raise StoreError("disk full")
        return real(key, tier, records, vectors, **kw)

    monkeypatch.setattr(psm.store, "upsert", failing)
    with pytest.raises(StoreError, match="disk full"):
        mem.import_records("\n".join(json.dumps(r) for r in rows))
    monkeypatch.setattr(psm.store, "upsert", real)
    assert _store(mem.records()) == before and mem.get(kept.id).tier is Tier.EPISODIC
    mem.refresh()  # what the store holds, not only the index
    assert _store(mem.records()) == before


async def test_aimport_records(psm: PSM) -> None:
    mem = psm.for_user("alice")
    rec = mem.remember(CELLO, timestamp=T0)
    text = await mem.aexport()
    await mem.aerase()
    got = await mem.aimport_records(text)
    assert [r.id for r in got] == [rec.id] and (await mem.arecords())[0].text == CELLO


# -- LangChain's PSMRetriever(search_kwargs=...) ---------------------------------------------------------


def test_retriever_honours_search_kwargs(psm: PSM) -> None:
    from langchain_psm import PSMRetriever

    mem = psm.for_user("alice")
    old = mem.remember("Alice lives in Porto.", timestamp=T0)
    mem.remember("Alice lives in Lisbon.", timestamp=T0 + timedelta(days=30))
    mem.update(old.id, status="superseded", valid_to=T0 + timedelta(days=30))
    mem.remember(CELLO, tier="archival", timestamp=T0)
    for extra in ("Alice has a beagle named Rex.", "Alice is allergic to peanuts.", "Alice works at the aquarium."):
        mem.remember(extra, timestamp=T0)
    q = "Where does Alice live?"
    assert len(PSMRetriever(psm=psm, user_id="alice").invoke(q)) == 4
    assert len(PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": 1}).invoke(q)) == 1
    assert len(PSMRetriever(psm=psm, user_id="alice", k=3, search_kwargs={"k": 2}).invoke(q, k=5)) == 5  # the call wins
    docs = PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": 10, "tiers": ["archival"]}).invoke(q)
    assert [d.page_content for d in docs] == [CELLO]
    plain = PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": 10}).invoke(q)
    assert old.id not in {d.id for d in plain}
    every = PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": 10, "include_superseded": True}).invoke(q)
    assert old.id in {d.id for d in every}
    budget = PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": 10, "token_budget": 20}).invoke(q)
    assert 1 <= len(budget) < len(plain)
    with pytest.raises(InvalidInputError, match="search_kwargs takes"):
        PSMRetriever(psm=psm, user_id="alice", search_kwargs={"score_threshold": 0.5})


async def test_retriever_search_kwargs_async(psm: PSM) -> None:
    from langchain_psm import PSMRetriever

    for text in (CELLO, LISBON, "Alice is allergic to peanuts."):
        psm.for_user("alice").remember(text, timestamp=T0)
    docs = await PSMRetriever(psm=psm, user_id="alice", search_kwargs={"k": 1}).ainvoke("instrument")
    assert [d.page_content for d in docs] == [CELLO]


# -- the same construction pattern in both adapters ------------------------------------------------------


def test_llamaindex_adapters_default_to_the_process_psm_langchain_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_psm import PSMRetriever
    from llamaindex_psm import PSMMemory, PSMMemoryBlock
    from psm_core import defaults

    monkeypatch.setenv("PSM_HOME", str(tmp_path / "default-home"))
    monkeypatch.setattr(defaults, "_default", None)
    memory = PSMMemory.from_defaults(user_id="alice", session_id="s1")
    try:
        assert memory.psm is defaults.default_psm() and memory.psm.settings.home == tmp_path / "default-home"
        assert PSMMemory(user_id="alice").psm is memory.psm
        assert PSMMemoryBlock(user_id="alice").psm is memory.psm
        assert PSMRetriever(user_id="alice").psm is memory.psm  # one writer per embedded store
        memory.user_memory.remember(CELLO)
        assert PSMRetriever(user_id="alice").invoke("instrument")[0].page_content == CELLO
    finally:
        memory.psm.close()
    with PSM(PSMSettings(home=tmp_path / "explicit")) as psm:  # psm= still wins
        assert PSMMemory.from_defaults(psm=psm, user_id="alice").psm is psm


def test_bad_input_stays_a_psm_error(psm: PSM) -> None:
    with pytest.raises(PSMError):
        psm.for_user("alice").import_records(42)  # type: ignore[arg-type]
    with pytest.raises(PSMError):
        psm.for_user("alice").import_records("", as_user="yes")  # type: ignore[arg-type]
