"""The real vLLM CPU engine against Hugging Face on a real pretrained model: SmolLM2-135M-Instruct (the catalogue
model, `gsnr-bench models fetch smollm2-135m-instruct`) with a LoRA adapter, on real Vicuna and WizardLM
questions from ../shared/data through the model's chat template. Marker `vllm` (its own environment, .ci/run).

The adapter has random non-zero weights (B ~ N(0, 0.02), seeded), not zero-initialised ones: it changes the
model's answers (asserted) at no training cost, so agreement is measured on what vLLM's LoRA path computes.
Both sides run float32 and greedy, with the context capped at max_model_len=2048 on both (SmolLM2 has 8,192
positions; the cap keeps the long-prompt case cheap on CPU). One engine start for the module."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from gsnr_bench.generation.config import GenerationConfig

from conftest import SHARED_DATA as DATA
from conftest import smollm2_dir

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (see .ci/run)"),
    pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present"),
]

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = 2048
NEW = 32
CFG = GenerationConfig(backend="vllm", max_new_tokens=NEW, batch_size=8, max_model_len=CONTEXT)
N_EACH = 12  # questions from each of Vicuna and WizardLM (25 prompts with the long one: CI time)


def real_questions() -> list[str]:
    vicuna = [json.loads(x)["turns"][0] for x in (DATA / "vicuna_80.jsonl").read_text().splitlines() if x.strip()]
    wizard = [json.loads(x) for x in (DATA / "wizardlm_218.jsonl").read_text().splitlines() if x.strip()]
    wizard_text = [w.get("Instruction") or w.get("instruction") or w["turns"][0] for w in wizard]
    return vicuna[:N_EACH] + wizard_text[:N_EACH]


def random_lora(base: Path, out: Path, seed: int = 0) -> Path:
    """A LoRA adapter on the Llama attention and MLP projections with seeded random non-zero B, saved the way
    finetune saves one (trained.json + model/)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"], lora_dropout=0.0)
    )
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    (out / "model").mkdir(parents=True)
    peft.save_pretrained(out / "model")
    (out / "trained.json").write_text(json.dumps({"base_model": str(base), "regime": "lora", "model_subdir": "model"}))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import AutoTokenizer

    base = smollm2_dir()
    work = tmp_path_factory.mktemp("smollm2")
    adapter = random_lora(base, work / "adapter")
    tok = AutoTokenizer.from_pretrained(base)

    def chat(text: str) -> str:
        return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)

    prompts = [chat(q) for q in real_questions()]
    # the long case: real WizardLM questions run together, cut so the templated prompt plus NEW tokens ends
    # within 64 tokens of the context limit
    wizard = " ".join(real_questions()[N_EACH:] * 8)
    ids = tok(wizard, add_special_tokens=False)["input_ids"]
    target = CONTEXT - NEW - 16
    lo, hi = 0, len(ids)
    while lo < hi:  # the most content tokens whose templated prompt fits `target`
        mid = (lo + hi + 1) // 2
        n = len(tok(chat(tok.decode(ids[:mid])), add_special_tokens=True)["input_ids"])
        lo, hi = (mid, hi) if n <= target else (lo, mid - 1)
    long_prompt = chat(tok.decode(ids[:lo]))
    yield {"base": base, "adapter": adapter, "prompts": prompts, "long": long_prompt, "tok": tok}
    from gsnr_bench.generation import vllm as backend

    backend.close_engines()


def test_vllm_matches_hf_with_lora_on_real_questions(setup, report):
    from gsnr_bench.generation import vllm as backend
    from gsnr_bench.generation.hf import HFGenerator

    prompts = setup["prompts"] + [setup["long"]]
    t = time.perf_counter()
    gen = backend.VLLMGenerator(setup["adapter"], CFG)
    start = time.perf_counter() - t
    assert gen.lora_request is not None and gen.engine_args["max_model_len"] == CONTEXT
    assert gen.max_positions == CONTEXT
    t = time.perf_counter()
    v = gen.generate(prompts)
    v_s = time.perf_counter() - t
    backend.close_engines()  # HF then runs alone: an idle engine's processes only compete for the 2 cores
    hf = HFGenerator(setup["adapter"], CFG.model_copy(update={"backend": "hf"}))
    assert hf.max_positions == CONTEXT  # the same cap on both sides
    t = time.perf_counter()
    h = hf.generate(prompts)
    h_s = time.perf_counter() - t

    long_tokens = v[-1].prompt_tokens
    assert CONTEXT - 64 <= long_tokens + NEW <= CONTEXT, long_tokens  # within 64 tokens of the context limit
    same, diverged = 0, []
    for i, (a, b) in enumerate(zip(v, h)):
        assert a.prompt_tokens == b.prompt_tokens  # the same tokenization on both sides
        if a.text == b.text and a.completion_tokens == b.completion_tokens:
            same += 1
        else:
            k = next((j for j, (x, y) in enumerate(zip(a.text, b.text)) if x != y), min(len(a.text), len(b.text)))
            diverged.append(f"#{i}@char{k}: vllm={a.text[k : k + 12]!r} hf={b.text[k : k + 12]!r}")
    share = same / len(prompts)
    distinct = len({c.text for c in v})
    report(
        f"SmolLM2 + LoRA, vLLM vs HF greedy, first {NEW} tokens identical: {same}/{len(prompts)} ({share:.0%}); "
        f"{distinct} distinct answers; long prompt {long_tokens} tokens (+{NEW} new, context {CONTEXT}); engine "
        f"start {start:.0f} s, vLLM {v_s:.1f} s, HF {h_s:.1f} s"
        + (f"; diverging: {'; '.join(diverged[:3])}" if diverged else "")
    )
    assert distinct >= len(prompts) - 2, "near-constant outputs prove nothing"
    assert all(c.completion_tokens >= 8 for c in v)
    assert share >= 0.95, diverged

    # the adapter is applied: the base model answers differently (HF, a few prompts)
    plain = HFGenerator(setup["base"], CFG.model_copy(update={"backend": "hf"})).generate(prompts[:8])
    assert sum(p.text != c.text for p, c in zip(plain, h[:8])) >= 2, "the LoRA adapter changed nothing"
