"""Pure metrics: PWS, the question-level bootstrap, judge-human agreement, enrichment.

PWS = 1 + (W - L) / N over non-failed comparisons (failed ones are counted apart, never scored).
All functions are pure (no IO) so the golden tests pin the math down.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gsnr_bench.core.errors import DataError

OUTCOMES = ("win", "tie", "lose")
_SIGN = {"win": 1, "tie": 0, "lose": -1}


@dataclass(frozen=True)
class Counts:
    wins: int = 0
    ties: int = 0
    losses: int = 0
    failed: int = 0

    @property
    def n(self) -> int:
        """Scored comparisons: failed ones are not part of N."""
        return self.wins + self.ties + self.losses

    @property
    def pws(self) -> float:
        return pws(self.wins, self.ties, self.losses)


def pws(wins: int, ties: int, losses: int) -> float:
    """1 + (W - L) / N; NaN when nothing was scored (shown as missing, never as a number)."""
    n = wins + ties + losses
    return 1.0 + (wins - losses) / n if n else math.nan


def count_outcomes(outcomes: Iterable[str]) -> Counts:
    c = {"win": 0, "tie": 0, "lose": 0, "failed": 0}
    for o in outcomes:
        if o not in c:
            raise DataError(f"unknown outcome {o!r} (expected win, tie, lose or failed)")
        c[o] += 1
    return Counts(c["win"], c["tie"], c["lose"], c["failed"])


# ---------------------------------------------------------------- bootstrap by question


def question_matrices(rows: Sequence[tuple[str, object, str]]) -> tuple[np.ndarray, np.ndarray]:
    """(judge, question key, outcome) rows -> per-question (W - L) and N matrices of shape (judges, questions).

    Columns are questions (every judgment of a question, of every judge, moves together in a resample);
    questions with nothing scored by any judge are dropped (they carry no information)."""
    judges = sorted({j for j, _, _ in rows})
    questions = sorted({q for _, q, _ in rows}, key=repr)
    ji = {j: i for i, j in enumerate(judges)}
    qi = {q: i for i, q in enumerate(questions)}
    d = np.zeros((len(judges), len(questions)))
    n = np.zeros((len(judges), len(questions)))
    for j, q, o in rows:
        if o == "failed":
            continue
        d[ji[j], qi[q]] += _SIGN[o]
        n[ji[j], qi[q]] += 1
    keep = n.sum(axis=0) > 0
    return d[:, keep], n[:, keep]


def _mean_pws(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean over judges (axis 0) of 1 + sum(d)/sum(n) over questions (last axis)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        per_judge = 1.0 + d.sum(axis=-1) / n.sum(axis=-1)
    if per_judge.ndim == 1:
        return np.float64(np.nanmean(per_judge)) if np.isfinite(per_judge).any() else np.float64(np.nan)
    valid = np.isfinite(per_judge)
    total = np.where(valid, per_judge, 0.0).sum(axis=0)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _question_bootstrap(stat: Any, q: int, rounds: int, ci: float, seed: int) -> Any:
    """scipy's percentile bootstrap over question indices 0..q-1 (vectorised `stat(idx)`), seeded."""
    from scipy.stats import bootstrap

    kw = {"rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state": np.random.default_rng(seed)}
    return bootstrap(
        (np.arange(q),),
        stat,
        n_resamples=rounds,
        vectorized=True,
        axis=-1,
        confidence_level=ci,
        method="percentile",
        **kw,
    )


def bootstrap_pws_ci(
    d: np.ndarray, n: np.ndarray, *, rounds: int = 1000, ci: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the (judge-mean) PWS, resampling questions with replacement.

    Uses scipy.stats.bootstrap on question indices: the statistic gathers each resampled question's
    judgments from every judge, so a question's judgments (both orders, all judges) stay together.
    Percentile, not BCa: BCa needs jackknife over questions and fails on degenerate (all-tie) data."""

    d = np.atleast_2d(np.asarray(d, dtype=float))
    n = np.atleast_2d(np.asarray(n, dtype=float))
    q = d.shape[1]
    if q == 0:
        return math.nan, math.nan
    if q == 1:  # every resample is the same question: the interval is the point
        p = float(_mean_pws(d, n))
        return p, p

    def stat(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx, dtype=int)
        return _mean_pws(d[:, idx], n[:, idx])  # (judges, batch, q) -> (batch,)

    res = _question_bootstrap(stat, q, rounds, ci, seed)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_matrices(rows_a: Sequence[tuple[str, object, str]], rows_b: Sequence[tuple[str, object, str]]):
    """(d_a, n_a, d_b, n_b) of shape (judges, questions) over the same judges and questions (the union), so a
    resampled question moves both systems' judgments together (a paired bootstrap)."""
    judges = sorted({j for j, _, _ in [*rows_a, *rows_b]})
    questions = sorted({q for _, q, _ in [*rows_a, *rows_b]}, key=repr)
    ji = {j: i for i, j in enumerate(judges)}
    qi = {q: i for i, q in enumerate(questions)}
    out = []
    for rows in (rows_a, rows_b):
        d = np.zeros((len(judges), len(questions)))
        n = np.zeros((len(judges), len(questions)))
        for j, q, o in rows:
            if o == "failed":
                continue
            d[ji[j], qi[q]] += _SIGN[o]
            n[ji[j], qi[q]] += 1
        out += [d, n]
    return tuple(out)


def bootstrap_pws_diff(
    rows_a: Sequence[tuple[str, object, str]],
    rows_b: Sequence[tuple[str, object, str]],
    *,
    rounds: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """PWS(a) - PWS(b) (judge means) and its percentile bootstrap CI, resampling questions with replacement,
    both systems' judgments of a question together (they are judged on the same questions against the same
    baseline). -> (point, low, high); NaN when either system has nothing scored."""

    da, na, db, nb = paired_matrices(rows_a, rows_b)
    q = da.shape[1]
    if q == 0 or na.sum() == 0 or nb.sum() == 0:
        return math.nan, math.nan, math.nan
    point = float(_mean_pws(da, na) - _mean_pws(db, nb))
    if q == 1:
        return point, point, point

    def stat(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.asarray(idx, dtype=int)
        return _mean_pws(da[:, idx], na[:, idx]) - _mean_pws(db[:, idx], nb[:, idx])

    res = _question_bootstrap(stat, q, rounds, ci, seed)
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


# ---------------------------------------------------------------- agreement with humans


def agreement(judge_labels: Sequence[str], human_labels: Sequence[str]) -> dict[str, float]:
    """Accuracy with ties (3 classes), accuracy without ties (items where neither side says tie,
    as in the MT-bench agreement study) and Cohen's kappa over win/tie/lose."""
    from sklearn.metrics import cohen_kappa_score

    if len(judge_labels) != len(human_labels):
        raise DataError("agreement needs as many judge labels as human labels")
    j, h = list(judge_labels), list(human_labels)
    n = len(j)
    acc = sum(a == b for a, b in zip(j, h)) / n if n else math.nan
    nt = [(a, b) for a, b in zip(j, h) if a != "tie" and b != "tie"]
    acc_nt = sum(a == b for a, b in nt) / len(nt) if nt else math.nan
    kappa = _kappa(j, h, cohen_kappa_score)
    return {"n": n, "n_no_ties": len(nt), "accuracy": acc, "accuracy_no_ties": acc_nt, "kappa": kappa}


def _kappa(a: list[str], b: list[str], fn) -> float:
    """Cohen's kappa; NaN when undefined (no items, or both raters use one and the same label)."""
    if not a or (len(set(a)) == 1 and set(a) == set(b)):
        return math.nan
    return float(fn(a, b, labels=list(OUTCOMES)))


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    return _kappa(list(a), list(b), cohen_kappa_score)


# ---------------------------------------------------------------- enrichment (ground truth, judge-free)


def precision_lift(
    ranked_ids: Sequence[str], clean: Mapping[str, bool], ratios: Sequence[float]
) -> list[dict[str, float]]:
    """Per ratio: clean rate of the top n = round(ratio * N) vs the pool's base clean rate."""
    from gsnr_bench.domain.budgets import budget

    missing = [i for i in ranked_ids if i not in clean]
    if missing:
        raise DataError(f"{len(missing)} ranked ids have no ground truth (first {missing[0]!r})")
    if not ranked_ids:
        raise DataError("no ranked ids to check enrichment on")
    base = sum(bool(clean[i]) for i in ranked_ids) / len(ranked_ids)
    out = []
    for r in ratios:
        k = budget(r, len(ranked_ids))
        prec = sum(bool(clean[i]) for i in ranked_ids[:k]) / k
        out.append(
            {"ratio": float(r), "n": k, "precision": prec, "base_rate": base, "lift": prec / base if base else math.nan}
        )
    return out


def score_auc(scores: Mapping[str, float], clean: Mapping[str, bool]) -> float:
    """ROC-AUC of the selector score for clean (positive) vs defective; NaN if one class is absent."""
    from sklearn.metrics import roc_auc_score

    ids = [i for i in scores if i in clean and math.isfinite(float(scores[i]))]
    y = [int(bool(clean[i])) for i in ids]
    if len(set(y)) < 2:
        return math.nan
    return float(roc_auc_score(y, [float(scores[i]) for i in ids]))


def ranking_auc(ranked_ids: Sequence[str], clean: Mapping[str, bool]) -> float:
    """ROC-AUC of the ranking a selector actually used (score = -rank; ineligible examples are ranked last by
    the selection stage, so they count as its least wanted), for clean (positive) vs defective."""
    return score_auc({i: -float(k) for k, i in enumerate(ranked_ids)}, clean)


def defect_counts(ids: Iterable[str], labels: Mapping[str, str]) -> dict[str, int]:
    """How many of `ids` carry each defect label (clean ones left out), by label."""
    out: dict[str, int] = {}
    for i in ids:
        lab = labels[i]
        if lab != "clean":
            out[lab] = out.get(lab, 0) + 1
    return dict(sorted(out.items()))


def bootstrap_mean_ci(values: Sequence[float], *, rounds: int, ci: float, seed: int) -> tuple[float, float, float]:
    """Mean of per-record values and its percentile bootstrap CI, resampling records with replacement (seeded).
    Given paired differences, this is the paired interval. NaN for no values; a point interval for one."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    point = float(v.mean())
    if v.size == 1:
        return point, point, point
    res = _question_bootstrap(lambda idx, axis=-1: v[idx].mean(axis=axis), v.size, rounds, ci, seed)
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)
