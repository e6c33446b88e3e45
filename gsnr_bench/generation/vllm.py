"""vLLM offline backend (GPU). vllm is imported only when this backend is built.

One engine per (base model, parallelism, seed) is kept for the process and shared by every adapter of that base:
each LoRA adapter becomes its own `LoRARequest` with a stable integer id, so a sweep's adapters are served
without merging or reloading the base. Sampling parameters are pinned explicitly (vLLM would otherwise take
defaults from the model's generation_config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RegistryError
from ..fileio import read_json
from .base import Completion
from .config import GenerationConfig

_ENGINES: dict[tuple, Any] = {}
_LORA_IDS: dict[str, int] = {}  # adapter path -> LoRARequest int id (vLLM caches adapters by id)
_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # max_lora_rank values vLLM accepts


def _import_vllm() -> Any:
    try:
        import vllm
        from vllm.lora.request import LoRARequest
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        raise RegistryError(f"generation backend 'vllm' is unavailable ({type(exc).__name__}: {exc}); "
                            "install it with `pip install gsnr-bench[vllm]` on a CUDA machine, or use "
                            "generation.backend=hf") from None
    return vllm, LoRARequest


def _engine(vllm: Any, key: tuple, **kwargs: Any) -> Any:
    if key not in _ENGINES:
        _ENGINES[key] = vllm.LLM(**kwargs)
    return _ENGINES[key]


def close_engines() -> None:
    _ENGINES.clear()
    _LORA_IDS.clear()


def sampling_kwargs(cfg: GenerationConfig) -> dict[str, Any]:
    """Every knob that changes the text, explicit (temperature 0 = greedy in vLLM)."""
    return {"n": 1, "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": -1, "repetition_penalty": 1.0,
            "max_tokens": cfg.max_new_tokens, "seed": cfg.seed}


class VLLMGenerator:
    """vLLM offline engine, one LoRARequest per adapter (GPU)"""

    name = "vllm"

    def __init__(self, model_dir: Path, cfg: GenerationConfig) -> None:
        from ..training.artifacts import check_adapter_base, read_trained

        vllm, LoRARequest = _import_vllm()
        weights, self.info = read_trained(model_dir)
        self.cfg = cfg
        lora = self.info["regime"] == "lora"
        model = self.info["base_model"] if lora else str(weights)
        engine_kw: dict[str, Any] = {"model": model, "tensor_parallel_size": cfg.tensor_parallel_size,
                                     "seed": cfg.seed, "gpu_memory_utilization": cfg.gpu_memory_utilization}
        self.lora_request = None
        if lora:
            check_adapter_base(weights, model)
            rank = int(read_json(weights / "adapter_config.json").get("r", 8))
            engine_kw.update(enable_lora=True, max_lora_rank=next((r for r in _LORA_RANKS if r >= rank), rank))
            path = str(Path(weights).resolve())
            lora_id = _LORA_IDS.setdefault(path, len(_LORA_IDS) + 1)
            self.lora_request = LoRARequest(f"adapter-{lora_id}", lora_id, path)
        key = tuple(sorted(engine_kw.items()))
        self.llm = _engine(vllm, key, **engine_kw)
        self.params = vllm.SamplingParams(**sampling_kwargs(cfg))

    def generate(self, prompts: list[str]) -> list[Completion]:
        outs = self.llm.generate(prompts, self.params, lora_request=self.lora_request, use_tqdm=False)
        results = []
        for out in outs:  # vLLM returns outputs in prompt order
            best = out.outputs[0]
            results.append(Completion(text=best.text.strip(), prompt_tokens=len(out.prompt_token_ids),
                                      completion_tokens=len(best.token_ids)))
        return results
