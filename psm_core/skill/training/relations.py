"""Training PSM-mini's attribute and relation heads (``psm train-relations``; also the last step of ``psm train``).

```
RelationsConfig                  sizes, seed, data locations
build_attribute_rows(cfg, …)     (text, attribute) rows: PersonaChat (i/my heads, 1 in 10 held out), the
                                 relation curriculum, non-personal texts (none), memops train turns
build_pairs(cfg, …)              (new, old, relation) pairs: curriculum, PersonaChat, memops train split
fit_relation_heads(cfg, vectors) → ({"attribute": MLP, "relate": MLP}, config entries, metrics)
evaluate(skill, …)               memops test split (confusion matrix), held-out PersonaChat and curriculum
train_relations(weights, out)    adds / replaces the two heads in an existing model.safetensors, keeping
                                 every other head and the config, and rewrites metrics.json and MODEL_CARD.md
```
The attribute head reads [plain embedding | attribute cues] → ATTRIBUTE_NAMES + none. The relation head
reads [v_new | v_old | v_new*v_old | |v_new-v_old| | relation cues], where the cues include the agreement of
the two statements' attribute distributions; during training those come from attribute heads fitted on the
other half of the texts (cross-fitting), so the relation head learns from distributions as unseen text gets
them. The memops test split is never trained on.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psm_core.embeddings import Embedder
from psm_core.skill import relate_features as rf
from psm_core.skill.base import Relation
from psm_core.skill.mini import ATTRIBUTE_HEAD, RELATE_HEAD
from psm_core.skill.mini_heads import MLP, WEIGHTS_FILE
from psm_core.skill.training import fit
from psm_core.skill.training.metrics import macro_f1
from psm_core.skill.training.relations_curriculum import RelationCurriculum, RelPair
from psm_core.skill.training.relations_data import (
    heldout_text,
    load_persona,
    load_scenarios,
    persona_pairs,
    scenario_pairs,
    scenario_statements,
)
from psm_core.skill.training.vectors import VectorCache

__all__ = [
    "ATTRIBUTE_HEAD",
    "RELATE_HEAD",
    "RELATIONS",
    "RelationsConfig",
    "RelationsReport",
    "add_relation_heads",
    "evaluate",
    "fit_relation_heads",
    "train_relations",
]

logger = logging.getLogger(__name__)

RELATIONS: tuple[Relation, ...] = tuple(Relation)
_REPO = Path(__file__).resolve().parents[3]
SCENARIOS = _REPO / "benchmarks" / "memops" / "scenarios"
DATA_ROOT = _REPO.parent / "shared" / "data"
NEAR_COSINE = 0.3  # the caller relates pairs of the same attribute or above this cosine


@dataclass
class RelationsConfig:
    seed: int = 0
    statements: int = 14000  # curriculum statements for the attribute head
    none_texts: int = 5000  # non-personal texts (none)
    pairs_per_class: int = 6000  # curriculum pairs per relation
    unrelated_share: float = 1.5  # unrelated curriculum pairs per pair of another relation (a false update costs most)
    persona_pairs_per_class: int = 2500
    heldout_statements: int = 2000
    heldout_pairs_per_class: int = 400
    scenario_repeat: int = 4  # memops train pairs / statements are repeated this often (real text, few)
    hard_share: float = 0.6  # share of unrelated pairs drawn from the candidates above NEAR_COSINE
    persona_duplicate_cosine: float = 0.6  # PersonaChat duplicates (same relation and tail) kept above this cosine
    attribute_hidden: int = 256
    attribute_epochs: int = 30
    attribute_dropout: float = 0.4
    attribute_weight_decay: float = 3e-3
    relate_hidden: int = 256
    relate_epochs: int = 25
    relate_seeds: int = 1  # relation heads averaged into one (seeds seed, seed + 1, …)
    data: Path | None = None  # ../shared/data
    scenarios: Path | None = None  # benchmarks/memops/scenarios


@dataclass
class RelationsReport:
    file: Path
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


# -- data -------------------------------------------------------------------------------------------
def _paths(cfg: RelationsConfig) -> tuple[Path, Path]:
    return (cfg.data or DATA_ROOT) / "personas" / "persona_triplets.jsonl.gz", cfg.scenarios or SCENARIOS


def build_attribute_rows(
    cfg: RelationsConfig,
) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]], dict[str, int]]:
    """Training rows, held-out sets (``persona``, ``curriculum``) of (text, attribute), and rows per source."""
    persona_path, scen = _paths(cfg)
    rows: list[tuple[str, str]] = []
    held: dict[str, list[tuple[str, str]]] = {}
    sizes: dict[str, int] = {}
    if persona_path.exists():
        persona = load_persona(persona_path)
        rows += [(r.text, r.attribute) for r in persona if not heldout_text(r.text)]
        held["persona"] = [(r.text, r.attribute) for r in persona if heldout_text(r.text)]
        sizes["personachat"] = len(rows)
    else:
        logger.warning("no PersonaChat data at %s: the attribute head learns from the curriculum only", persona_path)
    cur, hcur = RelationCurriculum(cfg.seed), RelationCurriculum(cfg.seed + 1, held_out=True)
    rows += [cur.statement() for _ in range(cfg.statements)]
    rows += [(cur.none_text(), rf.NONE) for _ in range(cfg.none_texts)]
    sizes["curriculum"] = cfg.statements + cfg.none_texts
    held["curriculum"] = [hcur.statement() for _ in range(cfg.heldout_statements)]
    held["curriculum"] += [(hcur.none_text(), rf.NONE) for _ in range(cfg.heldout_statements // 4)]
    train_file = scen / "train.jsonl"
    if train_file.exists():
        memops = scenario_statements(load_scenarios(train_file))
        rows += memops * cfg.scenario_repeat
        sizes["memops_train"] = len(memops)
    return rows, held, sizes


def build_pairs(cfg: RelationsConfig, vectors: VectorCache) -> tuple[list[RelPair], list[RelPair]]:
    """Training pairs and held-out curriculum pairs. Unrelated candidates are drawn several times over and
    ``hard_share`` of those kept are above :data:`NEAR_COSINE` (the pairs the caller actually relates)."""
    persona_path, scen = _paths(cfg)
    cur, hcur = RelationCurriculum(cfg.seed + 2), RelationCurriculum(cfg.seed + 3, held_out=True)
    rng = random.Random(cfg.seed)
    pairs: list[RelPair] = []
    for rel in RELATIONS:
        if rel is not Relation.UNRELATED:
            pairs += [cur.pair(rel) for _ in range(cfg.pairs_per_class)]
    n_unrelated = int(cfg.unrelated_share * cfg.pairs_per_class)
    pairs += _hard(vectors, [cur.unrelated() for _ in range(3 * n_unrelated)], n_unrelated, cfg.hard_share, rng)
    if persona_path.exists():
        persona = [r for r in load_persona(persona_path) if not heldout_text(r.text)]
        pp = persona_pairs(persona, rng, cfg.persona_pairs_per_class)
        dup = [p for p in pp if p.relation is Relation.DUPLICATE]
        # two utterances with the same relation and tail are often about the same thing in different detail:
        # only the closest ones are restatements
        pairs += [p for p, c in zip(dup, _cosines(vectors, dup)) if c >= cfg.persona_duplicate_cosine]
        pairs += [p for p in pp if p.relation not in (Relation.UNRELATED, Relation.DUPLICATE)]
        unrelated = [p for p in pp if p.relation is Relation.UNRELATED]
        pairs += _hard(vectors, unrelated, cfg.persona_pairs_per_class, cfg.hard_share, rng)
    train_file = scen / "train.jsonl"
    if train_file.exists():
        pairs += scenario_pairs(load_scenarios(train_file)) * cfg.scenario_repeat
    held = [hcur.pair(rel) for rel in RELATIONS if rel is not Relation.UNRELATED for _ in range(cfg.heldout_pairs_per_class)]
    held += _hard(vectors, [hcur.unrelated() for _ in range(4 * cfg.heldout_pairs_per_class)],
                  cfg.heldout_pairs_per_class, cfg.hard_share, rng)  # fmt: skip
    return pairs, held


def _hard(vectors: VectorCache, cands: list[RelPair], n: int, share: float, rng: random.Random) -> list[RelPair]:
    cos = _cosines(vectors, cands)
    hi = [p for p, c in zip(cands, cos) if c >= NEAR_COSINE]
    lo = [p for p, c in zip(cands, cos) if c < NEAR_COSINE]
    rng.shuffle(hi)
    rng.shuffle(lo)
    k = min(len(hi), int(round(n * share)))
    return hi[:k] + lo[: n - k]


def _cosines(vectors: VectorCache, pairs: Sequence[RelPair]) -> NDArray[np.float32]:
    vn = vectors.embed([p.new for p in pairs], desc="embedding pairs")
    vo = vectors.embed([p.old for p in pairs], desc="embedding pairs")
    return np.asarray((vn * vo).sum(1), dtype=np.float32)


# -- heads ------------------------------------------------------------------------------------------
def _attribute_x(vectors: VectorCache, texts: Sequence[str]) -> NDArray[np.float32]:
    return rf.attribute_inputs(vectors.embed(list(texts), desc="embedding statements"), texts)


def _softmax(x: NDArray[np.float32]) -> NDArray[np.float64]:
    z = x.astype(np.float64) - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _fit_attribute(x: NDArray[np.float32], y: NDArray[np.int64], cfg: RelationsConfig, tick: Callable[[], None] | None) -> MLP:
    return fit.fit_head(
        x, fit.class_loss(y), len(rf.ATTRIBUTE_CLASSES), hidden=(cfg.attribute_hidden,), epochs=cfg.attribute_epochs,
        lr=2e-3, weight_decay=cfg.attribute_weight_decay, dropout=cfg.attribute_dropout, seed=cfg.seed, on_epoch=tick,
    )  # fmt: skip


def relate_matrix(
    pairs: Sequence[tuple[str, str]],
    vectors: Embedder,
    attribute_probs: Callable[[list[str], NDArray[np.float32]], NDArray[np.float64]],
) -> NDArray[np.float32]:
    """Relation-head inputs of (new, old) pairs; ``attribute_probs(texts, vectors)`` gives attribute distributions."""
    uniq = list(dict.fromkeys(t for pair in pairs for t in pair))
    vecs = vectors.embed(uniq)
    probs = attribute_probs(uniq, vecs)
    pos = {t: i for i, t in enumerate(uniq)}
    ni = np.array([pos[a] for a, _ in pairs], dtype=np.int64)
    oi = np.array([pos[b] for _, b in pairs], dtype=np.int64)
    vn, vo = vecs[ni], vecs[oi]
    cos = (vn * vo).sum(1)
    cues = np.array([rf.relate_cues(a, b, float(c), probs[i], probs[j]) for (a, b), c, i, j in zip(pairs, cos, ni, oi)],
                    dtype=np.float32).reshape(len(pairs), len(rf.RELATE_CUE_NAMES))  # fmt: skip
    return rf.relate_inputs(vn, vo, cues)


def fit_relation_heads(
    cfg: RelationsConfig, vectors: VectorCache, tick: Callable[[], None] | None = None
) -> tuple[dict[str, MLP], dict[str, Any], dict[str, Any]]:
    """Fit the attribute and relation heads; returns (heads, config entries, data sizes)."""
    t0 = time.time()
    rows, _, row_sizes = build_attribute_rows(cfg)
    texts = [t for t, _ in rows]
    y = np.array([rf.ATTRIBUTE_CLASSES.index(a) for _, a in rows], dtype=np.int64)
    x = _attribute_x(vectors, texts)
    fold = np.array([heldout_text(t, 2) for t in texts])
    folds = [_fit_attribute(x[fold != k], y[fold != k], cfg, tick) for k in (False, True)]
    attribute = _fit_attribute(x, y, cfg, tick)
    logger.info("attribute heads fitted on %d rows in %.0f s", len(rows), time.time() - t0)

    def crossfit(ts: list[str], vecs: NDArray[np.float32]) -> NDArray[np.float64]:
        xa = rf.attribute_inputs(vecs, ts)
        which = np.array([heldout_text(t, 2) for t in ts])
        out = np.zeros((len(ts), len(rf.ATTRIBUTE_CLASSES)), dtype=np.float64)
        for k, head in zip((False, True), folds):
            m = which == k
            if m.any():
                out[m] = _softmax(head(xa[m]))
        return out

    pairs, _ = build_pairs(cfg, vectors)
    px = relate_matrix([(p.new, p.old) for p in pairs], vectors, crossfit)
    py = np.array([RELATIONS.index(p.relation) for p in pairs], dtype=np.int64)
    vectors.save()
    relate = fit.average_mlps([
        fit.fit_head(
            px, fit.class_loss(py), len(RELATIONS), hidden=(cfg.relate_hidden,), epochs=cfg.relate_epochs, lr=2e-3,
            weight_decay=1e-3, dropout=0.3, seed=cfg.seed + i, on_epoch=tick,
        )
        for i in range(cfg.relate_seeds)
    ])  # fmt: skip
    sizes = {
        "attribute_rows": len(rows),
        "attribute_rows_by_source": row_sizes,
        "pairs": len(pairs),
        "pairs_by_relation": dict(sorted(Counter(p.relation.value for p in pairs).items())),
        "memops_train_repeat": cfg.scenario_repeat,
        "pairs_by_source": dict(sorted(Counter(_pair_source(p) for p in pairs).items())),
        "fit_seconds": round(time.time() - t0, 1),
    }
    config = {
        "attribute_classes": list(rf.ATTRIBUTE_CLASSES),
        "attribute_cues": list(rf.ATTRIBUTE_CUE_NAMES),
        "relate_classes": [r.value for r in RELATIONS],
        "relate_cues": list(rf.RELATE_CUE_NAMES),
    }
    return {ATTRIBUTE_HEAD: attribute, RELATE_HEAD: relate}, config, sizes


def _pair_source(p: RelPair) -> str:
    return "memops_train" if p.kind.startswith("memops:") else "personachat" if p.kind == "persona" else "curriculum"


# -- evaluation -------------------------------------------------------------------------------------
def _relation_report(pred: Sequence[Relation], true: Sequence[Relation]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-relation precision / recall and the confusion matrix (true → predicted → n)."""
    p = np.array([RELATIONS.index(r) for r in pred], dtype=np.int64)
    t = np.array([RELATIONS.index(r) for r in true], dtype=np.int64)
    present = sorted(set(t.tolist()))
    per: dict[str, dict[str, float]] = {}
    for c in present:
        tp = float(((p == c) & (t == c)).sum())
        per[RELATIONS[c].value] = {
            "precision": round(tp / max(1.0, float((p == c).sum())), 4),
            "recall": round(tp / max(1.0, float((t == c).sum())), 4),
            "n": int((t == c).sum()),
        }
    confusion = {
        RELATIONS[c].value: {r.value: int(((t == c) & (p == j)).sum()) for j, r in enumerate(RELATIONS)} for c in present
    }
    return {
        "n": int(len(t)),
        "accuracy": round(float((p == t).mean()) if len(t) else 0.0, 4),
        "macro_f1": macro_f1(p, t, len(RELATIONS), labels=present),
        "per_relation": per,
        "confusion": confusion,
    }


def _attribute_report(pred: Sequence[str], true: Sequence[str]) -> dict[str, Any]:
    p, t = np.array(pred), np.array(true)
    none_t, none_p = t == rf.NONE, p == rf.NONE
    labels = sorted(set(t.tolist()))
    idx = {a: i for i, a in enumerate(sorted(set(labels) | set(p.tolist())))}
    return {
        "n": int(len(t)),
        "accuracy": round(float((p == t).mean()) if len(t) else 0.0, 4),
        "macro_f1": macro_f1(np.array([idx[x] for x in p]), np.array([idx[x] for x in t]), len(idx), [idx[a] for a in labels]),
        "none_recall": round(float((none_p & none_t).sum() / max(1, none_t.sum())), 4),
        "none_precision": round(float((none_p & none_t).sum() / max(1, none_p.sum())), 4),
    }


def evaluate(
    skill: Any,
    held_attributes: dict[str, list[tuple[str, str]]],
    held_pairs: Sequence[RelPair],
    scenarios: Path | None = None,
) -> dict[str, Any]:
    """Held-out numbers of a skill with ``read_attributes`` / ``relate_batch`` (PSM-mini with the new heads).

    ``memops_test``: every relation pair of the memops test split (old → new turns, statement turns in order,
    distractor turns against labelled turns), overall, without the correction scenarios (rules handle those
    first), by scenario type, the distractor pairs above :data:`NEAR_COSINE`, and ``caller_pairs``: the pairs the
    caller relates (same attribute by ``read_attributes`` or cosine above :data:`NEAR_COSINE`); ``interfere_head`` is the
    same pairs through the older interference head (the rule default of ``relate_batch``)."""
    from psm_core.statements import cue_attribute

    out: dict[str, Any] = {}
    for name, rows in held_attributes.items():
        texts = [t for t, _ in rows]
        pred = [r.attribute for r in skill.read_attributes(texts)]
        out[f"{name}_heldout_attributes"] = _attribute_report(pred, [a for _, a in rows])
        out[f"{name}_heldout_attributes"]["rules"] = _attribute_report([cue_attribute(t)[0] for t in texts], [a for _, a in rows])
    if held_pairs:
        pred_r = [i.relation for i in skill.relate_batch([(p.new, p.old) for p in held_pairs])]
        out["curriculum_heldout_relations"] = _relation_report(pred_r, [p.relation for p in held_pairs])
    test = (scenarios or SCENARIOS) / "test.jsonl"
    if test.exists():
        scen = load_scenarios(test)
        pairs = scenario_pairs(scen)
        inputs = [(p.new, p.old) for p in pairs]
        pred_r = [i.relation for i in skill.relate_batch(inputs)]
        true_r = [p.relation for p in pairs]
        kinds = [p.kind.split(":", 1)[1] for p in pairs]
        rep = _relation_report(pred_r, true_r)
        keep = [k != "correction" for k in kinds]
        rep["without_corrections"] = _relation_report(
            [r for r, k in zip(pred_r, keep) if k], [r for r, k in zip(true_r, keep) if k]
        )
        rep["accuracy_by_scenario_type"] = {
            k: round(float(np.mean([a == b for a, b, kk in zip(pred_r, true_r, kinds) if kk == k])), 4)
            for k in sorted(set(kinds))
        }
        emb = skill.embedder.embed(list(dict.fromkeys(t for pr in inputs for t in pr)))
        pos = {t: i for i, t in enumerate(dict.fromkeys(t for pr in inputs for t in pr))}
        cos = [float(emb[pos[a]] @ emb[pos[b]]) for a, b in inputs]
        near = [(a, b) for a, b, k, c in zip(pred_r, true_r, kinds, cos) if k == "distractor" and c >= NEAR_COSINE]
        rep["distractors_above_cosine"] = {
            "cosine": NEAR_COSINE,
            "n": len(near),
            "accuracy": round(float(np.mean([a == b for a, b in near])), 4) if near else None,
        }
        attrs = {t: r.attribute for t, r in zip(pos, skill.read_attributes(list(pos)))}
        sent = [attrs[a] == attrs[b] or c >= NEAR_COSINE for (a, b), c in zip(inputs, cos)]
        rep["caller_pairs"] = _relation_report([r for r, k in zip(pred_r, sent) if k], [r for r, k in zip(true_r, sent) if k])
        rep["caller_pairs"]["rule"] = f"same attribute (read_attributes) or cosine >= {NEAR_COSINE}"
        old = [i.relation for i in skill.interfere_batch(inputs)]
        base = _relation_report(old, true_r)
        rep["interfere_head"] = {k: base[k] for k in ("accuracy", "macro_f1", "per_relation")}
        out["memops_test_relations"] = rep
        statements = scenario_statements(scen)
        texts = [t for t, _ in statements]
        pred_a = [r.attribute for r in skill.read_attributes(texts)]
        out["memops_test_attributes"] = _attribute_report(pred_a, [a for _, a in statements])
        out["memops_test_attributes"]["rules"] = _attribute_report(
            [cue_attribute(t)[0] for t in texts], [a for _, a in statements]
        )
    return out


# -- the weights file -------------------------------------------------------------------------------
def _read_weights(file: Path) -> tuple[dict[str, NDArray[np.float32]], dict[str, Any]]:
    from safetensors import safe_open

    from psm_core.errors import ConfigurationError

    if not file.is_file():
        raise ConfigurationError(f"no PSM-mini weights at {file}")
    with safe_open(str(file), framework="numpy") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if "config" not in meta:
        raise ConfigurationError(f"{file} has no PSM-mini config")
    return tensors, json.loads(meta["config"])


def _write_weights(file: Path, tensors: dict[str, NDArray[np.float32]], heads: dict[str, MLP], config: dict[str, Any]) -> None:
    """``tensors`` with the tensors of ``heads`` added (replacing any of the same heads), and ``config``."""
    from safetensors.numpy import save_file

    kept = {k: v for k, v in tensors.items() if k.split(".", 1)[0] not in heads}
    for name, head in heads.items():
        kept.update(head.tensors(name))
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    save_file(kept, str(tmp), metadata={"config": json.dumps(config, sort_keys=True)})
    tmp.chmod(0o644)
    tmp.replace(file)


def _weights_file(path: Path) -> Path:
    return path / WEIGHTS_FILE if path.is_dir() or not path.suffix else path


def add_relation_heads(
    heads: dict[str, MLP],
    config: dict[str, Any],
    vectors: VectorCache,
    cfg: RelationsConfig,
    tick: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Fit the attribute and relation heads, add them to ``heads`` and their entries to ``config`` (both in
    place), and return their metrics (data sizes, held-out numbers, seconds). ``heads`` must hold PSM-mini's
    other heads: the evaluation runs the whole skill."""
    from psm_core.skill.mini import PSMMini

    t0 = time.time()
    new, entries, sizes = fit_relation_heads(cfg, vectors, tick)
    heads.update(new)
    config.update(entries)
    skill = PSMMini(heads, config, vectors)
    _, held_attr, _ = build_attribute_rows(cfg)
    _, held_pairs = build_pairs(RelationsConfig(**{**cfg.__dict__, "pairs_per_class": 0, "persona_pairs_per_class": 0}), vectors)
    metrics = {**sizes, **evaluate(skill, held_attr, held_pairs, cfg.scenarios), "seconds": round(time.time() - t0, 1)}
    vectors.save()
    config["relations_train_config"] = {k: str(v) if isinstance(v, Path) else v for k, v in cfg.__dict__.items()}
    return metrics


def train_relations(
    weights: Path,
    out: Path | None = None,
    cfg: RelationsConfig | None = None,
    *,
    embedder: Embedder | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> RelationsReport:
    """Fit the attribute and relation heads and add them to the PSM-mini weights at ``weights`` (a directory or
    the safetensors file), written to ``out`` (a directory; default: in place) with metrics.json and
    MODEL_CARD.md. Every other head and the rest of the config are kept as they are."""
    from psm_core.embeddings import load_embedder
    from psm_core.skill.mini import HEADS, OPTIONAL_HEADS
    from psm_core.skill.mini_heads import load_heads
    from psm_core.skill.training.card import write_card

    t0 = time.time()
    cfg = cfg or RelationsConfig()
    src = _weights_file(Path(weights).expanduser())
    dest_dir = Path(out).expanduser() if out is not None else src.parent
    tensors, config = _read_weights(src)
    base = embedder or load_embedder(
        config.get("embedder") or "all-MiniLM-L6-v2", "onnx", Path("~/.cache/psm/models").expanduser()
    )
    vectors = VectorCache(base, cache_dir, progress=progress)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=3 * cfg.attribute_epochs + cfg.relate_seeds * cfg.relate_epochs, desc="psm train-relations", unit="epoch"
        )
    heads, _ = load_heads(src, HEADS, optional=OPTIONAL_HEADS)
    metrics = add_relation_heads(heads, config, vectors, cfg, (lambda: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    metrics["seconds"] = round(time.time() - t0, 1)
    config.setdefault("metrics", {})["relations"] = metrics
    dest = dest_dir / WEIGHTS_FILE
    _write_weights(dest, tensors, {k: heads[k] for k in (ATTRIBUTE_HEAD, RELATE_HEAD)}, config)
    all_metrics = dict(config["metrics"])
    old_metrics = src.parent / "metrics.json"
    if old_metrics.exists():
        all_metrics = {**json.loads(old_metrics.read_text()), "relations": metrics}
    (dest_dir / "metrics.json").write_text(json.dumps(all_metrics, indent=2, sort_keys=True) + "\n")
    write_card(dest_dir / "MODEL_CARD.md", config, all_metrics)
    logger.info("attribute and relation heads written to %s in %.0f s", dest, time.time() - t0)
    return RelationsReport(dest, metrics["seconds"], metrics)
