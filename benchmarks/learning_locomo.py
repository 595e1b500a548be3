"""No-regression check: LoCoMo development evidence recall@10 with and without a learned utility policy.

``python -m benchmarks learning_locomo [--data PATH] [--policy DIR] [--limit N] [--skill mini]``

One PSM home; per conversation one user that observes every session (``observe_many``: role =
speaker, session id, real timestamps, metadata dia_id). Every question is asked twice on the same
store, ``recall(question, k=10)`` with the untrained skill and with the skill wrapped by the learned
policy (``DIR/policy``, a PSM_HOME layout, e.g. the one ``learning_curve --keep-policy`` writes);
access statistics are restored after each recall (benchmarks.psm_system isolate mode), so neither
arm sees the other's. Two phases per conversation:

* no_feedback    every question; the user has given no feedback (profile zero): the policy must
                 leave the ranking exactly as it is
* with_feedback  the odd questions are answered first with feedback through the real API (helpful:
                 memories covering an evidence turn; irrelevant: the others; corrected: none did),
                 then the even questions are evaluated with the users' profiles built from it

Arms: ``untrained`` (the skill alone), ``sim_policy`` (the policy learned on simulated users: a
transfer to another population) and, in with_feedback, ``locomo_policy``: a policy learned with
``learn`` on the odd questions' feedback (from scratch, safety-gated; absent when the gate rejects),
and ``sim_then_locomo``: the update ``psm learn`` makes on that feedback when the simulation's
policy is the active one (a conservative step from it; absent when the gate rejects).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import DEFAULT_LOCOMO, LOCOMO_CATEGORIES, load_locomo
from benchmarks.metrics import evidence_recall
from benchmarks.psm_system import PsmSystem
from psm_core.errors import ConfigurationError
from psm_core.feedback import PolicySkill, PolicyStore, learn
from psm_core.skill import MemorySkill

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POLICY = RESULTS / "learning_curve_policy"


def _sessions(conv: Any) -> list[list[dict[str, Any]]]:
    user = conv.sample_id
    return [
        [
            {
                "text": t.text,
                "role": t.speaker,
                "session_id": f"{user}/session_{t.session}",
                "timestamp": t.time,
                "metadata": {"dia_id": t.dia_id},
            }
            for t in session
        ]  # fmt: skip
        for session in conv.sessions
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks learning_locomo", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_LOCOMO, help="LoCoMo JSON (official format)")
    p.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="directory holding policy/ with an active version")
    p.add_argument("--limit", type=int, default=None, help="first N conversations only")
    p.add_argument("--skill", default="mini", help="the untrained skill (default: the product default)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--min-events", type=int, default=200, help="feedback events the LoCoMo-learned policy needs")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument("--out", default="learning_locomo")
    args = p.parse_args(argv)
    command = "python -m benchmarks learning_locomo " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    if not args.data.exists():
        print(f"skipped: LoCoMo development data not found at {args.data}")
        return 0
    policy = PolicyStore(args.policy / "policy").active()
    if policy is None:
        print(f"no active policy under {args.policy / 'policy'}: run learning_curve --keep-policy {args.policy} first")
        return 1
    from tqdm.auto import tqdm

    from benchmarks.cache import default_embedder

    convs = load_locomo(args.data)[: args.limit]
    embedder = default_embedder()
    phases = ("no_feedback", "with_feedback")
    scores: dict[str, dict[str, dict[int, list[float]]]] = {ph: {} for ph in phases}
    fb_counts = {"helpful": 0, "corrected": 0, "retrievals": 0}
    gate: dict[str, Any] = {}
    gate_sim: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="psm-learning-locomo-") as tmp:
        try:
            system = PsmSystem(Path(tmp) / "psm", embedder, unit_key="dia_id", skill=args.skill)
        except ConfigurationError as exc:
            print(f"  {args.skill} unavailable ({exc}); using the baseline policy", file=sys.stderr)
            system = PsmSystem(Path(tmp) / "psm2", embedder, unit_key="dia_id", skill="baseline")
        base = system.psm.skill
        profile = system.psm.feedback_log.user_profile
        arms: dict[str, MemorySkill] = {"untrained": base, "sim_policy": PolicySkill(base, policy, profile=profile)}

        def ask(phase: str, user: str, q: Any) -> None:
            for arm, skill in arms.items():
                system.psm.skill = skill
                hits, _ = system.recall(user, q.question, args.k)
                covered = [u for h in hits for u in h.units]
                scores[phase].setdefault(arm, {}).setdefault(q.category, []).append(evidence_recall(covered, q.evidence))
                system.restore(user)

        def give_feedback(user: str, q: Any) -> None:
            mem = system.memory(user)
            res = mem.recall(q.question, k=args.k)
            rid = mem.log_retrieval(res)
            good = [m.id for m in res.memories if set(system.units_of(mem, m.record)) & set(q.evidence)]
            fb_counts["retrievals"] += 1
            if good:
                mem.feedback(rid, "helpful", memory_ids=good, source="locomo-evidence")
                rest = [i for i in res.ids if i not in good]
                if rest:
                    mem.feedback(rid, "irrelevant", memory_ids=rest, source="locomo-evidence")
                fb_counts["helpful"] += 1
            else:
                mem.feedback(rid, "corrected", source="locomo-evidence")
                fb_counts["corrected"] += 1

        try:
            for conv in tqdm(convs, desc="no feedback, then feedback", file=sys.stderr):
                user = conv.sample_id
                system.ingest(user, _sessions(conv))
                for q in conv.questions:  # phase 1: a user who has given no feedback
                    ask("no_feedback", user, q)
                system.psm.skill = base  # phase 2a: feedback on the odd questions, the skill alone serving
                for q in conv.questions[1::2]:
                    if q.evidence:
                        give_feedback(user, q)
                system.snapshot(user)
            # a policy learned on this population's own feedback (safety-gated), from scratch
            rep = learn(system.psm.feedback_log, None, min_events=args.min_events)
            gate = rep.metrics()
            # and what `psm learn` says about the simulation's policy when that one is active here
            rep_sim = learn(system.psm.feedback_log, policy, min_events=args.min_events)
            gate_sim = rep_sim.metrics()
            if rep.accepted and rep.policy is not None:
                arms["locomo_policy"] = PolicySkill(base, rep.policy, profile=profile)
            if rep_sim.accepted and rep_sim.policy is not None:
                arms["sim_then_locomo"] = PolicySkill(base, rep_sim.policy, profile=profile)
            for conv in tqdm(convs, desc="evaluating with feedback", file=sys.stderr):
                for q in conv.questions[0::2]:  # phase 2b: the even questions
                    ask("with_feedback", conv.sample_id, q)
        finally:
            system.psm.skill = base
            skill_name = base.name
            system.close()
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for phase in phases:
        tables[phase] = {}
        for arm, by_cat in scores[phase].items():
            allv = [v for vs in by_cat.values() for v in vs]
            row: dict[str, Any] = {"all": float(np.mean(allv)), "questions": len(allv)}
            row.update({LOCOMO_CATEGORIES[c]: float(np.mean(v)) for c, v in sorted(by_cat.items())})
            tables[phase][arm] = row
    result: dict[str, Any] = {
        "command": command,
        "skill": skill_name,
        "policy": {"dir": str(args.policy), "version": policy.version},
        "metric": f"LoCoMo dev evidence recall@{args.k} (fraction of evidence dia_ids in the top {args.k})",
        "no_feedback": "every question, users who have given no feedback (profile zero)",
        "with_feedback": "odd questions first answered with feedback (helpful = memories covering evidence), "
        "then the even questions evaluated",
        "feedback_given": fb_counts,
        "locomo_policy_gate": gate,
        "learn_with_sim_policy_active": gate_sim,
        "recall_at_k": tables,
        "delta_all": {
            ph: {arm: row["all"] - tables[ph]["untrained"]["all"] for arm, row in tables[ph].items() if arm != "untrained"}
            for ph in phases
        },
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.out}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\n{command}\nskill: {skill_name}; policy v{policy.version} from {args.policy}")
    cols = ["all", *(LOCOMO_CATEGORIES[c] for c in sorted(LOCOMO_CATEGORIES))]
    for phase in phases:
        print(f"\n{phase}: {result[phase]}")
        print(f"{'arm':>10} | " + " | ".join(f"{c:>11}" for c in cols) + " | questions")
        for arm, row in tables[phase].items():
            print(f"{arm:>10} | " + " | ".join(f"{row.get(c, float('nan')):>11.4f}" for c in cols) + f" | {row['questions']}")
        for arm, d in result["delta_all"][phase].items():
            print(f"delta R@{args.k} ({arm} - untrained): {d:+.4f}")
    print(f"\nlocomo_policy gate: {gate.get('reason')}")
    print(f"psm learn with the sim policy active: {gate_sim.get('reason')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
