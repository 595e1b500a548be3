"""Bad input is refused with typed errors; odd but valid input round-trips exactly."""

from __future__ import annotations

import pytest

from psm_core import EmptyTextError, InvalidInputError, InvalidUserIdError, NotFoundError, PSMError, TextTooLongError


@pytest.mark.parametrize("user_id", [None, "", "   ", "\t\n", "*", " * ", "%", 42, "a\x00b"])
def test_invalid_user_ids_are_refused(psm, user_id):
    with pytest.raises(InvalidUserIdError):
        psm.for_user(user_id)


@pytest.mark.parametrize(
    "user_id", ['o\'brien "quoted"', "$where", "`rm -rf`", "ユーザー🙂", "ｆｕｌｌwidth", "a\u200db", "user*", "50%"]
)
def test_unusual_user_ids_are_literal_and_isolated(psm, user_id):
    mem = psm.for_user(user_id)
    rec = mem.remember(f"secret of {user_id!r}")
    assert mem.get(rec.id).user_id == user_id
    assert mem.recall("secret").ids == [rec.id]
    assert user_id in psm.users()
    other = psm.for_user(user_id + "x")
    assert other.recall("secret").memories == []
    with pytest.raises(NotFoundError):
        other.get(rec.id)


@pytest.mark.parametrize("text", ["", "   ", "\x00\x00", "\u200b\ufeff", "\u200d"])
def test_empty_text_is_refused(psm, text):
    mem = psm.for_user("alice")
    with pytest.raises(EmptyTextError):
        mem.observe(text)
    with pytest.raises(EmptyTextError):
        mem.remember(text)
    with pytest.raises(EmptyTextError):
        mem.recall(text)


def test_non_string_text_is_refused(psm):
    with pytest.raises(InvalidInputError):
        psm.for_user("alice").observe(b"bytes")  # type: ignore[arg-type]


def test_too_long_text_writes_nothing(psm):
    mem = psm.for_user("alice")
    limit = psm.settings.max_text_bytes
    with pytest.raises(TextTooLongError) as err:
        mem.observe("é" * (limit // 2 + 1))
    assert err.value.limit == limit
    with pytest.raises(TextTooLongError):
        mem.observe_many(["fine text about apples", "x" * (limit + 1)])
    assert mem.stats().total == 0 and mem.sensory() == []  # all or nothing
    ok = mem.remember("y" * limit)
    assert len(mem.get(ok.id).text) == limit


def test_control_surrogates_and_zero_width_round_trip(psm):
    mem = psm.for_user("alice")
    rec = mem.remember("caf\x00e\u200b time\ud800 with 👨\u200d👩\u200d👧 family")
    assert rec.text == "cafe time\ufffd with 👨\u200d👩\u200d👧 family"
    assert mem.get(rec.id).text == rec.text
    assert mem.recall("family time").memories[0].text == rec.text
    exported = mem.export()
    assert "\\u0000" not in exported and "👨\u200d👩\u200d👧" in exported


def test_other_users_ids_are_not_found(psm):
    a, b = psm.for_user("alice"), psm.for_user("bob")
    rec = a.remember("Alice's passport number is 123")
    for call in (lambda: b.get(rec.id), lambda: b.update(rec.id, strength=0.1), lambda: b.forget(rec.id)):
        with pytest.raises(NotFoundError):
            call()
    assert a.get(rec.id).strength == rec.strength


@pytest.mark.parametrize(
    "kwargs",
    [{"k": 0}, {"k": -1}, {"k": "5"}, {"token_budget": 0}, {"tiers": ["nope"]}],
)
def test_bad_recall_arguments(psm, kwargs):
    with pytest.raises(InvalidInputError):
        psm.for_user("alice").recall("anything", **kwargs)


def test_bad_update_fields_and_values(psm):
    mem = psm.for_user("alice")
    rec = mem.remember("a fact")
    with pytest.raises(InvalidInputError):
        mem.update(rec.id, user_id="bob")
    with pytest.raises(InvalidInputError):
        mem.update(rec.id, strength=2.0)
    with pytest.raises(InvalidInputError):
        mem.update(rec.id, tier="working")
    with pytest.raises(InvalidInputError):
        mem.remember("x", tier="sensory")
    with pytest.raises(InvalidInputError):
        mem.observe("x", role="")


def test_naive_timestamps_are_refused(psm):
    from datetime import datetime

    with pytest.raises(InvalidInputError):
        psm.for_user("alice").observe("I went skiing", timestamp=datetime(2024, 1, 1))


def test_every_error_is_a_psm_error():
    for exc in (InvalidUserIdError(None), EmptyTextError(), TextTooLongError(2, 1), NotFoundError("x")):
        assert isinstance(exc, PSMError) and str(exc)
