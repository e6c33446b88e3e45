"""The vLLM backend through a fake `vllm` module at its boundary: engine arguments, one LoRARequest per adapter,
pinned SamplingParams, prompt building and output parsing. No GPU, no vllm install."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from gsnr_bench.errors import DataError, RegistryError
from gsnr_bench.fileio import read_jsonl
from gsnr_bench.generation import vllm as backend
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.stage import generate
from gsnr_bench.training.templates import build_prompt
from tiny_models import questions


class FakeLLM:
    instances: list["FakeLLM"] = []

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []
        FakeLLM.instances.append(self)

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((list(prompts), params, lora_request))
        outs = []
        for p in prompts:
            words = p.split()
            comp = types.SimpleNamespace(text=f" answer to {len(words)} words", token_ids=[5, 6, 7, 2])
            outs.append(types.SimpleNamespace(prompt=p, prompt_token_ids=list(range(len(words))), outputs=[comp]))
        return outs


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class FakeLoRARequest:
    def __init__(self, lora_name, lora_int_id, lora_path):
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    req = types.ModuleType("vllm.lora.request")
    req.LoRARequest = FakeLoRARequest
    for name, m in {"vllm": mod, "vllm.lora": lora, "vllm.lora.request": req}.items():
        monkeypatch.setitem(sys.modules, name, m)
    FakeLLM.instances.clear()
    backend.close_engines()
    yield mod
    backend.close_engines()


def fake_trained(root: Path, base: str, regime: str = "lora", rank: int = 8) -> Path:
    """What finetune writes, minus real weights (the fake engine never reads them)."""
    (root / "model").mkdir(parents=True)
    if regime == "lora":
        (root / "model" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": rank}))
    (root / "trained.json").write_text(json.dumps({"base_model": base, "regime": regime, "model_subdir": "model"}))
    return root


def test_one_engine_one_lora_request_per_adapter(fake_vllm, tmp_path):
    cfg = GenerationConfig(backend="vllm", max_new_tokens=64, temperature=0.7, top_p=0.9, seed=3,
                           tensor_parallel_size=2, chunk_size=2)
    qs = questions("vicuna", 3)
    a = fake_trained(tmp_path / "a", "meta-llama/Llama-2-7b-hf")
    b = fake_trained(tmp_path / "b", "meta-llama/Llama-2-7b-hf")
    pa = generate(a, qs, cfg, tmp_path / "ans-a")
    generate(b, qs, cfg, tmp_path / "ans-b")

    assert len(FakeLLM.instances) == 1  # the base is loaded once for both adapters
    llm = FakeLLM.instances[0]
    assert llm.kwargs == {"model": "meta-llama/Llama-2-7b-hf", "tensor_parallel_size": 2, "seed": 3,
                          "gpu_memory_utilization": 0.9, "enable_lora": True, "max_lora_rank": 8}
    reqs = [call[2] for call in llm.calls]
    assert len(reqs) == 4  # 2 chunks per adapter
    assert {r.lora_path for r in reqs} == {str((a / "model").resolve()), str((b / "model").resolve())}
    ids = {r.lora_path: r.lora_int_id for r in reqs}
    assert sorted(ids.values()) == [1, 2]
    params = llm.calls[0][1].kwargs
    assert params == {"n": 1, "temperature": 0.7, "top_p": 0.9, "top_k": -1, "repetition_penalty": 1.0,
                      "max_tokens": 64, "seed": 3}
    assert llm.calls[0][0] == [build_prompt(qs[0].text), build_prompt(qs[1].text)]

    rows = read_jsonl(pa["vicuna"])
    n_words = len(build_prompt(qs[0].text).split())
    assert rows[0]["answer"] == f"answer to {n_words} words"
    assert rows[0]["prompt_tokens"] == n_words and rows[0]["completion_tokens"] == 4
    assert rows[0]["gen_params"]["backend"] == "vllm" and rows[0]["gen_params"]["do_sample"] is True


def test_full_model_and_rank_and_base_checks(fake_vllm, tmp_path):
    cfg = GenerationConfig(backend="vllm")
    full = fake_trained(tmp_path / "f", "base", regime="full")
    backend.VLLMGenerator(full, cfg)
    assert FakeLLM.instances[-1].kwargs["model"] == str(full / "model")
    assert "enable_lora" not in FakeLLM.instances[-1].kwargs
    big = fake_trained(tmp_path / "r", "base", rank=24)
    backend.VLLMGenerator(big, cfg)
    assert FakeLLM.instances[-1].kwargs["max_lora_rank"] == 32
    wrong = fake_trained(tmp_path / "w", "base")
    (wrong / "model" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "other", "r": 8}))
    with pytest.raises(DataError, match="was trained on 'other'"):
        backend.VLLMGenerator(wrong, cfg)


def test_missing_vllm_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(RegistryError, match="generation.backend=hf"):
        backend.VLLMGenerator(fake_trained(tmp_path / "a", "base"), GenerationConfig())
