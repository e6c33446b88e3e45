"""What a judging stage reports: `JudgeSummary` (its DONE meta), totals over the file's records, and the
one-line message of a budget stop (`JudgeBudgetExceeded`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gsnr_bench.analysis.diagnostics import bias_diagnostics
from gsnr_bench.core.errors import BudgetExceeded
from gsnr_bench.domain.judgment import Judgment
from gsnr_bench.judging.client import TransportStats


@dataclass
class JudgeSummary:
    judge: str
    judge_model: str
    prompt_version: str
    prompt_sha256: str
    order: str
    combine: str | None
    comparisons: int = 0  # planned, null pairs included
    resumed: int = 0  # already judged in judgments.jsonl when this run started (failed ones are retried)
    retried: int = 0  # failed in judgments.jsonl when this run started, so judged again
    judged: int = 0  # recorded by this run with a verdict
    failed: int = 0  # recorded by this run as failed
    win: int = 0  # over the file's records (last per comparison), null pairs excluded
    tie: int = 0
    lose: int = 0
    failed_total: int = 0  # planned comparisons whose record in the file is `failed` (after this run)
    pending: int = 0  # planned comparisons with no record at all (the budget stopped them, or a crash)
    budget_stopped: bool = False  # the budget refused a call (BudgetExceeded is raised after the summary is done)
    calls: int = 0  # model calls this run resolved (cached or sent), parse re-asks included
    cache_hits: int = 0
    # HTTP requests actually sent (transport retries included) and why they were retried or given up; its
    # counts read as the summary's own (summary.requests, summary.retries, ...) and sit flat in to_dict()
    transport: TransportStats = field(default_factory=TransportStats)
    prompt_tokens: int = 0  # over all records in the file
    completion_tokens: int = 0
    cost: float = 0.0  # USD over all records in the file
    cost_spent: float = 0.0  # USD this run sent for (cache hits are free)
    usage_estimated: int = 0  # calls over the file's records whose token counts were estimated (cost.py)
    usage_rule: str = ""  # how such counts were estimated: "chars/4" or "tokenizer NAME"
    spent_total: float = 0.0  # USD ever sent through the judge cache: the whole run's judge spend, all commands
    max_cost: float | None = None  # the limit spent_total was held to
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def left(self) -> int:
        """Planned comparisons without a judged record: failed plus pending."""
        return self.failed_total + self.pending

    @property
    def complete(self) -> bool:
        """Every planned comparison has a judged record: only then may the stage be marked done."""
        return self.left == 0

    def __getattr__(self, name: str) -> Any:
        # only called for names the summary lacks: the transport's counts (requests, retries, rate_limited, ...)
        if name in _TRANSPORT_COUNTS:
            return getattr(self.transport, name)
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """Flat, as written in the stage's DONE file (sorted keys): the transport's counts beside the rest."""
        own = asdict(self)
        del own["transport"]
        return {**own, **self.transport.to_dict(), "left": self.left, "complete": self.complete}


_TRANSPORT_COUNTS = frozenset(TransportStats().to_dict())


class JudgeBudgetExceeded(BudgetExceeded):
    """The budget stopped a judging stage. Raised after its records are written and compacted, with the
    stage's `summary` (pending / failed_total / spent_total) so a caller judging several stages can add up
    what is left; `spent` (USD, the whole run's judge spend), `limit` (max_cost) and `left` (comparisons of
    this stage without a judged record) are the numbers of the message."""

    def __init__(self, message: str, *, summary: "JudgeSummary", spent: float, limit: float, left: int) -> None:
        super().__init__(message)
        self.summary, self.spent, self.limit, self.left = summary, spent, limit, left


def budget_message(spent: float, limit: float, left: int, what: str = "judging") -> str:
    """The one-line BudgetExceeded text; a caller that sums several stages can build it the same way."""
    return (
        f"{what}: stopped at ${spent:.4f} spent on judge calls in this run (all commands), before exceeding "
        f"max_cost ${limit:g}; {left} comparison{'s' if left != 1 else ''} left without a verdict (re-run with "
        "a higher --max-cost to finish; nothing judged is lost, max_cost bounds the run's total judge spend)"
    )


def fill_totals(summary: JudgeSummary, records: list[dict], planned: list[tuple]) -> None:
    judgments = [Judgment.from_dict(r) for r in records]
    by_key = {j.key: j for j in judgments}
    for k in planned:  # each planned comparison counted once: judged, failed or pending
        j = by_key.get(k)
        if j is None:
            summary.pending += 1
        elif not j.judged:
            summary.failed_total += 1
    for j in judgments:
        for c in j.calls:
            summary.prompt_tokens += int(c.get("prompt_tokens") or 0)
            summary.completion_tokens += int(c.get("completion_tokens") or 0)
            summary.cost += float(c.get("cost") or 0.0)
            summary.usage_estimated += bool(c.get("usage_estimated"))
        if not j.null_pair and j.judged:
            setattr(summary, j.outcome, getattr(summary, j.outcome) + 1)
        if j.judge_model:  # the served model's own name (e.g. a dated snapshot)
            summary.judge_model = j.judge_model
    summary.cost = round(summary.cost, 8)
    summary.cost_spent = round(summary.cost_spent, 8)
    summary.diagnostics = bias_diagnostics(records)
