"""What a judging stage judges: a `Comparison` (a question, the system's and the baseline's answers), the
`Task`s planned from them (null pairs included), and the request key each model call is cached under."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.judging.cache import JudgeCache, cache_key
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.protocol import PromptTemplate, load_prompt, read_verdict
from gsnr_bench.judging.spec import JudgeSpec


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
class Task:
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


def plan_tasks(items: list[Comparison], cfg: JudgingConfig) -> list[Task]:
    """Comparisons plus `cfg.null_pairs` seeded questions per test set judged against themselves."""
    tasks = [Task(i, False) for i in items]
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
            tasks += [Task(i, True) for i in group[: cfg.null_pairs]]
    return tasks


def prompt_for(spec: JudgeSpec, cfg: JudgingConfig) -> PromptTemplate:
    return load_prompt(spec.prompt or cfg.prompt)


def request_params(spec: JudgeSpec) -> dict[str, Any]:
    return {"temperature": spec.temperature, "max_tokens": spec.max_tokens}


def call_key(spec: JudgeSpec, messages: list[dict], attempt: int) -> str:
    """The request as sent: judges (aliases, prompt labels, orders, budgets) that send it share its reply."""
    return cache_key(spec.model, messages, request_params(spec), attempt)


def readable(reply: dict[str, Any], instructions: str) -> bool:
    return read_verdict(str(reply.get("text") or ""), instructions) is not None


def cached_final(
    cache: JudgeCache, spec: JudgeSpec, messages: list[dict], attempt: int, instructions: str
) -> dict[str, Any] | None:
    """A cached reply that holds readable scores, or None: a reply without scores is not final, the next
    run sends the call again."""
    hit = cache.lookup(call_key(spec, messages, attempt))
    if hit is not None and hit[1] and readable(hit[0], instructions):
        return hit[0]
    return None
