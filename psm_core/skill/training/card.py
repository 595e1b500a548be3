"""The model card written next to trained PSM-mini weights (MODEL_CARD.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_card"]

_TEMPLATE = """# PSM-mini model card

PSM-mini is the default memory skill of PSM: small MLP heads on top of the frozen all-MiniLM-L6-v2
sentence encoder (the store's embedder), plus surface cues of the text and content-free recall features.
It decides what to remember (gate), how new statements relate to stored ones (interference), how to
rank recall candidates (weigh), whether a user turn corrects the assistant, which personal attribute a
statement is about (attribute), how a new statement of a speaker relates to an earlier one (relate), and
groups restatements into semantic patterns. It holds no user content.

## Files
- `model.safetensors`: heads `gate`, `interfere`, `correct`, `weigh`, `weigh_sentences`, `query`, `attribute`, `relate`
  (float32) and the JSON config
  (thresholds, decay schedule, pattern settings, training metrics) in the safetensors metadata.
- `metrics.json`: the metrics below, machine-readable.

## Training data
- A seeded synthetic curriculum (`psm_core/skill/training/curriculum.py`, seed {seed}): {dialogues}
  multi-session dialogues between personas (friends chatting, or a user with an assistant), with every turn
  labelled keep/drop, kind, emotional weight and confidence; recall questions with their gold turns;
  {pairs} statement pairs (duplicate / update / contradiction / complement / unrelated);
  {corrections} replies to an assistant (corrections and hard non-corrections).
- Weak labels from development data: **{weak}**.
{weak_detail}
- Held-out evaluation split: another seed with held-out templates, values and names (every fourth of each list).

Per head: **gate** — curriculum turns{gate_weak}; keep threshold {threshold:.3g}, calibrated {calibrated}.
**interfere** and **correct** — curriculum only. **weigh** — {weigh_sources} (content-free candidate
features only; synthetic recall lists were tried and hurt on real dialogue, so with weak labels they are not used).
**weigh_sentences** — the same questions asked after a consolidation pass, with three more features (the best
cosine between the question and one of the memory's first-person sentences, its gap to the list's best, and
whether the memory has sentence vectors); recall uses it once a pass has embedded a user's sentences.
**query** (with weak labels only) — a 384 × 384 linear map of the question's embedding, fitted so that
questions land near the turns that answer them (`psm_core/skill/training/adapter.py`: softmax over each
conversation's turns, pulled towards the identity); recall searches and compares with the mapped vector.
It applies only with the embedder it was trained with. The recall lists the weigh heads learn from are
recorded with the adapter fitted on the other half of the training data (cross-fitting), so the rankers see
the similarities an unseen user's questions get.

{relations}
## Metrics (held-out curriculum split and hand-written set; computed by `psm train`)
```
{metrics}
```
Development-data results against the baseline policy (LoCoMo, LongMemEval_S, speed) are in
`benchmarks/results/skill_eval.md`, produced by `python -m benchmarks.skill_eval`.

## Intended use
Curating a per-user long-term memory for an LLM application: filtering chit-chat, filing kinds,
ranking recall candidates, flagging conflicts for review, detecting user corrections as feedback.
English conversational text. Text in other scripts is kept by the gate (never dropped unjudged).

## Must not be used for
- Deciding what is true: it flags conflicts; superseded facts keep provenance and nothing is deleted on its word.
- Judging people: importance/emotion scores describe memory salience, not a person's state, health or worth.
- Any decision about a person (hiring, credit, medical, legal, moderation), or surveillance.
- Non-English text, or domains far from conversation (documents, code, logs): untested.
- Training on user content: online learning must use the content-free features only.

## Limits
- The curriculum is template-generated; the gate and recall head also learn from a small weak-label split
  of the development data when trained with `--weak-labels` (see above), the rest of which is used for reporting.
- Decay is a parametric schedule (half-life by kind, tier, recalls, emotion, importance), not learned from data.
- Pattern extraction clusters restatements; it does not rewrite or merge facts (PSM-LM does, abstractively).

## Reproduce
`psm train --out DIR{weak_flag} --seed {seed}` (2 CPU cores, {seconds:.0f} s on the reference machine).
"""


_RELATIONS = """
**attribute** (`read_attributes`) — an MLP on the plain sentence embedding and {n_attr_cues} surface cues (question or
request form, first person, a named relative…) → the {n_attr} attributes of `psm_core/attributes.py` plus `none`
(not a personal statement: questions, requests, chit-chat, the world). **relate** (`relate_batch`) — an MLP on
[v_new | v_old | v_new·v_old | |v_new−v_old| | {n_rel_cues} cues of `psm_core/skill/relate_features.py`: overlap, value words
(names, numbers, times) shared or one-sided, negation and never-statements, change / end / "also" / restatement words,
and the agreement of the two statements' attribute distributions] → duplicate, update, contradiction, complement,
unrelated. Trained by `psm train-relations` (`psm_core/skill/training/relations.py`, {rel_seconds:.0f} s) on
{attr_rows} attribute rows ({attr_sources}) and {pairs} pairs ({pair_sources}): PersonaChat utterances of
`../shared/data/personas` (heads "i"/"my", relations mapped with `PERSONA_RELATIONS`; 1 in 10 held out; pairs: same
relation and tail → duplicate, same single-valued relation → update, same multi-valued attribute → complement,
different attribute groups → unrelated), a hand-written curriculum of slots and phrasings
(`relations_lexicon.py`, `relations_pools.py`; every fourth template and value held out), and the memops train split
(`benchmarks/memops/scenarios/train.jsonl`; the test split is only evaluated on). The relation head sees attribute
distributions from attribute heads fitted on the other half of the texts (cross-fitting). Most unrelated pairs are
near-topic ones (cosine ≥ 0.3): the caller relates only pairs of the same attribute or above that cosine.

Held-out: memops test split, {mem_n} pairs, accuracy {mem_acc}, macro-F1 {mem_f1} (the older interference head on the
same pairs: accuracy {mem_old_acc}, macro-F1 {mem_old_f1}); of those, the {caller_n} pairs the caller would relate (same
attribute or cosine ≥ 0.3): accuracy {caller_acc}, macro-F1 {caller_f1}. Attributes: held-out PersonaChat utterances
{persona_acc} (cue-word rules {persona_rules}); memops test statements and noise turns {mem_attr_acc} (rules
{mem_attr_rules}). Confusion matrix of the memops test split (rows: true, columns: predicted; {rel_order}):
```
{confusion}
```
"""


def _relations_section(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    m = metrics.get("relations")
    if not m:
        return ""
    mem = m.get("memops_test_relations", {})
    order = ["unrelated", "duplicate", "update", "contradiction", "complement"]
    conf = mem.get("confusion", {})
    rows = [f"{'':>14}" + "".join(f"{c[:8]:>10}" for c in order)]
    for t in order:
        if t in conf:
            rows.append(f"{t:>14}" + "".join(f"{conf[t].get(c, 0):>10}" for c in order))

    def get(d: dict[str, Any], *keys: str) -> Any:
        for k in keys:
            d = d.get(k, {}) if isinstance(d, dict) else {}
        return d if d != {} else "?"

    return _RELATIONS.format(
        n_attr_cues=len(config.get("attribute_cues", [])),
        n_attr=len(config.get("attribute_classes", [])) - 1,
        n_rel_cues=len(config.get("relate_cues", [])),
        rel_seconds=float(m.get("seconds", 0.0)),
        attr_rows=m.get("attribute_rows", "?"),
        attr_sources=", ".join(f"{k} {v}" for k, v in m.get("attribute_rows_by_source", {}).items()),
        pairs=m.get("pairs", "?"),
        pair_sources=", ".join(f"{k} {v}" for k, v in m.get("pairs_by_source", {}).items()),
        mem_n=get(mem, "n"),
        mem_acc=get(mem, "accuracy"),
        mem_f1=get(mem, "macro_f1"),
        mem_old_acc=get(mem, "interfere_head", "accuracy"),
        mem_old_f1=get(mem, "interfere_head", "macro_f1"),
        caller_n=get(mem, "caller_pairs", "n"),
        caller_acc=get(mem, "caller_pairs", "accuracy"),
        caller_f1=get(mem, "caller_pairs", "macro_f1"),
        mem_attr_rules=get(m, "memops_test_attributes", "rules", "accuracy"),
        persona_acc=get(m, "persona_heldout_attributes", "accuracy"),
        persona_rules=get(m, "persona_heldout_attributes", "rules", "accuracy"),
        mem_attr_acc=get(m, "memops_test_attributes", "accuracy"),
        rel_order="memops scenarios: old → new turns, statements in order, distractor turns against labelled turns",
        confusion="\n".join(rows),
    )


def write_card(path: Path, config: dict[str, Any], metrics: dict[str, Any]) -> None:
    tc = config.get("train_config", {})
    weak = bool(config.get("weak_labels"))
    detail = ""
    if weak:
        wd = metrics.get("weak_data", {})
        detail = (
            f"  Trained on LoCoMo conversations {', '.join(wd.get('locomo_train', []))} (evidence turns = keep; "
            f"question→evidence lists for recall) and the training half of LongMemEval_S ({wd.get('lme_train_questions')} "
            "questions, sha1(question_id) even; has_answer user turns = keep; the first "
            f"{tc.get('lme_questions')} for recall lists). Reported on the other LoCoMo conversations and the other half."
        )
    shown = {k: v for k, v in metrics.items() if k not in ("seconds",)}
    path.write_text(
        _TEMPLATE.format(
            seed=config.get("seed", 0),
            dialogues=tc.get("dialogues", "?"),
            pairs=tc.get("pairs", "?"),
            corrections=tc.get("corrections", "?"),
            weak="yes" if weak else "no (curriculum only)",
            weak_detail=detail,
            metrics=json.dumps(shown, indent=2, sort_keys=True),
            weak_flag=" --weak-labels" if weak else "",
            seconds=float(metrics.get("seconds", 0.0)),
            gate_weak=" + LoCoMo evidence / non-evidence turns and LongMemEval has_answer turns of the training split"
            if weak
            else "",
            threshold=float(metrics.get("gate", {}).get("threshold", 0.5)),
            calibrated=f"to keep {100 * float(metrics.get('gate', {}).get('recall_target', 0.99)):.0f}% of evidence on "
            f"{metrics.get('gate', {}).get('calibrated_on', '?')}",
            weigh_sources=metrics.get("weigh_sources", "curriculum dialogues"),
            relations=_relations_section(config, metrics),
        )
    )
