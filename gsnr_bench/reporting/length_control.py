"""Length-controlled PWS (LC-PWS): the PWS a cell would get if its answers were as long as the baseline's.

LLM judges prefer longer answers, so a selector that merely keeps long examples trains a target with long
answers and gains PWS without better data. Following AlpacaEval's length-controlled win rate (Dubois et al.,
arXiv 2404.04475), each judged comparison i of a cell (one system vs the 100% model, one judge) is modelled as

    logit p_i = theta + phi * tanh(delta_i / sd(delta)) + psi * gamma_q(i)

- y_i = 1 (win), 0.5 (tie), 0 (lose): ties are half a win, fitted as a fractional target of the binary
  cross-entropy (AlpacaEval's preference in [0, 1] does the same), so the link is the logit of the expected
  preference and 2 * mean(y) is exactly the raw PWS (1 + (W - L) / N).
- delta_i = system answer length - baseline answer length, in tokens when every comparison of the cell has
  them (the answers files' completion_tokens), else in characters (the judgment records' system_len /
  baseline_len); tanh(delta / sd) bounds it (AlpacaEval's transform). sd is the cell's standard deviation of
  delta; the model is invariant to the unit up to that scale.
- gamma_q is the question's difficulty: the logit of the (shrunk) mean preference that the *other* systems of
  the same judge earned against the same baseline on that question (leave-this-system-out, so a cell's own
  outcome never explains itself). AlpacaEval fits one difficulty per instruction across all models of its
  leaderboard and lets each model scale it (psi); here the leaderboard is the run's other cells. With no
  other cells gamma is 0 and the model is theta + phi * length.
- theta, phi, psi are fitted per cell by Newton's method with a small L2 penalty (1e-3, on all three: keeps
  the fit finite when the outcomes separate, e.g. all wins).
- LC-PWS = 2 * mean_q sigmoid(theta + psi * gamma_q): the predicted preference at zero length difference,
  averaged over the cell's comparisons, on the PWS scale. With phi = 0 it equals the raw PWS (up to the
  penalty), because the intercept's score equation makes the mean prediction equal the mean outcome.
- The interval is the PWS's: a percentile bootstrap by question (every comparison of a resampled question,
  of every judge, moves together), with the model refitted on each resample (sd and gamma held fixed).
- Judge "mean": LC-PWS is the mean of the judges' LC-PWS, each refitted on the same resampled questions.
Deviations from AlpacaEval forced by pairwise-vs-100% judging are listed in docs/length.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

PREF = {"win": 1.0, "tie": 0.5, "lose": 0.0}
PENALTY = 1e-3
SHRINK = 2.0  # pseudo-comparisons at the judge's overall mean when estimating a question's difficulty
_MAX_STEP = 5.0


@dataclass(frozen=True)
class LcRow:
    """One scored comparison as the model sees it."""

    judge: str
    question: Any  # hashable key, e.g. (testset, question_id)
    y: float  # 1 win, 0.5 tie, 0 lose
    delta: float  # system length - baseline length
    gamma: float = 0.0  # question difficulty from the other systems


def record_lengths(records: Sequence[dict]) -> tuple[list[float | None], str]:
    """Per record, system minus baseline length: tokens if every record carries them, else characters."""
    if records and all(r.get("system_tokens") is not None and r.get("baseline_tokens") is not None for r in records):
        return [float(r["system_tokens"]) - float(r["baseline_tokens"]) for r in records], "tokens"
    out: list[float | None] = []
    for r in records:
        s, b = r.get("system_len"), r.get("baseline_len")
        out.append(None if s is None or b is None else float(s) - float(b))
    return out, "chars"


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def question_difficulty(records: Iterable[dict]) -> dict[tuple, float]:
    """(judge, testset, question_id, system) -> gamma: the logit of the mean preference the other systems of the
    judge got on the question, shrunk towards the judge's overall mean with SHRINK pseudo-comparisons (an L2-like
    regularisation of the per-question term); 0 where no other system was judged on the question."""
    per_q: dict[tuple, dict[str, list[float]]] = {}
    for r in records:
        if r.get("null_pair") or r.get("outcome") not in PREF:
            continue
        q = (r["judge"], r["testset"], str(r["question_id"]))
        per_q.setdefault(q, {}).setdefault(r["system"], []).append(PREF[r["outcome"]])
    totals: dict[str, list[float]] = {}
    for (judge, _, _), by_sys in per_q.items():
        t = totals.setdefault(judge, [0.0, 0.0])
        for ys in by_sys.values():
            t[0] += sum(ys)
            t[1] += len(ys)
    out: dict[tuple, float] = {}
    for (judge, testset, qid), by_sys in per_q.items():
        s_all = sum(sum(v) for v in by_sys.values())
        n_all = sum(len(v) for v in by_sys.values())
        for system, ys in by_sys.items():
            s, n = s_all - sum(ys), n_all - len(ys)
            ts, tn = totals[judge][0] - s_all + s, totals[judge][1] - n_all + n  # the other systems' overall mean
            if n == 0 or tn == 0:
                out[(judge, testset, qid, system)] = 0.0
                continue
            m = min(max(ts / tn, 0.02), 0.98)
            p = (s + SHRINK * m) / (n + SHRINK)
            out[(judge, testset, qid, system)] = _logit(p) - _logit(m)
    return out


def fit(y: np.ndarray, X: np.ndarray, W: np.ndarray, penalty: float = PENALTY, iters: int = 60) -> np.ndarray:
    """Penalised logistic regression with fractional targets, batched over weight vectors.

    y (n,), X (n, k), W (B, n) non-negative weights (bootstrap counts) -> coefficients (B, k).
    Newton steps on the convex objective sum_i W_i * BCE(y_i, sigmoid(X_i b)) + penalty/2 |b|^2."""
    from scipy.special import expit

    B, k = W.shape[0], X.shape[1]
    beta = np.zeros((B, k))
    eye = np.eye(k) * penalty
    for _ in range(iters):
        p = expit(beta @ X.T)  # (B, n)
        grad = (W * (p - y)) @ X + penalty * beta
        hess = np.einsum("bn,ni,nj->bij", W * p * (1.0 - p), X, X) + eye
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        step = np.clip(step, -_MAX_STEP, _MAX_STEP)
        beta -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return beta


def _design(rows: Sequence[LcRow]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.array([r.y for r in rows], dtype=float)
    d = np.array([r.delta for r in rows], dtype=float)
    sd = float(d.std()) if len(d) > 1 else 0.0
    x = np.tanh(d / sd) if sd > 0 else np.zeros_like(d)
    g = np.array([r.gamma for r in rows], dtype=float)
    X = np.column_stack([np.ones_like(x), x, g])
    X0 = X.copy()
    X0[:, 1] = 0.0  # zero length difference
    return y, X, X0


def _lc(y: np.ndarray, X: np.ndarray, X0: np.ndarray, W: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    beta = fit(y, X, W)
    p0 = expit(beta @ X0.T)  # (B, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2.0 * (W * p0).sum(axis=1) / W.sum(axis=1)


def lc_pws(
    rows: Sequence[LcRow],
    *,
    rounds: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(LC-PWS, CI low, CI high) of one cell; with several judges, the mean of their LC-PWS. NaN when empty."""
    rows = list(rows)
    if not rows:
        return math.nan, math.nan, math.nan
    judges = sorted({r.judge for r in rows})
    questions = sorted({r.question for r in rows}, key=repr)
    qi = {q: i for i, q in enumerate(questions)}
    parts = []
    for j in judges:
        jr = [r for r in rows if r.judge == j]
        y, X, X0 = _design(jr)
        parts.append((y, X, X0, np.array([qi[r.question] for r in jr])))
    point = float(np.mean([_lc(y, X, X0, np.ones((1, len(y))))[0] for y, X, X0, _ in parts]))
    if len(questions) < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    counts = np.zeros((rounds, len(questions)))
    draws = rng.integers(0, len(questions), size=(rounds, len(questions)))
    np.add.at(counts, (np.arange(rounds)[:, None], draws), 1.0)
    stats = np.zeros(rounds)
    valid = np.zeros(rounds)
    for y, X, X0, q in parts:
        W = counts[:, q]
        has = W.sum(axis=1) > 0  # a judge whose questions were all left out of a resample does not vote in it
        v = np.zeros(rounds)
        if has.any():
            v[has] = _lc(y, X, X0, W[has])
        stats += np.where(has, v, 0.0)
        valid += has
    stats = stats[valid > 0] / valid[valid > 0]
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return point, float(lo), float(hi)


def cell_rows(records: Sequence[dict], gamma: dict[tuple, float] | None = None) -> list[LcRow]:
    """The cell's scored records (failed ones and records without lengths left out) as model rows."""
    scored = [r for r in records if r.get("outcome") in PREF and not r.get("null_pair")]
    deltas, _ = record_lengths(scored)
    gamma = gamma or {}
    return [
        LcRow(
            judge=r["judge"],
            question=(r["testset"], str(r["question_id"])),
            y=PREF[r["outcome"]],
            delta=d,
            gamma=gamma.get((r["judge"], r["testset"], str(r["question_id"]), r["system"]), 0.0),
        )
        for r, d in zip(scored, deltas)
        if d is not None
    ]
