"""The records that flow between stages. Plain dataclasses: no torch, no pandas."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

Outcome = Literal["win", "tie", "lose"]


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


Side = Literal["system", "baseline"]


def to_system_side(first: Side, scores: Sequence[float]) -> tuple[float, float]:
    """Map a judgment call's scores as presented (Assistant 1, Assistant 2) to (system, baseline). The only
    place where presentation order is undone (the judgment record contract, docs/ARCHITECTURE.md)."""
    a1, a2 = float(scores[0]), float(scores[1])
    return (a1, a2) if first == "system" else (a2, a1)


def call_outcome(first: Side, scores: Sequence[float]) -> Outcome:
    s, b = to_system_side(first, scores)
    return "win" if s > b else "lose" if s < b else "tie"


def judgment_key(r: dict[str, Any]) -> tuple:
    """One comparison: a later record with the same key supersedes an earlier one (a retried failure)."""
    return (r.get("testset"), str(r.get("question_id")), r.get("system"), r.get("baseline"), bool(r.get("null_pair")))


def latest_judgments(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Last record per comparison, in the order of each comparison's first record. judgments.jsonl is
    append-only while a stage runs: a failed comparison that a later command judged again appears twice."""
    last: dict[tuple, dict[str, Any]] = {}
    for r in records:
        last[judgment_key(r)] = r
    return list(last.values())
