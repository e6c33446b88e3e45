"""Judge bias diagnostics, pure functions over judgment records (docs/ARCHITECTURE.md schema).

- first_position_win_rate: among parsed calls with a decisive verdict (s1 != s2), how often the
  answer shown first won. A fair judge under shuffled or both orders sits near 0.5.
- swap_flip_rate (order `both` only): among comparisons with both calls parsed, how often the
  system-side verdict differs between the two orders.
- longer_answer_win_rate: among decided comparisons (win/lose) whose answers differ in length,
  how often the longer answer won.
- null pairs (the same answer in both slots): tie rate and mean |s1 - s2| over their calls,
  a direct measure of judge noise."""

from __future__ import annotations

from typing import Any, Iterable

from gsnr_bench.domain.judgment import call_outcome


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def first_position_win_rate(records: Iterable[dict]) -> dict[str, Any]:
    first = decisive = 0
    for r in records:
        if r.get("null_pair"):
            continue
        for c in r.get("calls", []):
            s = c.get("scores")
            if s and s[0] != s[1]:
                decisive += 1
                first += s[0] > s[1]
    return {"first_position_win_rate": _rate(first, decisive), "decisive_calls": decisive}


def swap_flip_rate(records: Iterable[dict]) -> dict[str, Any]:
    flips = pairs = 0
    for r in records:
        calls = r.get("calls", [])
        if r.get("null_pair") or r.get("order") != "both" or len(calls) != 2 or not all(c.get("scores") for c in calls):
            continue
        pairs += 1
        a, b = (call_outcome(c["first"], c["scores"]) for c in calls)
        flips += a != b
    return {"swap_flip_rate": _rate(flips, pairs), "swap_pairs": pairs}


def longer_answer_win_rate(records: Iterable[dict]) -> dict[str, Any]:
    longer = decided = 0
    for r in records:
        out, sl, bl = r.get("outcome"), r.get("system_len", 0), r.get("baseline_len", 0)
        if r.get("null_pair") or out not in ("win", "lose") or sl == bl:
            continue
        decided += 1
        longer += (out == "win") == (sl > bl)
    return {"longer_answer_win_rate": _rate(longer, decided), "length_decided": decided}


def null_pair_stats(records: Iterable[dict]) -> dict[str, Any]:
    ties = judged = 0
    gaps: list[float] = []
    for r in records:
        if not r.get("null_pair") or r.get("outcome") == "failed":
            continue
        judged += 1
        ties += r.get("outcome") == "tie"
        gaps += [abs(c["scores"][0] - c["scores"][1]) for c in r.get("calls", []) if c.get("scores")]
    return {
        "null_pairs": judged,
        "null_tie_rate": _rate(ties, judged),
        "null_mean_abs_gap": round(sum(gaps) / len(gaps), 6) if gaps else None,
    }


def bias_diagnostics(records: Iterable[dict]) -> dict[str, Any]:
    """All of the above, plus failure counts, for one judge's records."""
    records = list(records)
    failed = [r for r in records if r.get("outcome") == "failed"]
    parse_failed = sum(1 for r in failed for c in r.get("calls", []) if c.get("parse_failed"))
    return {
        **first_position_win_rate(records),
        **swap_flip_rate(records),
        **longer_answer_win_rate(records),
        **null_pair_stats(records),
        "failed": len(failed),
        "parse_failed_calls": parse_failed,
        "records": len(records),
    }
