"""Config of the report stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gsnr_bench.core.settings_base import Section


class TablesConfig(Section):
    """The paper tables (leaderboard.tex / .md): what they show beyond PWS and its interval per judge."""

    judge_mean: bool = False  # also a table of the judges' mean PWS
    wtl: bool = False  # W/T/L beside each ratio's PWS
    interval: Literal["brackets", "pm"] = "brackets"  # [lo, hi] below the PWS, or asymmetric +/- offsets


class ReportConfig(Section):
    # A 95% CI by question (the unit judged) from at least 1000 seeded bootstrap rounds.
    bootstrap_rounds: int = Field(1000, ge=1000)
    ci: float = Field(0.95, gt=0, lt=1)
    seed: int = 0
    tables: TablesConfig = TablesConfig()
    # "did this cell measure anything?" (reporting/training_check.py, docs/real-cpu.md): a cell whose model took
    # fewer optimizer steps, or whose answers equal the 100% model's more often than this, gets a warning
    warn_min_steps: int = Field(10, ge=0)
    warn_identical_share: float = Field(0.5, gt=0, le=1)
