"""Config of the judging stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings_base import Section


class JudgingConfig(Section):
    judges: list[str] = ["reference"]
    order: Literal["shuffle", "both"] = "shuffle"
    combine: Literal["lenient", "strict"] = "lenient"
    concurrency: int = Field(16, gt=0)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)  # transport retries (429/5xx/timeouts), with backoff
    max_parse_retries: int = Field(2, ge=0)  # re-asks when the reply holds no parseable scores
    max_cost: float | None = None  # USD; stop before spending past it
    null_pairs: int = Field(0, ge=0)  # questions per test set judged with the same answer in both slots
    seed: int = 0
    prompt: str = "vicuna-pair-v1"
