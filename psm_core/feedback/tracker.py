"""FeedbackTracker: which memories reached which LLM call, and how the user took the answer. Framework-free.

The adapters translate their framework's events into these calls (LangChain callbacks in
:mod:`langchain_psm.callbacks`, LlamaIndex instrumentation in :mod:`llamaindex_psm.feedback`):

```
offer(user, result, context)   an adapter recalled memories and renders them into the next prompt
started(run, prompt)           an LLM call starts: the newest offer shown in its prompt is logged for it
answered(run, answer)          the call ended with this answer (kept in process, never logged)
user_turn(user, text)          the user's next turn judges the answer: outcomes are logged
feedback(run, score)           an explicit rating of an LLM call
```
A conversation is a user and a session (any key that tells one user's conversations apart: a
thread id, a session id). Its states:

```
idle ──offer──▶ offered ──started──▶ sent ──answered──▶ answered ──user_turn──▶ idle (judged)
```
- *offered*: a recall waits for an LLM call whose prompt shows it (its rendered ``context``, or
  else every memory's text, quoted or as is); a newer offer replaces it, and it expires after ``ttl_s``.
- *sent*: the first call showing the offer logs the retrieval (``UserMemory.log_retrieval``, run id
  = the call's id); later calls showing the same offer share that retrieval. When one prompt shows
  the offers of several conversations, the newest offer gets the call.
- *answered*: the latest non-empty answer of the turn's calls waits for the user's next turn.
- ``user_turn`` ends the turn: each retrieval of the turn that got an answer is judged by the
  skill's correction signal (``is_correction(user_turn, answer)``) and
  :mod:`psm_core.feedback.attribution`; memory outcomes go to ``UserMemory.feedback``, a correction
  that blames no memory to the retrieval (``FeedbackLog.log_retrieval_outcome``). A turn without an
  answer (or a conversation in another state) judges nothing.

Only ids and outcomes are written. Texts and answers stay in process, bounded, and are dropped when
the user is erased. Once the PSM is closed the tracker logs nothing more. Thread-safe.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psm_core.errors import NotFoundError, PSMError
from psm_core.feedback.attribution import group_by_outcome, memory_outcomes
from psm_core.feedback.log import Outcome
from psm_core.recall import RecallResult
from psm_core.render import quote
from psm_core.stores.chroma import user_key

if TYPE_CHECKING:
    from psm_core.psm import PSM
    from psm_core.skill.base import MemorySkill

__all__ = ["FeedbackTracker", "Verdict"]

logger = logging.getLogger(__name__)

_MAX_CONVERSATIONS = 4096
_MAX_RUNS = 4096
_SEQ = itertools.count()  # offers are ordered across trackers: the newest shown in a prompt gets the call

_Key = tuple[str, str | None]


@dataclass(frozen=True)
class Verdict:
    """How the user's turn judged the previous answer: ids and outcomes only."""

    corrected: bool
    retrieval_ids: tuple[str, ...]
    memory_outcomes: dict[str, Outcome]
    """Memory id -> outcome logged for it (memories without an event left out)."""

    @property
    def outcome(self) -> Outcome:
        """``corrected``, else ``helpful`` when a memory helped, else ``neutral``."""
        if self.corrected:
            return Outcome.CORRECTED
        return Outcome.HELPFUL if Outcome.HELPFUL in self.memory_outcomes.values() else Outcome.NEUTRAL


@dataclass
class _Offer:
    key: _Key
    result: RecallResult
    context: str | None
    seq: int = field(default_factory=lambda: next(_SEQ))
    created: float = field(default_factory=time.monotonic)
    retrieval_id: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def shown_in(self, prompt: str) -> bool:
        if self.context is not None:
            return self.context in prompt
        return all(m.text in prompt or quote(m.text) in prompt for m in self.result.memories)


@dataclass
class _Sent:
    result: RecallResult
    answered: bool = False


@dataclass
class _Conversation:
    offer: _Offer | None = None
    sent: dict[str, _Sent] = field(default_factory=dict)  # retrieval id -> what it surfaced, this turn
    answer: str | None = None


class _EraseFanout:
    """One erase hook per PSM, forwarding to its live trackers (a hook per tracker would pile up in the PSM)."""

    def __init__(self) -> None:
        self.trackers: weakref.WeakSet[FeedbackTracker] = weakref.WeakSet()

    def __call__(self, user_id: str) -> None:
        for tracker in list(self.trackers):
            tracker._forget_user(user_id)


_FANOUTS: weakref.WeakKeyDictionary[PSM, _EraseFanout] = weakref.WeakKeyDictionary()
_FANOUTS_LOCK = threading.Lock()


def _on_erase(psm: PSM, tracker: FeedbackTracker) -> None:
    with _FANOUTS_LOCK:
        fanout = _FANOUTS.get(psm)
        if fanout is None:
            fanout = _FANOUTS[psm] = _EraseFanout()
            psm.add_erase_hook(fanout)
        fanout.trackers.add(tracker)


class FeedbackTracker:
    """Links offered memories to the LLM calls that received them and turns the user's next turn into feedback.

    ``skill``: whose ``is_correction`` judges (default: the PSM's skill at judging time); ``source``:
    the source of the outcomes logged; ``ttl_s``: how long an offer waits for its LLM call.
    """

    def __init__(self, psm: PSM, *, skill: MemorySkill | None = None, source: str = "api", ttl_s: float = 600.0) -> None:
        self.psm = psm
        self.skill = skill
        self.source = source
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._conversations: OrderedDict[_Key, _Conversation] = OrderedDict()
        self._runs: OrderedDict[str, tuple[_Key, str]] = OrderedDict()  # run id -> (conversation, retrieval id)
        _on_erase(psm, self)

    def __repr__(self) -> str:
        return f"FeedbackTracker(source={self.source!r}, conversations={len(self._conversations)})"

    @property
    def closed(self) -> bool:
        """Whether the PSM is closed (nothing more is logged)."""
        return self.psm.closed

    def _conversation(self, key: _Key) -> _Conversation:
        """The state of ``key``, created when missing (most recent last; the oldest dropped past the bound). Locked."""
        conv = self._conversations.get(key)
        if conv is None:
            conv = self._conversations[key] = _Conversation()
            while len(self._conversations) > _MAX_CONVERSATIONS:
                self._conversations.popitem(last=False)
        else:
            self._conversations.move_to_end(key)
        return conv

    def _forget_user(self, user_id: str) -> None:
        """Drop everything held in process about an erased user (memory texts, answers, run links)."""
        with self._lock:
            for key in [k for k in self._conversations if k[0] == user_id]:
                del self._conversations[key]
            for run_id in [r for r, (k, _) in self._runs.items() if k[0] == user_id]:
                del self._runs[run_id]

    # -- offers ---------------------------------------------------------------------------------------
    def offer(self, user_id: str, result: RecallResult, *, context: str | None = None, session_id: str | None = None) -> None:
        """``result``'s memories, rendered as ``context`` (None: each memory's own text), may go into the next LLM call."""
        if not result.memories or context == "":
            return
        with self._lock:
            self._conversation((user_id, session_id)).offer = _Offer((user_id, session_id), result, context)

    def offered_in(self, prompt: str) -> int | None:
        """The order of the newest live offer ``prompt`` shows (None: none), to pick among trackers."""
        offer = self._shown(prompt)
        return offer.seq if offer is not None else None

    def last_retrieval_id(self, user_id: str, *, session_id: str | None = None) -> str | None:
        """The retrieval id of the conversation's current offer once it reached an LLM call (None before)."""
        with self._lock:
            conv = self._conversations.get((user_id, session_id))
            return conv.offer.retrieval_id if conv is not None and conv.offer is not None else None

    def _shown(self, prompt: str) -> _Offer | None:
        now = time.monotonic()
        with self._lock:
            live = [c.offer for c in self._conversations.values() if c.offer is not None and now - c.offer.created <= self.ttl_s]
        shown = [o for o in live if o.shown_in(prompt)]
        return max(shown, key=lambda o: o.seq) if shown else None

    # -- LLM calls ------------------------------------------------------------------------------------
    def started(self, run_id: str, prompt: str) -> str | None:
        """An LLM call ``run_id`` starts with ``prompt``: log the newest offer it shows; returns the retrieval id."""
        if self.closed:
            return None
        offer = self._shown(prompt)
        if offer is None:
            return None
        user_id = offer.key[0]
        with offer.lock:  # the first call showing the offer logs it, later ones share the retrieval
            first = offer.retrieval_id is None
            if first:
                try:
                    offer.retrieval_id = self.psm.for_user(user_id).log_retrieval(offer.result, run_id=run_id)
                except PSMError as exc:  # e.g. the PSM closed or the user erased meanwhile
                    logger.warning("retrieval for LLM call %s not logged: %s", run_id, exc)
                    return None
            rid = offer.retrieval_id
        assert rid is not None
        with self._lock:
            conv = self._conversations.get(offer.key)
            if conv is None or conv.offer is not offer:  # the turn ended (or the user was erased) meanwhile
                return rid
            conv.sent.setdefault(rid, _Sent(offer.result))
            self._runs[run_id] = (offer.key, rid)
            while len(self._runs) > _MAX_RUNS:
                self._runs.popitem(last=False)
        if first:
            logger.debug("LLM call %s received %d memories of user %s", run_id, len(offer.result), user_key(user_id)[:8])
        return rid

    def answered(self, run_id: str, answer: str) -> None:
        """The LLM call ``run_id`` answered ``answer``: kept (in process) for the user's next turn when non-empty."""
        with self._lock:
            link = self._runs.get(run_id)
            conv = self._conversations.get(link[0]) if link is not None else None
            if link is None or conv is None or link[1] not in conv.sent:
                return
            conv.sent[link[1]].answered = True
            if answer.strip():
                conv.answer = answer

    # -- verdicts -------------------------------------------------------------------------------------
    def user_turn(self, user_id: str, text: str, *, session_id: str | None = None) -> Verdict | None:
        """Judge the conversation's previous answer by the user's new turn ``text`` (which starts a new turn).

        Returns the verdict written, or None when no answer awaited judgement (or nothing could be logged).
        """
        with self._lock:
            conv = self._conversations.get((user_id, session_id))
            if conv is None:
                return None
            sent, answer = conv.sent, conv.answer
            conv.offer, conv.sent, conv.answer = None, {}, None
        judged = {rid: s.result for rid, s in sent.items() if s.answered}
        if not judged or answer is None or not text.strip() or self.closed:
            return None
        try:
            return self._judge(user_id, judged, answer, text)
        except PSMError as exc:  # e.g. the user was erased meanwhile: feedback never breaks the chat
            logger.warning("user %s: feedback not recorded: %s", user_key(user_id)[:8], exc)
            return None

    def _judge(self, user_id: str, judged: dict[str, RecallResult], answer: str, text: str) -> Verdict:
        skill = self.skill if self.skill is not None else self.psm.skill
        corrected = skill.is_correction(text, answer).is_correction
        mem = self.psm.for_user(user_id)
        outcomes: dict[str, Outcome] = {}
        for rid, result in judged.items():
            per_memory = memory_outcomes(answer, result.query, result.memories, corrected=corrected, user_turn=text)
            groups = group_by_outcome(result.ids, per_memory)
            for outcome, ids in groups.items():
                mem.feedback(rid, outcome.value, memory_ids=ids, source=self.source)
                outcomes.update(dict.fromkeys(ids, outcome))
            if corrected and not groups:  # no surfaced memory carried what the user corrected
                self.psm.feedback_log.log_retrieval_outcome(user_id, rid, Outcome.CORRECTED, source=self.source)
        blamed = sum(o is Outcome.CORRECTED for o in outcomes.values())
        logger.info(
            "user %s: answer judged %s (%d retrievals, %d memories blamed)",
            user_key(user_id)[:8],
            "corrected" if corrected else "ok",
            len(judged),
            blamed,
        )
        return Verdict(corrected, tuple(judged), outcomes)

    def feedback(self, run_id: str, score: float | str, *, memory_ids: Sequence[str] | None = None) -> list[str]:
        """Record an explicit rating of the LLM call ``run_id``: a score in [-1, 1] or an outcome name.

        Applies to every retrieval logged under ``run_id`` (also by an earlier process). Returns the
        retrieval ids; :class:`~psm_core.errors.NotFoundError` when the call received no memories.
        """
        outcome, value = (score, None) if isinstance(score, str) else ("score", float(score))
        targets = self._targets(run_id)
        if not targets:
            raise NotFoundError(run_id)
        for uid, rid in targets:
            self.psm.for_user(uid).feedback(rid, outcome, score=value, memory_ids=memory_ids, source=self.source)
        return [rid for _, rid in targets]

    def _targets(self, run_id: str) -> list[tuple[str, str]]:
        with self._lock:
            link = self._runs.get(run_id)
        if link is not None:
            return [(link[0][0], link[1])]
        logged = self.psm.feedback_log.retrievals_for_run(run_id)
        if not logged:
            return []
        by_key = {user_key(u): u for u in self.psm.users()}
        return [(by_key[k], rid) for rid, k in logged if k in by_key]

    # -- async twins (the correction signal may run a model: off the event loop) -----------------------
    async def auser_turn(self, user_id: str, text: str, *, session_id: str | None = None) -> Verdict | None:
        return await asyncio.to_thread(self.user_turn, user_id, text, session_id=session_id)

    async def afeedback(self, run_id: str, score: float | str, *, memory_ids: Sequence[str] | None = None) -> list[str]:
        return await asyncio.to_thread(self.feedback, run_id, score, memory_ids=memory_ids)
