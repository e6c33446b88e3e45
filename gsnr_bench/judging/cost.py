"""Cost estimates and the --max-cost budget.

Token estimate (no tokenizer needed, works for any judge): ceil(chars / 4) per message plus 4
tokens of chat framing per message; English text averages about 4 characters per token with GPT
tokenizers, so this is close for English and low for code or non-Latin scripts. Completion tokens:
`EXPECTED_COMPLETION_TOKENS` (a Vicuna verdict is two scores and a paragraph) for the dry-run's
expected cost; the budget instead reserves the worst case, `max_tokens`, so it can never overshoot
by an in-flight call's completion.

The budget (`--max-cost`, `judging.max_cost`) bounds the whole run's judge spend, over every command
and stage that shares the run's judge cache: it starts from what the cache says was ever spent
(`JudgeCache.total_cost()`). A call reserves its worst case only when it is about to be sent (holding a
concurrency slot) and settles on its reply, so the run stops starting calls once the next one's worst
case would not fit: within one in-flight batch of the limit, never past it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spec import JudgeSpec

EXPECTED_COMPLETION_TOKENS = 150
TOKENS_PER_MESSAGE = 4


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(math.ceil(len(m.get("content") or "") / 4) + TOKENS_PER_MESSAGE for m in messages)


def expected_completion_tokens(spec: JudgeSpec) -> int:
    return min(spec.max_tokens, EXPECTED_COMPLETION_TOKENS)


@dataclass
class Budget:
    """Spend so far (`spent` starts at what the run already spent) plus reservations for calls in flight;
    a call is sent only if its worst case fits."""

    limit: float | None
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False

    def reserve(self, amount: float) -> bool:
        if self.limit is None:
            return True
        if self.exhausted or self.spent + self.reserved + amount > self.limit:
            self.exhausted = True  # stop starting work; calls in flight still finish and are kept
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        if self.limit is not None:
            self.reserved -= reserved
        self.spent += actual
