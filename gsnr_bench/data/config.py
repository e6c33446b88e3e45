"""Config of the inputs: training pool, test sets, and the synthetic demo world."""

from __future__ import annotations

from pydantic import Field

from ..settings_base import Section


class DataConfig(Section):
    # "demo" (synthetic pool), an Alpaca JSON/JSONL path, or a Hugging Face dataset name ("tatsu-lab/alpaca")
    train: str = "demo"
    # "wizardlm", "vicuna", a path, or "demo-wizardlm"/"demo-vicuna" (synthetic, with references)
    testsets: list[str] = ["demo-wizardlm", "demo-vicuna"]
    max_examples: int | None = Field(None, gt=0)  # cap the pool (first N after loading)
    max_questions: int | None = Field(None, gt=0)  # cap each test set


class DemoConfig(Section):
    pool_size: int = Field(600, gt=0)
    defect_rate: float = Field(0.35, ge=0, lt=1)
    wizardlm_questions: int = Field(24, gt=0)
    vicuna_questions: int = Field(16, gt=0)
    seed: int = 0
