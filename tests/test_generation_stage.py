"""generate(): HF backend on a tiny trained target, chunked answers, resume, backend choice."""

from __future__ import annotations

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.domain.records import Question
from gsnr_bench.domain.templates import build_prompt
from gsnr_bench.generation.base import Completion
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.stage import choose_backend, generate
from gsnr_bench.training.config import FinetuneConfig
from gsnr_bench.training.finetune import finetune

from tiny_models import examples, questions


@pytest.fixture(scope="module")
def trained(tiny_gpt2, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "model"
    cfg = FinetuneConfig(regime="lora", lr=1e-3, epochs=1, batch_size=4, micro_batch_size=4, max_length=96)
    finetune(examples(8), cfg, str(tiny_gpt2), out)
    return out


class Counting:
    """Wraps a generator and raises after `fail_after` calls (an interrupted run)."""

    def __init__(self, inner, fail_after=None):
        self.inner, self.name, self.calls, self.fail_after = inner, inner.name, 0, fail_after

    def generate(self, prompts):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        return self.inner.generate(prompts)


def test_hf_answers_chunked_and_resumed(trained, tmp_path):
    from gsnr_bench.generation.hf import HFGenerator

    cfg = GenerationConfig(backend="hf", max_new_tokens=8, batch_size=3, chunk_size=2)
    qs = questions("wiz", 5) + questions("vic", 2)
    gen = Counting(HFGenerator(trained, cfg), fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        generate(trained, qs, cfg, tmp_path, generator=gen)
    assert len(read_jsonl(tmp_path / "wiz.jsonl")) == 4 and not (tmp_path / "vic.jsonl").exists()
    gen.fail_after, gen.calls = None, 0
    seen = []
    paths = generate(trained, qs, cfg, tmp_path, progress=lambda t, d, n: seen.append((t, d, n)), generator=gen)
    assert gen.calls == 2  # wiz question 5 (one chunk) + vic (one chunk)
    assert set(paths) == {"wiz", "vic"} and ("wiz", 4, 5) in seen and ("vic", 2, 2) in seen
    rows = read_jsonl(paths["wiz"])
    assert [r["question_id"] for r in rows] == ["0", "1", "2", "3", "4"]
    r = rows[0]
    assert r["prompt"] == build_prompt("What is colour 0?")
    assert r["gen_params"] == {
        "backend": "hf",
        "do_sample": False,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_new_tokens": 8,
        "seed": 0,
        "long_prompts": "truncate",
    }
    assert r["prompt_tokens"] > 10 and 1 <= r["completion_tokens"] <= 8 and isinstance(r["answer"], str)
    # without an injected generator the backend is built through the registry
    more = generate(trained, qs + questions("new", 1), cfg, tmp_path)
    assert len(read_jsonl(more["new"])) == 1 and len(read_jsonl(more["wiz"])) == 5


def test_batched_greedy_matches_batch_of_one(trained):
    from gsnr_bench.generation.hf import HFGenerator

    prompts = [build_prompt(q.text) for q in questions("t", 3)] + [build_prompt("Name two colours now")]
    one = HFGenerator(trained, GenerationConfig(max_new_tokens=6, batch_size=1)).generate(prompts)
    many = HFGenerator(trained, GenerationConfig(max_new_tokens=6, batch_size=4)).generate(prompts)
    assert [c.prompt_tokens for c in one] == [c.prompt_tokens for c in many]
    assert [c.text for c in one] == [c.text for c in many]  # left padding does not change greedy answers


class Fixed:
    name = "fake"

    def generate(self, prompts):
        return [Completion("x", 1, 1) for _ in prompts]


def test_mixed_params_and_duplicate_ids_are_refused(tmp_path):
    cfg = GenerationConfig(max_new_tokens=4)
    generate(tmp_path, questions("t", 2), cfg, tmp_path, generator=Fixed())
    with pytest.raises(DataError, match="delete it to regenerate"):
        generate(tmp_path, questions("t", 3), GenerationConfig(max_new_tokens=5), tmp_path, generator=Fixed())
    dup = [Question("t", "1", "a"), Question("t", "1", "b")]
    with pytest.raises(DataError, match="more than once"):
        generate(tmp_path, dup, cfg, tmp_path / "d", generator=Fixed())


def test_auto_backend_is_hf_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # whatever machine runs the test
    assert choose_backend("auto") == "hf" and choose_backend("vllm") == "vllm" and choose_backend("hf") == "hf"


@pytest.mark.gpu
def test_auto_backend_is_vllm_on_cuda_with_vllm():
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed")
    assert choose_backend("auto") == "vllm"


def test_generators_registered():
    from gsnr_bench.core.registry import generators

    reg = generators()
    assert {"auto", "hf", "vllm"} <= set(reg.specs())
    assert "LoRARequest" in reg.describe(reg.get("vllm"))


class Recording:
    """Answers every prompt with its own text and records the size of each call."""

    def __init__(self, name):
        self.name, self.sizes = name, []

    def generate(self, prompts):
        self.sizes.append(len(prompts))
        return [Completion(p[-12:], 1, 1) for p in prompts]


@pytest.mark.parametrize("backend, sizes", [("hf", [2, 2, 1]), ("vllm", [5])])
def test_progress_moves_per_batch_on_hf_and_per_chunk_on_vllm(tmp_path, backend, sizes):
    cfg = GenerationConfig(backend=backend, max_new_tokens=4, batch_size=2, chunk_size=5)
    gen, seen = Recording(backend), []
    paths = generate(tmp_path, questions("t", 5), cfg, tmp_path, progress=lambda *a: seen.append(a), generator=gen)
    assert gen.sizes == sizes
    expected = [("t", 0, 5)] + [("t", d, 5) for d in (2, 4)] * (backend == "hf") + [("t", 5, 5)]
    assert seen == expected
    rows = read_jsonl(paths["t"])  # each answer still belongs to its own question
    assert [r["answer"] for r in rows] == [r["prompt"][-12:] for r in rows]
