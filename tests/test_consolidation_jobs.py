"""The durable job queue, the background worker and its triggers, the CLI, and the docs example."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import Status, Tier
from psm_core.cli import main
from psm_core.consolidation import Consolidator, JobQueue, Worker
from psm_core.consolidation.db import StateDB

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
RAMEN = ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "consolidation.md"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue(request, tmp_path):
    """The queue contract holds on both engines: SQLite (embedded) and a real PostgreSQL (tests/pgcluster.py)."""
    if request.param == "sqlite":
        db = StateDB(tmp_path / "state.sqlite3")
    else:
        from psm_core.coordination import connect

        db = StateDB(connect(request.getfixturevalue("pg_url")))
    yield JobQueue(db, lease_seconds=30, max_attempts=3, backoff_seconds=2, backoff_max_seconds=5)
    db.close()


def wait_for(cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_one_pending_job_per_user_leases_and_completion(queue):
    a = queue.enqueue("alice", "session_end")
    assert queue.enqueue("alice", "idle") == a and queue.pending() == 1
    b = queue.enqueue("bob")
    job = queue.lease("w1")
    assert job.job_id == a and job.state == "leased" and job.attempts == 1 and job.lease_owner == "w1"
    assert queue.lease("w2").job_id == b and queue.lease("w3") is None
    assert queue.heartbeat(a, "w1") and not queue.heartbeat(a, "w2")
    queue.complete(a, "w1", {"facts_created": 2})
    done = queue.get(a)
    assert done.state == "done" and done.result == {"facts_created": 2}
    assert queue.enqueue("alice") != a  # a new pending job once the last one is done


def test_expired_lease_is_delivered_again_and_the_old_owner_loses_it(queue):
    a = queue.enqueue("alice")
    assert queue.lease("w1", lease_seconds=0.05).job_id == a
    time.sleep(0.1)
    again = queue.lease("w2")
    assert again.job_id == a and again.attempts == 2 and again.lease_owner == "w2"
    queue.complete(a, "w1")  # the dead worker's late completion is ignored
    assert queue.get(a).state == "leased"
    queue.complete(a, "w2")
    assert queue.get(a).state == "done"


def test_failures_back_off_exponentially_then_fail(queue):
    a = queue.enqueue("alice")
    assert [queue.backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]
    queue.lease("w")
    t = time.time()
    assert queue.fail(a, "w", "StoreError: boom") == "queued"
    job = queue.get(a)
    assert job.error == "StoreError: boom" and job.not_before >= t + 2.0 - 0.01
    assert queue.lease("w") is None  # not due yet
    for _ in range(2):
        queue.db.execute("UPDATE jobs SET not_before=0 WHERE job_id=?", (a,))
        queue.lease("w")
        state = queue.fail(a, "w", "again")
    assert state == "failed" and queue.get(a).attempts == 3 and queue.pending() == 0


def test_enqueue_while_running_runs_again_after(queue):
    a = queue.enqueue("alice")
    queue.lease("w")
    assert queue.enqueue("alice", "session_end") == a  # new work arrived during the pass
    queue.complete(a, "w")
    job = queue.get(a)
    assert job.state == "queued" and job.attempts == 0


def test_worker_runs_the_pass_queued_by_end_session(pass_psm):
    mem = pass_psm.for_user("alice")
    with pass_psm.worker(poll_seconds=0.05, idle_minutes=60) as worker:
        for i, t in enumerate(RAMEN):
            mem.observe(t, session_id="s1", timestamp=T0 + timedelta(minutes=i))
        job = mem.end_session("s1")
        assert wait_for(lambda: pass_psm.consolidation.queue.get(job).state == "done")
        assert worker.processed == 1 and worker.running
    assert not worker.running
    assert pass_psm.consolidation.queue.get(job).result["facts_created"] == 1
    (fact,) = mem.records(Tier.SEMANTIC)
    assert fact.status is Status.ACTIVE and len(fact.provenance) == 2


def test_idle_users_are_queued_once(pass_psm):
    mem = pass_psm.for_user("alice")
    pass_psm.for_user("bob")  # loaded, nothing to consolidate
    for i, t in enumerate(RAMEN):
        mem.observe(t, session_id="s1", timestamp=T0 + timedelta(minutes=i))
    con = pass_psm.consolidation
    assert con.enqueue_idle(idle_seconds=3600) == []  # just written: not idle yet
    (job,) = con.enqueue_idle(idle_seconds=0)
    assert con.queue.get(job).reason == "idle" and con.queue.get(job).user_id == "alice"
    assert con.enqueue_idle(idle_seconds=0) == []  # already pending
    (rep,) = Worker(con, idle_minutes=0).run_once()
    assert rep.user_id == "alice" and rep.facts_created == 1
    assert con.enqueue_idle(idle_seconds=0) == []  # nothing unconsolidated any more


def test_a_failing_job_is_retried_with_backoff(pass_psm, monkeypatch):
    mem = pass_psm.for_user("alice")
    for i, t in enumerate(RAMEN):
        mem.observe(t, session_id="s1", timestamp=T0 + timedelta(minutes=i))
    con = pass_psm.consolidation
    real = Consolidator.consolidate
    calls = {"n": 0}

    def flaky(self, user_id, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk hiccup")
        return real(self, user_id, **kwargs)

    monkeypatch.setattr(Consolidator, "consolidate", flaky)
    worker = Worker(con, idle_minutes=60)
    job = mem.end_session("s1")
    assert worker.run_once() == [] and worker.failed == 1
    queued = con.queue.get(job)
    assert queued.state == "queued" and "disk hiccup" in queued.error and queued.not_before > time.time()
    con.db.execute("UPDATE jobs SET not_before=0 WHERE job_id=?", (job,))
    (rep,) = worker.run_once()
    assert rep.facts_created == 1 and con.queue.get(job).state == "done" and con.queue.get(job).attempts == 2


def test_cli_consolidate_review_resolve(home, capsys, monkeypatch):
    from psm_core import PSM, PSMSettings

    monkeypatch.setenv("PSM_SKILL", "baseline")

    with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False)) as psm:  # the pass's own conflicts
        mem = psm.for_user("alice")
        for d, texts in ((0, ["I drink coffee every morning.", "I drink coffee every morning, always a double espresso."]),
                         (30, ["I don't drink coffee every morning anymore.",
                               "I don't drink coffee every morning anymore, my doctor said so."])):  # fmt: skip
            for i, t in enumerate(texts):
                mem.observe(t, session_id=f"d{d}", timestamp=T0 + timedelta(days=d, minutes=i))
        psm.for_user("bob").observe("I adopted a beagle named Pixel.", timestamp=T0)
    assert main(["--home", str(home), "consolidate", "--all", "-q"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"alice\s+\|\s+4\s+\|\s+2\s+\|", out) and "(total)" in out
    assert "1 conflict(s) await review" in out
    assert main(["--home", str(home), "review", "--user", "alice"]) == 0
    cid = re.search(r"\b(c[0-9a-f]{31})\b", capsys.readouterr().out).group(1)
    assert main(["--home", str(home), "resolve", "--user", "alice", cid, "--keep", "new"]) == 0
    assert f"resolved {cid}: kept new" in capsys.readouterr().out
    assert main(["--home", str(home), "review", "--user", "alice"]) == 0
    assert "nothing to review" in capsys.readouterr().out
    assert main(["--home", str(home), "consolidate", "--user", "alice", "-q"]) == 0
    assert "0 changes" in capsys.readouterr().out
    assert main(["--home", str(home), "worker", "--once"]) == 0
    assert "no jobs due" in capsys.readouterr().out


def test_docs_example_runs(tmp_path, monkeypatch, capsys):
    text = DOCS.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.setenv("PSM_SKILL", "baseline")
    exec(compile(code, str(DOCS), "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out
    assert "facts_created" in out and "superseded" in out  # the old bike count is superseded, still reachable
