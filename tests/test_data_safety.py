"""Data safety (issue 24): compaction under traffic, damaged stores repaired, bad metadata refused, the
library's ledger out of the caller's reach, forget removes every copy, erased text gone from disk,
reopening in one process. Real Chroma in a temp dir, real embedder; SIGKILL in a child process where a
crash is involved. (Item 5, timestamps, and item 6, fuzzing, are in test_fuzz_api.py; item 7, prompt
safety, in test_prompt_safety.py.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import PSM, InvalidInputError, PSMError, PSMSettings, StoreError, Tier
from psm_core.cli import main as cli
from psm_core.stores.maintenance import check

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, 9, tzinfo=timezone.utc)


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True, text=True, timeout=300
    )


# -- 1. compaction under traffic, and a damaged store's repair path --------------------------------
def test_compact_under_traffic_from_other_threads_keeps_the_store_sound(home: Path) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()
    with PSM(PSMSettings(home=home)) as psm:
        alice, bob = psm.for_user("alice"), psm.for_user("bob")
        for i in range(60):
            alice.remember(f"alice fact number {i} about gardening and green tea")

        def traffic() -> None:
            i = 0
            while not stop.is_set():
                try:
                    bob.remember(f"bob note {i} about the weather in town")
                    alice.recall("green tea", k=3)
                except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                    errors.append(exc)
                i += 1

        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            for n in range(3):
                tmp = psm.for_user(f"temporary-{n}")
                for j in range(20):
                    tmp.remember(f"temporary note {j} with zebra words")
                tmp.erase()
                report = psm.compact()
                assert report["bytes_after"] > 0
        finally:
            stop.set()
            worker.join()
        assert errors == []
        written = bob.stats().total
    assert all(f.ok for f in check(home))
    with PSM(PSMSettings(home=home)) as again:
        assert again.for_user("bob").stats().total == written
        assert len(again.for_user("alice").recall("green tea", k=5)) == 5


def test_a_damaged_store_fails_with_a_psm_error_and_psm_doctor_repairs_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("alice")
        for i in range(200):
            mem.remember(f"alice fact {i}: the river Douro runs through Porto, note {i}")
        psm.for_user("bob").remember("Bob plays chess on Sundays.")
    db = home / "chroma" / "chroma.sqlite3"
    size = db.stat().st_size
    with db.open("r+b") as f:  # what a failing disk (or an old in-process VACUUM) leaves behind
        for off in (size // 3, size // 2, 2 * size // 3):
            f.seek(off)
            f.write(b"\x00garbage" * 64)
    with pytest.raises(PSMError, match="psm doctor"):
        with PSM(PSMSettings(home=home)) as psm:
            psm.for_user("alice").records()
    assert cli(["doctor", "--home", str(home)]) == 1
    assert "DAMAGED" in capsys.readouterr().out
    assert cli(["doctor", "--home", str(home), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt" in out and "2 users" in out
    assert list(home.glob("chroma.damaged-*"))  # the damaged copy is kept
    with PSM(PSMSettings(home=home)) as psm:
        alice = psm.for_user("alice")
        assert len(alice.records()) >= 150  # what could be read came back (here: all of it)
        assert "Douro" in alice.recall("Douro river Porto", k=1)[0].text
        assert psm.for_user("bob").records()[0].text == "Bob plays chess on Sundays."
    assert cli(["doctor", "--home", str(home)]) == 0


# -- 2. metadata is plain, bounded JSON --------------------------------------------------------------
def _deep(levels: int) -> dict:
    out: dict = {}
    cur = out
    for _ in range(levels):
        cur["x"] = {}
        cur = cur["x"]
    return out


@pytest.mark.parametrize(
    "metadata",
    [_deep(200), {"s": {1, 2}}, {"b": b"bytes"}, {"o": object()}, {1: "int key"}, {"n": float("nan")}, "str", ["list"],
     {"big": "x" * 70_000}],
)  # fmt: skip
def test_bad_metadata_is_refused_at_the_door_and_nothing_is_written(psm: PSM, metadata: object) -> None:
    mem = psm.for_user("alice")
    for call in (
        lambda: mem.observe("I moved to Lisbon.", metadata=metadata),  # type: ignore[arg-type]
        lambda: mem.remember("I moved to Lisbon.", metadata=metadata),  # type: ignore[arg-type]
        lambda: mem.observe_many([{"text": "I moved to Lisbon.", "metadata": metadata}]),
    ):
        with pytest.raises(InvalidInputError, match="metadata"):
            call()
    rec = mem.remember("I moved to Lisbon.", metadata={"ok": [1, {"two": None}]})
    with pytest.raises(InvalidInputError, match="metadata"):
        mem.update(rec.id, metadata=metadata)
    assert mem.stats().total == 1 and mem.get(rec.id).metadata == {"ok": [1, {"two": None}]}
    mem.export()


def test_metadata_round_trips_and_a_reopened_store_reads_it(home: Path) -> None:
    meta = {"tags": ["a", "b"], "n": 1.5, "nested": {"deep": [{"x": True}]}, "none": None, "uni": "ünï 🙂"}
    with PSM(PSMSettings(home=home)) as psm:
        rid = psm.for_user("alice").remember("I like tea.", metadata=meta).id
    with PSM(PSMSettings(home=home)) as psm:
        assert psm.for_user("alice").get(rid).metadata == meta


# -- 3. the ledger is the library's ------------------------------------------------------------------
def test_callers_cannot_write_the_ledger_through_metadata(psm: PSM) -> None:
    mem = psm.for_user("alice")
    victim = mem.remember("My passport number is 123.")
    forged = {"_psm": {"source": victim.id, "recalls": "x"}}
    with pytest.raises(InvalidInputError, match="reserved"):
        mem.remember("A fact that claims to come from the passport record.", metadata=forged)
    other = mem.remember("A harmless fact.", metadata={"source": victim.id, "updated_by": [victim.id]})
    with pytest.raises(InvalidInputError, match="reserved"):
        mem.update(other.id, metadata=forged)
    with pytest.raises(InvalidInputError, match="cannot update"):
        mem.update(other.id, ledger={"source": victim.id})
    mem.forget(other.id)  # a caller's "source" key means nothing to forget()
    assert mem.get(victim.id).text == victim.text
    psm.consolidate("alice")
    psm.consolidate("alice")


# -- 4. forget removes every copy ------------------------------------------------------------------
KILL_AT_COPY = r"""
import os, signal, sys
from datetime import datetime
from psm_core import PSM, PSMSettings
home, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
def hook(event):
    if event == "write:copied":  # the moved records are in their new tier, not yet deleted from the old
        os.kill(os.getpid(), signal.SIGKILL)
with PSM(PSMSettings(home=home, skill="baseline")) as psm:
    psm.consolidation.consolidate("alice", now=now, hook=hook)
sys.exit(3)
"""


def test_forget_sticks_after_a_pass_killed_between_copy_and_delete(home: Path) -> None:
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        mem = psm.for_user("alice")
        for day in range(2):
            for i, t in enumerate(
                ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."]
            ):
                mem.observe(t, session_id=f"d{day}", timestamp=T0 + timedelta(days=day, minutes=i))
    done = _child(KILL_AT_COPY, str(home), (T0 + timedelta(days=30)).isoformat())
    assert done.returncode == -signal.SIGKILL, done.stderr
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        mem = psm.for_user("alice")
        key = mem.key
        copies = {t: {r.id for r, _ in psm.store.scan(key, t)} for t in (Tier.EPISODIC, Tier.ARCHIVAL)}
        both = copies[Tier.EPISODIC] & copies[Tier.ARCHIVAL]
        assert both, "the kill point should leave a record in two tiers"
        victim = sorted(both)[0]
        mem.forget(victim)
    with PSM(PSMSettings(home=home, skill="baseline")) as psm:
        mem = psm.for_user("alice")
        assert victim not in {r.id for r in mem.records()}
        psm.consolidate("alice", now=T0 + timedelta(days=31))
        assert victim not in {r.id for r in mem.records()}
        for t in (Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL):
            ids = [r.id for r, _ in psm.store.scan(key, t)]
            assert victim not in ids and len(ids) == len(set(ids))
        all_ids = [r.id for t in (Tier.EPISODIC, Tier.SEMANTIC, Tier.ARCHIVAL) for r, _ in psm.store.scan(key, t)]
        assert len(all_ids) == len(set(all_ids))  # the reopen repaired every duplicate


def test_remember_with_an_existing_id_replaces_it_in_every_tier(home: Path) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("alice")
        ep = mem.remember("I work at Google.", tier="episodic")
        mem.remember("I work at Anybotics.", tier="semantic", record_id=ep.id)
        assert mem.get(ep.id).tier is Tier.SEMANTIC and mem.stats().total == 1
        mem.forget(ep.id)
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("alice")
        assert mem.records() == []
        psm.consolidate("alice")
        assert mem.records() == []


# -- 8. erased text leaves the disk ------------------------------------------------------------------
SECRET = "zanzibarquokka"


def _files_with(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # a file Chroma replaced while we walked the folder
                continue
            if needle in data or needle.decode().encode("utf-16-le") in data:
                hits.append(str(path.relative_to(root)))
    return hits


def test_erase_then_compact_leaves_no_byte_of_the_erased_text_open_or_closed(home: Path) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        keep = psm.for_user("bob")
        keep.remember("Bob keeps bees in the garden.")
        mem = psm.for_user("eve")
        for day in range(3):
            mem.observe(f"My secret codename is {SECRET}, remember it well (day {day}).", session_id=f"s{day}",
                        timestamp=T0 + timedelta(days=day))  # fmt: skip
        mem.remember(f"Eve's codename is {SECRET}.")
        res = mem.recall(f"what is {SECRET}?", k=3)
        mem.feedback(res, "helpful")
        psm.consolidate("eve")
        mem.end_session("s2")
        assert _files_with(home, SECRET.encode())  # it was on disk
        mem.erase()
        psm.compact()
        assert _files_with(home, SECRET.encode()) == []  # open
        assert keep.recall("bees", k=1)[0].text == "Bob keeps bees in the garden."
        con = sqlite3.connect(f"file:{home / 'chroma' / 'chroma.sqlite3'}?mode=ro", uri=True)
        live = {r[0] for r in con.execute("SELECT id FROM segments")}
        con.close()
        folders = {p.name for p in (home / "chroma").iterdir() if p.is_dir()}
        assert folders <= live  # no orphaned segment folder of the erased user
    assert _files_with(home, SECRET.encode()) == []  # closed
    with PSM(PSMSettings(home=home)) as psm:
        assert psm.users() == ["bob"]


# -- 9. reopening in one process ------------------------------------------------------------------
def test_reopen_after_another_process_wrote_sees_its_writes(home: Path) -> None:
    with PSM(PSMSettings(home=home)) as psm:
        psm.for_user("alice").remember("written by the parent")
    done = _child(
        """
        import sys
        from psm_core import PSM
        with PSM.local(sys.argv[1]) as psm:
            m = psm.for_user("alice")
            m.remember("written by the child")
            psm.for_user("carol").remember("carol joined")
        """,
        str(home),
    )
    assert done.returncode == 0, done.stderr
    with PSM(PSMSettings(home=home)) as psm:
        texts = {r.text for r in psm.for_user("alice").records()}
        assert texts == {"written by the parent", "written by the child"}
        assert psm.users() == ["alice", "carol"]
        psm.for_user("alice").remember("and the parent again")


def test_a_closed_psm_refuses_calls_with_a_psm_error(home: Path) -> None:
    psm = PSM(PSMSettings(home=home))
    mem = psm.for_user("alice")
    psm.close()
    with pytest.raises(PSMError):
        mem.remember("too late")
    with pytest.raises(StoreError):
        psm.store.users()


def test_k_is_capped(psm: PSM) -> None:
    mem = psm.for_user("alice")
    mem.remember("I like tea.")
    with pytest.raises(InvalidInputError, match="k must be between 1 and 1000"):
        mem.recall("tea", k=10**6)
    assert len(mem.recall("tea", k=1000)) == 1


def test_compaction_zeroes_what_the_vector_index_wrote_from_spare_memory(home: Path) -> None:
    """Chroma's HNSW files hold room for more elements than they hold, written out as it was in memory:
    whatever text the process had handled could sit there. Compaction zeroes that room."""
    with PSM(PSMSettings(home=home)) as psm:
        for i in range(20):
            psm.for_user("bob").remember(f"Bob's note {i} about his bees")
    planted = []
    for data in (home / "chroma").glob("*/data_level0.bin"):
        blob = bytearray(data.read_bytes())
        blob[-200 : -200 + len(SECRET)] = SECRET.encode()  # what uninitialized memory may hold
        data.write_bytes(bytes(blob))
        planted.append(data)
    assert planted and _files_with(home, SECRET.encode())
    with PSM(PSMSettings(home=home)) as psm:
        assert psm.compact()["spare_bytes_zeroed"] > 0
        assert _files_with(home, SECRET.encode()) == []
        assert "bees" in psm.for_user("bob").recall("bees", k=1)[0].text
