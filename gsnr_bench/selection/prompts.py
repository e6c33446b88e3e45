"""Prompt texts per selector variant (docs/selectors.md; the fine-tuning templates are in domain/templates.py).
Pure string helpers."""

from __future__ import annotations

from typing import Literal

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.domain.records import Example

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
CHERRY_ALONE_PREFIX = "### Response:"  # Cherry's answer-alone text starts with this (masked) prefix


def plain_prompt(ex: Example) -> str:
    """Superfiltering's template-free prompt."""
    if ex.input.strip():
        return f"{ex.instruction}\n{ex.input}\n"
    return f"{ex.instruction}\n"


def alpaca_prompt(ex: Example) -> str:
    if ex.input.strip():
        return ALPACA_WITH_INPUT.format(instruction=ex.instruction, input=ex.input)
    return ALPACA_NO_INPUT.format(instruction=ex.instruction)


TEMPLATES = {"plain": plain_prompt, "alpaca": alpaca_prompt}
Template = Literal["plain", "alpaca"]  # a selector parameter naming one of TEMPLATES


def prompt_fn(template: str):
    if template not in TEMPLATES:
        raise ConfigError(f"unknown prompt template {template!r}; use one of {sorted(TEMPLATES)}")
    return TEMPLATES[template]
