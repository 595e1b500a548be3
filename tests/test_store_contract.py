"""The same store contract against the embedded client and a real Chroma server on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from psm_core import PSM, ConfigurationError, NotFoundError, PSMSettings, Status, Tier

T0 = datetime(2024, 2, 1, 9, 0, tzinfo=timezone.utc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("chroma")
    if exe is None:
        pytest.skip("the chroma server binary (from the chromadb package) is not on PATH")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([exe, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def any_psm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PSM]:
    if request.param == "embedded":
        settings = PSMSettings(home=tmp_path / "home")
    else:
        url = request.getfixturevalue("chroma_server")
        settings = PSMSettings(home=tmp_path / "home", chroma_url=url)
    with PSM(settings) as psm:
        yield psm


def test_contract_write_read_recall(any_psm: PSM) -> None:
    mem = any_psm.for_user(f"u-{id(any_psm)}")
    recs = mem.observe_many(
        [{"text": t, "session_id": "s1", "timestamp": T0 + timedelta(minutes=i)} for i, t in enumerate(
            ["I grow tomatoes on my balcony.", "My cat Miso hates the vacuum cleaner.", "thanks!"])]
    )  # fmt: skip
    assert [r.tier for r in recs] == [Tier.EPISODIC, Tier.EPISODIC, Tier.WORKING]
    assert mem.recall("what pet?", k=1)[0].id == recs[1].id
    assert mem.get(recs[0].id).text == "I grow tomatoes on my balcony."
    upd = mem.update(recs[0].id, status=Status.FLAGGED, expected_version=1)
    assert upd.version == 2 and mem.get(recs[0].id).status is Status.FLAGGED
    mem.forget(recs[1].id)
    with pytest.raises(NotFoundError):
        mem.get(recs[1].id)
    fact = mem.remember("Gardening is the user's main hobby.", kind="preference")
    assert mem.recall("hobby", k=1, tiers=["semantic"]).ids == [fact.id]


def test_contract_isolation_and_erase(any_psm: PSM) -> None:
    a, b = any_psm.for_user(f"a-{id(any_psm)}"), any_psm.for_user(f"b-{id(any_psm)}")
    ra = a.remember("shared words: the blue umbrella story")
    rb = b.remember("shared words: the blue umbrella story")
    assert a.recall("blue umbrella", k=10).ids == [ra.id]
    assert b.recall("blue umbrella", k=10).ids == [rb.id]
    with pytest.raises(NotFoundError):
        a.get(rb.id)
    a.erase()
    assert a.recall("blue umbrella").memories == [] and b.recall("blue umbrella").ids == [rb.id]
    assert a.user_id not in any_psm.users() and b.user_id in any_psm.users()


def test_contract_persists_across_reopen(any_psm: PSM, tmp_path: Path) -> None:
    uid = f"p-{id(any_psm)}"
    rec = any_psm.for_user(uid).remember("The user's car is a green Fiat Panda.")
    settings = any_psm.settings
    any_psm.close()
    with PSM(settings) as again:
        mem = again.for_user(uid)
        assert mem.get(rec.id).text == rec.text
        assert mem.recall("what car", k=1).ids == [rec.id]


def test_contract_sentence_vectors(any_psm: PSM) -> None:
    from psm_core.stores.chroma import user_key

    uid = f"s-{id(any_psm)}"
    mem = any_psm.for_user(uid)
    keep, gone = mem.observe_many(
        [{"text": t, "session_id": "s1", "timestamp": T0 + timedelta(minutes=i)} for i, t in enumerate(
            ["Thanks! By the way, I adopted a greyhound called Pixel last week.", "I started running every morning."])]
    )  # fmt: skip
    assert any_psm.consolidate(uid).sentences_indexed == 2
    key = user_key(uid)
    assert set(any_psm.store.scan_sentences(key)) == {keep.id, gone.id}
    mem.forget(gone.id)
    assert set(any_psm.store.scan_sentences(key)) == {keep.id}
    mem.refresh()  # reloaded from the store: the vectors come back with their record
    assert set(mem._ensure_loaded().sentences) == {keep.id}
    mem.erase()
    assert any_psm.store.scan_sentences(key) == {}


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot open the Chroma store"):
        PSM(PSMSettings(home=tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}"))
