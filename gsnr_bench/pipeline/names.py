"""Names every stage agrees on: the baseline system, a cell's system name, and the config keys that are not part
of a stage's key (they change how work is logged or sent, not what it produces)."""

from __future__ import annotations

from typing import Any

from gsnr_bench.domain.budgets import budget_label

BASELINE = "full"
# the target is keyed by its content (Inputs.target_key); report_to only logs the training elsewhere
FINETUNE_LOGGING = {"model", "report_to"}
# judging settings that change how calls are sent, not what a verdict means: not part of a stage's key
JUDGING_TRANSPORT = {
    "judges",
    "concurrency",
    "max_cost",
    "timeout",
    "max_retries",
    "backoff_base",
    "backoff_max",
    "cache",
}


def system_name(selector: str, ratio: Any) -> str:
    """`gsnr@0.1` for a ratio budget, `longest@n1000` for an absolute one (domain/budgets.py)."""
    return f"{selector}@{budget_label(ratio)}"
