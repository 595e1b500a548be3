"""A throwaway PostgreSQL server for tests (fixtures ``postgres_server`` and ``pg_url``, imported by conftest.py).

``initdb`` a cluster in a temp dir, start it on 127.0.0.1 at a free port with trust auth, remove it
after the session. PostgreSQL refuses to run as root: under root the cluster belongs to ``nobody``
(or to a ``psmtest`` user this module creates). Binaries: ``PSM_TEST_PG_BIN``, ``pg_ctl`` on PATH, or
``/usr/lib/postgresql/<version>/bin``; without them (or without psycopg) the tests skip, saying why.
``PSM_TEST_DATABASE_URL`` uses an existing server instead. Each test gets its own schema (``pg_url``).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["pg_url", "postgres_server"]


def _bin_dir() -> Path | None:
    env = os.environ.get("PSM_TEST_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = shutil.which("pg_ctl")
    if found and (Path(found).parent / "initdb").exists():
        return Path(found).parent

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    dirs = sorted((p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()), key=version)
    return dirs[-1] if dirs else None


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: None when not root; ``nobody``, else a ``psmtest`` user made here."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", "psmtest"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "psmtest"], check=True)
    pw = pwd.getpwnam("psmtest")
    return pw.pw_uid, pw.pw_gid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One PostgreSQL cluster in a temp dir, as an unprivileged user when run as root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="psm-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.who = _unprivileged()
        if self.who is not None:
            os.chown(self.dir, *self.who)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kw: dict[str, object] = {}
        if self.who is not None:
            kw = {"user": self.who[0], "group": self.who[1], "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir), "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], env=env, cwd=self.dir, capture_output=True, text=True, timeout=timeout, **kw
        )  # type: ignore[call-overload]

    def start(self) -> None:
        init = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"
        )
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr[-2000:]}")
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB"
        )
        up = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o", opts, "start")
        if up.returncode:
            log = (self.dir / "server.log").read_text(errors="replace")[-2000:] if (self.dir / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {up.stderr[-1000:]} {log}")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server for this test session (a throwaway cluster, or ``PSM_TEST_DATABASE_URL``)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psm-memory[postgres]'")
    external = os.environ.get("PSM_TEST_DATABASE_URL")
    if external:
        yield external
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql, or set PSM_TEST_PG_BIN")
    cluster = Cluster(bin_dir)
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A database URL whose tables live in a fresh schema of their own, dropped after the test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_server else "?"
    try:
        yield f"{postgres_server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")
