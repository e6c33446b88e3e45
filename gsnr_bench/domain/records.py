"""The records that flow between stages. Plain dataclasses: no torch, no pandas."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    """One instruction-tuning pair in Alpaca form. `id` is unique within a pool."""

    id: str
    instruction: str
    input: str
    output: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Question:
    """One test question. `reference` is set only for synthetic test sets (the demo judge uses it)."""

    testset: str
    question_id: str
    text: str
    category: str = ""
    reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """One generated answer, as written to answers/<testset>.jsonl."""

    testset: str
    question_id: str
    prompt: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    gen_params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
