"""Process-level safety: the single-writer lock, durability under SIGKILL, and erasure on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from psm_core import PSM, PSMSettings, StoreLockedError

REPO = Path(__file__).resolve().parents[1]


def _child(code: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PSM_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_second_process_fails_fast_with_a_clear_error(home):
    with PSM(PSMSettings(home=home)) as psm:
        psm.for_user("alice").remember("held by the parent")
        child = _child(
            """
            from psm_core import PSM, StoreLockedError
            try:
                PSM.local()
            except StoreLockedError as exc:
                print("LOCKED", exc)
            """,
            home,
        )
        out, err = child.communicate(timeout=120)
        assert "LOCKED" in out and "locked by another process" in out, err
    # once closed, another opener succeeds
    with PSM(PSMSettings(home=home)) as psm:
        assert psm.for_user("alice").stats().total == 1


def test_same_process_second_open_shares_the_open_instance(home):
    with PSM(PSMSettings(home=home)) as first:
        first.for_user("alice").remember("written through the first open")
        with PSM.local(home) as second:  # issue 24 item 9: same process, same home: the same owner
            assert second is first
            assert second.for_user("alice").stats().total == 1
        assert not first.closed  # each open is matched by one close; the last one closes
        first.for_user("alice").remember("still open after the inner close")
    assert first.closed
    with pytest.raises(StoreLockedError, match="other settings"):
        with PSM(PSMSettings(home=home)):
            PSM(PSMSettings(home=home, skill="baseline"))


def test_acknowledged_writes_survive_sigkill(home):
    child = _child(
        """
        import sys
        from psm_core import PSM
        psm = PSM.local()
        mem = psm.for_user("alice")
        for i in range(25):
            rec = mem.remember(f"durable fact number {i} about zebra{i}")
            print(rec.id, flush=True)
        recs = mem.observe_many([f"observed event {i}: I bought a kayak{i} in the harbour" for i in range(25)])
        for r in recs:
            print(r.id, flush=True)
        print("DONE", flush=True)
        sys.stdin.read()  # wait to be killed, never closing cleanly
        """,
        home,
    )
    acked = []
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "DONE":
            break
        acked.append(line.strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert len(acked) == 50
    with PSM(PSMSettings(home=home)) as psm:
        mem = psm.for_user("alice")
        for rid in acked:
            assert mem.get(rid).id == rid
        assert mem.recall("zebra7", k=1)[0].text == "durable fact number 7 about zebra7"
        assert mem.recall("kayak19", k=1)[0].text == "observed event 19: I bought a kayak19 in the harbour"


def _files_contain(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and needle in p.read_bytes():
            hits.append(p)
    return hits


def test_erased_canary_is_gone_from_disk(home):
    canary = "CANARY-7f3e9b1c-unique"
    with PSM(PSMSettings(home=home)) as psm:
        victim, other = psm.for_user("victim"), psm.for_user("other")
        victim.observe(f"my recovery code is {canary}", session_id="s")
        victim.remember(f"note: {canary}")
        res = victim.recall(canary)
        victim.feedback(res, "helpful")
        other.remember("other user's harmless note about tea")
        psm.flush()
        assert _files_contain(home, canary.encode())  # really written
        victim.erase()
        assert victim.recall(canary).memories == [] and canary not in victim.export()
        psm.compact()
        assert other.recall("tea", k=1)[0].text == "other user's harmless note about tea"
    assert _files_contain(home, canary.encode()) == []
    with PSM(PSMSettings(home=home)) as psm:
        assert psm.for_user("other").stats().total == 1
        assert psm.for_user("victim").stats().total == 0
        assert psm.users() == ["other"]
