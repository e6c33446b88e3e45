"""The judging stage: comparisons in, judgment records (docs/ARCHITECTURE.md) out.

Every comparison a run reaches ends as one record, judged or `failed` with a reason. Each model call
goes through the request-keyed cache first (a re-run sends nothing already answered; a killed run
re-sends only what never reached the cache), and records are appended as comparisons complete, so a
resumed run skips what the file already holds judged. Failed records are not final: the next run judges
those comparisons again (a cached reply without readable scores is re-sent, never replayed), appends the
new record, which supersedes the old one (`records.read_judgments`), and compacts the file at the end.
A stage is complete (`JudgeSummary.complete`) only when every planned comparison has a judged record.
Comparisons a stage did not reach stay pending (no record) when the budget stops it, after a 401/403 (no
call is started after one; `AuthRejected` is raised once the records are written) or when its records
cannot be written (a full disk: raised as it happens, the paid replies are in the cache). A stage whose
calls are all judged or cached needs no endpoint. docs/judging.md has the rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gsnr_bench.domain.judgment import is_judged, read_judgments, record_key
from gsnr_bench.judging.cache import JudgeCache
from gsnr_bench.judging.client import JudgeClient
from gsnr_bench.judging.comparisons import Comparison, Task, cached_final, plan_tasks, prompt_for
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.dry_run import DryRun, dry_run
from gsnr_bench.judging.loop import JudgeRun
from gsnr_bench.judging.progress import JudgeProgress
from gsnr_bench.judging.protocol import PromptTemplate, presentation_orders
from gsnr_bench.judging.records import compact_judgments
from gsnr_bench.judging.spec import JudgeSpec, resolve_endpoint
from gsnr_bench.judging.summary import JudgeBudgetExceeded, JudgeSummary, budget_message, fill_totals

# the stage's public face, wherever each piece lives (comparisons.py, summary.py, dry_run.py)
__all__ = [
    "Comparison",
    "DryRun",
    "JudgeBudgetExceeded",
    "JudgeSummary",
    "ajudge",
    "budget_message",
    "check_endpoint",
    "dry_run",
    "judge",
    "plan_tasks",
]

_NO_ENDPOINT = ("http://127.0.0.1:9/v1", "unused")


async def ajudge(
    items: list[Comparison],
    judge_spec: JudgeSpec,
    cfg: JudgingConfig,
    out_path: str | Path,
    cache_path: str | Path,
    progress: Any = None,
    run_id: str = "",
) -> JudgeSummary:
    """Async form of `judge` for callers that already run an event loop."""
    out_path, cache_path = Path(out_path), Path(cache_path)
    prompt = prompt_for(judge_spec, cfg)
    summary = _new_summary(judge_spec, cfg, prompt)
    all_tasks, tasks = _plan(items, cfg, out_path, summary)
    cache = JudgeCache(cache_path, run=run_id)
    try:
        needs_endpoint = _needs_endpoint(cache, judge_spec, cfg, prompt, tasks)
        # a finished stage (everything judged or cached) needs no endpoint, key or network
        base_url, api_key = resolve_endpoint(judge_spec) if needs_endpoint else _NO_ENDPOINT
    except BaseException:
        cache.close()
        raise
    client = JudgeClient(judge_spec, cfg, base_url=base_url, api_key=api_key, seed=cfg.seed)
    bar = JudgeProgress(progress, f"judge ({judge_spec.name})", len(tasks))
    run = JudgeRun(judge_spec, cfg, prompt, client, cache, out_path, bar, summary, cache.total_cost(run_id))
    summary.usage_rule = run.counter.rule
    try:
        if needs_endpoint:
            await client.preflight()  # wrong URL / key / model: one line, before any judging call
        await run.run(tasks)
        records = compact_judgments(out_path, [t.key for t in all_tasks])  # one record per comparison, plan order
        summary.spent_total = round(cache.total_cost(run_id), 8)
    finally:
        bar.close()
        await client.aclose()
        cache.close()
        summary.transport = client.stats
    fill_totals(summary, records, [t.key for t in all_tasks])
    _raise_if_stopped(run, summary, judge_spec, cfg)
    return summary


def _new_summary(judge_spec: JudgeSpec, cfg: JudgingConfig, prompt: PromptTemplate) -> JudgeSummary:
    return JudgeSummary(
        judge_spec.name,
        judge_spec.model,
        prompt.version,
        prompt.sha256,
        cfg.order,
        cfg.combine if cfg.order == "both" else None,
        max_cost=cfg.max_cost,
    )


def _plan(
    items: list[Comparison], cfg: JudgingConfig, out_path: Path, summary: JudgeSummary
) -> tuple[list[Task], list[Task]]:
    """(every planned task, those without a judged record in `out_path`), counted into the summary."""
    existing = {record_key(r): r for r in read_judgments(out_path)}
    all_tasks = plan_tasks(items, cfg)
    tasks = [t for t in all_tasks if not (t.key in existing and is_judged(existing[t.key]))]
    summary.comparisons, summary.resumed = len(all_tasks), len(all_tasks) - len(tasks)
    summary.retried = sum(t.key in existing for t in tasks)
    return all_tasks, tasks


def _needs_endpoint(
    cache: JudgeCache, judge_spec: JudgeSpec, cfg: JudgingConfig, prompt: PromptTemplate, tasks: list[Task]
) -> bool:
    """Some first call of `tasks` has no readable reply in the cache."""
    return any(
        cached_final(cache, judge_spec, prompt.messages(t.item.question, *t.slots(f)), 0, prompt.criteria) is None
        for t in tasks
        for f in presentation_orders(cfg.order, cfg.seed, t.item.testset, str(t.item.question_id))
    )


def _raise_if_stopped(run: JudgeRun, summary: JudgeSummary, judge_spec: JudgeSpec, cfg: JudgingConfig) -> None:
    """After the records are written: a 401/403 or a failed write as it was, a budget stop as one line; the
    stage resumes on the next command."""
    if run.stop is not None:
        raise run.stop
    if run.budget.exhausted:
        summary.budget_stopped = True
        raise JudgeBudgetExceeded(
            budget_message(summary.spent_total, cfg.max_cost or 0.0, summary.left, f"judge {judge_spec.name!r}"),
            summary=summary,
            spent=summary.spent_total,
            limit=cfg.max_cost or 0.0,
            left=summary.left,
        )


def judge(
    items: list[Comparison],
    judge_spec: JudgeSpec,
    cfg: JudgingConfig,
    out_path: str | Path,
    cache_path: str | Path,
    progress: Any = None,
    run_id: str = "",
) -> JudgeSummary:
    """Judge every comparison (system vs baseline) with one judge, appending judgment records to
    `out_path` (compacted to one record per comparison at the end) and caching every call in `cache_path`.
    Resumable: judged records are kept, failed ones are judged again. Check `summary.complete` before
    calling the stage done. Raises EndpointError before any call for an unusable endpoint, and
    JudgeBudgetExceeded (a BudgetExceeded, after recording what is done) when `cfg.max_cost` stops it:
    max_cost bounds the run's total judge spend, everything ever sent through `cache_path`."""
    return asyncio.run(ajudge(items, judge_spec, cfg, out_path, cache_path, progress, run_id))


def check_endpoint(judge_spec: JudgeSpec, cfg: JudgingConfig) -> None:
    """The pre-flight alone (key set, endpoint reachable, model served), so a run can fail on a bad judge
    before its expensive stages instead of after them. Sends one GET /v1/models, no judging call."""
    base_url, api_key = resolve_endpoint(judge_spec)

    async def go() -> None:
        client = JudgeClient(judge_spec, cfg, base_url=base_url, api_key=api_key, seed=cfg.seed)
        try:
            await client.preflight()
        finally:
            await client.aclose()

    asyncio.run(go())
