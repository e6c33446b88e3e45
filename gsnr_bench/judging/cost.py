"""Token counts, cost estimates and the --max-cost budget.

Token estimate (the dry run, the budget's reservations, and a reply whose `usage` is missing or invalid):
with the judge's tokenizer when the spec names one that loads from local files (`tokenizer:` in the judge
YAML), its token count of each message plus 4 tokens of chat framing per message; otherwise
ceil(chars / 4) per message plus the same 4 (English averages about 4 characters per token with GPT
tokenizers: close for English, low for code or non-Latin scripts). `TokenCounter.rule` names which.

Usage validation: a reply's `usage.prompt_tokens` / `completion_tokens` must each be a whole number >= 0.
A count that is missing, negative, fractional, not a number or a bool is replaced by the estimate, the
call is marked `usage_estimated` (judgment records, cache ledger, manifest, report) and a warning is
printed; a cost is therefore never negative and spend never goes down.

The budget (`--max-cost`, `judging.max_cost`) bounds the whole run's judge spend, over every command
and stage that shares the run's judge cache: it starts from what the cache's ledger says the run ever
spent. A call reserves its EXPECTED cost when it is about to be sent (holding a concurrency slot): its
prompt tokens (estimated as above) plus the running mean of the completion tokens of the replies this
stage received (`max_tokens` until its first reply arrives), at the judge's prices; on its reply the
reservation is replaced by what it really cost. A call is not started once spent + reserved + its
expected cost would pass the limit, and none after it: the run stops within one in-flight batch of the
limit (a batch's replies may be longer than the mean, so the last batch can pass the limit by the
difference)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from gsnr_bench.judging.spec import JudgeSpec

EXPECTED_COMPLETION_TOKENS = 150
TOKENS_PER_MESSAGE = 4
CHARS_RULE = "chars/4"


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(math.ceil(len(m.get("content") or "") / 4) + TOKENS_PER_MESSAGE for m in messages)


def expected_completion_tokens(spec: JudgeSpec) -> int:
    return min(spec.max_tokens, EXPECTED_COMPLETION_TOKENS)


def valid_count(value: Any) -> int | None:
    """A usage token count as reported, or None when it cannot be trusted."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return None
    return int(value) if value >= 0 else None


class TokenCounter:
    """Counts tokens with the judge's tokenizer when it loads from local files, else by chars / 4."""

    def __init__(self, spec: JudgeSpec) -> None:
        self._tok = None
        self.rule = CHARS_RULE
        if spec.tokenizer:
            try:
                from transformers import AutoTokenizer

                self._tok = AutoTokenizer.from_pretrained(spec.tokenizer, local_files_only=True)
                self.rule = f"tokenizer {spec.tokenizer}"
            except Exception:  # not cached locally, not a tokenizer: the documented fallback
                self._tok = None

    def text(self, text: str) -> int:
        if self._tok is None:
            return math.ceil(len(text) / 4)
        return len(self._tok(text, add_special_tokens=False)["input_ids"])

    def messages(self, messages: list[dict[str, str]]) -> int:
        if self._tok is None:
            return estimate_prompt_tokens(messages)
        return sum(self.text(m.get("content") or "") + TOKENS_PER_MESSAGE for m in messages)


@dataclass
class Budget:
    """Spend so far (`spent` starts at what the run already spent) plus reservations for calls in flight;
    a call is sent only if its expected cost fits. `limit` None: no limit, only accounting. `ledger`, when
    given, returns the run's spend as the judge cache's ledger has it (every process of the run included):
    read before each reservation (at most every `ledger_every` seconds), it keeps a process from spending
    what another one already has (what other processes have in flight is not seen: two processes can pass
    the limit by their in-flight batches)."""

    limit: float | None
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False
    out_tokens: int = 0  # completion tokens of the replies settled so far
    replies: int = 0
    ledger: Callable[[], float] | None = None
    ledger_every: float = 0.0
    _ledger_at: float = -1e18

    def expected_completion(self, max_tokens: int) -> float:
        return min(float(max_tokens), self.out_tokens / self.replies) if self.replies else float(max_tokens)

    def reserve(self, amount: float) -> bool:
        if self.limit is None:
            return True
        now = time.monotonic()
        if self.ledger is not None and now - self._ledger_at >= self.ledger_every:
            self._ledger_at = now
            self.spent = max(self.spent, self.ledger())  # spend never goes down
        if self.exhausted or self.spent + self.reserved + amount > self.limit:
            self.exhausted = True  # stop starting work; calls in flight still finish and are kept
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: float, actual: float, completion_tokens: int | None = None) -> None:
        if self.limit is not None:
            self.reserved -= reserved
        self.spent += max(0.0, actual)  # a cost is never negative (usage is validated); spend never goes down
        if completion_tokens is not None:
            self.out_tokens += completion_tokens
            self.replies += 1
