"""The concurrent judging loop: every planned comparison judged at once (bounded by the client's
concurrency), its record built from its calls and appended in batches off the event loop."""

from __future__ import annotations

import asyncio

from gsnr_bench.core.fileio import append_jsonl
from gsnr_bench.domain.judgment import Judgment, call_outcome, combine
from gsnr_bench.judging.calls import BudgetStop, JudgeCalls, Stopped
from gsnr_bench.judging.client import AuthRejected
from gsnr_bench.judging.comparisons import Task
from gsnr_bench.judging.protocol import presentation_orders


class JudgeRun(JudgeCalls):
    """One stage's judging: the calls (JudgeCalls) plus the comparisons they make and the records written."""

    # ---------------------------------------------------------------- comparisons
    async def comparison(self, task: Task) -> None:
        if self.budget.exhausted or self.stop is not None:
            return
        item = task.item
        firsts = presentation_orders(self.cfg.order, self.cfg.seed, item.testset, str(item.question_id))
        results = await asyncio.gather(*(self.one_call(task, f) for f in firsts), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, (BudgetStop, Stopped)):
                    return  # not recorded: the next run judges it (its finished call is cached)
                raise r
        record = self._record(task, results)
        outcome = record["outcome"]
        self.pending.append(record)
        self.done += 1
        self.failed += outcome == "failed"
        self.summary.judged += outcome != "failed"
        self.summary.failed += outcome == "failed"
        self.progress.update(self.done, self.failed, self.tokens, self.summary.cost_spent)

    def _record(self, task: Task, results: list[tuple]) -> dict:
        """The comparison's judgment record from its calls' (entry, failure reason, model): `failed` with the
        first reason when a call failed."""
        item = task.item
        calls = [r[0] for r in results]
        reasons = [r[1] for r in results if r[1]]
        model = next((r[2] for r in results if r[2]), None) or self.spec.model
        outcome = (
            "failed" if reasons else combine([call_outcome(c["first"], c["scores"]) for c in calls], self.cfg.combine)
        )
        sys_len = len(item.system_answer)
        return Judgment(
            testset=item.testset,
            question_id=str(item.question_id),
            judge=self.spec.name,
            judge_model=model,
            system=item.system,
            baseline=item.baseline,
            prompt_version=self.prompt.version,
            order=self.cfg.order,
            combine=self.cfg.combine if self.cfg.order == "both" else None,
            null_pair=task.null_pair,
            calls=calls,
            outcome=outcome,
            reason=reasons[0] if reasons else None,
            system_len=sys_len,
            baseline_len=sys_len if task.null_pair else len(item.baseline_answer),
        ).to_dict()

    # ---------------------------------------------------------------- records
    def flush(self) -> None:
        batch, self.pending = self.pending, []
        append_jsonl(self.out_path, batch)

    async def flusher(self, stop: asyncio.Event, every: float = 0.05) -> None:
        """Batches appends (one fsync per batch, off the event loop) so 100s of replies a second
        do not stall on disk; a crash loses at most one batch of records, never their cached calls.
        Stopped by `stop`, never cancelled: a cancelled await would leave its append running in the
        thread while the final flush appends too, and two appends at once can tear each other's lines."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every)
            except asyncio.TimeoutError:
                pass
            if self.pending:
                batch, self.pending = self.pending, []
                try:
                    await asyncio.to_thread(append_jsonl, self.out_path, batch)
                except Exception as exc:  # e.g. a full disk: stop sending (the replies are cached), say it once
                    self.pending = batch + self.pending
                    if self.stop is None:
                        self.stop = exc
                    return

    async def run(self, tasks: list[Task]) -> None:
        stop = asyncio.Event()
        writer = asyncio.create_task(self.flusher(stop))
        try:
            await asyncio.gather(*(self.comparison(t) for t in tasks))
        finally:
            stop.set()
            await asyncio.shield(writer)  # its last append finishes before the final flush starts
            if self.stop is None or isinstance(self.stop, AuthRejected):
                self.flush()
        if self.stop is not None and not isinstance(self.stop, AuthRejected):
            raise self.stop
