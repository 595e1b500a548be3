"""Update links: which later episodes restate, update or contradict what an earlier one said.

A conversation turn often says several things ("Thanks! By the way, I've added 25 postcards to my
collection. Can you suggest albums?"), so episodes are compared sentence by sentence. A pass takes
the sentences of each episode in which the speaker talks about themselves (first person, at least
four words) and, for each new episode, finds the earlier episodes of the same speaker in other
sessions holding a sentence about the same thing (sentence cosine at least ``link_min_similarity``;
the ``link_candidates`` nearest). The skill's interference then reads the closest pair of sentences:
unless it calls them unrelated (probability at least ``link_threshold``), the earlier episode records
the later one in its ledger (``updated_by``).

No turn is superseded or hidden: a turn stays a true record of what was said, and one turn can hold
several things. Recall uses the links to order: when both are surfaced, the later statement comes
first (:func:`psm_core.ordering.newer_first`), so the current value leads the prompt and the old one,
with its date, follows it. Where the later sentence states a different quantity than the earlier
one (:func:`changed_value`), the pass also keeps the earlier *sentence* as a superseded semantic fact
with its validity interval (:mod:`psm_core.consolidation.plan`): history, left out of recall unless
``include_superseded``.

Measured on LongMemEval_S development data (209 questions, ``docs/consolidation.md``): the current value
of a knowledge update outranks the old one in 31 of 34 questions (15 with whole-turn links; 29 since
recall also reads the sentences a pass keeps), and session recall_all@5 after a pass rose from 0.900 to
0.914 (with the recall head of that day; 0.909 with the five-seed head that replaced it, 0.928 with the
sentence head).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from psm_core.consolidation.config import ConsolidationConfig
from psm_core.skill.base import MemorySkill, Relation
from psm_core.text import sentences
from psm_core.types import MemoryRecord

__all__ = ["Link", "changed_value", "find_update_links", "ledger_links", "statements_about_speaker"]

_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|i'll|im|ive|my|me|mine|myself|we|we're|we've|our|ours|us)\b", re.I)
_VALUE = re.compile(
    r"\d+(?:[.,:]\d+)*|\b(?:zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|hundred|thousand|dozen|once|twice|thrice|first|third|fourth|fifth|sixth|seventh|eighth|"
    r"ninth|tenth)\b",
    re.I,
)
_BLOCK = 256  # new episodes compared at once (bounds the similarity matrix)


@dataclass(frozen=True)
class Link:
    """A later episode that says something about what an earlier one said, and the skill's reading
    of their closest sentences."""

    earlier: int  # row in the pass's episodes
    later: int
    earlier_sentence: str
    later_sentence: str
    similarity: float
    relation: Relation
    probability: float


def changed_value(later: str, earlier: str) -> bool:
    """Whether both sentences state a quantity (a number, a count word, an ordinal, a time) and the
    quantities differ: "I've added 17 postcards" → "I've added 25 postcards"."""
    a = {m.group(0).lower() for m in _VALUE.finditer(later)}
    b = {m.group(0).lower() for m in _VALUE.finditer(earlier)}
    return bool(a) and bool(b) and a != b


def statements_about_speaker(text: str) -> list[str]:
    """Sentences of ``text`` (at least four words) in which the speaker talks about themselves."""
    return [s for s in sentences(text) if _FIRST_PERSON.search(s)]


def find_update_links(
    skill: MemorySkill,
    cfg: ConsolidationConfig,
    episodes: Sequence[MemoryRecord],
    new_ids: set[str],
    embed_sentences: Callable[[list[str]], NDArray[np.float32]],
) -> list[Link]:
    """The links of the new episodes among ``episodes`` (time-ordered) to earlier ones, in a stable order.

    ``embed_sentences`` gives L2-normalized sentence vectors (rows aligned with its input).
    Deterministic for a snapshot: rerunning finds the same links."""
    if cfg.link_candidates == 0 or not new_ids or len(episodes) < 2:
        return []
    texts: list[str] = []
    owner: list[int] = []
    for k, e in enumerate(episodes):
        for s in statements_about_speaker(e.text):
            texts.append(s)
            owner.append(k)
    if not texts:
        return []
    vecs = embed_sentences(texts)
    own = np.asarray(owner)
    roles = np.array([episodes[k].role for k in owner], dtype=object)
    sessions = np.array([episodes[k].session_id for k in owner], dtype=object)
    new_rows = [k for k, e in enumerate(episodes) if e.id in new_ids and k > 0]
    pairs: list[tuple[int, int, int, int, float]] = []  # (later ep, earlier ep, later sentence, earlier sentence, cosine)
    for start in range(0, len(new_rows), _BLOCK):
        block = new_rows[start : start + _BLOCK]
        mine = np.flatnonzero(np.isin(own, block))
        if not mine.size:
            continue
        sims = vecs[mine] @ vecs.T  # (sentences of the block, all sentences)
        for j in block:
            rows = mine[own[mine] == j]
            if not rows.size:
                continue
            e = episodes[j]
            if e.session_id is None:  # a turn without a session is never linked to earlier ones
                continue
            cols = np.flatnonzero((own < j) & (roles == e.role) & (sessions != e.session_id))
            if not cols.size:
                continue
            sub = sims[np.searchsorted(mine, rows)][:, cols]  # (j's sentences, candidate sentences)
            best_row = sub.argmax(0)
            best = sub[best_row, np.arange(cols.size)]
            keep = best >= cfg.link_min_similarity
            per_episode: dict[int, tuple[float, int, int]] = {}
            for c, r, s in zip(cols[keep], best_row[keep], best[keep]):
                i = int(own[c])
                if i not in per_episode or s > per_episode[i][0]:
                    per_episode[i] = (float(s), int(rows[r]), int(c))
            nearest = sorted(per_episode.items(), key=lambda kv: (-kv[1][0], kv[0]))[: cfg.link_candidates]
            pairs.extend((j, i, sj, si, s) for i, (s, sj, si) in nearest)
    links: list[Link] = []
    for start in range(0, len(pairs), max(1, cfg.max_batch)):
        chunk = pairs[start : start + max(1, cfg.max_batch)]
        rels = skill.interfere_batch([(texts[sj], texts[si]) for _, _, sj, si, _ in chunk], [s for *_, s in chunk])
        for (j, i, sj, si, sim), rel in zip(chunk, rels):
            if rel.relation is Relation.UNRELATED and rel.probability >= cfg.link_threshold:
                continue
            links.append(Link(i, j, texts[si], texts[sj], sim, rel.relation, float(rel.probability)))
    return sorted(links, key=lambda lk: (lk.earlier, lk.later))


def ledger_links(episodes: Sequence[MemoryRecord], links: Sequence[Link]) -> dict[str, list[str]]:
    """``{earlier id: sorted later ids}``: what the pass writes in the earlier episodes' ledgers."""
    out: dict[str, set[str]] = {}
    for lk in links:
        out.setdefault(episodes[lk.earlier].id, set()).add(episodes[lk.later].id)
    return {k: sorted(v) for k, v in sorted(out.items())}
