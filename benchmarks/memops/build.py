"""Build the committed scenario files from the hand-written sources: ``python -m benchmarks.memops.build``.

Each hand-written statement pair (:mod:`benchmarks.memops.authored_train`, ``authored_test``) becomes one
conversation of two to four sessions days or weeks apart, its key statements placed among the split's
own filler (greetings, acknowledgements, questions and requests to the assistant, unrelated statements,
generic assistant replies). Some update and complement conversations also carry the probe question
itself, asked by the user in a middle session (the user's own question must not become the answer).
Deterministic: the random choices are seeded by each scenario's id, so a rebuild gives the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.memops import authored_test, authored_train
from benchmarks.memops.authoring import Pools
from benchmarks.memops.scenarios import SCENARIO_DIR, Scenario, validate

__all__ = ["build", "build_split", "main"]

EPOCH = datetime(2023, 1, 2, tzinfo=timezone.utc)
ASK_PROBE_RATE = 0.3  # update/complement conversations where the user also asks the probe question


class _Conversation:
    def __init__(self, sid: str, rng: random.Random, pools: Pools) -> None:
        self.sid = sid
        self.rng = rng
        self.pools = pools
        self.turns: list[dict[str, Any]] = []
        self.session = 0
        self.clock = EPOCH + timedelta(days=rng.randrange(0, 540))
        self.used: set[str] = set()

    def new_session(self, gap_days: int) -> None:
        self.session += 1
        day = (self.clock + timedelta(days=gap_days)).replace(hour=0, minute=0, second=0)
        self.clock = day + timedelta(hours=self.rng.randrange(8, 21), minutes=self.rng.randrange(0, 60))

    def add(self, text: str, label: str, role: str = "user") -> int:
        self.clock += timedelta(minutes=self.rng.randrange(1, 4), seconds=self.rng.randrange(0, 60))
        self.turns.append({"session": f"{self.sid}-s{self.session}", "time": self.clock.isoformat(), "role": role,
                           "text": text, "label": label})  # fmt: skip
        return len(self.turns) - 1

    def pick(self, pool: Sequence[str]) -> str:
        """A turn of ``pool`` not yet used in this conversation (any, once all are used)."""
        fresh = [x for x in pool if x not in self.used]
        got = self.rng.choice(fresh or list(pool))
        self.used.add(got)
        return got

    def reply(self, pool: Sequence[str], p: float = 1.0) -> None:
        if self.rng.random() < p:
            self.add(self.rng.choice(pool), "reply", role="assistant")

    def greeting(self, p: float = 0.7) -> None:
        if self.rng.random() < p:
            self.add(self.pick(self.pools.greetings), "noise")

    def ack(self, p: float = 0.6) -> None:
        if self.rng.random() < p:
            self.add(self.pick(self.pools.acks), "noise")

    def ask(self, text: str, p: float = 1.0) -> None:
        """A question or request to the assistant (noise), answered with probability ``p``."""
        self.add(text, "noise")
        self.reply(self.pools.answers, p)

    def filler(self, lo: int, hi: int) -> None:
        for _ in range(self.rng.randint(lo, hi)):
            if self.rng.random() < 0.6:
                self.ask(self.pick(self.pools.requests), 0.7)
            else:
                self.add(self.pick(self.pools.distractors), "distractor")
                self.reply(self.pools.reactions, 0.3)

    def statement(self, text: str, label: str, p: float = 0.6) -> int:
        i = self.add(text, label)
        self.reply(self.pools.reactions, p)
        return i

    def gap(self) -> int:
        return self.rng.choice((1, 2, 3, 5, 7, 10, 14, 21, 30, 45))


def _two_sessions(c: _Conversation, first: str, second: str, label: str, probe: str | None) -> tuple[int, int]:
    """``first`` in the first session, ``second`` in the last; an optional middle session (asking ``probe``)."""
    c.new_session(0)
    c.greeting(1.0)
    c.filler(1, 2)
    a = c.statement(first, "old" if label == "pair" else "statement")
    c.filler(0, 1)
    c.ack()
    if c.rng.random() < 0.6 or probe:
        c.new_session(c.gap())
        c.greeting()
        c.filler(1, 2)
        if probe:
            c.ask(probe)
        c.ack()
    c.new_session(c.gap())
    c.greeting(0.5)
    c.filler(0, 2)
    b = c.statement(second, "new" if label == "pair" else "statement")
    c.filler(1, 2)
    return a, b


def _scenario(src: dict[str, Any], sid: str, split: str, pools: Pools) -> dict[str, Any]:
    rng = random.Random(zlib.crc32(sid.encode()))
    c = _Conversation(sid, rng, pools)
    kind = src["type"]
    if kind in ("update", "complement"):
        ask = src["probe"] if rng.random() < ASK_PROBE_RATE else None
        _two_sessions(c, src["old"], src["new"], "pair", ask)
    elif kind == "never":
        _two_sessions(c, src["statements"][0], src["statements"][1], "single", None)
    elif kind == "correction":
        c.new_session(0)
        c.greeting(1.0)
        c.filler(1, 2)
        c.statement(src["old"], "old", 0.8)
        c.filler(0, 1)
        c.statement(src["new"], "new")
        c.filler(1, 2)
        c.ack(1.0)
        if rng.random() < 0.5:
            c.new_session(c.gap())
            c.greeting()
            c.filler(1, 3)
    elif kind == "restatement":
        for n, text in enumerate(src["statements"]):
            c.new_session(0 if n == 0 else c.gap())
            c.greeting(1.0 if n == 0 else 0.7)
            c.filler(0, 2)
            c.statement(text, "statement")
            c.filler(0, 1)
            c.ack()
    elif kind == "noise":
        first, *rest = src["asks"]
        c.new_session(0)
        c.greeting(1.0)
        c.ask(first)
        c.filler(1, 2)
        c.new_session(c.gap())
        c.filler(0, 1)
        c.statement(src["new"], "new")
        c.ack(1.0)
        c.new_session(c.gap())
        for ask in rest:
            c.ask(ask, 0.8)
        c.filler(1, 2)
    else:
        raise ValueError(f"unknown scenario type {kind!r}")
    turns = c.turns
    idx = {lab: [i for i, t in enumerate(turns) if t["label"] == lab] for lab in ("old", "new", "statement", "noise")}
    return {
        "id": sid, "split": split, "type": kind, "attribute": src["attribute"], "relation": src["relation"],
        "probe": src["probe"], "past_probe": src.get("past"),
        "new_values": src["new_v"], "old_values": src["old_v"],
        "old_turns": idx["old"], "new_turns": idx["new"], "statement_turns": idx["statement"], "noise_turns": idx["noise"],
        "probe_time": (datetime.fromisoformat(turns[-1]["time"]) + timedelta(hours=1)).isoformat(),
        "turns": turns,
    }  # fmt: skip


def build_split(split: str, sources: Sequence[dict[str, Any]], pools: Pools) -> list[dict[str, Any]]:
    """The scenarios of one split, ids ``<split>-<type>-<attribute>[-n]`` in source order."""
    out: list[dict[str, Any]] = []
    used: dict[str, int] = {}
    for src in sources:
        base = f"{split}-{src['type']}-{src['attribute']}"
        used[base] = used.get(base, 0) + 1
        sid = base if used[base] == 1 else f"{base}-{used[base]}"
        out.append(_scenario(src, sid, split, pools))
    return out


def build() -> dict[str, list[dict[str, Any]]]:
    """Both splits as JSON-ready dicts."""
    return {
        "train": build_split("train", authored_train.SCENARIOS, authored_train.POOLS),
        "test": build_split("test", authored_test.SCENARIOS, authored_test.POOLS),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memops.build", description=__doc__)
    p.add_argument("--out-dir", type=Path, default=SCENARIO_DIR)
    p.add_argument("--check", action="store_true", help="fail when the committed files differ from a rebuild")
    args = p.parse_args(argv)
    built = build()
    problems = validate([Scenario.from_json(s) for ss in built.values() for s in ss])
    if problems:
        raise SystemExit("invalid scenarios:\n" + "\n".join(problems))
    for split, scenarios in built.items():
        text = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in scenarios)
        path = args.out_dir / f"{split}.jsonl"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise SystemExit(f"{path} differs from a rebuild: run python -m benchmarks.memops.build")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {len(scenarios)} scenarios")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
