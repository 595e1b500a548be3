"""The coordination database on both engines: SQLite (embedded) and a real PostgreSQL (tests/pgcluster.py).

Revisions with compare-and-set, job claims across real processes (no job twice, a SIGKILLed worker's
job delivered again), the review and feedback logs, and a whole PSM whose coordination state lives in
PostgreSQL while its memories stay in the embedded Chroma store.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from psm_core import PSM, MissingDependencyError, PSMSettings, Status, Tier
from psm_core.consolidation import ConsolidationConfig, JobQueue, ReviewLog, Worker
from psm_core.consolidation.db import StateDB
from psm_core.consolidation.jobs import LeaseLost
from psm_core.consolidation.plan import ConflictSpec
from psm_core.coordination import Database, connect
from psm_core.coordination.postgres import _pyformat, redact
from psm_core.feedback.log import FeedbackLog

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
COFFEE_OLD = ["I drink coffee every morning.", "I drink coffee every morning, always a double espresso."]
COFFEE_NEW = ["I don't drink coffee every morning anymore.", "I don't drink coffee every morning anymore, my doctor said so."]
RAMEN = ["I love spicy ramen, it is my favourite food.", "Spicy ramen is my favourite food, I love it."]
BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BOTH)
def state(request, tmp_path):
    db = StateDB(tmp_path / "state.sqlite3") if request.param == "sqlite" else StateDB(connect(request.getfixturevalue("pg_url")))
    yield db
    db.close()


def observe(mem, texts, day):
    for i, t in enumerate(texts):
        mem.observe(t, session_id=f"day{day}", timestamp=T0 + timedelta(days=day, minutes=i))


def run_script(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE, text=True, **kw)


# -- dialect and settings (no server needed) ---------------------------------------------------------
def test_placeholders_and_percent_signs_are_translated_for_psycopg():
    assert (
        _pyformat("SELECT a FROM t WHERE b=? AND c LIKE 'x%' AND d='?'")
        == "SELECT a FROM t WHERE b=%s AND c LIKE 'x%%' AND d='?'"
    )
    assert redact("postgresql://psm:secret@db:5432/psm") == "postgresql://psm:***@db:5432/psm"


def test_database_url_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("PSM_DATABASE_URL", "postgresql://psm@127.0.0.1:5432/psm")
    assert PSMSettings(home=tmp_path).database_url == "postgresql://psm@127.0.0.1:5432/psm"
    assert PSMSettings(home=tmp_path, database_url="").database_url is None
    with pytest.raises(ValidationError, match="postgresql://"):
        PSMSettings(home=tmp_path, database_url="mysql://x@y/z")


def test_a_missing_driver_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'psm-memory\[postgres\]'"):
        connect("postgresql://psm@127.0.0.1:1/psm")


def test_an_existing_sqlite_home_keeps_its_data(tmp_path):
    """A consolidation file written before the coordination layer opens with its rows (and gains the revisions table)."""
    path = tmp_path / "consolidation.sqlite3"
    old = StateDB(path)
    job = JobQueue(old).enqueue("alice")
    old.execute("DROP TABLE revisions")
    old.close()
    db = StateDB(path)
    try:
        assert JobQueue(db).get(job).state == "queued" and db.revision("k") == 0
    finally:
        db.close()
    with sqlite3.connect(path) as con:
        assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {"jobs", "revisions"}


# -- revisions and leases on both engines --------------------------------------------------------------
def test_revisions_bump_and_compare_and_set(state):
    assert state.revision("u1") == 0
    assert state.bump_revision("u1") == 1 and state.bump_revision("u1") == 2
    assert state.compare_and_bump("u1", 2) and state.revision("u1") == 3
    assert not state.compare_and_bump("u1", 2) and state.revision("u1") == 3  # a stale writer loses
    assert state.compare_and_bump("u2", 0) and not state.compare_and_bump("u2", 0)
    state.erase_user("u1")  # an erase is a change every process must see: the revision moves on
    assert state.revision("u1") == 4


@pytest.mark.postgres
def test_revision_bumps_from_many_connections_are_all_counted(pg_url):
    dbs = [Database(connect(pg_url)) for _ in range(4)]
    try:
        threads = [threading.Thread(target=lambda d=d: [d.bump_revision("u") for _ in range(25)]) for d in dbs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert dbs[0].revision("u") == 100
        wins = []
        barrier = threading.Barrier(4)

        def cas(d: Database) -> None:
            barrier.wait()
            wins.append(d.compare_and_bump("u", 100))

        threads = [threading.Thread(target=cas, args=(d,)) for d in dbs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False, False, False, True] and dbs[1].revision("u") == 101
    finally:
        for d in dbs:
            d.close()


def test_a_live_lease_is_kept_alive_and_a_lost_one_stops_the_pass(state):
    queue = JobQueue(state, lease_seconds=0.3)
    a = queue.enqueue("alice")
    assert queue.lease("w1").job_id == a
    with queue.keep_alive(a, "w1", every=0.05) as lease:
        time.sleep(0.6)
        assert queue.lease("w2") is None and not lease.lost  # twice the lease, still held
    time.sleep(0.4)
    assert queue.lease("w2").job_id == a  # no heartbeat: it expired and moved on
    with queue.keep_alive(a, "w1", every=0.02) as lease:
        time.sleep(0.2)
        assert lease.lost
        with pytest.raises(LeaseLost):
            lease.check()


def test_named_locks(state, tmp_path):
    with state.lock("pass:u"):
        pass
    if state.name == "postgresql":  # held across connections until released
        other = Database(connect(state.backend.url))
        try:
            got = []
            with state.lock("pass:u"):
                t = threading.Thread(target=lambda: other.lock("pass:u").__enter__() or got.append(time.time()))
                t.start()
                time.sleep(0.3)
                assert not got
                released = time.time()
            t.join(5)
            assert got and got[0] >= released
        finally:
            other.close()


# -- job claims across real processes ------------------------------------------------------------------
CLAIMER = r"""
import sys, time
from psm_core.consolidation.db import StateDB
from psm_core.consolidation.jobs import JobQueue
from psm_core.coordination import connect

url, owner, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
db = StateDB(connect(url))
queue = JobQueue(db, lease_seconds=60)
time.sleep(max(0.0, start_at - time.time()))
done = 0
while (job := queue.lease(owner)) is not None:
    db.execute("INSERT INTO claims (job_id, owner) VALUES (?, ?)", (job.job_id, owner))
    time.sleep(0.005)
    queue.complete(job.job_id, owner, {"by": owner})
    done += 1
print(done)
"""

DOOMED = r"""
import sys, time
from psm_core.consolidation.db import StateDB
from psm_core.consolidation.jobs import JobQueue
from psm_core.coordination import connect

queue = JobQueue(StateDB(connect(sys.argv[1])), lease_seconds=float(sys.argv[2]))
job = queue.lease("doomed")
print(job.job_id, flush=True)
time.sleep(600)
"""


@pytest.mark.postgres
def test_workers_in_several_processes_never_claim_the_same_job(pg_url):
    db = StateDB(connect(pg_url))
    try:
        queue = JobQueue(db)
        jobs = {queue.enqueue(f"user-{i}") for i in range(60)}
        db.execute("CREATE TABLE claims (job_id TEXT NOT NULL, owner TEXT NOT NULL)")
        start_at = str(time.time() + 2.5)
        procs = [run_script(CLAIMER, pg_url, f"w{i}", start_at) for i in range(4)]
        counts = [int(p.communicate(timeout=60)[0].strip() or -1) for p in procs]
        assert all(p.returncode == 0 for p in procs)
        claims = db.rows("SELECT job_id, owner FROM claims")
        assert sorted(j for j, _ in claims) == sorted(jobs)  # every job claimed, none twice
        assert sum(counts) == 60 and sum(c > 0 for c in counts) >= 2, counts  # they did race
        assert {j.job_id for j in queue.jobs(state="done")} == jobs and queue.pending() == 0
        assert all(queue.get(j).result == {"by": o} for j, o in claims)
    finally:
        db.close()


@pytest.mark.postgres
def test_a_killed_workers_job_is_delivered_again_after_its_lease_expires(pg_url):
    db = StateDB(connect(pg_url))
    try:
        queue = JobQueue(db)
        a = queue.enqueue("alice")
        proc = run_script(DOOMED, pg_url, "2.0")
        assert proc.stdout.readline().strip() == a
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert queue.get(a).lease_owner == "doomed" and queue.lease("w2") is None  # still leased
        deadline = time.time() + 15
        while (job := queue.lease("w2")) is None and time.time() < deadline:
            time.sleep(0.1)
        assert job is not None and job.job_id == a and job.attempts == 2 and job.lease_owner == "w2"
        queue.complete(a, "doomed")  # a late word from the dead owner changes nothing
        assert queue.get(a).state == "leased"
        queue.complete(a, "w2")
        assert queue.get(a).state == "done"
    finally:
        db.close()


# -- the review and feedback logs on PostgreSQL ----------------------------------------------------------
@pytest.mark.postgres
def test_review_log_round_trip(pg_url):
    db = StateDB(connect(pg_url))
    try:
        log = ReviewLog(db)
        specs = [ConflictSpec(conflict_id=f"c{i}", new_id=f"n{i}", old_id=f"o{i}", relation="contradiction", probability=0.9)
                 for i in range(3)]  # fmt: skip
        assert log.open("k", specs) == 3 and log.open("k", specs) == 0  # idempotent
        assert [r["conflict_id"] for r in log.rows("k", "open")] == ["c0", "c1", "c2"]
        assert log.mark_resolved("k", "c1", "new", "api") and not log.mark_resolved("k", "c1", "old", "api")
        assert log.get("k", "c1")["keep"] == "new" and [r["conflict_id"] for r in log.rows("k", "open")] == ["c0", "c2"]
        assert [(r["conflict_id"], r["keep"], r["source"]) for r in log.resolutions("k")] == [("c1", "new", "api")]
        db.erase_user("k")
        assert log.rows("k") == [] and log.resolutions("k") == []
    finally:
        db.close()


@pytest.mark.postgres
def test_feedback_log_round_trip(pg_url, home):
    with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False)) as psm:
        mem = psm.for_user("alice")
        observe(mem, ["I adopted a beagle named Pixel last month.", "I work as a nurse at the city hospital."], 0)
        res = mem.recall("tell me about her dog", k=2)
    log = FeedbackLog.for_settings(PSMSettings(home=home, database_url=pg_url))
    try:
        rid = log.log_retrieval("alice", res, skill="baseline+policy-v2", run_id="run-1")
        assert log.retrievals_for_run("run-1") == [(rid, mem.key)] and log.surfaced_ids(rid) == res.ids
        assert log.log_outcome("alice", rid, "helpful", memory_ids=[res.ids[0]]) == 1
        assert log.log_outcome("alice", rid, "corrected", memory_ids=[res.ids[1]]) == 1
        whole = log.log_retrieval_outcome("alice", rid, "corrected")
        assert whole > 0 and log.outcomes("alice")[-1]["outcome_id"] == whole
        assert log.counts() == {"retrievals": 1, "surfaced": 2, "outcomes": 3, "retrievals_with_outcomes": 1, "users": 1}
        pending = log.pending_effects("alice")
        assert [(m, v) for _, m, v in pending] == [(res.ids[0], 1.0), (res.ids[1], -1.0)]
        log.mark_applied([i for i, _, _ in pending])
        assert log.pending_effects("alice") == []
        view = log.training_view()
        assert [r["value"] for r in view] == [1.0, -1.0] and {r["policy_version"] for r in view} == {2}
        assert log.user_profile("alice") != log.user_profile("bob")
        log.erase_user("alice")
        assert log.counts()["retrievals"] == 0 and log.outcomes("alice") == []
        assert not (home / "feedback.sqlite3").exists()
    finally:
        log.close()


# -- a whole PSM with its coordination state in PostgreSQL -----------------------------------------------
@pytest.mark.postgres
def test_psm_consolidates_and_reviews_with_postgres(pg_url, home):
    settings = PSMSettings(home=home, skill="baseline", statement_facts=False, database_url=pg_url)
    with PSM(settings) as psm:
        mem = psm.for_user("alice")
        observe(mem, COFFEE_OLD, 0)
        observe(mem, COFFEE_NEW, 30)
        rep = psm.consolidate("alice")
        assert (rep.flagged, rep.conflicts) == (1, 1)
        (conflict,) = mem.review_queue()
        assert "don't" in conflict.new_text
        assert mem.resolve(conflict.conflict_id, keep="new").keep == "new" and mem.review_queue() == []
        assert mem.get(conflict.old_id).status is Status.SUPERSEDED
        db = psm.consolidation.db
        assert db.name == "postgresql" and db.one("SELECT passes FROM passes WHERE user_key=?", (mem.key,))["passes"] == 1
        assert [r["keep"] for r in psm.consolidation.resolutions("alice")] == ["new"]
        assert not (home / "consolidation.sqlite3").exists()
    with PSM(settings) as psm:  # another process (here: a later one) sees the same review log
        mem = psm.for_user("alice")
        assert len(mem.review_queue(include_resolved=True)) == 1
        rev = psm.consolidation.db.revision(mem.key)
        mem.erase()
        db = psm.consolidation.db
        assert all(not db.query(f"SELECT 1 FROM {t} WHERE user_key=?", (mem.key,)) for t in ("jobs", "passes", "conflicts"))
        assert db.revision(mem.key) > rev


KILL_MID_PASS = r"""
import os, signal, sys
from psm_core import PSM, PSMSettings
from psm_core.consolidation import ConsolidationConfig

home, url = sys.argv[1], sys.argv[2]
with PSM(PSMSettings(home=home, skill="baseline", statement_facts=False, database_url=url)) as psm:
    con = psm.configure_consolidation(ConsolidationConfig(lease_seconds=2.0))
    job = con.queue.lease("doomed")

    def hook(event):
        if event == "facts":
            os.kill(os.getpid(), signal.SIGKILL)

    con.consolidate(job.user_id, hook=hook)
sys.exit(3)
"""


@pytest.mark.postgres
def test_a_worker_killed_mid_pass_loses_nothing(pg_url, home):
    """SIGKILL a worker's pass after its facts step: the job comes back after the lease, another worker
    resumes the journaled plan, and the store ends as one uninterrupted pass leaves it."""
    settings = PSMSettings(home=home, skill="baseline", statement_facts=False, database_url=pg_url)
    with PSM(settings) as psm:
        mem = psm.for_user("alice")
        observe(mem, RAMEN, 0)
        observe(mem, COFFEE_OLD, 1)
        job = mem.end_session("day1")
    proc = run_script(KILL_MID_PASS, str(home), pg_url)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with PSM(settings) as psm:
        con = psm.configure_consolidation(ConsolidationConfig(lease_seconds=2.0))
        assert con.db.query("SELECT pass_id FROM journal")  # the plan survived the crash
        worker, reports, deadline = Worker(con, idle_minutes=1e6), [], time.time() + 20
        while not reports and time.time() < deadline:
            reports = worker.run_once()
            time.sleep(0.1)
        (rep,) = reports
        assert rep.resumed and con.queue.get(job).state == "done" and con.queue.get(job).attempts == 2
        assert con.db.query("SELECT 1 FROM journal") == []
        facts = psm.for_user("alice").records(Tier.SEMANTIC)
        assert len(facts) == 2 and len({f.text for f in facts}) == 2  # each planned fact once
        assert psm.consolidate("alice").changes()["facts_created"] == 0  # nothing left to do
