"""Learning curve: precision@5 of useful memories against feedback events, learned policy vs no learning.

``python -m benchmarks learning_curve [--events 5000] [--users-per-type 2] [--topics 8] [--seed 0]``

Simulated users (psm_core.feedback.simulate) with hidden, differing utility, each with a real PSM
store (real embedder, real embedded Chroma). One feedback event = one query answered through the
real API (recall k=5 -> log_retrieval -> simulated LLM -> feedback), with the consolidation pass
applying per-record online effects every ``--consolidate-every`` events. Three arms, each its own
PSM home with the same users and the same event sequence:

* learned    the default skill + the utility policy, updated by ``update_policy`` (safety-gated) at
             every checkpoint and served from then on
* untrained  the default skill (``load_skill("mini")``), no policy — the same online effects
* baseline   BaselinePolicy, no policy (skipped and copied when the default skill IS the baseline)

At each checkpoint every arm is evaluated read-only on held-out phrasings of every (user, topic):
precision@5 = useful memories among the top 5 / 5 (each query has exactly 5 useful memories).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from psm_core import PSM, PSMSettings
from psm_core.errors import ConfigurationError
from psm_core.feedback import PolicyStore, update_policy
from psm_core.feedback.simulate import USER_TYPES, Simulation

__all__ = ["main", "run_arm"]

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CHECKPOINTS = (0, 100, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000)


def _open(home: Path, skill: str) -> tuple[PSM, str]:
    """A PSM with ``skill``; the default "mini" falls back to the baseline while PSM-mini has no weights."""
    try:
        return PSM(PSMSettings(home=home, skill=skill)), skill
    except ConfigurationError as exc:
        if skill != "mini":
            raise
        print(f"  PSM-mini unavailable ({exc}); the untrained PSM is the baseline policy", file=sys.stderr)
        return PSM(PSMSettings(home=home, skill="baseline")), "baseline"


def run_arm(arm: str, home: Path, skill: str, args: argparse.Namespace, checkpoints: list[int]) -> dict[str, Any]:
    """One arm of the curve: evaluations at every checkpoint (and the gate's decisions for ``learned``)."""
    from tqdm.auto import tqdm

    psm, used = _open(home, skill)
    out: dict[str, Any] = {"skill": None, "requested_skill": skill, "points": []}
    with psm:
        sim = Simulation(psm, users_per_type=args.users_per_type, topics_per_user=args.topics, seed=args.seed,
                         consolidate_every=args.consolidate_every)  # fmt: skip
        out["skill"] = psm.skill.name
        out["resolved_skill"] = used
        out["online_effects"] = sim.online_effects
        out["users"] = [{"user": u.user_id, "type": u.kind, "topics": u.topics} for u in sim.users]
        store = PolicyStore(home / "policy")
        done, t0 = 0, time.perf_counter()
        bar = tqdm(total=checkpoints[-1], desc=f"{arm:>9}", unit="event", file=sys.stderr)
        for cp in checkpoints:
            success = sim.run(cp - done, progress=bar.update) if cp > done else None
            done = cp
            point: dict[str, Any] = {"events": cp, "llm_success": success}
            if arm == "learned" and cp > 0:
                rep = update_policy(psm.feedback_log, store, min_events=args.min_events)
                psm.reload_policy()
                point["gate"] = {**rep.metrics(), "version": rep.version}
            skills = {"serving": psm.skill}
            if arm == "learned" and hasattr(psm.skill, "base"):
                skills["policy_off"] = psm.skill.base
            ev = sim.evaluate(skills)
            point["precision_at_5"] = ev["serving"]
            if "policy_off" in ev:
                point["precision_at_5_policy_off"] = ev["policy_off"]
            point["skill"] = psm.skill.name
            point["seconds"] = round(time.perf_counter() - t0, 1)
            out["points"].append(point)
            bar.set_postfix_str(f"P@5 {ev['serving']['all']:.3f}")
        bar.close()
        if arm == "learned" and args.keep_policy is not None and store.active_version():
            dest = args.keep_policy / "policy"
            shutil.rmtree(dest, ignore_errors=True)
            v = store.active_version()
            shutil.copytree(store.root / f"v{v}", dest / f"v{v}")
            (dest / "active").write_text(f"{v}\n", encoding="utf-8")
            out["kept_policy"] = str(dest / f"v{v}")
    return out


def _plot(path: Path, arms: dict[str, dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["all", *USER_TYPES]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.0 * len(groups), 3.6), squeeze=False)
    styles = {"learned": "-o", "untrained": "-s", "baseline": "--^"}
    for ax, g in zip(axes.flat, groups):
        for arm, res in arms.items():
            xs = [p["events"] for p in res["points"]]
            ys = [p["precision_at_5"].get(g) for p in res["points"]]
            ax.plot(xs, ys, styles.get(arm, "-"), label=f"{arm} ({res['skill'].split('+')[0]})", markersize=4)
        ax.set_title("all users" if g == "all" else f"users favouring {g} memories", fontsize=10)
        ax.set_xlabel("feedback events")
        ax.set_ylabel("precision@5 of useful memories")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 0.94))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks learning_curve", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=5000, help="feedback events in the run (default 5000)")
    p.add_argument("--users-per-type", type=int, default=2, help="simulated users of each utility type (default 2)")
    p.add_argument("--topics", type=int, default=8, help="topics per user, 18 memories each (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--consolidate-every", type=int, default=100, help="events between consolidation passes (default 100)")
    p.add_argument("--min-events", type=int, default=50, help="events the first policy update needs (default 50)")
    p.add_argument("--skill", default="mini", help="the untrained PSM's skill (default: the product default, mini)")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument(
        "--keep-policy", type=Path, default=None, help="copy the final learned policy under DIR/policy (a PSM_HOME layout)"
    )
    p.add_argument("--out", default="learning_curve", help="result file stem")
    args = p.parse_args(argv)
    command = "python -m benchmarks learning_curve " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    checkpoints = sorted({c for c in DEFAULT_CHECKPOINTS if c < args.events} | {args.events})
    arms: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="psm-learning-") as tmp:
        arms["learned"] = run_arm("learned", Path(tmp) / "learned", args.skill, args, checkpoints)
        arms["untrained"] = run_arm("untrained", Path(tmp) / "untrained", args.skill, args, checkpoints)
        if arms["untrained"]["skill"] == "baseline":
            arms["baseline"] = {**arms["untrained"], "note": "identical run: the untrained PSM's skill is the baseline policy"}
        else:
            arms["baseline"] = run_arm("baseline", Path(tmp) / "baseline", "baseline", args, checkpoints)
    final = {arm: res["points"][-1]["precision_at_5"] for arm, res in arms.items()}
    gain = final["learned"]["all"] - final["untrained"]["all"]
    result = {
        "command": command,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "untrained_skill": arms["untrained"]["skill"],
        "metric": "precision@5 of useful memories on held-out phrasings (5 useful memories per query), read-only",
        "final": final,
        "gain_over_untrained_points": round(100 * gain, 1),
        "target_points": 15.0,
        "arms": arms,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.out}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    _plot(
        args.out_dir / f"{args.out}.png",
        arms,
        f"Learning from utility ({len(arms['learned']['users'])} simulated users, one run)",
    )
    print(f"\n{command}\nuntrained skill: {arms['untrained']['skill']}; online effects: {arms['learned']['online_effects']}")
    print(f"{'events':>7} | {'learned':>8} | {'untrained':>9} | {'baseline':>8} | learned skill")
    for i, cp in enumerate(checkpoints):
        row = [arms[a]["points"][i]["precision_at_5"]["all"] for a in ("learned", "untrained", "baseline")]
        print(f"{cp:>7} | {row[0]:>8.3f} | {row[1]:>9.3f} | {row[2]:>8.3f} | {arms['learned']['points'][i]['skill']}")
    print(f"gain over the untrained PSM after {args.events} events: {100 * gain:+.1f} points (target >= 15)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
