"""Training the cross-encoder reranker (``psm_core.rerank``): a low-rank adapter over the packaged MiniLM.

```
RerankGroup                        a question, one memory that answers it, memories that do not
groups_from_lists(results, top)    groups from recorded recall lists (``run_units(..., keep_texts=True)``):
                                   a positive per gold candidate, negatives from the skill's top ``top``
                                   (a consolidated fact counts by the turns of its provenance)
weak_label_groups(data, ...)       those groups from the training split of the development data
train_reranker(groups, out, ...)   LoRA (rank r on every linear layer) + a linear head on the mean-pooled
                                   last layer, listwise cross-entropy (one positive against n negatives)
```
The base weights stay frozen: only the adapter and head are written (``safetensors``, float16, ~1 MB).
On 2 CPU cores, 700 groups for 2 epochs take about 15 minutes; a GPU is used when torch sees one.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psm_core.embeddings import DEFAULT_MODEL, Embedder, resolve_model_path
from psm_core.skill.training.recall_lists import QueryResult

__all__ = ["LORA_TARGETS", "RerankConfig", "RerankGroup", "groups_from_lists", "train_reranker", "weak_label_groups"]

logger = logging.getLogger(__name__)

# every linear layer of a BERT encoder block
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "intermediate.dense", "output.dense")  # fmt: skip


@dataclass
class RerankGroup:
    query: str
    positive: str
    negatives: list[str]
    source: str = ""


@dataclass
class RerankConfig:
    rank: int = 8
    alpha: float = 16.0
    epochs: int = 2
    lr: float = 5e-4  # adapter and head
    batch_groups: int = 4
    negatives: int = 7
    max_length: int = 128
    warmup: int = 50
    weight: float = 0.5  # the mixing weight written into the adapter (rerank_order)
    seed: int = 0


def groups_from_lists(results: Sequence[QueryResult], *, top: int = 30) -> list[RerankGroup]:
    """One group per gold candidate of each list (``positives``), against the non-gold candidates among
    the skill's best ``top`` (a candidate of a gold unit that is not a positive, e.g. another turn of a
    gold LongMemEval session, is neither). A consolidated fact counts by the turns it was distilled from
    (``QueryResult.covers``): a positive when one of them is a gold answer turn, neither when one is of a
    gold unit, a negative otherwise."""
    groups = []
    for r in results:
        if not r.texts or len(r.texts) != len(r.units):
            raise ValueError("recall lists without texts: record them with run_units(..., keep_texts=True)")
        positive = [bool(r.positives[i] > 0) or any(u in r.gold and a for u, a in r.covered(i)) for i in range(len(r.units))]
        touches = [r.units[i] in r.gold or any(u in r.gold for u, _ in r.covered(i)) for i in range(len(r.units))]
        order = np.argsort(-r.scores, kind="stable")
        negs = [r.texts[i] for i in order[:top] if not touches[i]]
        if not negs:
            continue
        for i in range(len(r.units)):
            if positive[i]:
                groups.append(RerankGroup(r.query, r.texts[i], negs, r.user))
    return groups


def weak_label_groups(
    embedder: Embedder, *, data: Path | None = None, lme_questions: int | None = None, top: int = 30,
    progress: bool = False, skill: Any = None, after_pass: bool = False,
) -> list[RerankGroup]:  # fmt: skip
    """Groups from the training split PSM-mini learns from (LoCoMo conv-26/41, LongMemEval's even half),
    ranked by ``skill`` (default: the shipped PSM-mini) through the public API; with ``after_pass`` also
    from the lists recall makes after a consolidation pass of each user (facts among the candidates)."""
    from psm_core.skill import load_skill
    from psm_core.skill.training import weak
    from psm_core.skill.training.recall_lists import lme_units, locomo_units, run_units

    root = data or weak.DATA_ROOT
    convs = [c for c in weak.load_locomo(root / "locomo" / "locomo_dev.json") if c.sample_id in weak.TRAIN_CONVERSATIONS]
    lme = [
        e
        for e in weak.load_longmemeval(root / "longmemeval" / "longmemeval_s_dev.json.gz")
        if weak.lme_is_train(e["question_id"])
    ]
    if lme_questions is not None:
        lme = lme[:lme_questions]
    skill = skill or load_skill("mini", embedder)
    lists = []
    for consolidate in (False, True) if after_pass else (False,):
        tag = ", after a pass" if consolidate else ""
        lists += run_units(
            locomo_units(convs), skill, embedder, k=10, progress=progress, desc=f"lists (LoCoMo{tag})", keep_texts=True,
            consolidate=consolidate,
        )  # fmt: skip
        lists += run_units(
            lme_units(lme, answer_turns_only=True), skill, embedder, k=50, progress=progress,
            desc=f"lists (LongMemEval{tag})", keep_texts=True, consolidate=consolidate,
        )  # fmt: skip
    return groups_from_lists(lists, top=top)


def _lora_model(base: Path, cfg: RerankConfig) -> tuple[Any, dict[str, Any]]:
    import torch
    from transformers import AutoModel

    class LoRALinear(torch.nn.Module):
        def __init__(self, inner: torch.nn.Linear) -> None:
            super().__init__()
            self.inner = inner
            self.lora_A = torch.nn.Parameter(torch.empty(cfg.rank, inner.in_features))
            self.lora_B = torch.nn.Parameter(torch.zeros(inner.out_features, cfg.rank))
            torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            self.scale = cfg.alpha / cfg.rank

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale

    model = AutoModel.from_pretrained(str(base))
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped: dict[str, Any] = {}
    for name, module in list(model.named_modules()):
        for attr, child in list(module.named_children()):
            full = f"{name}.{attr}" if name else attr
            if isinstance(child, torch.nn.Linear) and any(full.endswith(t) for t in LORA_TARGETS) and ".layer." in f".{full}":
                lora = LoRALinear(child)
                setattr(module, attr, lora)
                wrapped[full] = lora
    if not wrapped:
        raise RuntimeError(f"no linear layers named {LORA_TARGETS} in {base}")
    return model, wrapped


def train_reranker(
    groups: Sequence[RerankGroup], out: Path, cfg: RerankConfig | None = None, *, base_model: str = DEFAULT_MODEL,
    progress: bool = False, on_step: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Fit the adapter and head on ``groups``; write ``out`` (safetensors) and return a summary."""
    import torch
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    cfg = cfg or RerankConfig()
    if not groups:
        raise ValueError("no training groups")
    t0 = time.perf_counter()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    base = resolve_model_path(base_model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, wrapped = _lora_model(base, cfg)
    model.to(device).train()
    hidden = int(model.config.hidden_size)
    head = torch.nn.Linear(hidden, 1).to(device)
    params = [p for m in wrapped.values() for p in (m.lora_A, m.lora_B)] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(groups) / cfg.batch_groups)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup)) * max(0.0, (total - s) / max(1, total - cfg.warmup))
    )
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    tok.enable_truncation(cfg.max_length, strategy="longest_first")
    tok.enable_padding()
    rng = random.Random(cfg.seed)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="reranker", unit="step")
    losses: list[float] = []
    step = 0
    for _ in range(cfg.epochs):
        order = list(range(len(groups)))
        rng.shuffle(order)
        for start in range(0, len(order), cfg.batch_groups):
            batch = [groups[i] for i in order[start : start + cfg.batch_groups]]
            n = min(cfg.negatives, min(len(g.negatives) for g in batch))
            pairs = []
            for g in batch:
                pairs.append((g.query, g.positive))
                pairs.extend((g.query, t) for t in rng.sample(g.negatives, n))
            enc = tok.encode_batch(pairs)
            ids = torch.tensor([e.ids for e in enc], device=device)
            mask = torch.tensor([e.attention_mask for e in enc], device=device)
            types = torch.tensor([e.type_ids for e in enc], device=device)
            states = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            m = mask.unsqueeze(-1).float()
            pooled = (states * m).sum(1) / m.sum(1).clamp(min=1e-9)
            logits = head(pooled).view(len(batch), n + 1)
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long, device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            step += 1
            if on_step is not None:
                on_step(step, losses[-1])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    if bar is not None:
        bar.close()
    tensors: dict[str, np.ndarray] = {}
    for name, m in wrapped.items():
        tensors[f"{name}.lora_A"] = m.lora_A.detach().cpu().numpy().astype(np.float16)
        tensors[f"{name}.lora_B"] = m.lora_B.detach().cpu().numpy().astype(np.float16)
    tensors["head.weight"] = head.weight.detach().cpu().numpy().astype(np.float32)
    tensors["head.bias"] = head.bias.detach().cpu().numpy().astype(np.float32)
    summary = {
        "groups": len(groups), "steps": step, "seconds": round(time.perf_counter() - t0, 1), "device": device,
        "loss_first": round(float(np.mean(losses[:20])), 4), "loss_last": round(float(np.mean(losses[-20:])), 4),
    }  # fmt: skip
    meta = {
        "base": base_model, "rank": cfg.rank, "alpha": cfg.alpha, "max_length": cfg.max_length, "weight": cfg.weight,
        "targets": list(LORA_TARGETS), "epochs": cfg.epochs, "lr": cfg.lr, "negatives": cfg.negatives,
        "batch_groups": cfg.batch_groups, "seed": cfg.seed, "train": summary,
    }  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
    tmp.replace(out)
    logger.info("reranker adapter written to %s (%s)", out, summary)
    return summary
