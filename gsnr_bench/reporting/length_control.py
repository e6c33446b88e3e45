"""Length-controlled PWS (LC-PWS): the PWS a cell would get if its answers were as long as the baseline's.

LLM judges prefer longer answers, so a selector that merely keeps long examples trains a target with long
answers and gains PWS without better data. Following AlpacaEval's length-controlled win rate (Dubois et al.,
arXiv 2404.04475), each judged comparison i of a cell (one system vs the 100% model, one judge) is modelled as

    logit p_i = theta + phi * tanh(delta_i / sd(delta))

- y_i = 1 (win), 0.5 (tie), 0 (lose): ties are half a win, fitted as a fractional target of the binary
  cross-entropy, so 2 * mean(y) is exactly the raw PWS (1 + (W - L) / N).
- delta_i = system answer length - baseline answer length, in tokens when every comparison of the cell has
  them (the answers files' completion_tokens), else in characters (system_len / baseline_len); sd is the
  cell's standard deviation of delta.
- The fit uses the cell's own comparisons only (and, through delta, the baseline's answers): adding or removing
  other selectors or cells changes nothing. (An earlier version borrowed a question-difficulty term from the
  run's other cells; that made one cell's LC-PWS move with the company it was reported in.)
- theta, phi are fitted by Newton's method with a small L2 penalty (1e-3: keeps the fit finite when the
  outcomes separate, e.g. all wins).
- LC-PWS = 2 * sigmoid(theta): the predicted preference at zero length difference, on the PWS scale. With
  phi = 0 it equals the raw PWS (up to the penalty).
- The interval is a percentile bootstrap by question (every comparison of a resampled question, of every judge,
  moves together); on each resample sd and the whole model are refitted, so the interval carries the
  uncertainty of the length fit.
- Reading the model at zero length difference is an extrapolation unless the cell's data contain answers on
  both sides of it. `identify` refuses (LC-PWS "n/a", with the reason) when fewer than max(5, 5%) of the
  comparisons have delta <= 0 or delta >= 0, or when the design inflates the variance of the prediction at
  zero more than 10-fold over the raw PWS's (1 + mean(x)^2 / var(x), x = tanh(delta / sd): the length term is
  nearly constant, so theta is not identified apart from it).
- Judge "mean": the mean of the judges' LC-PWS, each refitted on the same resampled questions; n/a when any
  judge's is.
See docs/length.md for when LC helps and when it removes real signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

PREF = {"win": 1.0, "tie": 0.5, "lose": 0.0}
PENALTY = 1e-3
MIN_SIDE = 5  # comparisons needed on each side of zero length difference (and MIN_SIDE_SHARE of the cell)
MIN_SIDE_SHARE = 0.05
MAX_INFLATION = 10.0  # variance inflation of the prediction at zero length difference, vs the raw PWS
_MAX_STEP = 5.0


@dataclass(frozen=True)
class LcRow:
    """One scored comparison as the model sees it."""

    judge: str
    question: Any  # hashable key, e.g. (testset, question_id)
    y: float  # 1 win, 0.5 tie, 0 lose
    delta: float  # system length - baseline length


@dataclass(frozen=True)
class LcResult:
    """LC-PWS of one cell: value and interval, or NaN with `note` saying why the cell is n/a."""

    value: float
    low: float
    high: float
    note: str = ""  # empty when the value is defined

    def __iter__(self):  # (value, low, high), as the PWS interval functions return
        return iter((self.value, self.low, self.high))


def record_lengths(records: Sequence[dict]) -> tuple[list[float | None], str]:
    """Per record, system minus baseline length: tokens if every record carries them, else characters."""
    if records and all(r.get("system_tokens") is not None and r.get("baseline_tokens") is not None for r in records):
        return [float(r["system_tokens"]) - float(r["baseline_tokens"]) for r in records], "tokens"
    out: list[float | None] = []
    for r in records:
        s, b = r.get("system_len"), r.get("baseline_len")
        out.append(None if s is None or b is None else float(s) - float(b))
    return out, "chars"


def identify(deltas: Sequence[float]) -> str:
    """Why LC-PWS cannot be read at zero length difference from these deltas ("" when it can)."""
    d = np.asarray(deltas, dtype=float)
    n = len(d)
    need = max(MIN_SIDE, math.ceil(MIN_SIDE_SHARE * n))
    shorter, longer = int((d <= 0).sum()), int((d >= 0).sum())
    if min(shorter, longer) < need:
        side = "no longer than" if shorter < longer else "no shorter than"
        return (
            f"only {min(shorter, longer)} of {n} answers are {side} the baseline's (needs {need}): zero length "
            "difference lies outside the data, the model would extrapolate"
        )
    inflation = design_inflation(d)
    if inflation > MAX_INFLATION:
        return (
            f"the length term is nearly constant (variance inflation {inflation:.0f} > {MAX_INFLATION:g} at zero "
            "length difference): the fit cannot separate length from the intercept"
        )
    return ""


def design_inflation(deltas: np.ndarray) -> float:
    """Variance of the predicted logit at x = 0 over that of an intercept-only fit, under equal weights:
    1 + mean(x)^2 / var(x), x = tanh(delta / sd). 1 when the lengths are balanced around zero; infinite when
    the length term does not vary."""
    d = np.asarray(deltas, dtype=float)
    sd = float(d.std())
    if sd == 0.0:
        return 1.0 if np.all(d == 0) else math.inf
    x = np.tanh(d / sd)
    v = float(x.var())
    return math.inf if v == 0.0 else 1.0 + float(x.mean()) ** 2 / v


def fit(y: np.ndarray, X: np.ndarray, W: np.ndarray, penalty: float = PENALTY, iters: int = 60) -> np.ndarray:
    """Penalised logistic regression with fractional targets, batched over resamples.

    y (n,), X (n, k) or (B, n, k) (a design per resample), W (B, n) non-negative weights (bootstrap counts) ->
    coefficients (B, k). Newton steps on the convex objective sum_i W_i BCE(y_i, sigmoid(X_i b)) + penalty/2 |b|^2."""
    from scipy.special import expit

    B = W.shape[0]
    X = np.broadcast_to(X, (B, *X.shape[-2:]))
    k = X.shape[2]
    beta = np.zeros((B, k))
    eye = np.eye(k) * penalty
    for _ in range(iters):
        p = expit(np.einsum("bnk,bk->bn", X, beta))
        grad = np.einsum("bn,bnk->bk", W * (p - y), X) + penalty * beta
        hess = np.einsum("bn,bni,bnj->bij", W * p * (1.0 - p), X, X) + eye
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        step = np.clip(step, -_MAX_STEP, _MAX_STEP)
        beta -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return beta


def _design(d: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(B, n, 2) designs [1, tanh(delta / sd_b)], sd_b the weighted sd of delta in resample b (refitted)."""
    tot = W.sum(axis=1, keepdims=True)
    mean = (W * d).sum(axis=1, keepdims=True) / tot
    sd = np.sqrt((W * (d - mean) ** 2).sum(axis=1, keepdims=True) / tot)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(sd > 0, np.tanh(d / np.where(sd > 0, sd, 1.0)), 0.0)
    return np.stack([np.ones_like(x), x], axis=2)


def _lc(y: np.ndarray, d: np.ndarray, W: np.ndarray) -> np.ndarray:
    """LC-PWS per resample: 2 * sigmoid(theta) of the refitted model."""
    from scipy.special import expit

    beta = fit(y, _design(d, W), W)
    return 2.0 * expit(beta[:, 0])


def lc_pws(rows: Sequence[LcRow], *, rounds: int = 1000, ci: float = 0.95, seed: int = 0) -> LcResult:
    """LC-PWS of one cell with its bootstrap interval; with several judges, the mean of their LC-PWS.
    NaN (with a note) when empty or when a judge's lengths do not cover zero length difference."""
    rows = list(rows)
    if not rows:
        return LcResult(math.nan, math.nan, math.nan, "no scored comparison with both answer lengths")
    judges = sorted({r.judge for r in rows})
    questions = sorted({r.question for r in rows}, key=repr)
    qi = {q: i for i, q in enumerate(questions)}
    parts = []
    for j in judges:
        jr = [r for r in rows if r.judge == j]
        d = np.array([r.delta for r in jr], dtype=float)
        why = identify(d)
        if why:
            return LcResult(math.nan, math.nan, math.nan, f"{j}: {why}" if len(judges) > 1 else why)
        parts.append((np.array([r.y for r in jr], dtype=float), d, np.array([qi[r.question] for r in jr])))
    point = float(np.mean([_lc(y, d, np.ones((1, len(y))))[0] for y, d, _ in parts]))
    if len(questions) < 2:
        return LcResult(point, point, point)
    rng = np.random.default_rng(seed)
    counts = np.zeros((rounds, len(questions)))
    draws = rng.integers(0, len(questions), size=(rounds, len(questions)))
    np.add.at(counts, (np.arange(rounds)[:, None], draws), 1.0)
    stats = np.zeros(rounds)
    valid = np.zeros(rounds)
    for y, d, q in parts:
        W = counts[:, q]
        has = W.sum(axis=1) > 0  # a judge whose questions were all left out of a resample does not vote in it
        v = np.zeros(rounds)
        if has.any():
            v[has] = _lc(y, d, W[has])
        stats += np.where(has, v, 0.0)
        valid += has
    stats = stats[valid > 0] / valid[valid > 0]
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return LcResult(point, float(lo), float(hi))


def cell_rows(records: Sequence[dict]) -> list[LcRow]:
    """The cell's scored records (failed ones and records without lengths left out) as model rows."""
    scored = [r for r in records if r.get("outcome") in PREF and not r.get("null_pair")]
    deltas, _ = record_lengths(scored)
    return [
        LcRow(judge=r["judge"], question=(r["testset"], str(r["question_id"])), y=PREF[r["outcome"]], delta=d)
        for r, d in zip(scored, deltas)
        if d is not None
    ]
