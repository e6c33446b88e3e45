"""What a sweep command did, as one typed value: the stages it touched, the judging it paid for, and what it
left unfinished. Commands read it to print the summary, write the manifest and pick the exit code
(commands/runs.py); nothing reads counters back off the Pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gsnr_bench.core.errors import BudgetExceeded
from gsnr_bench.pipeline.runner import StageEvent
from gsnr_bench.run.store import StageDir


@dataclass
class JudgeTally:
    """Filled while this command's judging stages run (stages/judge.py)."""

    spent: float = 0.0  # USD sent to judges (cache hits are free)
    failed_comparisons: int = 0  # failed comparisons left in the judging stages that ran
    budget_stop: BudgetExceeded | None = None  # set when --max-cost stopped a judging stage
    left_unjudged: int = 0  # comparisons left without a verdict after a budget stop (whole command)
    summaries: dict[tuple[str, str], Any] = field(default_factory=dict)  # (judge, system) -> JudgeSummary


@dataclass(frozen=True)
class SweepOutcome:
    """The stages of one command (those it reached, by `upto`) and what its judging did."""

    events: list[StageEvent]
    incomplete: list[StageDir]
    judging: JudgeTally
    scores: dict[str, StageDir] = field(default_factory=dict)
    subsets: dict[tuple[str, Any], StageDir] = field(default_factory=dict)  # (selector, budget) -> subset
    models: dict[str, StageDir] = field(default_factory=dict)  # system -> fine-tuned model (not the baseline)
    heldout: dict[str, StageDir] = field(default_factory=dict)
    answers: dict[str, StageDir] = field(default_factory=dict)
    judgments: dict[tuple[str, str], StageDir] = field(default_factory=dict)  # (judge, system) -> stage

    @property
    def spent(self) -> float:
        return self.judging.spent

    @property
    def budget_stop(self) -> BudgetExceeded | None:
        return self.judging.budget_stop

    @property
    def left_unjudged(self) -> int:
        return self.judging.left_unjudged

    @property
    def failed_comparisons(self) -> int:
        return self.judging.failed_comparisons
