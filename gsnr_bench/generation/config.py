"""Config of the generation stage. Sampling parameters are pinned explicitly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings_base import Section


class GenerationConfig(Section):
    backend: Literal["auto", "hf", "vllm"] = "auto"
    max_new_tokens: int = Field(512, gt=0)
    temperature: float = Field(0.0, ge=0)  # 0 = greedy
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(16, gt=0)
    chunk_size: int = Field(32, gt=0)  # answers appended to disk every chunk (resume granularity)
    tensor_parallel_size: int = Field(1, gt=0)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    seed: int = 0
    # a question whose prompt + max_new_tokens exceeds the model's positions (generation/long_prompts.py)
    long_prompts: Literal["truncate", "skip", "error"] = "truncate"
