"""Where every stage of a sweep lives, looked up without running any (`Pipeline.plan`): the judging plan, the
sweep plan, the Slurm launcher and scripts/cell-paths.py read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gsnr_bench.pipeline.names import BASELINE
from gsnr_bench.run.store import StageDir


@dataclass(frozen=True)
class PlannedCell:
    selector: str
    ratio: Any  # a ratio (float) or an absolute budget (budgets.Size)
    subset: StageDir
    model: StageDir | None  # None until the subset is made: the model's key depends on its examples
    answers: StageDir | None
    judgments: dict[str, StageDir]  # judge (as data.judges names it) -> its stage; empty until answers are keyed


@dataclass(frozen=True)
class SweepLayout:
    baseline_model: StageDir
    baseline_answers: StageDir
    cells: dict[str, PlannedCell]  # system name -> cell

    def models(self) -> dict[str, StageDir | None]:
        """system -> model stage, the baseline first."""
        return {BASELINE: self.baseline_model, **{n: c.model for n, c in self.cells.items()}}

    def answers(self) -> dict[str, StageDir | None]:
        """system -> answers stage, the baseline first."""
        return {BASELINE: self.baseline_answers, **{n: c.answers for n, c in self.cells.items()}}
