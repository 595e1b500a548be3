"""Candidate generation for recall: hybrid dense + BM25 hits, their session neighbours, and the
content-free evidence the memory skill weighs (similarities, ranks, neighbour relevance, speaker match).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from psm_core.index import _GENERIC_ROLES, UserIndex, searchable
from psm_core.lexical import tokenize
from psm_core.skill.base import Candidate
from psm_core.stores.buffers import WorkingItem
from psm_core.stores.chroma import ChromaStore
from psm_core.timeparse import query_window, temporal_match
from psm_core.types import PERSISTENT_TIERS, MemoryRecord, Status, Tier

__all__ = ["gather_candidates", "working_candidates"]

_WORD = re.compile(r"\w+")
EXPAND_TOP = 20  # neighbours of this many best hits join the pool


def _eligible(r: MemoryRecord, wanted: set[Tier], include_superseded: bool) -> bool:
    return r.tier in wanted and (include_superseded or r.status is not Status.SUPERSEDED) and searchable(r)


def speaker_matcher(query: str) -> tuple[set[str], str]:
    return set(_WORD.findall(query.lower())), query.lower()


def _speaker_match(role: str, words: set[str], lowered: str) -> bool:
    r = role.lower()
    if r in _GENERIC_ROLES or len(r) < 2:
        return False
    return r in words if " " not in r else r in lowered


def _related(idx: UserIndex, record: MemoryRecord) -> list[str]:
    """Turns whose evidence counts as "neighbouring": adjacent turns of an episode, and for a
    consolidated fact the episodes it came from and their adjacent turns."""
    if not record.provenance:
        return idx.neighbors(record)
    out: list[str] = []
    for pid in record.provenance:
        src = idx.records.get(pid)
        if src is not None:
            out.append(pid)
            out.extend(idx.neighbors(src))
    return list(dict.fromkeys(j for j in out if j != record.id))


def gather_candidates(
    idx: UserIndex,
    store: ChromaStore,
    key: str,
    query: str,
    qv: NDArray[np.float32],
    wanted: set[Tier],
    include_superseded: bool,
    n: int,
    now: datetime | None = None,
    lexical_share: float = 0.4,
    exact_max: int = 0,
) -> list[Candidate]:
    """Candidates from the persistent tiers of one user (caller holds ``idx.lock``).

    ``now`` is the user's time, for time expressions in the query (none are used without it).
    Dense hits come from an exact search over the held vectors while the user has at most
    ``exact_max`` records, from the store's ANN index (Chroma HNSW) beyond.
    """
    tiers = [t for t in PERSISTENT_TIERS if t in wanted and idx.count(t)]
    recs = idx.records
    # superseded records are left out before ranking, so they take no one's place: fetch that many more
    fetch = n + (0 if include_superseded else min(idx.superseded, 4 * n))
    if len(idx) <= exact_max:
        hits = idx.nearest(qv, tiers, fetch)
    else:
        hits = []
        for tier in tiers:
            hits.extend(store.query(key, tier, qv, min(fetch, idx.count(tier))))
        hits.sort(key=lambda h: -h[1])

    def ok(rid: str) -> bool:
        return rid in recs and _eligible(recs[rid], wanted, include_superseded)

    dense_rank = {rid: r for r, rid in enumerate([rid for rid, _ in hits if ok(rid)][:n])}
    lex_hits = [(rid, s) for rid, s in idx.bm25.search(query, fetch) if ok(rid)][:n]
    top_lex = lex_hits[0][1] if lex_hits else 1.0
    lex = {rid: (s / top_lex, r) for r, (rid, s) in enumerate(lex_hits)}
    base = list(dict.fromkeys([*dense_rank, *lex]))
    if not base:
        return []
    sims = dict(zip(base, idx.similarities(base, qv).tolist()))
    nbrs = {i: _related(idx, recs[i]) for i in base}
    prelim = sorted(base, key=lambda i: -((1 - lexical_share) * sims[i] + lexical_share * lex.get(i, (0.0, 0))[0]))
    pool = list(base)
    seen = set(base)
    for i in prelim[:EXPAND_TOP]:
        for j in nbrs[i]:
            if j not in seen and _eligible(recs[j], wanted, include_superseded):
                seen.add(j)
                pool.append(j)
                nbrs[j] = _related(idx, recs[j])
    need = list(dict.fromkeys(j for i in pool for j in nbrs[i] if j not in sims and j in recs))
    if need:
        sims.update(zip(need, idx.similarities(need, qv).tolist()))
    words, lowered = speaker_matcher(query)
    window = query_window(query, now) if now is not None else None
    blend = {i: (1 - lexical_share) * sims[i] + lexical_share * lex.get(i, (0.0, 0))[0] for i in pool}
    best: dict[str, list[float]] = {}  # per session: the two best blends, for "best other turn"
    for i in pool:
        sid = recs[i].session_id
        if sid is not None:
            top2 = best.setdefault(sid, [])
            top2.append(blend[i])
            top2.sort(reverse=True)
            del top2[2:]
    out = []
    for i in pool:
        near = nbrs[i]
        lx = lex.get(i)
        sid = recs[i].session_id
        top2 = best.get(sid, []) if sid is not None else []
        if not top2:
            other = 0.0
        elif top2[0] != blend[i]:
            other = top2[0]  # another turn of this session scores best
        else:
            other = top2[1] if len(top2) > 1 else 0.0
        out.append(
            Candidate(
                record=recs[i],
                similarity=sims[i],
                lexical=lx[0] if lx else 0.0,
                dense_rank=dense_rank.get(i),
                lexical_rank=lx[1] if lx else None,
                neighbor_similarity=max((sims[j] for j in near if j in sims), default=0.0),
                neighbor_lexical=max((lex[j][0] for j in near if j in lex), default=0.0),
                speaker_match=_speaker_match(recs[i].role, words, lowered),
                session_relevance=other,
                temporal_match=temporal_match(recs[i].observed_at, window),
                sentence_similarity=idx.sentence_similarity(i, qv),
            )
        )
    return out


def working_candidates(items: Iterable[WorkingItem], query: str, qv: NDArray[np.float32], seen: set[str]) -> list[Candidate]:
    """Candidates from working memory (turns the gate did not keep), scored by brute force."""
    from psm_core.index import retrieval_text

    pool = [it for it in items if it.record.id not in seen and it.record.tier is Tier.WORKING]
    if not pool:
        return []
    sims = np.stack([it.vector for it in pool]) @ qv
    qt = set(tokenize(query))
    words, lowered = speaker_matcher(query)
    out = []
    for it, s in zip(pool, sims):
        toks = set(tokenize(retrieval_text(it.record)))
        out.append(
            Candidate(
                record=it.record,
                similarity=float(s),
                lexical=len(qt & toks) / max(1, len(qt)),
                speaker_match=_speaker_match(it.record.role, words, lowered),
            )
        )
    return out
