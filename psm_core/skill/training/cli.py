"""``psm train``: reproduce the PSM-mini weights (and model card) with a fixed seed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train PSM-mini on the memory-operations curriculum",
        description="Train PSM-mini (gate, interference, recall weighting, correction heads) and write "
        "model.safetensors, MODEL_CARD.md and metrics.json to --out. The shipped weights come from "
        "`psm train --out DIR --weak-labels` with the defaults below.",
    )
    p.add_argument("--out", required=True, type=Path, help="output directory for the weights and model card")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0, the shipped weights)")
    p.add_argument(
        "--weak-labels",
        action="store_true",
        help="also learn from the training split of the development data in ../shared/data (LoCoMo conv-26/41, "
        "half of LongMemEval_S); without it only the synthetic curriculum is used",
    )
    p.add_argument("--data", type=Path, default=None, help="development data root (default: ../shared/data)")
    p.add_argument("--dialogues", type=int, default=500, help="curriculum dialogues for the gate")
    p.add_argument("--pairs", type=int, default=24000, help="curriculum statement pairs for interference")
    p.add_argument("--corrections", type=int, default=8000, help="curriculum replies for correction detection")
    p.add_argument("--lme-questions", type=int, default=60, help="LongMemEval training questions for recall lists")
    p.add_argument("--cache", type=Path, default=None, help="directory to cache embeddings between runs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    q = sub.add_parser(
        "train-lora",
        help="fine-tune LoRA adapters of a local causal LM (4-bit) for PSM-LM",
        description="QLoRA on the memory-operations curriculum; load the result with PSMLM.load(model, adapter=OUT).",
    )
    q.add_argument("--model", required=True, type=Path, help="local Hugging Face model directory")
    q.add_argument("--gguf-file", default=None, help="GGUF file inside --model, when the model is GGUF")
    q.add_argument("--out", required=True, type=Path, help="output directory for the adapters")
    q.add_argument("--steps", type=int, default=200)
    q.add_argument("--examples", type=int, default=3000)
    q.add_argument("--lr", type=float, default=2e-4)
    q.add_argument("--rank", type=int, default=8)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_train_lora)

    t = sub.add_parser(
        "train-relations",
        help="add or replace PSM-mini's attribute and relation heads in existing weights",
        description="Fit the attribute head (read_attributes) and the relation head (relate_batch) on PersonaChat, "
        "the relation curriculum and the memops train split, and write them into an existing model.safetensors; "
        "every other head and the config are kept. Also rewrites metrics.json and MODEL_CARD.md. The shipped heads "
        "come from `psm train-relations --weights psm_core/skill/weights` with the defaults below.",
    )
    t.add_argument("--weights", required=True, type=Path, help="PSM-mini weights: a directory or its model.safetensors")
    t.add_argument("--out", type=Path, default=None, help="output directory (default: next to --weights, in place)")
    t.add_argument("--data", type=Path, default=None, help="development data root (default: ../shared/data)")
    t.add_argument("--scenarios", type=Path, default=None, help="memops scenarios (default: benchmarks/memops/scenarios)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--cache", type=Path, default=None, help="directory to cache embeddings between runs")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_train_relations)

    r = sub.add_parser(
        "train-reranker",
        help="train the cross-encoder reranker (a low-rank adapter over the packaged MiniLM)",
        description="Record recall lists of the training split of the development data with the shipped PSM-mini, "
        "then fit the reranker's adapter and head (psm_core.rerank). The shipped adapter comes from "
        "`psm train-reranker --out psm_core/skill/weights/reranker.safetensors` with the defaults below.",
    )
    r.add_argument("--out", required=True, type=Path, help="adapter file to write (.safetensors)")
    r.add_argument("--data", type=Path, default=None, help="development data root (default: ../shared/data)")
    r.add_argument("--lme-questions", type=int, default=None, help="LongMemEval training questions (default: all)")
    r.add_argument("--top", type=int, default=30, help="negatives come from the skill's best N candidates")
    r.add_argument("--after-pass", action="store_true", help="also lists recalled after a consolidation pass of each user")
    r.add_argument("--epochs", type=int, default=2)
    r.add_argument("--lr", type=float, default=5e-4)
    r.add_argument("--rank", type=int, default=8)
    r.add_argument("--weight", type=float, default=0.5, help="mixing weight of the cross-encoder at recall")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--groups", type=Path, default=None, help="JSON file of training groups: read if it exists, else written")
    r.add_argument("--cache", type=Path, default=None, help="directory to cache embeddings between runs")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_train_reranker)


def _train(args: argparse.Namespace) -> int:
    from psm_core.skill.training.train import TrainConfig, train

    cfg = TrainConfig(
        out=args.out,
        seed=args.seed,
        dialogues=args.dialogues,
        pairs=args.pairs,
        corrections=args.corrections,
        weak_labels=args.weak_labels,
        data=args.data,
        lme_questions=args.lme_questions,
        cache_dir=args.cache,
    )
    report = train(cfg, progress=not args.no_progress)
    print(f"PSM-mini written to {report.out} in {report.seconds:.0f} s")
    print(json.dumps(report.metrics, indent=2, sort_keys=True))
    sys.stdout.flush()
    return 0


def _train_relations(args: argparse.Namespace) -> int:
    from psm_core.skill.training.relations import RelationsConfig, train_relations

    cfg = RelationsConfig(seed=args.seed, data=args.data, scenarios=args.scenarios)
    report = train_relations(args.weights, args.out, cfg, cache_dir=args.cache, progress=not args.no_progress)
    print(f"attribute and relation heads written to {report.file} in {report.seconds:.0f} s")
    print(json.dumps(report.metrics, indent=2, sort_keys=True))
    sys.stdout.flush()
    return 0


def _train_lora(args: argparse.Namespace) -> int:
    from psm_core.skill.training.lora import train_lora

    summary = train_lora(
        args.model, args.out, gguf_file=args.gguf_file, steps=args.steps, examples=args.examples, lr=args.lr,
        rank=args.rank, seed=args.seed, progress=True,
    )  # fmt: skip
    print(json.dumps(summary, indent=2))
    return 0


def _train_reranker(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from psm_core.embeddings import load_embedder
    from psm_core.skill.training.rerank import RerankConfig, RerankGroup, train_reranker, weak_label_groups

    progress = not args.no_progress
    if args.groups is not None and args.groups.exists():
        groups = [RerankGroup(**g) for g in json.loads(args.groups.read_text())]
    else:
        embedder: Any = load_embedder()
        if args.cache is not None:
            from psm_core.skill.training.vectors import VectorCache

            embedder = VectorCache(embedder, args.cache)
        groups = weak_label_groups(
            embedder, data=args.data, lme_questions=args.lme_questions, top=args.top, progress=progress,
            after_pass=args.after_pass,
        )  # fmt: skip
        if args.cache is not None:
            embedder.save()
        if args.groups is not None:
            args.groups.parent.mkdir(parents=True, exist_ok=True)
            args.groups.write_text(json.dumps([asdict(g) for g in groups]))
    cfg = RerankConfig(epochs=args.epochs, lr=args.lr, rank=args.rank, weight=args.weight, seed=args.seed)
    summary = train_reranker(groups, args.out, cfg, progress=progress)
    print(f"reranker adapter written to {args.out}")
    print(json.dumps(summary, indent=2))
    return 0
