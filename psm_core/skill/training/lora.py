"""LoRA recipe for PSM-LM (QLoRA: LoRA adapters on the 4-bit model) on the memory-operations curriculum.

```
sft_examples(n, seed)      (prompt, JSON answer) pairs built with PSM-LM's own prompts and schemas
train_lora(model, out, …)  fine-tune adapters with peft; writes them to ``out`` (load with PSMLM.load(adapter=out))
```
Loss is on the answer tokens only. Needs the ``lm`` extra. On CPU this is for smoke tests and
small models; on a GPU, a few hundred steps on a 1-3B instruct model is the intended use.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

from psm_core.skill import lm_prompts as P
from psm_core.skill.lm import chat_prompt, load_4bit
from psm_core.skill.training.curriculum import Curriculum

__all__ = ["sft_examples", "train_lora"]

logger = logging.getLogger(__name__)


def sft_examples(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (user prompt, JSON answer) pairs: gate, interference and correction in equal parts."""
    cur = Curriculum(seed)
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    turns = [t for _ in range(max(1, n // 30)) for t in cur.dialogue().turns if t.observed]
    rng.shuffle(turns)
    while len(out) < n:
        op = len(out) % 3
        if op == 0 and turns:
            t = turns[len(out) % len(turns)]
            ans = {"keep": t.keep, "kind": t.kind.value, "importance": 0.8 if t.keep else 0.1,
                   "emotional_weight": round(t.emotion, 2), "confidence": round(t.confidence, 2)}  # fmt: skip
            out.append((P.gate_prompt(t.text, t.speaker, []), json.dumps(ans)))
        elif op == 1:
            p = cur.pair()
            out.append((P.interfere_prompt(p.new, p.existing), json.dumps({"relation": p.relation.value, "probability": 0.9})))
        else:
            c = cur.correction()
            out.append(
                (P.correction_prompt(c.turn, c.answer), json.dumps({"is_correction": c.is_correction, "probability": 0.9}))
            )
    return out


def train_lora(
    model: str | Path,
    out: str | Path,
    *,
    gguf_file: str | None = None,
    steps: int = 200,
    examples: int = 3000,
    lr: float = 2e-4,
    rank: int = 8,
    alpha: int = 16,
    batch: int = 4,
    max_length: int = 512,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune LoRA adapters of ``model`` (loaded 4-bit) on :func:`sft_examples`; returns a summary."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(seed)
    lm, tok = load_4bit(model, gguf_file=gguf_file)
    lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=False)
    names = {n.rsplit(".", 1)[-1] for n, _ in lm.named_modules()}
    targets = [t for t in ("q_proj", "k_proj", "v_proj", "o_proj") if t in names] or "all-linear"
    lm = get_peft_model(
        lm, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.05, target_modules=targets, task_type="CAUSAL_LM")
    )
    data = sft_examples(examples, seed)
    rows = []
    for user, answer in data:
        prompt_ids = tok(chat_prompt(tok, user), add_special_tokens=False)["input_ids"]
        answer_ids = tok(answer, add_special_tokens=False)["input_ids"] + (
            [tok.eos_token_id] if tok.eos_token_id is not None else []
        )
        ids = (prompt_ids + answer_ids)[-max_length:]
        labels = ([-100] * len(prompt_ids) + answer_ids)[-max_length:]
        rows.append((ids, labels))
    opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=lr)
    rng = random.Random(seed)
    device = next(lm.parameters()).device
    it: Any = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="psm train-lora", unit="step")
    lm.train()
    losses = []
    for _ in it:
        chunk = rng.sample(rows, min(batch, len(rows)))
        width = max(len(ids) for ids, _ in chunk)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in chunk], device=device)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in chunk], device=device)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in chunk], device=device)
        loss = lm(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    out_dir = Path(out)
    lm.save_pretrained(str(out_dir))
    summary = {"model": str(model), "gguf_file": gguf_file, "steps": steps, "examples": len(rows), "rank": rank,
               "alpha": alpha, "lr": lr, "seed": seed, "first_loss": losses[0] if losses else None,
               "last_loss": losses[-1] if losses else None}  # fmt: skip
    (out_dir / "psm_lora.json").write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("LoRA adapters written to %s (loss %.3f → %.3f)", out_dir, summary["first_loss"] or 0, summary["last_loss"] or 0)
    return summary
