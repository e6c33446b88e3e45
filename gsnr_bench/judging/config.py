"""Config of the judging stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gsnr_bench.core.settings_base import Section


class JudgingConfig(Section):
    judges: list[str] = ["gpt"]  # the demo uses "reference" (configs/demo.yaml)
    order: Literal["shuffle", "both"] = "shuffle"
    combine: Literal["lenient", "strict"] = "lenient"
    concurrency: int = Field(16, gt=0)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)  # transport retries (429/5xx/timeouts), with backoff
    max_parse_retries: int = Field(2, ge=0)  # re-asks when the reply holds no parseable scores
    max_cost: float | None = Field(None, gt=0, allow_inf_nan=False)  # USD for the whole run; > 0 (judging/cost.py)
    # a judge cache shared by several runs (a path), so identical requests are paid once across them;
    # None: the run's own RUN/cache/judge.sqlite. Spend and --max-cost stay per run (the cache's ledger).
    cache: str | None = None
    null_pairs: int = Field(0, ge=0)  # questions per test set judged with the same answer in both slots
    # judge only the first N questions of each test set (answers are still generated for all of them): a
    # sample when a judge is too slow or too dear for the whole set; None judges every question. Part of the
    # judgments' key and of each cell's record (cell.json: testsets), so the report says what was judged.
    max_questions: int | None = Field(None, gt=0)
    seed: int = 0
    prompt: str = "vicuna-pair-v1"
    # Exponential backoff between transport retries: delay_n = min(backoff_max, backoff_base * 2**n),
    # jittered to [delay/2, delay]; a 429's Retry-After replaces it (waited for as sent, up to 600 s).
    backoff_base: float = Field(1.0, gt=0)
    backoff_max: float = Field(60.0, gt=0)
