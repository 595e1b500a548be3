"""PSM-LM: the memory skill on any Hugging Face causal LM, loaded in 4-bit with bitsandbytes.

```
PSMLM.load(model, gguf_file=None, adapter=None, fallback="mini")   CUDA when present, CPU otherwise
  every operation: prompt (psm_core.skill.lm_prompts) → greedy JSON → pydantic validation
                   → retried with tenacity (the error is fed back) → fallback skill if still invalid
  extract_patterns is abstractive: the LM writes the statements and cites its episodes
  weigh: the fallback's fast scores; with ``lm_weigh=True`` blended with LM usefulness scores
```
Requires the ``lm`` extra (``pip install 'psm-memory[lm]'``). Greedy decoding makes it
deterministic for a given model, device and library version. ``stats`` counts calls, retries and fallbacks.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from psm_core.embeddings import Embedder
from psm_core.errors import InvalidInputError, MissingDependencyError, SkillError
from psm_core.skill import lm_prompts as P
from psm_core.skill.base import (
    AttributeReading,
    Candidate,
    Correction,
    GateDecision,
    Interference,
    MemorySkill,
    Pattern,
    Relation,
)
from psm_core.types import Event, MemoryRecord

__all__ = ["PSMLM", "chat_prompt", "extract_json", "load_4bit"]

logger = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)
_MAX_EPISODES = 20


class _BadOutput(Exception):
    """The model's output was not valid JSON for the schema."""


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (``ValueError`` when there is none)."""
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text[m.start() :])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("no JSON object in the output")


def _require() -> tuple[Any, Any]:
    try:
        import bitsandbytes  # noqa: F401
        import torch
        import transformers
    except ImportError as exc:
        raise MissingDependencyError(getattr(exc, "name", None) or "bitsandbytes", "lm") from exc
    return torch, transformers


class PSMLM(MemorySkill):
    """A 4-bit causal LM behind the :class:`MemorySkill` interface, with validated JSON outputs."""

    name = "psm-lm"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        fallback: MemorySkill | None = None,
        retries: int = 2,
        max_new_tokens: int = 256,
        lm_weigh: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.fallback = fallback
        self.retries = retries
        self.max_new_tokens = max_new_tokens
        self.lm_weigh = lm_weigh
        self.stats = {"calls": 0, "attempts": 0, "retries": 0, "fallbacks": 0}

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model: str | Path,
        *,
        gguf_file: str | None = None,
        adapter: str | Path | None = None,
        embedder: Embedder | None = None,
        fallback: str | MemorySkill | None = "mini",
        device: str | None = None,
        **kwargs: Any,
    ) -> PSMLM:
        """Load ``model`` (a local HF directory; ``gguf_file`` inside it for GGUF) in 4-bit NF4.

        ``fallback`` answers when the LM's output stays invalid: "mini" (needs ``embedder``),
        "baseline", a skill, or None to raise :class:`SkillError` instead.
        """
        lm, tok = load_4bit(model, gguf_file=gguf_file, device=device)
        if adapter is not None:
            from peft import PeftModel

            lm = PeftModel.from_pretrained(lm, str(adapter))
        lm.eval()
        return cls(lm, tok, fallback=_fallback(fallback, embedder), **kwargs)

    # -- generation -----------------------------------------------------------------------------
    def prompt_text(self, user: str) -> str:
        """The full prompt for ``user`` (the tokenizer's chat template when it has one)."""
        return chat_prompt(self.tokenizer, user)

    def generate(self, user: str, max_new_tokens: int | None = None) -> str:
        """Greedy completion of the prompt for ``user`` (new tokens only; at most ``self.max_new_tokens``)."""
        import torch

        enc = self.tokenizer(self.prompt_text(user), return_tensors="pt", add_special_tokens=False)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                max_new_tokens=min(max_new_tokens or self.max_new_tokens, self.max_new_tokens),
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return str(self.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))

    def _ask(
        self, user: str, schema: type[_M], check: Callable[[_M], None] | None = None, max_new_tokens: int | None = None
    ) -> _M:
        """Generate, parse and validate; on failure retry with the error in the prompt (tenacity)."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        self.stats["calls"] += 1
        feedback: list[str] = []

        def attempt() -> _M:
            self.stats["attempts"] += 1
            note = f"\n\nYour previous answer was invalid ({feedback[-1]}). Reply with the JSON object only." if feedback else ""
            raw = self.generate(user + note, max_new_tokens)
            try:
                value = schema.model_validate(extract_json(raw))
                if check is not None:
                    check(value)
                return value
            except (ValueError, ValidationError) as exc:
                feedback.append(str(exc).splitlines()[0][:200])
                raise _BadOutput(f"{schema.__name__}: {feedback[-1]}; output was {raw[:120]!r}") from exc

        retrying = Retrying(stop=stop_after_attempt(self.retries + 1), retry=retry_if_exception_type(_BadOutput), reraise=True)
        before = self.stats["attempts"]
        try:
            return retrying(attempt)
        finally:
            self.stats["retries"] += self.stats["attempts"] - before - 1

    def _or_fallback(self, op: str, run: Callable[[], Any], fallback: Callable[[MemorySkill], Any]) -> Any:
        try:
            return run()
        except _BadOutput as exc:
            if self.fallback is None:
                raise SkillError(f"PSM-LM gave no valid {op} output after {self.retries + 1} attempts: {exc}") from exc
            self.stats["fallbacks"] += 1
            logger.warning("PSM-LM %s: invalid output after %d attempts, using %s", op, self.retries + 1, self.fallback.name)
            return fallback(self.fallback)

    # -- operations -----------------------------------------------------------------------------
    def gate(self, event: Event, context: Sequence[Event] = (), vector: NDArray[np.float32] | None = None) -> GateDecision:
        if not event.text.strip():
            raise InvalidInputError("event text is empty")

        def run() -> GateDecision:
            o = self._ask(P.gate_prompt(event.text, event.role, [c.text for c in context]), P.GateOut, max_new_tokens=64)
            return GateDecision(
                keep=o.keep, kind=o.kind, importance=o.importance, emotional_weight=o.emotional_weight, confidence=o.confidence
            )

        return self._or_fallback("gate", run, lambda f: f.gate(event, context, vector))  # type: ignore[no-any-return]

    def interfere(self, new: str, existing: str, similarity: float | None = None) -> Interference:
        if not new.strip() or not existing.strip():
            raise InvalidInputError("interfere needs two non-empty statements")

        def run() -> Interference:
            o = self._ask(P.interfere_prompt(new, existing), P.InterfereOut, max_new_tokens=32)
            return Interference(relation=Relation(o.relation), probability=o.probability)

        return self._or_fallback("interfere", run, lambda f: f.interfere(new, existing, similarity))  # type: ignore[no-any-return]

    def read_attributes(self, texts: Sequence[str], vectors: NDArray[np.float32] | None = None) -> list[AttributeReading]:
        """The attribute of each statement, and the fact it states in the LM's own words (abstractive)."""
        from psm_core.attributes import ATTRIBUTE_NAMES, NONE

        allowed = {*ATTRIBUTE_NAMES, NONE}
        out: list[AttributeReading] = []
        for n, text in enumerate(texts):

            def check(o: P.AttributeOut) -> None:
                if o.attribute not in allowed:
                    raise ValueError(f"attribute must be one of {sorted(allowed)}, got {o.attribute!r}")

            def run(text: str = text) -> AttributeReading:
                o = self._ask(P.attribute_prompt(text, ATTRIBUTE_NAMES), P.AttributeOut, check=check, max_new_tokens=64)
                fact = o.fact.strip() if o.attribute != NONE else ""
                return AttributeReading(attribute=o.attribute, probability=0.8, fact=fact or None)

            vec = None if vectors is None else vectors[n : n + 1]

            def fall(f: MemorySkill, t: str = text, v: NDArray[np.float32] | None = vec) -> AttributeReading:
                return f.read_attributes([t], v)[0]

            out.append(self._or_fallback("read_attributes", run, fall))
        return out

    def weigh(self, query: str, candidates: Sequence[Candidate], now: datetime) -> NDArray[np.float64]:
        if not candidates:
            return np.zeros(0, dtype=np.float64)
        base = self.fallback.weigh(query, candidates, now) if self.fallback else np.array([c.similarity for c in candidates])
        if not self.lm_weigh:
            return np.asarray(base, dtype=np.float64)
        top = np.argsort(-base, kind="stable")[:10]
        texts = [candidates[i].record.text for i in top]

        def check(o: P.WeighOut) -> None:
            if len(o.scores) != len(texts):
                raise ValueError(f"expected {len(texts)} scores, got {len(o.scores)}")

        def run() -> NDArray[np.float64]:
            o = self._ask(P.weigh_prompt(query, texts), P.WeighOut, check, max_new_tokens=8 * len(texts) + 16)
            out = np.asarray(base, dtype=np.float64).copy()
            spread = float(out.max() - out.min()) or 1.0
            for i, s in zip(top, o.scores):
                out[i] += spread * min(1.0, max(0.0, s))
            return out

        return self._or_fallback("weigh", run, lambda f: np.asarray(base, dtype=np.float64))  # type: ignore[no-any-return]

    def decay(self, record: MemoryRecord) -> float:
        def run() -> float:
            o = self._ask(
                P.decay_prompt(record.text, record.kind.value, record.tier.value, record.recall_count),
                P.DecayOut,
                max_new_tokens=24,
            )
            return math.log(2) / o.half_life_days

        return self._or_fallback("decay", run, lambda f: f.decay(record))  # type: ignore[no-any-return]

    def extract_patterns(self, episodes: Sequence[MemoryRecord], vectors: NDArray[np.float32]) -> list[Pattern]:
        if len(episodes) != len(vectors):
            raise InvalidInputError(f"{len(episodes)} episodes but {len(vectors)} vectors: pass one row per episode")
        out: list[Pattern] = []
        for s in range(0, len(episodes), _MAX_EPISODES):
            chunk = list(episodes[s : s + _MAX_EPISODES])
            vecs = vectors[s : s + _MAX_EPISODES]

            def check(o: P.PatternsOut, n: int = len(chunk)) -> None:
                for p in o.patterns:
                    if any(not 0 <= i < n for i in p.episodes):
                        raise ValueError(f"episode numbers must be in 0..{n - 1}")

            def run(chunk: list[MemoryRecord] = chunk) -> list[Pattern]:
                o = self._ask(P.patterns_prompt([e.text for e in chunk]), P.PatternsOut, check, max_new_tokens=256)
                return [
                    Pattern(
                        text=p.text, kind=p.kind, confidence=p.confidence, episode_ids=sorted({chunk[i].id for i in p.episodes})
                    )
                    for p in o.patterns
                ]

            def fall(f: MemorySkill, c: list[MemoryRecord] = chunk, v: NDArray[np.float32] = vecs) -> list[Pattern]:
                return f.extract_patterns(c, v)

            out += self._or_fallback("extract_patterns", run, fall)
        return out

    def is_correction(self, user_turn: str, previous_answer: str) -> Correction:
        if not user_turn.strip():
            raise InvalidInputError("user_turn is empty")

        def run() -> Correction:
            o = self._ask(P.correction_prompt(user_turn, previous_answer), P.CorrectionOut, max_new_tokens=32)
            return Correction(is_correction=o.is_correction, probability=o.probability)

        return self._or_fallback("is_correction", run, lambda f: f.is_correction(user_turn, previous_answer))  # type: ignore[no-any-return]


def chat_prompt(tokenizer: Any, user: str) -> str:
    """The prompt PSM-LM sends for ``user``: the chat template when the tokenizer has one, else plain text."""
    messages = [{"role": "system", "content": P.SYSTEM}, {"role": "user", "content": user}]
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return f"{P.SYSTEM}\n\n{user}\n\nJSON:"


def _from_gguf(path: Path, gguf_file: str, cache_dir: Path) -> Path:
    """A HF directory converted once from ``path/gguf_file`` (transformers cannot quantize a GGUF load directly)."""
    import os

    torch, tf = _require()
    src = path / gguf_file
    if not src.is_file():
        raise InvalidInputError(f"no GGUF file {gguf_file!r} in {path}")
    dest = cache_dir / f"{src.stem}-{src.stat().st_size}"
    if (dest / "config.json").exists():
        return dest
    logger.info("converting %s to a safetensors directory at %s (once)", src.name, dest)
    tok = tf.AutoTokenizer.from_pretrained(str(path), gguf_file=gguf_file)
    dense = tf.GgufConfig(gguf_file=gguf_file, dequantize=True)  # plain weights, so they can be saved and re-quantized
    lm = tf.AutoModelForCausalLM.from_pretrained(str(path), gguf_file=gguf_file, quantization_config=dense, dtype=torch.bfloat16)
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    lm.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    os.replace(tmp, dest)
    return dest


def load_4bit(
    model: str | Path, *, gguf_file: str | None = None, device: str | None = None, cache_dir: str | Path | None = None
) -> tuple[Any, Any]:
    """(model, tokenizer) of a local HF directory in 4-bit NF4 (CUDA when present, CPU otherwise).

    A GGUF model (``gguf_file`` inside ``model``) is dequantized once into ``cache_dir``
    (default ``~/.cache/psm/lm``) and loaded from there in 4-bit.
    """
    torch, tf = _require()
    path = Path(model).expanduser()
    if not path.exists():
        raise InvalidInputError(f"model {model!r} is not a local directory: PSM loads nothing from a hub at run time")
    if gguf_file:
        path = _from_gguf(path, gguf_file, Path(cache_dir or "~/.cache/psm/lm").expanduser())
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32
    quant = tf.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    tok = tf.AutoTokenizer.from_pretrained(str(path))
    lm = tf.AutoModelForCausalLM.from_pretrained(
        str(path), quantization_config=quant, device_map=device or ("cuda" if cuda else "cpu"), dtype=dtype
    )
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    logger.info("loaded %s in 4-bit nf4 on %s", path.name, "cuda" if cuda else "cpu")
    return lm, tok


def _fallback(spec: str | MemorySkill | None, embedder: Embedder | None) -> MemorySkill | None:
    if spec is None or isinstance(spec, MemorySkill):
        return spec
    if spec == "baseline":
        from psm_core.skill.baseline import BaselinePolicy

        return BaselinePolicy()
    if spec == "mini":
        if embedder is None:
            raise InvalidInputError("fallback='mini' needs the embedder (pass embedder=psm.embedder) or use fallback='baseline'")
        from psm_core.skill.mini import PSMMini

        return PSMMini.load(embedder=embedder)
    raise InvalidInputError(f"fallback {spec!r}: use 'mini', 'baseline', a MemorySkill or None")
