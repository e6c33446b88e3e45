"""Pure helpers shared by every selector: validation, ranking with seeded tie-breaks, budgets."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.budgets import budget  # noqa: F401  (the budget rule lives in core; re-exported)
from gsnr_bench.selection.base import ScoreResult


def validate_result(result: ScoreResult, pool_ids: Sequence[str], selector: str) -> None:
    if len(result.ids) != len(result.scores):
        raise DataError(f"selector {selector!r} returned {len(result.ids)} ids but {len(result.scores)} scores")
    if sorted(result.ids) != sorted(pool_ids):
        missing = set(pool_ids) - set(result.ids)
        raise DataError(
            f"selector {selector!r} did not score every pool example exactly once "
            f"({len(missing)} missing, {len(result.ids)} returned for {len(pool_ids)})"
        )
    eligible = result.eligible or [True] * len(result.ids)
    bad = [i for i, (s, ok) in enumerate(zip(result.scores, eligible)) if ok and not math.isfinite(float(s))]
    if bad:
        raise DataError(
            f"selector {selector!r} gave {len(bad)} non-finite scores to eligible examples "
            f"(first id {result.ids[bad[0]]!r}); mark such examples ineligible"
        )
    for col, values in result.columns.items():
        if len(values) != len(result.ids):
            raise DataError(f"selector {selector!r}: column {col!r} has {len(values)} values for {len(result.ids)} ids")


def rank_order(result: ScoreResult, seed: int) -> list[int]:
    """Indices best first: eligible before ineligible, then score descending, ties by a seeded order."""
    n = len(result.ids)
    tiebreak = np.random.default_rng(seed).permutation(n)
    eligible = np.array(result.eligible if result.eligible is not None else [True] * n, dtype=bool)
    scores = np.array([float(s) if math.isfinite(float(s)) else -math.inf for s in result.scores])
    # lexsort sorts by the last key first
    return np.lexsort((tiebreak, -scores, ~eligible)).tolist()


def score_rows(result: ScoreResult, order: list[int]) -> list[dict[str, Any]]:
    rows = []
    eligible = result.eligible or [True] * len(result.ids)
    for rank, i in enumerate(order, start=1):
        row = {"id": result.ids[i], "score": _clean(result.scores[i]), "rank": rank, "eligible": bool(eligible[i])}
        for col, values in result.columns.items():
            row[col] = _clean(values[i])
        rows.append(row)
    return rows


def _clean(v: Any) -> Any:
    """JSON has no NaN/inf: write them as null so a file never carries a silent NaN."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v
