"""Pattern extraction for PSM-mini without a generator: cluster restatements, pick and tidy a canonical one.

1. Candidate links: episode pairs whose (retrieval) vectors have cosine ≥ ``candidate_cosine``.
2. The interference head judges each candidate pair on the plain texts; a pair is linked when it
   says *duplicate* with probability ≥ ``duplicate_probability`` (or the cosine is ≥ ``same_cosine``).
3. Connected components with at least ``min_support`` episodes become patterns. The canonical
   statement is the most central member (ties: the most important, then the latest); social
   openers and trailing questions are trimmed from it. Confidence grows with support and link strength.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from psm_core.index import speaker_line
from psm_core.skill.base import Pattern
from psm_core.types import Kind, MemoryRecord

__all__ = ["extract_patterns", "tidy_statement"]

_LEAD = re.compile(
    r"^\s*((hey|hi|hello|wow|oh|ooh|aww+|haha+|lol|yeah|yes|yep|well|so|anyway|ah|ok(ay)?|guess what|big news|fun fact|"
    r"thanks|thank you|cool|nice|great|awesome|oh,? by the way|by the way|speaking of which|honestly|funny you ask|"
    r"good question|not sure if i told you,? but)\b[^.!?,:]{0,20}[.!?,:]+\s*)+",
    re.I,
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_SOCIAL = re.compile(
    r"^\s*(how about you|what about you|what do you think|anyway,? how are you|crazy,? right|can't complain|"
    r"just wanted to share|it's been great|have you ever tried it|any advice|take care|talk soon|bye)\b",
    re.I,
)


def tidy_statement(text: str) -> str:
    """``text`` without leading greetings/interjections and trailing social questions (never empty)."""
    body = _LEAD.sub("", text).strip()
    parts = [s.strip() for s in _SENTENCE.findall(body) if s.strip()]
    kept = [s for s in parts if not _SOCIAL.match(s) and not (s.endswith("?") and len(parts) > 1)]
    out = " ".join(kept).strip() or body or text.strip()
    return out[:1].upper() + out[1:]


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def extract_patterns(
    episodes: Sequence[MemoryRecord],
    vectors: NDArray[np.float32],
    duplicate_prob: Callable[[list[tuple[str, str]]], NDArray[np.float64]],
    *,
    candidate_cosine: float = 0.6,
    same_cosine: float = 0.95,
    duplicate_probability: float = 0.5,
    min_support: int = 2,
    max_pairs: int = 20000,
) -> list[Pattern]:
    """Patterns of ``episodes`` (row-aligned ``vectors``); ``duplicate_prob`` scores (new, old) text pairs."""
    n = len(episodes)
    if n == 0:
        return []
    sims = vectors @ vectors.T
    iu, ju = np.triu_indices(n, k=1)
    cand = sims[iu, ju] >= candidate_cosine
    iu, ju = iu[cand], ju[cand]
    if len(iu) > max_pairs:  # keep the most similar pairs; deterministic
        top = np.argsort(-sims[iu, ju], kind="stable")[:max_pairs]
        iu, ju = iu[top], ju[top]
    link = np.zeros(len(iu), dtype=np.float64)
    if len(iu):
        link = duplicate_prob([(episodes[j].text, episodes[i].text) for i, j in zip(iu, ju)])
    union = _Union(n)
    strength: dict[tuple[int, int], float] = {}
    for i, j, p in zip(iu.tolist(), ju.tolist(), link.tolist()):
        if p >= duplicate_probability or sims[i, j] >= same_cosine:
            union.join(i, j)
            strength[(i, j)] = max(p, float(sims[i, j]) if sims[i, j] >= same_cosine else p)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(union.find(i), []).append(i)
    patterns = []
    for members in groups.values():
        if len(members) < min_support:
            continue
        sub = sims[np.ix_(members, members)]
        order = sorted(
            members,
            key=lambda m: (-float(sub[members.index(m)].sum()), -episodes[m].importance, -episodes[m].observed_at.timestamp()),
        )
        canon = episodes[order[0]]
        links = [s for (a, b), s in strength.items() if a in members and b in members]
        mean_link = float(np.mean(links)) if links else 0.5
        conf = float(np.clip(mean_link * (1.0 - 0.5 ** len(members)), 0.0, 1.0))
        kinds = Counter(episodes[m].kind for m in members if episodes[m].kind is not Kind.CHITCHAT)
        roles = {episodes[m].role for m in members}
        text = tidy_statement(canon.text)
        if len(roles) == 1:
            text = speaker_line(canon.role, text)
        patterns.append(
            Pattern(
                text=text,
                kind=kinds.most_common(1)[0][0] if kinds else canon.kind,
                confidence=round(conf, 4),
                episode_ids=sorted(episodes[m].id for m in members),
            )
        )
    patterns.sort(key=lambda p: (-p.confidence, p.episode_ids[0]))
    return patterns
