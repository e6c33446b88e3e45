"""One model call of a judging stage, resolved once: from the request-keyed cache, from an identical call in
flight (in this process, or in another one sharing the cache), or from the endpoint under the budget; and
one presentation order re-asked while its reply holds no readable scores."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from gsnr_bench.judging.cache import JudgeCache
from gsnr_bench.judging.client import AuthRejected, CallFailed, JudgeClient, Reply
from gsnr_bench.judging.comparisons import Task, cached_final, call_key, readable
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.cost import Budget, TokenCounter
from gsnr_bench.judging.progress import JudgeProgress
from gsnr_bench.judging.protocol import PromptTemplate, read_verdict
from gsnr_bench.judging.spec import JudgeSpec
from gsnr_bench.judging.summary import JudgeSummary


class BudgetStop(Exception):
    """Raised inside a call that the budget refused; the comparison stays pending for a later run."""


class Stopped(Exception):
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


class JudgeCalls:
    """The call state of one stage's judging: its budget, the calls in flight, the keys it stored, and `stop`
    (a 401/403 or a failed write: no call is started after it). `JudgeRun` (loop.py) adds the comparisons."""

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
        key = call_key(self.spec, messages, attempt)
        self.summary.calls += 1
        if key in self.written:
            hit = self.cache.get(key)
        else:
            hit = cached_final(self.cache, self.spec, messages, attempt, self.prompt.criteria)
        if hit is None and key not in self.inflight:
            hit = await self._wait_for_other_process(key)
        if hit is not None:
            self.summary.cache_hits += 1
            return _reply_of(hit)
        if key in self.inflight:
            return await asyncio.shield(self.inflight[key])
        return await self._send(key, messages)

    async def _send(self, key: str, messages: list[dict]) -> Reply:
        """Send the call (this process holds its claim), other callers of the same key awaiting its future."""
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved" noise
        self.inflight[key] = fut
        try:
            reply = await self._paid_call(key, messages)
            fut.set_result(reply)
            return reply
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        finally:
            self.inflight.pop(key, None)

    async def _paid_call(self, key: str, messages: list[dict]) -> Reply:
        """The request under the budget (reserved right before it goes out, settled with what it cost), its
        reply committed to the cache with its cost before anything else sees it."""
        prompt_est = self.counter.messages(messages)
        reserved_amount = 0.0
        reserved = False

        def gate() -> None:  # called holding a concurrency slot, right before the request goes out
            nonlocal reserved, reserved_amount
            if self.stop is not None:
                raise Stopped()
            reserved_amount = self.spec.cost(prompt_est, self.budget.expected_completion(self.spec.max_tokens))
            if not self.budget.reserve(reserved_amount):
                raise BudgetStop()
            reserved = True

        actual = 0.0
        reply: Reply | None = None
        try:
            reply = self._complete_usage(await self.client.complete(messages, gate=gate), messages, prompt_est)
            actual = self.spec.cost(reply.prompt_tokens or 0, reply.completion_tokens or 0)
        except AuthRejected as exc:
            if self.stop is None:
                self.stop = exc
            raise Stopped() from None
        finally:
            if reserved:
                self.budget.settle(reserved_amount, actual, reply.completion_tokens if reply else None)
            if reply is None:
                self.cache.release(key)
        self._commit(key, reply, actual)
        return reply

    def _commit(self, key: str, reply: Reply, cost: float) -> None:
        """Committed (with what it cost) before anything else sees the reply."""
        self.cache.put(
            key,
            reply.to_dict(),
            cost=cost,
            final=read_verdict(reply.text, self.prompt.criteria) is not None,
            estimated=reply.usage_estimated,
        )
        self.written.add(key)
        self.summary.cost_spent += cost
        self.tokens += (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)

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
        if hit is not None and (hit[1] and readable(hit[0], self.prompt.criteria) or hit[2] >= started):
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

    async def one_call(self, task: Task, first: str) -> tuple[dict, str | None, str | None]:
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
