"""What every generation backend shares: the prompt (the Alpaca template the target was fine-tuned with), the
pinned parameters recorded with each answer, and the Completion a backend returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gsnr_bench.domain.records import Question
from gsnr_bench.domain.templates import build_prompt
from gsnr_bench.generation.config import GenerationConfig


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class Generator(Protocol):
    """A backend bound to one trained model: `generate(prompts) -> completions`, same order. A backend that
    also has `max_positions` (int) and `count_tokens(text) -> int` gets prompts fitted to its context
    (generation.long_prompts); without them it receives every prompt whole."""

    name: str

    def generate(self, prompts: list[str]) -> list[Completion]: ...


def question_prompt(q: Question) -> str:
    """Test questions have no separate input: the no-input Alpaca template."""
    return build_prompt(q.text, "")


def gen_params(cfg: GenerationConfig, backend: str) -> dict[str, Any]:
    """Everything that decides the text, written with each answer (resume refuses to mix parameters). The
    context cap and vLLM's quantization / KV-cache dtype are written only when set, so answers made before those
    knobs existed still resume."""
    extra = {k: getattr(cfg, k) for k in ("max_model_len", "quantization", "kv_cache_dtype")}
    return {
        "backend": backend,
        "do_sample": cfg.temperature > 0,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_new_tokens": cfg.max_new_tokens,
        "seed": cfg.seed,
        "long_prompts": cfg.long_prompts,
        **{k: v for k, v in extra.items() if v is not None},
    }
