"""`judge --dry-run`: the calls a judging stage would make and their estimated cost, sending nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gsnr_bench.domain.judgment import is_judged, read_judgments, record_key
from gsnr_bench.judging.cache import JudgeCache
from gsnr_bench.judging.comparisons import Comparison, cached_final, plan_tasks, prompt_for
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.cost import TokenCounter, expected_completion_tokens
from gsnr_bench.judging.protocol import presentation_orders
from gsnr_bench.judging.spec import JudgeSpec


@dataclass
class DryRun:
    comparisons: int
    calls: int  # calls a run would resolve, parse re-asks not counted
    cached_calls: int
    est_prompt_tokens: int
    est_completion_tokens: int
    est_cost: float  # USD for the calls not cached
    run_spent: float = 0.0  # USD the run has sent to judges so far (the cache's total): what max_cost counts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dry_run(
    items: list[Comparison],
    judge_spec: JudgeSpec,
    cfg: JudgingConfig,
    out_path: str | Path | None = None,
    cache_path: str | Path | None = None,
    run_id: str = "",
) -> DryRun:
    """Calls a run would make and their estimated cost (module cost.py documents the estimate);
    comparisons already judged in `out_path` and calls with a readable reply in the cache cost nothing
    (failed comparisons and cached replies without scores are counted: a run sends them again). Sends
    nothing and needs no endpoint, key or network."""
    prompt = prompt_for(judge_spec, cfg)
    done = {record_key(r) for r in read_judgments(out_path) if is_judged(r)} if out_path else set()
    cache = JudgeCache(cache_path) if cache_path and Path(cache_path).exists() else None
    tasks = [t for t in plan_tasks(items, cfg) if t.key not in done]
    counter = TokenCounter(judge_spec)
    calls = cached = ptok = 0
    try:
        for t in tasks:
            for first in presentation_orders(cfg.order, cfg.seed, t.item.testset, str(t.item.question_id)):
                msgs = prompt.messages(t.item.question, *t.slots(first))
                calls += 1
                if cache is not None and cached_final(cache, judge_spec, msgs, 0, prompt.criteria) is not None:
                    cached += 1
                    continue
                ptok += counter.messages(msgs)
        run_spent = round(cache.total_cost(run_id), 8) if cache is not None else 0.0
    finally:
        if cache is not None:
            cache.close()
    ctok = (calls - cached) * expected_completion_tokens(judge_spec)
    return DryRun(len(tasks), calls, cached, ptok, ctok, judge_spec.cost(ptok, ctok), run_spent)
