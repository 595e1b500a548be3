"""Adapter overhead: per-turn time of each framework adapter beside the direct psm_core calls it wraps.

``python -m benchmarks adapter_overhead [--data PATH] [--sections langchain] [--prefill N] [--turns N]``

A LoCoMo conversation is replayed as a chat (one speaker is the user, the other the assistant).
For every comparison two users get the same ``--prefill`` turns; then each measured turn runs the
direct psm_core calls on one user and the adapter on the other, alternating which goes first, and
the per-turn difference is recorded. The target: an adapter adds <= 5 ms per turn (median).

Sections are pluggable: a section is ``fn(ctx: Context) -> list[Row]`` registered in ``SECTIONS``
(``langchain`` here; other frameworks add theirs). Each section writes
``benchmarks/results/adapter_overhead_<section>.{json,md}`` with the exact command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from benchmarks.data import DEFAULT_LOCOMO, load_locomo
from psm_core import PSM, PSMSettings, UserMemory
from psm_core.lexical import tokenize

__all__ = ["Context", "Row", "SECTIONS", "main", "measure"]

TARGET_MS = 5.0
RESULTS = Path(__file__).resolve().parent / "results"


class CoreTimer:
    """Accumulates the time spent inside psm_core calls (outermost calls only) of instrumented objects."""

    def __init__(self) -> None:
        self.total_ms = 0.0
        self._depth = 0

    def wrap(self, obj: Any, names: Sequence[str]) -> None:
        for name in names:
            setattr(obj, name, self._timed(getattr(obj, name)))

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.total_ms += (time.perf_counter() - t0) * 1000.0

        return timed


CORE_METHODS = ("recall", "observe_many", "working", "records", "log_retrieval", "feedback", "forget", "get")


@dataclass
class Context:
    """What a section gets: two PSMs (direct side, adapter side: separate stores and embedder caches,
    so neither side warms the other), the chat turns (user text, assistant text) and a timer of the
    psm_core calls made on the adapter side."""

    direct_psm: PSM
    adapter_psm: PSM
    prefill: list[tuple[str, str]]
    turns: list[tuple[str, str]]
    core: CoreTimer = field(default_factory=CoreTimer)

    def users(self, name: str) -> tuple[UserMemory, UserMemory]:
        """(direct, adapter) users with the same prefilled history; the adapter side is instrumented."""
        events = [
            {"text": text, "role": role, "session_id": f"pre-{i // 20}"}
            for i, (user, bot) in enumerate(self.prefill)
            for text, role in ((user, "user"), (bot, "assistant"))
        ]
        direct, adapter = self.direct_psm.for_user(name), self.adapter_psm.for_user(name)
        for mem in (direct, adapter):
            mem.observe_many(events)
        self.core.wrap(adapter, CORE_METHODS)
        return direct, adapter


@dataclass
class Row:
    section: str
    name: str
    direct: str
    adapter: str
    direct_ms: list[float] = field(default_factory=list)
    adapter_ms: list[float] = field(default_factory=list)
    adapter_core_ms: list[float] = field(default_factory=list)

    @property
    def diffs(self) -> list[float]:
        return [a - d for d, a in zip(self.direct_ms, self.adapter_ms)]

    def summary(self) -> dict[str, Any]:
        med = statistics.median
        diffs = self.diffs
        selfs = [a - c for a, c in zip(self.adapter_ms, self.adapter_core_ms)]
        ci = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("inf")
        return {
            "section": self.section,
            "name": self.name,
            "direct": self.direct,
            "adapter": self.adapter,
            "turns": len(diffs),
            "direct_ms_median": round(med(self.direct_ms), 3),
            "adapter_ms_median": round(med(self.adapter_ms), 3),
            "overhead_ms_median": round(med(diffs), 3),
            "overhead_ms_mean": round(statistics.fmean(diffs), 3),
            "overhead_ms_p90": round(sorted(diffs)[int(0.9 * (len(diffs) - 1))], 3),
            "overhead_ms_mean_ci95": [round(statistics.fmean(diffs) - ci, 3), round(statistics.fmean(diffs) + ci, 3)],
            "adapter_self_ms_median": round(med(selfs), 3),
            "adapter_self_ms_p90": round(sorted(selfs)[int(0.9 * (len(selfs) - 1))], 3),
            # the adapter's own time is under the target, and the end-to-end difference is not above it
            "within_target": med(selfs) <= TARGET_MS and statistics.fmean(diffs) - ci <= TARGET_MS,
        }


def measure(
    ctx: Context,
    row: Row,
    direct: Callable[[int, str, str], Any],
    adapter: Callable[[int, str, str], Any],
) -> Row:
    """Time ``direct(i, user, bot)`` and ``adapter(i, user, bot)`` on every turn, alternating the order;
    also the adapter's time inside psm_core calls (so its self time = total - core)."""
    for i, (user, bot) in enumerate(ctx.turns):
        sides = (("direct", direct), ("adapter", adapter))
        for side, fn in sides if i % 2 == 0 else sides[::-1]:
            core0 = ctx.core.total_ms
            t0 = time.perf_counter()
            fn(i, user, bot)
            elapsed = (time.perf_counter() - t0) * 1000.0
            if side == "direct":
                row.direct_ms.append(elapsed)
            else:
                row.adapter_ms.append(elapsed)
                row.adapter_core_ms.append(ctx.core.total_ms - core0)
    return row


# -- langchain ---------------------------------------------------------------------------------------
def langchain_section(ctx: Context) -> list[Row]:
    from uuid import UUID

    from langchain.agents.middleware import ModelRequest, ModelResponse
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    from langchain_psm import PSMChatMessageHistory, PSMFeedbackCallbackHandler, PSMMemory, PSMMemoryMiddleware, PSMRetriever

    psm, rows = ctx.adapter_psm, []
    ctx.core.wrap(psm.skill, ["is_correction"])

    # PSMMemory: load_memory_variables + save_context  vs  recall + working window + format + observe_many
    d_mem, a_mem = ctx.users("memory")
    memory = PSMMemory(psm=psm, user_id=a_mem.user_id, session_id="live")

    def mem_direct(i: int, user: str, bot: str) -> None:
        recent = d_mem.working("live")[-6:]
        res = d_mem.recall(user, k=8 + len(recent), token_budget=1000)
        _ = res.format_context() + "\n".join(r.text for r in recent)
        d_mem.observe_many(
            [{"text": user, "role": "user", "session_id": "live"}, {"text": bot, "role": "assistant", "session_id": "live"}]
        )

    def mem_adapter(i: int, user: str, bot: str) -> None:
        memory.load_memory_variables({"input": user})
        memory.save_context({"input": user}, {"response": bot})

    rows.append(
        measure(
            ctx,
            Row("langchain", "PSMMemory (classic chain turn)", "recall + working + format + observe_many", "load_memory_variables + save_context"),
            mem_direct, mem_adapter,
        )
    )  # fmt: skip

    # PSMMemoryMiddleware: wrap_model_call + after_model  vs  recall + format + observe_many
    d_mw, a_mw = ctx.users("middleware")
    middleware = PSMMemoryMiddleware(psm, user_id=a_mw.user_id)
    model = FakeListChatModel(responses=["unused"])

    def mw_direct(i: int, user: str, bot: str) -> None:
        res = d_mw.recall(user, k=5 + 1, token_budget=800)
        _ = SystemMessage(content="You are helpful.\n\n" + res.format_context())
        d_mw.observe_many(
            [{"text": user, "role": "user", "session_id": None}, {"text": bot, "role": "assistant", "session_id": None}]
        )

    def mw_adapter(i: int, user: str, bot: str) -> None:
        messages: list[Any] = [HumanMessage(user)]
        state = cast(Any, {"messages": messages})
        request = ModelRequest(model=model, messages=messages, system_message=SystemMessage("You are helpful."), state=state)
        middleware.wrap_model_call(request, lambda req: ModelResponse(result=[AIMessage(bot)]))
        middleware.after_model(cast(Any, {"messages": [*messages, AIMessage(bot)]}), cast(Any, None))

    rows.append(
        measure(
            ctx,
            Row("langchain", "PSMMemoryMiddleware (agent turn)", "recall + format + observe_many", "wrap_model_call + after_model"),
            mw_direct, mw_adapter,
        )
    )  # fmt: skip

    # PSMRetriever.invoke  vs  recall
    d_ret, a_ret = ctx.users("retriever")
    retriever = PSMRetriever(psm=psm, user_id=a_ret.user_id, k=4)
    rows.append(
        measure(
            ctx,
            Row("langchain", "PSMRetriever (one query)", "recall(k=4)", "retriever.invoke"),
            lambda i, user, bot: d_ret.recall(user, k=4),
            lambda i, user, bot: retriever.invoke(user),
        )
    )

    # PSMChatMessageHistory: add_messages + messages  vs  observe_many + working + episodic of the session
    d_hist, a_hist = ctx.users("history")
    history = PSMChatMessageHistory(a_hist.user_id, "live", psm=psm)

    def hist_direct(i: int, user: str, bot: str) -> None:
        d_hist.observe_many(
            [{"text": user, "role": "user", "session_id": "live"}, {"text": bot, "role": "assistant", "session_id": "live"}]
        )
        _ = d_hist.working("live"), [r for r in d_hist.records("episodic") if r.session_id == "live"]

    def hist_adapter(i: int, user: str, bot: str) -> None:
        history.add_messages([HumanMessage(user), AIMessage(bot)])
        _ = history.messages

    rows.append(
        measure(
            ctx,
            Row("langchain", "PSMChatMessageHistory (one exchange)", "observe_many + working + session records", "add_messages + messages"),
            hist_direct, hist_adapter,
        )
    )  # fmt: skip

    # Feedback: handler (expect, LLM start/end, next user turn)  vs  log_retrieval + is_correction + feedback
    d_fb, a_fb = ctx.users("feedback")
    handler = PSMFeedbackCallbackHandler(psm)
    prev: dict[str, Any] = {}

    def fb_direct(i: int, user: str, bot: str) -> None:
        if "d" in prev:  # judge the previous answer as the handler does: correction, else used/unused
            rid, answer, res = prev.pop("d")
            if ctx.direct_psm.skill.is_correction(user, answer).is_correction:
                d_fb.feedback(rid, "corrected", source="langchain")
            else:
                words = set(tokenize(answer))
                used = [m.id for m in res.memories if (t := set(tokenize(m.text))) and len(t & words) / len(t) >= 0.5]
                if used:
                    d_fb.feedback(rid, "helpful", memory_ids=used, source="langchain")
                if len(used) < len(res.memories):
                    d_fb.feedback(rid, "neutral", memory_ids=[m.id for m in res.memories if m.id not in used], source="langchain")
        res = d_fb.recall(user, k=5)
        if res.memories:
            prev["d"] = (d_fb.log_retrieval(res, run_id=uuid.uuid4().hex), bot, res)

    def fb_adapter(i: int, user: str, bot: str) -> None:
        handler.user_turn(a_fb.user_id, user, session_id="live")
        res = a_fb.recall(user, k=5)
        handler.expect(a_fb.user_id, res, session_id="live")
        run_id = UUID(int=i + 1)
        messages = [[SystemMessage(res.format_context()), HumanMessage(user)]]
        handler.on_chat_model_start({}, messages, run_id=run_id)
        handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=AIMessage(bot))]]), run_id=run_id)

    rows.append(
        measure(
            ctx,
            Row("langchain", "PSMFeedbackCallbackHandler (turn incl. recall)", "recall + log_retrieval + is_correction + feedback", "user_turn + recall + expect + on_chat_model_start/on_llm_end"),
            fb_direct, fb_adapter,
        )
    )  # fmt: skip
    return rows


# -- llamaindex ---------------------------------------------------------------------------------------
def llamaindex_section(ctx: Context) -> list[Row]:
    import asyncio

    from llama_index.core.base.llms.types import ChatMessage, ChatResponse
    from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMChatStartEvent

    from llamaindex_psm import PSMMemory, PSMMemoryBlock, install_feedback_handler, used_memory_ids

    psm, rows = ctx.adapter_psm, []
    ctx.core.wrap(psm.skill, ["is_correction"])
    handler = install_feedback_handler()

    # PSMMemory turn with feedback: put(user) + get + LLM start/end events + put(assistant)
    #   vs  judge the previous answer + observe + recall + format + log_retrieval
    d_mem, a_mem = ctx.users("li-memory")
    memory = PSMMemory.from_defaults(psm=psm, user_id=a_mem.user_id, session_id="live")
    prev: dict[str, Any] = {}

    def mem_direct(i: int, user: str, bot: str) -> None:
        if "d" in prev:
            rid, answer, res = prev.pop("d")
            if ctx.direct_psm.skill.is_correction(user, answer).is_correction:
                d_mem.feedback(rid, "corrected", memory_ids=used_memory_ids(res, answer) or res.ids, source="llamaindex")
            else:
                used = used_memory_ids(res, answer)
                if used:
                    d_mem.feedback(rid, "helpful", memory_ids=used, source="llamaindex")
                if len(used) < len(res.ids):
                    d_mem.feedback(rid, "neutral", memory_ids=[m for m in res.ids if m not in used], source="llamaindex")
        d_mem.observe(user, session_id="live")
        res = d_mem.recall(user, k=16, token_budget=600)  # the adapter asks for k + the turns in its window
        _ = res.format_context()
        if res.memories:
            prev["d"] = (d_mem.log_retrieval(res, run_id=uuid.uuid4().hex), bot, res)

    def mem_adapter(i: int, user: str, bot: str) -> None:
        memory.put(ChatMessage(role="user", content=user))
        messages = memory.get()
        span = f"bench-{i}"
        handler.handle(LLMChatStartEvent(messages=messages, additional_kwargs={}, model_dict={}, span_id=span))
        answer = ChatMessage(role="assistant", content=bot)
        handler.handle(LLMChatEndEvent(messages=messages, response=ChatResponse(message=answer), span_id=span))
        memory.put(answer)

    rows.append(
        measure(
            ctx,
            Row("llamaindex", "PSMMemory (chat engine turn, feedback on)", "is_correction + feedback + observe + recall + format + log_retrieval", "put + get + LLM start/end events + put"),
            mem_direct, mem_adapter,
        )
    )  # fmt: skip

    # PSMMemoryBlock: aget (recall for the latest message) + aput (a flushed exchange)  vs  recall + format + observe_many
    d_blk, a_blk = ctx.users("li-block")
    block = PSMMemoryBlock(psm=psm, user_id=a_blk.user_id, feedback=False)
    loop = asyncio.new_event_loop()

    def blk_direct(i: int, user: str, bot: str) -> None:
        _ = d_blk.recall(user, k=8, token_budget=500).format_context()
        d_blk.observe_many([{"text": user, "role": "user", "session_id": "live"}])

    def blk_adapter(i: int, user: str, bot: str) -> None:
        loop.run_until_complete(block.aget([ChatMessage(role="user", content=user)], session_id="live"))
        loop.run_until_complete(
            block.aput([ChatMessage(role="user", content=user), ChatMessage(role="assistant", content=bot)], session_id="live")
        )

    try:
        rows.append(
            measure(
                ctx,
                Row("llamaindex", "PSMMemoryBlock (one request + one flush)", "recall + format + observe_many", "aget + aput"),
                blk_direct, blk_adapter,
            )
        )  # fmt: skip
    finally:
        loop.close()
    return rows


SECTIONS: dict[str, Callable[[Context], list[Row]]] = {"langchain": langchain_section, "llamaindex": llamaindex_section}


# -- driver ------------------------------------------------------------------------------------------
def chat_turns(path: Path) -> list[tuple[str, str]]:
    """(user, assistant) pairs from the first LoCoMo conversation, its first speaker as the user."""
    conv = load_locomo(path)[0]
    turns = conv.turns
    return [(turns[i].text, turns[i + 1].text) for i in range(0, len(turns) - 1, 2) if turns[i].text and turns[i + 1].text]


def render(rows: list[Row], command: str) -> str:
    lines = [
        f"# Adapter overhead ({rows[0].section})",
        "",
        f"Command: `{command}`",
        "",
        "Milliseconds per turn. direct / adapter: medians over the measured turns. end-to-end overhead: the",
        "per-turn difference adapter - direct (median, and mean with its 95% CI; store writes make it noisy).",
        "self: the adapter's own time per turn, outside the psm_core calls it makes (median / p90).",
        "Both sides have their own PSM (store and embedder); later rows re-ask queries that earlier rows embedded,",
        "so their recall is served from the embedder's query cache on both sides alike.",
        f"Target: the adapter adds <= {TARGET_MS:g} ms per turn (self median <= {TARGET_MS:g} and the end-to-end mean not above it).",
        "",
        "| adapter | direct psm_core calls | direct ms | adapter ms | end-to-end overhead ms: median, mean [95% CI] | self ms | <= 5 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r.summary()
        lo, hi = s["overhead_ms_mean_ci95"]
        lines.append(
            f"| {r.name}: {r.adapter} | {r.direct} | {s['direct_ms_median']:.2f} | {s['adapter_ms_median']:.2f} | "
            f"{s['overhead_ms_median']:+.2f}, {s['overhead_ms_mean']:+.2f} [{lo:+.2f}, {hi:+.2f}] | "
            f"{s['adapter_self_ms_median']:.2f} / {s['adapter_self_ms_p90']:.2f} | {'yes' if s['within_target'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks adapter_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_LOCOMO, help="LoCoMo JSON (official format)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {sorted(SECTIONS)}")
    parser.add_argument("--prefill", type=int, default=100, help="turns each user has before measuring")
    parser.add_argument("--turns", type=int, default=100, help="measured turns per comparison")
    parser.add_argument("--skill", default="baseline", help="PSM skill (same on both sides)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    command = " ".join(["python -m benchmarks adapter_overhead", *(shlex.quote(a) for a in argv)])
    pairs = chat_turns(args.data)
    if len(pairs) < args.prefill + args.turns:
        parser.error(f"{args.data} has {len(pairs)} exchanges in its first conversation; lower --prefill/--turns")
    prefill, turns = pairs[: args.prefill], pairs[args.prefill : args.prefill + args.turns]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="psm-overhead-") as home:
        direct_psm = PSM(PSMSettings(home=Path(home) / "direct", skill=args.skill))
        adapter_psm = PSM(PSMSettings(home=Path(home) / "adapter", skill=args.skill))
        ctx = Context(direct_psm=direct_psm, adapter_psm=adapter_psm, prefill=prefill, turns=turns)
        for p in (direct_psm, adapter_psm):
            p.for_user("warmup").recall(turns[0][0])  # load the embedder before timing
        for name in [s.strip() for s in args.sections.split(",") if s.strip()]:
            rows = SECTIONS[name](ctx)
            text = render(rows, command)
            print(text)
            summaries = [r.summary() for r in rows]
            payload = {
                "command": command,
                "data": str(args.data),
                "prefill": args.prefill,
                "turns": args.turns,
                "skill": args.skill,
                "rows": summaries,
            }
            (args.out_dir / f"adapter_overhead_{name}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            (args.out_dir / f"adapter_overhead_{name}.md").write_text(text, encoding="utf-8")
        direct_psm.close()
        adapter_psm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
