"""Latency: observe and recall for one user at growing store sizes, beside the raw floor.

``python -m benchmarks latency [--sizes 1000,10000,100000] [--ops 100] [--skill NAME]``

One user's store is filled with ``observe_many`` (in chunks of 2,000 turns, embeddings from the disk
cache) until the gate has stored ``size`` memories; the raw floor is a plain Chroma collection (same
settings: cosine HNSW, no embedding function) holding exactly the texts PSM stored, with the same
vectors. At each size, with the cache bypassed (every call pays the real embedder):

* observe: ``mem.observe(text)`` single calls vs ``embedder.embed([text])`` + ``collection.add`` of one item;
* recall:  ``mem.recall(query, k=10)`` single calls vs ``embedder.embed([query])`` + ``collection.query(10)``.

Every timed call uses a text or query never seen before by either side (so no embedder cache hit),
and PSM and the floor alternate call by call, so background load hits both alike. Texts: turns of
the LongMemEval haystacks (user turns, assistant paragraphs) and LoCoMo; queries: the questions.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.data import DEFAULT_LOCOMO, DEFAULT_LONGMEMEVAL, load_json, load_locomo
from benchmarks.metrics import percentile
from benchmarks.plots import latency_plot
from benchmarks.report import environment, fmt, md_table, progress
from benchmarks.summary import publish
from benchmarks.systems import open_chroma, timed

__all__ = ["add_arguments", "corpus", "run"]

CHUNK = 2000
START = datetime(2023, 1, 1, tzinfo=timezone.utc)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="1000,10000,100000", help="comma-separated store sizes (memories)")
    p.add_argument("--ops", type=int, default=100, help="timed calls per operation and size")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per operation and size")
    p.add_argument("--skill", default=None, help="PSM skill (default: the product default)")
    p.add_argument("--data", type=Path, default=DEFAULT_LONGMEMEVAL, help="LongMemEval file (texts and queries)")
    p.add_argument("--locomo", type=Path, default=DEFAULT_LOCOMO, help="LoCoMo file (more texts and queries)")
    p.add_argument("--out", default="latency", help="result file stem (default: latency)")


def corpus(lme_path: Path, locomo_path: Path | None) -> tuple[list[str], list[str]]:
    """(texts, queries): distinct turn-sized texts and distinct questions, in a fixed shuffled order."""
    texts: dict[str, None] = {}
    queries: dict[str, None] = {}
    for q in load_json(lme_path):
        queries[str(q["question"]).strip()] = None
        for session in q["haystack_sessions"]:
            for t in session:
                content = str(t.get("content") or "")
                parts = [content] if t.get("role") == "user" else content.split("\n")
                for part in parts:
                    part = part.strip()
                    if 20 <= len(part) <= 1000:
                        texts[part] = None
    if locomo_path is not None and locomo_path.exists():
        for conv in load_locomo(locomo_path):
            for q in conv.questions:
                queries[q.question.strip()] = None
            for turn in conv.turns:
                texts[turn.text] = None
    rng = random.Random(0)
    tl, ql = [t for t in texts if t not in queries], list(queries)
    rng.shuffle(tl)
    rng.shuffle(ql)
    return tl, ql


def _stream(texts: list[str]) -> Iterator[str]:
    yield from texts
    n = 0
    while True:  # the pool is exhausted: distinct variants of it
        n += 1
        for t in texts:
            yield f"{t} (#{n})"


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from benchmarks.cache import CachingEmbedder
    from psm_core import PSM, PSMSettings, Tier
    from psm_core.embeddings import load_embedder

    sizes = sorted(int(s) for s in str(args.sizes).split(",") if s.strip())
    texts, queries = corpus(args.data, args.locomo)
    per = args.ops + args.warmup
    need_q = 2 * per * len(sizes)
    if len(queries) < need_q:
        raise SystemExit(f"{len(queries)} distinct queries available, {need_q} needed: lower --ops or --sizes")
    probe, pool = texts[: 2 * per * len(sizes)], texts[2 * per * len(sizes) :]
    bulk = _stream(pool)
    emb = CachingEmbedder(load_embedder())
    clock = iter(START + timedelta(minutes=i) for i in range(10**9))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="psm-latency-") as tmp:
        overrides: dict[str, Any] = {"home": Path(tmp) / "psm"}
        if args.skill:
            overrides["skill"] = args.skill
        with PSM(PSMSettings(**overrides), embedder=emb) as psm:
            mem = psm.for_user("latency-user")
            client = open_chroma(Path(tmp) / "raw")
            col = client.create_collection("raw_floor", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
            stored = 0
            for n_size, size in enumerate(sizes):
                bar = progress(total=size, initial=stored, desc=f"loading {size}", unit="mem")
                while stored < size:
                    chunk = [next(bulk) for _ in range(min(CHUNK, int((size - stored) * 1.05) + 10))]
                    events = [
                        {"text": t, "role": "user", "session_id": f"s{i // 20}", "timestamp": next(clock)}
                        for i, t in enumerate(chunk)
                    ]
                    recs = mem.observe_many(events)
                    # each stored turn once (a restated turn returns the episode it repeats)
                    kept = list({r.id: r for r in recs if r.tier is Tier.EPISODIC}.values())
                    if kept:
                        vecs = emb.embed([r.text for r in kept])
                        col.add(ids=[r.id for r in kept], embeddings=vecs, documents=[r.text for r in kept],
                                metadatas=[{"role": r.role, "session_id": r.session_id or "", "ts": r.observed_at.timestamp()}
                                           for r in kept])  # fmt: skip
                    stored += len(kept)
                    bar.update(len(kept))
                bar.close()
                lo = 2 * per * n_size
                texts_psm, texts_raw = probe[lo : lo + per], probe[lo + per : lo + 2 * per]
                q_psm, q_raw = queries[lo : lo + per], queries[lo + per : lo + 2 * per]
                row = _measure(args, mem, col, emb, clock, texts_psm, texts_raw, q_psm, q_raw)
                row["psm_reload_ms"] = _reload_ms(mem, q_psm[0])
                tiers = mem.stats().tiers  # turns stored (episodes) beside the raw store's; facts formed from them apart
                row.update(size=size, psm_records=tiers["episodic"] + tiers["archival"], psm_facts=tiers["semantic"],
                           raw_records=col.count())  # fmt: skip
                stored = row["psm_records"]
                rows.append(row)
            skill = psm.skill.name
    return _finish(args, command, rows, skill)


def _measure(
    args: argparse.Namespace, mem: Any, col: Any, emb: Any, clock: Iterator[datetime],
    texts_psm: list[str], texts_raw: list[str], q_psm: list[str], q_raw: list[str],
) -> dict[str, Any]:  # fmt: skip
    base = emb.base
    t: dict[str, list[float]] = {"psm_observe": [], "raw_observe": [], "psm_recall": [], "raw_recall": []}
    kept: list[bool] = []

    def raw_add(text: str) -> None:
        v = base.embed([text])
        ts = next(clock)
        col.add(ids=[f"raw-{ts.timestamp()}"], embeddings=v, documents=[text],
                metadatas=[{"role": "user", "session_id": "live", "ts": ts.timestamp()}])  # fmt: skip

    def raw_query(q: str) -> None:
        col.query(query_embeddings=base.embed([q]), n_results=10, include=["documents", "metadatas", "distances"])

    with emb.bypass():
        for i in range(len(texts_psm)):
            timed_ = i >= args.warmup
            pairs = [("psm_observe", lambda i=i: mem.observe(texts_psm[i], session_id="live", timestamp=next(clock))),
                     ("raw_observe", lambda i=i: raw_add(texts_raw[i]))]  # fmt: skip
            for name, fn in pairs if i % 2 == 0 else pairs[::-1]:
                out, ms = timed(fn)
                if timed_:
                    t[name].append(ms)
                    if name == "psm_observe":
                        kept.append(out.tier.value == "episodic")
        for i in range(len(q_psm)):
            timed_ = i >= args.warmup
            pairs = [("psm_recall", lambda i=i: mem.recall(q_psm[i], k=10)), ("raw_recall", lambda i=i: raw_query(q_raw[i]))]
            for name, fn in pairs if i % 2 == 0 else pairs[::-1]:
                _, ms = timed(fn)
                if timed_:
                    t[name].append(ms)
    row: dict[str, Any] = {"observe_kept_fraction": sum(kept) / max(1, len(kept))}
    for name, vals in t.items():
        row[name] = {"p50": percentile(vals, 50), "p95": percentile(vals, 95), "n": len(vals)}
    kept_ms = [ms for ms, k in zip(t["psm_observe"], kept) if k]
    row["psm_observe_kept_p50"] = percentile(kept_ms, 50)
    return row


def _reload_ms(mem: Any, query: str, repeats: int = 3) -> float:
    """Median ms of ``mem.refresh()`` (the user's in-process index dropped and rebuilt from the store:
    records, vectors, BM25) plus one recall: what a user's first recall costs in a new process."""

    def once() -> None:
        mem.refresh()
        mem.recall(query, k=10, touch=False)

    return percentile([timed(once)[1] for _ in range(repeats)], 50)


def _finish(args: argparse.Namespace, command: str, rows: list[dict[str, Any]], skill: str) -> dict[str, Any]:
    heads = ["size", "PSM observe p50/p95", "raw observe p50/p95", "ratio", "PSM recall p50/p95", "raw recall p50/p95",
             "ratio", "records PSM/raw", "PSM reload + recall"]  # fmt: skip
    table = []
    for r in rows:
        table.append(
            [str(r["size"]), f"{fmt(r['psm_observe']['p50'], 1)} / {fmt(r['psm_observe']['p95'], 1)}",
             f"{fmt(r['raw_observe']['p50'], 1)} / {fmt(r['raw_observe']['p95'], 1)}",
             f"{r['psm_observe']['p50'] / r['raw_observe']['p50']:.2f}x",
             f"{fmt(r['psm_recall']['p50'], 1)} / {fmt(r['psm_recall']['p95'], 1)}",
             f"{fmt(r['raw_recall']['p50'], 1)} / {fmt(r['raw_recall']['p95'], 1)}",
             f"{r['psm_recall']['p50'] / r['raw_recall']['p50']:.2f}x", f"{r['psm_records']}/{r['raw_records']}",
             fmt(r.get("psm_reload_ms"), 0)]
        )  # fmt: skip
    first, last = rows[0], rows[-1]
    growth = {s: last[f"{s}_recall"]["p50"] / first[f"{s}_recall"]["p50"] for s in ("psm", "raw")}
    summary: dict[str, Any] = {
        "benchmark": "latency", "command": command, "data": f"{args.data} + {args.locomo}", "environment": environment(),
        "skill": skill, "ops": args.ops, "rows": rows, "recall_growth": {"from": first["size"], "to": last["size"], **growth},
    }  # fmt: skip
    kept = ", ".join(f"{r['observe_kept_fraction']:.0%}" for r in rows)
    kept_p50 = ", ".join(fmt(r["psm_observe_kept_p50"], 1) for r in rows)
    notes = (
        f"Times in ms, {args.ops} timed single calls per cell (after {args.warmup} warm-up calls), PSM and raw "
        f"alternating. Skill: {skill}. The gate kept {kept} of the timed observe texts; observe p50 of the kept "
        f"ones only: {kept_p50} ms. "
        f"Recall p50 growth {first['size']} -> {last['size']}: PSM {growth['psm']:.2f}x, raw {growth['raw']:.2f}x. "
        "PSM reload + recall: `mem.refresh()` (the user's in-process index dropped and rebuilt from Chroma: "
        "records, vectors, BM25) and one recall, median of 3: what a user's first recall costs in a new process "
        "(the raw floor has no index of its own to build)."
    )
    targets = []
    for r in rows:
        if r["size"] == 10000:
            p = r["psm_recall"]["p50"]
            targets.append(f"- recall p50 <= 50 ms at 10k: {p:.1f} ms -> {'met' if p <= 50 else 'NOT met'}")
    if last["size"] >= 100000 and first["size"] <= 1000:
        targets.append(
            f"- recall p50 growth 1k -> 100k < 2x: {growth['psm']:.2f}x -> {'met' if growth['psm'] < 2 else 'NOT met'}"
        )
    for r in rows:
        for op in ("observe", "recall"):
            ratio = r[f"psm_{op}"]["p50"] / r[f"raw_{op}"]["p50"]
            targets.append(f"- {op} p50 <= 1.5x raw floor at {r['size']}: {ratio:.2f}x -> {'met' if ratio <= 1.5 else 'NOT met'}")
    summary["targets"] = targets
    sizes = [r["size"] for r in rows]
    series = {f"{s} {op}": [r[f"{s}_{op}"]["p50"] for r in rows] for s in ("psm", "raw") for op in ("observe", "recall")}

    def plot(png: Path) -> None:
        latency_plot(png, "p50 latency vs store size (one user)", sizes, series)

    sections = [("Latency (ms)", md_table(heads, table) + "\n\n" + notes), ("Targets (issues 3 and 9)", "\n".join(targets))]
    publish("Latency", args, summary, None, sections, plot)
    return summary
