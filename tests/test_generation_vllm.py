"""The vLLM backend through a fake `vllm` module at its boundary: engine arguments (GPU and CPU), one LoRARequest
per adapter, one engine alive at a time, pinned SamplingParams, prompt building and output parsing. No GPU, no
vllm install (the real engine is driven by tests/test_generation_vllm_real.py, marker `vllm`)."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from gsnr_bench.core.errors import DataError, RegistryError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.domain.templates import build_prompt
from gsnr_bench.generation import vllm as backend
from gsnr_bench.generation import vllm_engine as engine
from gsnr_bench.generation import vllm_signals
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.stage import generate

from tiny_models import questions


class FakeEngineCore:
    """vLLM 0.32's teardown entry point: `llm.llm_engine.engine_core.shutdown()`."""

    def __init__(self, llm):
        self.llm = llm

    def shutdown(self, timeout=None):
        assert self.llm.alive, "shut down twice"
        self.llm.alive = False
        FakeLLM.live -= 1


class FakeLLM:
    instances: list["FakeLLM"] = []
    live = 0  # engines started and not shut down
    max_live = 0

    def __init__(self, **kwargs):
        self.kwargs, self.calls, self.alive = kwargs, [], True
        self.env_kvcache = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
        self.llm_engine = types.SimpleNamespace(engine_core=FakeEngineCore(self))
        FakeLLM.instances.append(self)
        FakeLLM.live += 1
        FakeLLM.max_live = max(FakeLLM.max_live, FakeLLM.live)

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        assert self.alive, "generate on a shut-down engine"
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


class FakePlatform:
    cpu = False

    def is_cpu(self):
        return FakePlatform.cpu


@pytest.fixture
def fake_vllm(monkeypatch):
    """A fake `vllm` on a GPU platform (set FakePlatform.cpu for the CPU build)."""
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    req = types.ModuleType("vllm.lora.request")
    req.LoRARequest = FakeLoRARequest
    plat = types.ModuleType("vllm.platforms")
    plat.current_platform = FakePlatform()
    for name, m in {"vllm": mod, "vllm.lora": lora, "vllm.lora.request": req, "vllm.platforms": plat}.items():
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    FakePlatform.cpu = False
    FakeLLM.instances.clear()
    FakeLLM.live = FakeLLM.max_live = 0
    backend.close_engines()
    yield mod
    backend.close_engines()
    assert FakeLLM.live == 0


def fake_trained(root: Path, base: str, regime: str = "lora", rank: int = 8, dtype: str | None = None) -> Path:
    """What finetune writes, minus real weights (the fake engine never reads them)."""
    (root / "model").mkdir(parents=True)
    if regime == "full" and dtype:
        (root / "model" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "dtype": dtype}))
    if regime == "lora":
        (root / "model" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": rank}))
    (root / "trained.json").write_text(json.dumps({"base_model": base, "regime": regime, "model_subdir": "model"}))
    return root


def test_one_engine_one_lora_request_per_adapter(fake_vllm, tmp_path):
    cfg = GenerationConfig(
        backend="vllm", max_new_tokens=64, temperature=0.7, top_p=0.9, seed=3, tensor_parallel_size=2, chunk_size=2
    )
    qs = questions("vicuna", 3)
    a = fake_trained(tmp_path / "a", "meta-llama/Llama-2-7b-hf")
    b = fake_trained(tmp_path / "b", "meta-llama/Llama-2-7b-hf")
    pa = generate(a, qs, cfg, tmp_path / "ans-a")
    generate(b, qs, cfg, tmp_path / "ans-b")

    assert len(FakeLLM.instances) == 1  # the base is loaded once for both adapters
    llm = FakeLLM.instances[0]
    assert llm.kwargs == {
        "model": "meta-llama/Llama-2-7b-hf",
        "tensor_parallel_size": 2,
        "seed": 3,
        "gpu_memory_utilization": 0.9,
        "enable_lora": True,
        "max_lora_rank": 8,
        "dtype": "auto",
    }
    assert llm.env_kvcache is None  # GPU: no CPU settings
    reqs = [call[2] for call in llm.calls]
    assert len(reqs) == 4  # 2 chunks per adapter
    assert {r.lora_path for r in reqs} == {str((a / "model").resolve()), str((b / "model").resolve())}
    ids = {r.lora_path: r.lora_int_id for r in reqs}
    assert sorted(ids.values()) == [1, 2]
    params = llm.calls[0][1].kwargs
    assert params == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": -1,
        "repetition_penalty": 1.0,
        "max_tokens": 64,
        "seed": 3,
    }
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


def test_one_engine_alive_between_models(fake_vllm, tmp_path):
    """Full fine-tunes each need their own engine: the previous one is shut down first, never two at once.
    Adapters of one base keep sharing one engine."""
    cfg = GenerationConfig(backend="vllm", chunk_size=2)
    qs = questions("t", 3)
    fulls = [fake_trained(tmp_path / f"full{i}", "base", regime="full") for i in range(3)]
    for i, m in enumerate(fulls):
        generate(m, qs, cfg, tmp_path / f"ans{i}")
        assert FakeLLM.live == 1 and backend.live_engines() == 1
    assert len(FakeLLM.instances) == 3 and FakeLLM.max_live == 1
    assert [e.alive for e in FakeLLM.instances] == [False, False, True]
    assert [e.kwargs["model"] for e in FakeLLM.instances] == [str(m / "model") for m in fulls]
    # the same model again: the live engine is reused, not restarted
    generate(fulls[2], qs, cfg, tmp_path / "again")
    assert len(FakeLLM.instances) == 3
    # two adapters of one base after the full models: one more engine, shared by both
    for name in ("a", "b"):
        generate(fake_trained(tmp_path / name, "base"), qs, cfg, tmp_path / f"ans-{name}")
    assert len(FakeLLM.instances) == 4 and FakeLLM.max_live == 1 and FakeLLM.live == 1
    assert {c[2].lora_int_id for c in FakeLLM.instances[3].calls} == {1, 2}
    # a generator whose engine was replaced refuses to run on it
    old = backend.VLLMGenerator(fulls[0], cfg)
    backend.VLLMGenerator(fulls[1], cfg)
    with pytest.raises(DataError, match="shut down"):
        old.generate(["x"])
    backend.close_engines()
    assert FakeLLM.live == 0 and backend.live_engines() == 0
    backend.close_engines()  # idempotent


def test_cpu_settings_applied_and_overridable(fake_vllm, tmp_path):
    FakePlatform.cpu = True
    full = fake_trained(tmp_path / "f", "base", regime="full", dtype="float32")
    backend.VLLMGenerator(full, GenerationConfig(backend="vllm"))
    llm = FakeLLM.instances[-1]
    assert llm.kwargs == {
        "model": str(full / "model"),
        "tensor_parallel_size": 1,
        "seed": 0,
        "gpu_memory_utilization": 0.1,
        "enforce_eager": True,
        "dtype": "float32",
    }
    assert llm.env_kvcache == "1"
    cfg = GenerationConfig(
        backend="vllm", cpu_memory_utilization=0.3, cpu_kvcache_gib=4, enforce_eager=False, gpu_memory_utilization=0.5
    )
    backend.VLLMGenerator(full, cfg)  # other engine settings: a new engine, the old one shut down
    llm2 = FakeLLM.instances[-1]
    assert not llm.alive and llm2.alive
    assert llm2.kwargs["gpu_memory_utilization"] == 0.3 and llm2.kwargs["enforce_eager"] is False
    assert llm2.env_kvcache == "4"
    # GPU: gpu_memory_utilization and CUDA graphs as configured, no CPU settings
    FakePlatform.cpu = False
    backend.VLLMGenerator(full, GenerationConfig(backend="vllm", gpu_memory_utilization=0.8))
    kw = FakeLLM.instances[-1].kwargs
    assert kw["gpu_memory_utilization"] == 0.8 and "enforce_eager" not in kw and kw["dtype"] == "float32"
    # engine-only knobs do not change the answers' stage key; the text's knobs do
    assert GenerationConfig(cpu_memory_utilization=0.5).stage_key() == GenerationConfig().stage_key()
    assert GenerationConfig(max_new_tokens=7).stage_key() != GenerationConfig().stage_key()


def test_engine_start_failure_is_one_line(fake_vllm, tmp_path, monkeypatch):
    def boom(**kwargs):
        raise ValueError("Insufficient memory\nmore details")

    monkeypatch.setattr(fake_vllm, "LLM", boom)
    with pytest.raises(
        RegistryError,
        match=r"could not start an engine .*Insufficient memory\); check "
        r"generation.gpu_memory_utilization",
    ) as err:
        backend.VLLMGenerator(fake_trained(tmp_path / "f", "base", regime="full"), GenerationConfig())
    assert "\n" not in str(err.value) and backend.live_engines() == 0


def test_lora_refused_by_engine_is_merged(fake_vllm, tmp_path, monkeypatch):
    """An architecture the engine cannot serve with LoRA: the adapter is merged and served as a full model."""

    def picky(**kwargs):
        if kwargs.get("enable_lora"):
            raise ValueError("GPT2LMHeadModel does not support LoRA yet.")
        return FakeLLM(**kwargs)

    merged_dir = tmp_path / "merged"

    def fake_merge(model_dir, weights, arch):
        merged_dir.mkdir(exist_ok=True)
        engine.SLOT.merged[str(Path(weights).resolve())] = str(merged_dir)
        return str(merged_dir)

    monkeypatch.setattr(fake_vllm, "LLM", picky)
    monkeypatch.setattr(backend, "_merge", fake_merge)
    gen = backend.VLLMGenerator(fake_trained(tmp_path / "a", "base"), GenerationConfig())
    assert gen.lora_request is None and FakeLLM.instances[-1].kwargs["model"] == str(merged_dir)
    assert "enable_lora" not in FakeLLM.instances[-1].kwargs and merged_dir.is_dir()
    backend.close_engines()
    assert not merged_dir.exists()  # the merged copy goes with its engine


def test_knobs_passed_through_and_validated(fake_vllm, tmp_path):
    """Every vLLM knob in the config reaches vllm.LLM when set, and only then; bad values are one-line errors."""
    from gsnr_bench.core.errors import ConfigError

    cfg = GenerationConfig(
        backend="vllm",
        max_model_len=2048,
        max_num_seqs=8,
        max_num_batched_tokens=4096,
        enable_prefix_caching=False,
        max_loras=2,
        quantization="fp8",
        kv_cache_dtype="fp8",
        pipeline_parallel_size=2,
        data_parallel_size=3,
    )
    backend.VLLMGenerator(fake_trained(tmp_path / "a", "base"), cfg)
    kw = FakeLLM.instances[-1].kwargs
    assert {k: kw[k] for k in backend.PASSED_THROUGH} == {
        "max_model_len": 2048,
        "max_num_seqs": 8,
        "max_num_batched_tokens": 4096,
        "enable_prefix_caching": False,
        "quantization": "fp8",
        "kv_cache_dtype": "fp8",
    }
    assert kw["pipeline_parallel_size"] == 2 and kw["data_parallel_size"] == 3 and kw["max_loras"] == 2
    # a full model gets no LoRA knobs; unset knobs are not passed (vLLM's defaults stay)
    backend.VLLMGenerator(fake_trained(tmp_path / "f", "base", regime="full"), GenerationConfig(backend="vllm"))
    kw = FakeLLM.instances[-1].kwargs
    assert not set(kw) & {*backend.PASSED_THROUGH, "max_loras", "pipeline_parallel_size", "data_parallel_size"}
    # validation: values out of range, a context with no room for a prompt, vLLM-only text knobs on HF
    from pydantic import ValidationError

    for bad in (
        {"max_model_len": 0},
        {"max_num_seqs": -1},
        {"max_loras": 0},
        {"pipeline_parallel_size": 0},
        {"quantization": "AWQ; rm"},
        {"max_model_len": 64, "max_new_tokens": 64},
        {"backend": "hf", "kv_cache_dtype": "fp8"},
    ):
        with pytest.raises(ValidationError):
            GenerationConfig(**bad)
    # a name the installed vLLM does not know: one line before any engine starts
    qmod = types.ModuleType("vllm.model_executor.layers.quantization")
    qmod.QUANTIZATION_METHODS = ["awq", "fp8", "gptq"]
    for name in ("vllm.model_executor", "vllm.model_executor.layers"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["vllm.model_executor.layers.quantization"] = qmod
    try:
        n = len(FakeLLM.instances)
        with pytest.raises(ConfigError, match=r"generation.quantization='nf9' is not one this vLLM knows \(awq, fp8"):
            backend.VLLMGenerator(fake_trained(tmp_path / "q", "base"), GenerationConfig(quantization="nf9"))
        assert len(FakeLLM.instances) == n
    finally:
        for name in ("vllm.model_executor.layers.quantization", "vllm.model_executor.layers", "vllm.model_executor"):
            sys.modules.pop(name, None)


def test_only_text_knobs_in_the_answers_key():
    """Memory, batching and parallelism knobs leave the answers' key (and each answer's gen_params) unchanged, so
    changing them reuses the answers; the knobs that change the text change both."""
    from gsnr_bench.generation.base import gen_params

    base = GenerationConfig(backend="vllm")
    reuse = {
        "gpu_memory_utilization": 0.5,
        "tensor_parallel_size": 4,
        "pipeline_parallel_size": 2,
        "data_parallel_size": 2,
        "batch_size": 3,
        "chunk_size": 5,
        "max_num_seqs": 4,
        "max_num_batched_tokens": 1024,
        "enable_prefix_caching": True,
        "max_loras": 3,
        "cpu_memory_utilization": 0.2,
        "cpu_kvcache_gib": 2,
        "enforce_eager": False,
    }
    for k, v in reuse.items():
        other = base.model_copy(update={k: v})
        assert other.stage_key() == base.stage_key(), k
        assert gen_params(other, "vllm") == gen_params(base, "vllm"), k
    change = {"max_model_len": 1024, "quantization": "awq", "kv_cache_dtype": "fp8", "max_new_tokens": 8, "seed": 1}
    for k, v in change.items():
        other = base.model_copy(update={k: v})
        assert other.stage_key() != base.stage_key(), k
        assert gen_params(other, "vllm") != gen_params(base, "vllm"), k
    assert set(reuse) | {"backend", "temperature", "top_p", "long_prompts"} | set(change) == set(
        GenerationConfig.model_fields
    ), "a new generation knob must be classified here: does it change the text?"


class EngineDeadError(Exception):
    """Named like vLLM's (vllm.v1.engine.exceptions): the backend matches it by name."""


def test_engine_death_is_one_line_and_resumes(fake_vllm, tmp_path):
    """The engine dies after the first chunk: one-line EngineError, the first chunk kept, the engine slot freed;
    the next call generates only what is missing, on a new engine."""
    from gsnr_bench.core.errors import EngineError

    cfg = GenerationConfig(backend="vllm", chunk_size=2)
    qs = questions("vicuna", 5)
    model = fake_trained(tmp_path / "a", "base")
    real_generate = FakeLLM.generate

    def dies_on_second_call(self, prompts, params, lora_request=None, use_tqdm=True):
        if len(self.calls) >= 1:
            raise EngineDeadError("EngineCore encountered an issue. See stack trace for the root cause.")
        return real_generate(self, prompts, params, lora_request, use_tqdm)

    FakeLLM.generate = dies_on_second_call
    try:
        with pytest.raises(EngineError) as err:
            generate(model, qs, cfg, tmp_path / "ans")
    finally:
        FakeLLM.generate = real_generate
    assert "\n" not in str(err.value) and "run the same command again to resume" in str(err.value)
    assert backend.live_engines() == 0 and FakeLLM.live == 0  # the dead engine was closed
    assert [r["question_id"] for r in read_jsonl(tmp_path / "ans" / "vicuna.jsonl")] == ["0", "1"]
    generate(model, qs, cfg, tmp_path / "ans")
    assert len(FakeLLM.instances) == 2
    assert sum(len(c[0]) for c in FakeLLM.instances[1].calls) == 3  # only the missing questions
    assert [r["question_id"] for r in read_jsonl(tmp_path / "ans" / "vicuna.jsonl")] == [str(i) for i in range(5)]


def test_sigterm_unwinds_and_closes_the_engine(fake_vllm, tmp_path, monkeypatch):
    """While an engine is alive SIGTERM raises EngineInterrupted (a KeyboardInterrupt) instead of ending the
    process on the spot; the CLI exits 143 with one line; closing the engine restores the previous handler."""
    import signal

    from gsnr_bench import cli

    before = signal.getsignal(signal.SIGTERM)
    backend.VLLMGenerator(fake_trained(tmp_path / "f", "base", regime="full"), GenerationConfig())
    assert signal.getsignal(signal.SIGTERM) is vllm_signals.on_signal
    with pytest.raises(backend.EngineInterrupted) as err:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert err.value.signum == signal.SIGTERM and isinstance(err.value, KeyboardInterrupt)
    backend.close_engines()
    assert FakeLLM.live == 0 and signal.getsignal(signal.SIGTERM) == before

    def interrupted(args):
        raise backend.EngineInterrupted(signal.SIGTERM)

    monkeypatch.setattr("gsnr_bench.commands.dispatch", interrupted)
    assert cli.main(["ls", "judges"]) == 128 + signal.SIGTERM


def test_pipeline_closes_the_engine_after_generation(fake_vllm, tmp_path):
    """release_engines (what the pipeline calls after its generation stages, before judging) shuts the engine."""
    from gsnr_bench.generation.stage import release_engines

    generate(fake_trained(tmp_path / "a", "base"), questions("t", 2), GenerationConfig(backend="vllm"), tmp_path / "x")
    assert FakeLLM.live == 1
    release_engines()
    assert FakeLLM.live == 0 and backend.live_engines() == 0


def test_a_dead_engine_unblocks_a_waiting_generate(fake_vllm, monkeypatch):
    """vLLM 0.32's sync client can wait for ever on a request sent to an engine that died; the watch thread puts
    vLLM's EngineDeadError on its outputs queue once the client marks the engine dead, and never before."""
    import queue
    import threading

    for name in ("vllm.v1", "vllm.v1.engine"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    exc = types.ModuleType("vllm.v1.engine.exceptions")
    exc.EngineDeadError = EngineDeadError
    monkeypatch.setitem(sys.modules, "vllm.v1.engine.exceptions", exc)
    resources, outputs = types.SimpleNamespace(engine_dead=False), queue.Queue()
    core = types.SimpleNamespace(resources=resources, outputs_queue=outputs)
    llm = types.SimpleNamespace(llm_engine=types.SimpleNamespace(engine_core=core))
    stop = threading.Event()
    engine.watch_engine(llm, stop, every=0.01)
    with pytest.raises(queue.Empty):
        outputs.get(timeout=0.2)  # alive: nothing is put
    resources.engine_dead = True
    assert isinstance(outputs.get(timeout=5), EngineDeadError)
    stop.set()
    engine.watch_engine(types.SimpleNamespace(), stop)  # a client without these parts: nothing to watch
