"""The judgments stage: one cell's answers judged against the baseline's (judging/stage.py). The stage is DONE only
when every comparison has a verdict; failed comparisons stay in judgments.jsonl, are counted in the command's
`JudgeTally`, and the next command on the run judges exactly those again. A --max-cost stop leaves this and
every later cell for the next command."""

from __future__ import annotations

from typing import Any

from gsnr_bench.core.errors import BudgetExceeded, DataError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.core.progress import console
from gsnr_bench.pipeline.cell import Cell, cell_record, skipped_questions
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.names import BASELINE, JUDGING_TRANSPORT
from gsnr_bench.pipeline.runner import StageIncomplete
from gsnr_bench.run.store import CELL, StageDir


def judging_key(jcfg: Any) -> dict[str, Any]:
    """The judging settings a verdict depends on; an unset max_questions stays out, so runs made before the
    setting existed keep their keys."""
    return jcfg.model_dump(
        mode="json", exclude=JUDGING_TRANSPORT | ({"max_questions"} if jcfg.max_questions is None else set())
    )


def judgments(deps: StageDeps, judge: str, cell: Cell, sys_sd: StageDir, base_sd: StageDir) -> StageDir:
    from gsnr_bench.judging.spec import load_judge

    spec = load_judge(judge)
    key = {
        "judge": spec.model_dump(mode="json"),
        "system": sys_sd.key,
        "baseline": base_sd.key,
        "judging": judging_key(deps.cfg.judging),
    }
    sd = deps.store.stage(f"judgments/{spec.name}", f"{cell.system}-vs-{BASELINE}", key)
    if deps.tally.budget_stop is not None and not sd.done and not deps.runner.peek:
        # the run's --max-cost is spent: later cells are left for the next command, and counted
        deps.tally.left_unjudged += len(comparisons(deps, cell.system, sys_sd, base_sd))
        return sd

    def work() -> dict[str, Any]:
        items = comparisons(deps, cell.system, sys_sd, base_sd)
        # written first, so the report finds this cell even while it has failed comparisons
        cell_record(deps, cell, spec, sys_sd, base_sd).write(sd.path / CELL)
        summary = _send(deps, spec, cell, items, sd)
        _account(deps, spec, cell, summary)
        return {"system": cell.system, "baseline": BASELINE, "judge": spec.name, "summary": summary.to_dict()}

    return deps.runner.run(sd, work)


def _send(deps: StageDeps, spec: Any, cell: Cell, items: list[Any], sd: StageDir) -> Any:
    """Every comparison to the judge (the demo's reference judge is a local server started for it)."""
    from gsnr_bench.judging.cache import judge_cache_path, judge_run_id
    from gsnr_bench.judging.reference_server import serve_reference_for
    from gsnr_bench.judging.stage import judge as run_judge

    jcfg, root = deps.cfg.judging, deps.store.root
    endpoint = serve_reference_for(spec, deps.sources.references)
    with endpoint as live_spec, deps.runner.progress(f"judge {cell.system} ({spec.name})") as prog:
        try:
            return run_judge(
                items,
                live_spec,
                jcfg,
                sd.path / "judgments.jsonl",
                judge_cache_path(root, jcfg),
                progress=prog,
                run_id=judge_run_id(root, jcfg),
            )
        except BudgetExceeded as exc:
            deps.tally.budget_stop = exc
            summary = getattr(exc, "summary", None)
            if summary is not None:
                deps.tally.spent += summary.cost_spent
                deps.tally.left_unjudged += summary.failed_total + summary.pending
            raise StageIncomplete("stopped at --max-cost") from None


def _account(deps: StageDeps, spec: Any, cell: Cell, summary: Any) -> None:
    """Spend and failures into the tally; retries and estimated usage shown."""
    deps.tally.spent += summary.cost_spent
    deps.tally.summaries[(spec.name, cell.system)] = summary
    if summary.retries and not deps.quiet:
        console.print(transport_line(spec.name, summary))
    if summary.usage_estimated:  # shown even with --quiet: it is about money
        console.print(
            f"warning: judge {spec.name!r} sent no valid usage for {summary.usage_estimated} call(s); their "
            f"tokens were estimated by {summary.usage_rule} and their cost is marked estimated"
        )
    if not summary.complete:
        deps.tally.failed_comparisons += summary.failed_total
        raise StageIncomplete(f"{summary.failed_total} failed comparison(s)")


def comparisons(deps: StageDeps, system: str, sys_sd: StageDir, base_sd: StageDir) -> list[Any]:
    """One Comparison per test question both sides answered (questions skipped as too long are left out)."""
    from gsnr_bench.judging.stage import Comparison

    items = []
    skipped = skipped_questions(deps, sys_sd, base_sd)
    for testset, qs in deps.sources.judged_testsets().items():
        a = {r["question_id"]: r for r in read_jsonl(sys_sd.path / f"{testset}.jsonl")}
        b = {r["question_id"]: r for r in read_jsonl(base_sd.path / f"{testset}.jsonl")}
        for q in qs:
            if q.question_id in skipped[testset]:
                continue  # too long for the target (generation.long_prompts=skip): left out of every system alike
            if q.question_id not in a or q.question_id not in b:
                raise DataError(f"answers for {testset} question {q.question_id} are missing")
            items.append(
                Comparison(
                    testset=testset,
                    question_id=q.question_id,
                    question=q.text,
                    system=system,
                    system_answer=a[q.question_id]["answer"],
                    baseline=BASELINE,
                    baseline_answer=b[q.question_id]["answer"],
                )
            )
    return items


def transport_line(judge: str, s: Any) -> str:
    """What the transport retries were for, in one line (rate limits, 5xx, timeouts, refused connections)."""
    why = [
        f"{n} {what}"
        for n, what in (
            (s.rate_limited, "rate-limited"),
            (s.server_errors, "server errors"),
            (s.timeouts, "timeouts"),
            (s.connection_errors, "connection errors"),
        )
        if n
    ]
    waited = f", {s.retry_after_s:g} s waited on Retry-After" if s.retry_after_s else ""
    gave_up = f"; gave up on {s.gave_up} call(s)" if s.gave_up else ""
    causes = ", ".join(why) or "no cause recorded"
    return f"judge {judge}: {s.requests} requests, {s.retries} retried ({causes}{waited}){gave_up}"
