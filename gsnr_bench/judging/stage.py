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
import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gsnr_bench.analysis.diagnostics import bias_diagnostics
from gsnr_bench.core.errors import BudgetExceeded, DataError
from gsnr_bench.core.fileio import append_jsonl
from gsnr_bench.domain.judgment import Judgment, call_outcome, combine, is_judged, read_judgments, record_key
from gsnr_bench.judging.cache import JudgeCache, cache_key
from gsnr_bench.judging.client import AuthRejected, CallFailed, JudgeClient, Reply, TransportStats
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.cost import Budget, TokenCounter, expected_completion_tokens
from gsnr_bench.judging.progress import JudgeProgress
from gsnr_bench.judging.protocol import PromptTemplate, load_prompt, presentation_orders, read_verdict
from gsnr_bench.judging.records import compact_judgments
from gsnr_bench.judging.spec import JudgeSpec, resolve_endpoint


@dataclass(frozen=True)
class Comparison:
    testset: str
    question_id: str
    question: str
    system: str
    system_answer: str
    baseline: str
    baseline_answer: str


@dataclass(frozen=True)
class _Task:
    item: Comparison
    null_pair: bool  # the system's answer in both slots: a fair judge ties

    @property
    def key(self) -> tuple:
        i = self.item
        return (i.testset, str(i.question_id), i.system, i.baseline, self.null_pair)

    def slots(self, first: str) -> tuple[str, str]:
        i = self.item
        if self.null_pair:
            return i.system_answer, i.system_answer
        return (i.system_answer, i.baseline_answer) if first == "system" else (i.baseline_answer, i.system_answer)


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


# ------------------------------------------------------------------ planning (pure)
def plan_tasks(items: list[Comparison], cfg: JudgingConfig) -> list[_Task]:
    """Comparisons plus `cfg.null_pairs` seeded questions per test set judged against themselves."""
    tasks = [_Task(i, False) for i in items]
    seen: set[tuple] = set()
    for t in tasks:
        if t.key in seen:
            raise DataError(f"duplicate comparison {t.key[:4]}")
        seen.add(t.key)
    if cfg.null_pairs:
        by_set: dict[str, list[Comparison]] = {}
        for i in items:
            by_set.setdefault(i.testset, []).append(i)
        for ts, group in by_set.items():
            group = sorted(
                group,
                key=lambda i: hashlib.sha256(
                    f"{cfg.seed}\x1fnull\x1f{ts}\x1f{i.question_id}\x1f{i.system}".encode()
                ).hexdigest(),
            )
            tasks += [_Task(i, True) for i in group[: cfg.null_pairs]]
    return tasks


def _prompt_for(spec: JudgeSpec, cfg: JudgingConfig) -> PromptTemplate:
    return load_prompt(spec.prompt or cfg.prompt)


def _params(spec: JudgeSpec) -> dict[str, Any]:
    return {"temperature": spec.temperature, "max_tokens": spec.max_tokens}


def _call_key(spec: JudgeSpec, messages: list[dict], attempt: int) -> str:
    """The request as sent: judges (aliases, prompt labels, orders, budgets) that send it share its reply."""
    return cache_key(spec.model, messages, _params(spec), attempt)


def _readable(reply: dict[str, Any], instructions: str) -> bool:
    return read_verdict(str(reply.get("text") or ""), instructions) is not None


def _cached_final(
    cache: JudgeCache, spec: JudgeSpec, messages: list[dict], attempt: int, instructions: str
) -> dict[str, Any] | None:
    """A cached reply that holds readable scores, or None: a reply without scores is not final, the next
    run sends the call again."""
    hit = cache.lookup(_call_key(spec, messages, attempt))
    if hit is not None and hit[1] and _readable(hit[0], instructions):
        return hit[0]
    return None


# ------------------------------------------------------------------ dry run
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
    prompt = _prompt_for(judge_spec, cfg)
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
                if cache is not None and _cached_final(cache, judge_spec, msgs, 0, prompt.criteria) is not None:
                    cached += 1
                    continue
                ptok += counter.messages(msgs)
        run_spent = round(cache.total_cost(run_id), 8) if cache is not None else 0.0
    finally:
        if cache is not None:
            cache.close()
    ctok = (calls - cached) * expected_completion_tokens(judge_spec)
    return DryRun(len(tasks), calls, cached, ptok, ctok, judge_spec.cost(ptok, ctok), run_spent)


# ------------------------------------------------------------------ the run
class _BudgetStop(Exception):
    """Raised inside a call that the budget refused; the comparison stays pending for a later run."""


class _Stopped(Exception):
    """Raised inside a call not sent after a 401/403 or a failed write; the comparison stays pending."""


def _reply_of(hit: dict[str, Any]) -> Reply:
    return Reply(
        text=hit["text"],
        prompt_tokens=hit["prompt_tokens"],
        completion_tokens=hit["completion_tokens"],
        model=hit["model"],
        usage_estimated=bool(hit.get("usage_estimated")),
    )


class _LedgerView:
    """The run's spend as the cache's ledger has it, every process of the run included, read incrementally."""

    def __init__(self, cache: JudgeCache) -> None:
        self.cache, self.total, self.last = cache, 0.0, 0

    def __call__(self) -> float:
        new, self.last = self.cache.spend_after(self.cache.run, self.last)
        self.total += new
        return self.total


class _Run:
    def __init__(
        self,
        spec: JudgeSpec,
        cfg: JudgingConfig,
        prompt: PromptTemplate,
        client: JudgeClient,
        cache: JudgeCache,
        out_path: Path,
        progress: JudgeProgress,
        summary: JudgeSummary,
        already_spent: float = 0.0,
    ) -> None:
        self.spec, self.cfg, self.prompt, self.client, self.cache = spec, cfg, prompt, client, cache
        self.out_path, self.progress, self.summary = out_path, progress, summary
        self.budget = Budget(cfg.max_cost, spent=already_spent, ledger=_LedgerView(cache))
        self.counter = TokenCounter(spec)
        self.stop: Exception | None = None  # a 401/403 or a failed write (disk full): no call is started after it
        self.inflight: dict[str, asyncio.Future] = {}
        self.written: set[str] = set()  # keys this run stored: replayed as they are, readable or not
        self.pending: list[dict] = []
        self.done = self.failed = self.tokens = 0
        # how long another process's claim on a request is trusted: its longest possible call
        self.claim_ttl = (cfg.timeout + cfg.backoff_max) * (cfg.max_retries + 1) + 30.0

    # ---------------------------------------------------------------- calls
    async def fetch(self, messages: list[dict], attempt: int) -> Reply:
        """A reply from the cache, from an identical call in flight (in this process, or in another one
        sharing the cache: its claim is waited for), or from the endpoint. A cached reply without
        readable scores counts only if this run stored it or it arrived while this run waited for it (the
        re-ask sequence stays the same); one from an earlier run is sent again and replaced."""
        key = _call_key(self.spec, messages, attempt)
        self.summary.calls += 1
        if key in self.written:
            hit = self.cache.get(key)
        else:
            hit = _cached_final(self.cache, self.spec, messages, attempt, self.prompt.criteria)
        if hit is None and key not in self.inflight:
            hit = await self._wait_for_other_process(key)
        if hit is not None:
            self.summary.cache_hits += 1
            return _reply_of(hit)
        if key in self.inflight:
            return await asyncio.shield(self.inflight[key])
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" noise
        self.inflight[key] = fut
        try:
            prompt_est = self.counter.messages(messages)
            reserved_amount = 0.0
            reserved = False

            def gate() -> None:  # called holding a concurrency slot, right before the request goes out
                nonlocal reserved, reserved_amount
                if self.stop is not None:
                    raise _Stopped()
                reserved_amount = self.spec.cost(prompt_est, self.budget.expected_completion(self.spec.max_tokens))
                if not self.budget.reserve(reserved_amount):
                    raise _BudgetStop()
                reserved = True

            actual = 0.0
            reply: Reply | None = None
            try:
                reply = self._complete_usage(await self.client.complete(messages, gate=gate), messages, prompt_est)
                actual = self.spec.cost(reply.prompt_tokens or 0, reply.completion_tokens or 0)
            except AuthRejected as exc:
                if self.stop is None:
                    self.stop = exc
                raise _Stopped() from None
            finally:
                if reserved:
                    self.budget.settle(reserved_amount, actual, reply.completion_tokens if reply else None)
                if reply is None:
                    self.cache.release(key)
            # committed (with what it cost) before anything else sees the reply
            self.cache.put(
                key,
                reply.to_dict(),
                cost=actual,
                final=read_verdict(reply.text, self.prompt.criteria) is not None,
                estimated=reply.usage_estimated,
            )
            self.written.add(key)
            self.summary.cost_spent += actual
            self.tokens += (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)
            fut.set_result(reply)
            return reply
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        finally:
            self.inflight.pop(key, None)

    async def _wait_for_other_process(self, key: str) -> dict[str, Any] | None:
        """Claim `key` for this process; while another live process holds it, wait for its reply. Returns
        a reply stored while waiting (readable or not: the other process paid for it), else None with the
        claim held by this process."""
        started = time.time()
        delay = 0.02
        while not self.cache.claim(key, self.claim_ttl):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        hit = self.cache.lookup(key)
        if hit is not None and (hit[1] and _readable(hit[0], self.prompt.criteria) or hit[2] >= started):
            self.cache.release(key)
            self.written.add(key)
            return hit[0]
        return None

    def _complete_usage(self, reply: Reply, messages: list[dict], prompt_est: int) -> Reply:
        """Fill in token counts the server did not report validly, by the documented rule (cost.py)."""
        if reply.prompt_tokens is not None and reply.completion_tokens is not None:
            return reply
        return Reply(
            text=reply.text,
            prompt_tokens=prompt_est if reply.prompt_tokens is None else reply.prompt_tokens,
            completion_tokens=self.counter.text(reply.text)
            if reply.completion_tokens is None
            else reply.completion_tokens,
            model=reply.model,
            usage_estimated=True,
        )

    async def one_call(self, task: _Task, first: str) -> tuple[dict, str | None, str | None]:
        """One presentation order, re-asked while the reply holds no readable scores.
        Returns (call entry, failure reason, model that answered)."""
        messages = self.prompt.messages(task.item.question, *task.slots(first))
        entry: dict[str, Any] = {
            "first": first,
            "scores": None,
            "parse_failed": False,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost": 0.0,
            "attempts": 0,
        }
        model = None
        for attempt in range(self.cfg.max_parse_retries + 1):
            try:
                reply = await self.fetch(messages, attempt)
            except CallFailed as exc:
                return entry, exc.reason, model
            model = reply.model
            entry["attempts"] += 1
            entry["prompt_tokens"] += reply.prompt_tokens or 0
            entry["completion_tokens"] += reply.completion_tokens or 0
            if reply.usage_estimated:
                entry["usage_estimated"] = self.counter.rule
            entry["cost"] = self.spec.cost(entry["prompt_tokens"], entry["completion_tokens"])
            scores = read_verdict(reply.text, self.prompt.criteria)
            if scores is not None:
                entry["scores"] = [scores[0], scores[1]]
                return entry, None, model
        entry["parse_failed"] = True
        return entry, f"no readable scores after {entry['attempts']} replies", model

    # ---------------------------------------------------------------- comparisons
    async def comparison(self, task: _Task) -> None:
        if self.budget.exhausted or self.stop is not None:
            return
        item = task.item
        firsts = presentation_orders(self.cfg.order, self.cfg.seed, item.testset, str(item.question_id))
        results = await asyncio.gather(*(self.one_call(task, f) for f in firsts), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, (_BudgetStop, _Stopped)):
                    return  # not recorded: the next run judges it (its finished call is cached)
                raise r
        calls = [r[0] for r in results]
        reasons = [r[1] for r in results if r[1]]
        model = next((r[2] for r in results if r[2]), None) or self.spec.model
        outcome = (
            "failed" if reasons else combine([call_outcome(c["first"], c["scores"]) for c in calls], self.cfg.combine)
        )
        sys_len = len(item.system_answer)
        record = Judgment(
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
        self.pending.append(record)
        self.done += 1
        self.failed += outcome == "failed"
        self.summary.judged += outcome != "failed"
        self.summary.failed += outcome == "failed"
        self.progress.update(self.done, self.failed, self.tokens, self.summary.cost_spent)

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

    async def run(self, tasks: list[_Task]) -> None:
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
    prompt = _prompt_for(judge_spec, cfg)
    summary = JudgeSummary(
        judge_spec.name,
        judge_spec.model,
        prompt.version,
        prompt.sha256,
        cfg.order,
        cfg.combine if cfg.order == "both" else None,
        max_cost=cfg.max_cost,
    )
    existing = {record_key(r): r for r in read_judgments(out_path)}
    all_tasks = plan_tasks(items, cfg)
    tasks = [t for t in all_tasks if not (t.key in existing and is_judged(existing[t.key]))]
    summary.comparisons, summary.resumed = len(all_tasks), len(all_tasks) - len(tasks)
    summary.retried = sum(t.key in existing for t in tasks)

    cache = JudgeCache(cache_path, run=run_id)
    try:
        needs_endpoint = any(
            _cached_final(cache, judge_spec, prompt.messages(t.item.question, *t.slots(f)), 0, prompt.criteria) is None
            for t in tasks
            for f in presentation_orders(cfg.order, cfg.seed, t.item.testset, str(t.item.question_id))
        )
        # a finished stage (everything judged or cached) needs no endpoint, key or network
        base_url, api_key = resolve_endpoint(judge_spec) if needs_endpoint else ("http://127.0.0.1:9/v1", "unused")
    except BaseException:
        cache.close()
        raise
    client = JudgeClient(judge_spec, cfg, base_url=base_url, api_key=api_key, seed=cfg.seed)
    bar = JudgeProgress(progress, f"judge ({judge_spec.name})", len(tasks))
    run = _Run(judge_spec, cfg, prompt, client, cache, out_path, bar, summary, already_spent=cache.total_cost(run_id))
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
    _fill_totals(summary, records, [t.key for t in all_tasks])
    if run.stop is not None:
        raise run.stop  # after the records are written: one line, the stage resumes on the next command
    if run.budget.exhausted:
        summary.budget_stopped = True
        raise JudgeBudgetExceeded(
            budget_message(summary.spent_total, cfg.max_cost or 0.0, summary.left, f"judge {judge_spec.name!r}"),
            summary=summary,
            spent=summary.spent_total,
            limit=cfg.max_cost or 0.0,
            left=summary.left,
        )
    return summary


def _fill_totals(summary: JudgeSummary, records: list[dict], planned: list[tuple]) -> None:
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
