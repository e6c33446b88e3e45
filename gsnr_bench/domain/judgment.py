"""The judgment record (one comparison of a system's answer with the baseline's, as judged) and its rules, in
one place: judging writes it (judging/stage.py), the importers build it from other tools' files
(reporting/importers.py), reporting reads it. No heavy imports; the only IO is reading a judgments file.

Rules kept here and nowhere else:
- the outcome of one call (`call_outcome`: the scores as presented, mapped back to the system's side),
- how the calls of one comparison combine (`combine`: lenient or strict),
- which record of a comparison counts (`latest`: the last one written, per `record_key`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_jsonl

Side = Literal["system", "baseline"]
Verdict = Literal["win", "tie", "lose"]
Outcome = Literal["win", "tie", "lose", "failed"]
VERDICTS: tuple[Verdict, ...] = ("win", "tie", "lose")
RULES = ("lenient", "strict")
_SIGN = {"win": 1, "tie": 0, "lose": -1}


# ------------------------------------------------------------------ the outcome rule
def to_system_side(first: Side, scores: Sequence[float]) -> tuple[float, float]:
    """Map a judgment call's scores as presented (Assistant 1, Assistant 2) to (system, baseline). The only
    place where presentation order is undone."""
    a1, a2 = float(scores[0]), float(scores[1])
    return (a1, a2) if first == "system" else (a2, a1)


def outcome(system_score: float, baseline_score: float) -> Verdict:
    """The system's verdict from the two scores: the higher score wins, equal scores tie."""
    return "win" if system_score > baseline_score else "lose" if system_score < baseline_score else "tie"


def call_outcome(first: Side, scores: Sequence[float]) -> Verdict:
    """The verdict of one call whose scores were given as presented, `first` shown as Assistant 1."""
    return outcome(*to_system_side(first, scores))


def combine(outcomes: Sequence[str], rule: str) -> Outcome:
    """Outcome of a comparison from its calls' outcomes (system side).
    lenient (Superfiltering/Cherry): sign(a) + sign(b) > 0 wins, < 0 loses, else ties (win+tie wins, win+lose ties).
    strict (FastChat): only agreeing verdicts count; any disagreement is a tie.
    A failed call (or none at all) makes the comparison failed: the reference code would score it as a tie."""
    if rule not in RULES:
        raise DataError(f"unknown combine rule {rule!r} (expected lenient or strict)")
    for o in outcomes:
        if o not in _SIGN and o != "failed":
            raise DataError(f"unknown outcome {o!r} (expected win, tie, lose or failed)")
    if not outcomes or "failed" in outcomes:
        return "failed"
    if rule == "strict":
        return outcomes[0] if len(set(outcomes)) == 1 else "tie"  # type: ignore[return-value]
    total = sum(_SIGN[o] for o in outcomes)
    return "win" if total > 0 else "lose" if total < 0 else "tie"


# ------------------------------------------------------------------ which record counts
def record_key(r: dict[str, Any]) -> tuple:
    """One comparison: a later record with the same key supersedes an earlier one (a retried failure)."""
    return (r.get("testset"), str(r.get("question_id")), r.get("system"), r.get("baseline"), bool(r.get("null_pair")))


def latest(records: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Key -> last record, keyed in order of each key's first record. judgments.jsonl is append-only while a
    stage runs: a failed comparison that a later command judged again appears twice, and the last one counts."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in records:
        out[record_key(r)] = r
    return out


def read_judgments(path: str | Path) -> list[dict[str, Any]]:
    """The records of one judgments file, one per comparison key, the last one written winning
    (a retried comparison supersedes its earlier failed record). Tolerates a torn final line left by a
    crash; a missing file reads as no records."""
    path = Path(path)
    if not path.exists():
        return []
    return list(latest(read_jsonl(path, tolerant=True)).values())


def is_judged(r: dict[str, Any]) -> bool:
    """A record with a verdict (win / tie / lose); `failed` records are retried by the next run."""
    return r.get("outcome") in VERDICTS


# ------------------------------------------------------------------ the record
@dataclass(frozen=True, kw_only=True)
class Judgment:
    """One judgment record, as judgments.jsonl and imported/*.json hold it (`to_dict`).

    `calls` are the model calls in the order sent (judged here: first, scores as presented, parse_failed, tokens,
    cost, attempts, usage_estimated when counts were estimated; imported: what the file gives). A record carries
    `reason` (why its judging stage failed it, None when judged) when this harness judged it, and `source` (the
    file format) instead when it was imported."""

    testset: str
    question_id: str
    judge: str
    judge_model: str | None
    system: str
    baseline: str
    prompt_version: str | None
    order: str  # "shuffle" (one call, seeded side) or "both"
    combine: str | None  # the rule that merged the two orders; None with one call
    null_pair: bool  # the system's answer in both slots (a bias check, never scored)
    calls: list[dict[str, Any]] = field(default_factory=list)
    outcome: Outcome
    system_len: int | None  # characters of each answer (length-bias diagnostics)
    baseline_len: int | None
    reason: str | None = None
    source: str | None = None

    @property
    def key(self) -> tuple:
        return (self.testset, str(self.question_id), self.system, self.baseline, bool(self.null_pair))

    @property
    def judged(self) -> bool:
        return self.outcome in VERDICTS

    def to_dict(self) -> dict[str, Any]:
        """The record as written (the writers sort keys, so only the key set and the values matter)."""
        d = {
            "testset": self.testset,
            "question_id": self.question_id,
            "judge": self.judge,
            "judge_model": self.judge_model,
            "system": self.system,
            "baseline": self.baseline,
            "prompt_version": self.prompt_version,
            "order": self.order,
            "combine": self.combine,
            "null_pair": self.null_pair,
            "calls": self.calls,
            "outcome": self.outcome,
            "system_len": self.system_len,
            "baseline_len": self.baseline_len,
        }
        if self.source is None:
            d["reason"] = self.reason
        else:
            d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> Judgment:
        """A record read back (keys the record does not define, such as reporting's `cell`, are dropped)."""
        return cls(
            testset=r["testset"],
            question_id=str(r["question_id"]),
            judge=r["judge"],
            judge_model=r.get("judge_model"),
            system=r["system"],
            baseline=r["baseline"],
            prompt_version=r.get("prompt_version"),
            order=r.get("order", "both"),
            combine=r.get("combine"),
            null_pair=bool(r.get("null_pair")),
            calls=list(r.get("calls") or []),
            outcome=r["outcome"],
            system_len=r.get("system_len"),
            baseline_len=r.get("baseline_len"),
            reason=r.get("reason"),
            source=r.get("source"),
        )
