"""What a vLLM engine is started with and samples with: `engine_kwargs` (GPU and CPU settings, the knobs passed
through), `sampling_kwargs` (every knob pinned), the checkpoint's dtype, whether LoRA can be served on an
architecture, and the quantization / KV-cache choices the installed vLLM knows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.generation.config import GenerationConfig

LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # max_lora_rank values vLLM accepts


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
