"""The query adapter of PSM-mini: a linear map that moves a question's embedding towards the turns that answer it.

```
adapter_examples(units, embed, weight)   a unit's questions and turns as vectors (the turns as recall sees them)
fit_query_adapter(examples, ...)         W = I + A, A fitted by softmax over each unit's turns; → a one-layer MLP
```
A question and the turn that answers it are phrased differently ("What did Caroline research?" /
"Caroline: I've been looking into adoption agencies"), and the embedder was trained to match
paraphrases. A linear map on the query side only (the stored vectors stay as they are, so nothing is
re-embedded) learns which directions of the embedding space questions over-weight. Loss per question:
``-mean log softmax(cos(W q, d) / tau)`` over the positive turns of its unit, all of the unit's turns as
the alternatives, plus ``lam * |A|^2`` that keeps W near the identity (it overfits quickly: the two
training conversations reach 0.98 dense recall@10 with ``lam`` 0.01, while held-out conversations fall).

Chosen by two-fold cross-validation inside the training data (fit on one LoCoMo training conversation
and half of the training LongMemEval questions, evaluated on the other; two random halvings): dense
recall@10 of the held-out conversation 0.596 → 0.628 and LongMemEval session recall_all@5 0.841 →
0.872 at ``lam`` 0.1 (0.03: 0.601 / 0.876, 0.3: 0.623 / 0.867, 1.0: 0.612 / 0.854), 25 epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from psm_core.index import CONTEXT_CHARS, contextual_vectors, speaker_line
from psm_core.skill.mini_heads import MLP
from psm_core.skill.training.recall_lists import Unit

__all__ = ["AdapterExample", "adapter_examples", "dense_recall", "fit_query_adapter", "identity_adapter"]


@dataclass
class AdapterExample:
    """One unit: its questions' vectors, its turns' vectors and, per question, the rows of its positive turns."""

    user: str
    queries: NDArray[np.float32]
    turns: NDArray[np.float32]
    positives: list[list[int]]
    weight: float = 1.0


def adapter_examples(
    units: Sequence[Unit], embed: Callable[[list[str]], NDArray[np.float32]], weight: float = 1.0
) -> list[AdapterExample]:
    """The questions of ``units`` with the turns that answer them. A turn is embedded as recall sees it
    (speaker line plus the preceding turn of its session, :func:`psm_core.index.contextual_vectors`);
    it is positive when its ``metadata["unit"]`` is gold for the question and it is marked an answer
    (``metadata["answer"]``, default true). Questions without a positive turn are left out."""
    out: list[AdapterExample] = []
    for unit in units:
        items: list[tuple[str, str | None]] = []
        names: list[str] = []
        for events in unit.sessions:
            prev: str | None = None
            for ev in events:
                head = speaker_line(str(ev.get("role", "user")), str(ev["text"]))
                items.append((head, prev[:CONTEXT_CHARS] if prev else None))
                meta = ev.get("metadata") or {}
                names.append(str(meta.get("unit")) if meta.get("answer", True) else "")
                prev = head
        queries, positives = [], []
        for query, gold, _ in unit.queries:
            pos = [i for i, n in enumerate(names) if n and n in gold]
            if pos:
                queries.append(query)
                positives.append(pos)
        if not queries:
            continue
        out.append(AdapterExample(unit.user, embed(queries), contextual_vectors(embed, items), positives, weight))
    return out


def identity_adapter(dim: int) -> MLP:
    """The adapter that changes nothing (what a skill without one does)."""
    return MLP(
        mean=np.zeros(dim, np.float32), std=np.ones(dim, np.float32),
        weights=[np.eye(dim, dtype=np.float32)], biases=[np.zeros(dim, np.float32)],
    )  # fmt: skip


def fit_query_adapter(
    examples: Sequence[AdapterExample],
    *,
    lam: float = 0.1,
    tau: float = 0.05,
    epochs: int = 25,
    lr: float = 1e-3,
    seed: int = 0,
    on_epoch: Callable[[], None] | None = None,
) -> MLP:
    """Fit ``W = I + A`` (full batch, Adam) and return it as a one-layer head (PSM-mini's ``QUERY_HEAD``)."""
    import torch

    if not examples:
        raise ValueError("fit_query_adapter needs at least one example with a positive turn")
    torch.manual_seed(seed)
    dim = int(examples[0].queries.shape[1])
    a = torch.zeros(dim, dim, requires_grad=True)
    eye = torch.eye(dim)
    opt = torch.optim.Adam([a], lr=lr)
    data = []
    for ex in examples:
        rows = torch.tensor([r for r, pos in enumerate(ex.positives) for _ in pos])
        cols = torch.tensor([c for pos in ex.positives for c in pos])
        per = torch.tensor([1.0 / len(pos) for pos in ex.positives for _ in pos])  # each question weighs one
        data.append((torch.from_numpy(ex.queries), torch.from_numpy(ex.turns), rows, cols, per * ex.weight))
    total = float(sum(ex.weight * len(ex.positives) for ex in examples))
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.zeros(())
        for q, d, rows, cols, w in data:
            v = q @ (eye + a)
            v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
            logp = torch.log_softmax(v @ d.T / tau, dim=1)
            loss = loss - (w * logp[rows, cols]).sum()
        loss = loss / total + lam * (a**2).sum()
        loss.backward()
        opt.step()
        if on_epoch is not None:
            on_epoch()
    head = identity_adapter(dim)
    head.weights[0] = (eye + a).detach().numpy().astype(np.float32)
    return head


def dense_recall(examples: Sequence[AdapterExample], adapter: MLP | None = None, k: int = 10) -> float:
    """Mean share of a question's positive turns among the ``k`` turns nearest to its (adapted) vector."""
    got: list[float] = []
    for ex in examples:
        q = ex.queries if adapter is None else adapter(ex.queries)
        q = q / np.clip(np.linalg.norm(q, axis=1, keepdims=True), 1e-12, None)
        top = np.argsort(-(q @ ex.turns.T), axis=1, kind="stable")[:, :k]
        got.extend(len(set(t.tolist()) & set(pos)) / len(pos) for t, pos in zip(top, ex.positives))
    return float(np.mean(got)) if got else 0.0
