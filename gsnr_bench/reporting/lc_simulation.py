"""A simulation study of LC-PWS against known truth (docs/length.md; bench/lc_coverage.py prints it, a fast version
is a test). Seeded and pure.

Each simulated cell has `questions` comparisons of a system against a baseline. Baseline answers are
Gamma(4, 50) tokens long (mean 200); the system's run `shift` tokens longer on average, with `spread` tokens of
spread (both > 0 lengths). The simulated judge calls a tie with probability `tie`, otherwise a win with
probability sigmoid(a + bias * tanh(delta / 100)):

- `bias = 0`: the judge ignores length; the true PWS is 2 * (tie / 2 + (1 - tie) * sigmoid(a)).
- `bias > 0`: the judge favours the longer answer; the truth LC-PWS should recover is the PWS at zero length
  difference, the same expression (raw PWS is inflated by the length preference).

`a` is set from the wanted truth. A cell counts as covered when its 95% interval contains the truth; cells whose
LC-PWS is n/a (lengths do not cover zero difference) are counted apart, never as covered."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gsnr_bench.reporting.length_control import LcRow, lc_pws


@dataclass(frozen=True)
class Scenario:
    name: str
    truth: float  # the PWS at zero length difference, on the PWS scale
    bias: float  # the judge's length coefficient on tanh(delta / 100); 0 = ignores length
    shift: float = 60.0  # mean system-minus-baseline length, tokens
    spread: float = 100.0  # sd of that difference, tokens
    tie: float = 0.15
    questions: int = 120


BLIND = Scenario("judge ignores length", truth=0.671, bias=0.0)
LENGTH_LOVING = Scenario("judge favours length", truth=0.80, bias=2.0)
ALL_LONGER = Scenario("judge ignores length, every answer longer", truth=0.671, bias=0.0, shift=400.0, spread=60.0)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def simulate_cell(sc: Scenario, seed: int) -> tuple[list[LcRow], float]:
    """(model rows of one simulated cell, its raw PWS)."""
    rng = np.random.default_rng(seed)
    p_win = (sc.truth / 2.0 - sc.tie / 2.0) / (1.0 - sc.tie)  # win share among non-ties at zero difference
    a = _logit(p_win)
    base = rng.gamma(4.0, 50.0, sc.questions)
    system = np.maximum(base + rng.normal(sc.shift, sc.spread, sc.questions), 1.0)
    delta = np.round(system) - np.round(base)
    win = rng.random(sc.questions) < 1.0 / (1.0 + np.exp(-(a + sc.bias * np.tanh(delta / 100.0))))
    tie = rng.random(sc.questions) < sc.tie
    y = np.where(tie, 0.5, np.where(win, 1.0, 0.0))
    rows = [LcRow("sim", ("sim", str(i)), float(y[i]), float(delta[i])) for i in range(sc.questions)]
    return rows, 2.0 * float(y.mean())


def coverage(sc: Scenario, sims: int, *, rounds: int = 400, seed: int = 0) -> dict:
    """Over `sims` simulated cells: the share whose LC-PWS interval covers the truth (of the defined ones), the
    share n/a, the mean LC-PWS and raw PWS, and the mean interval width."""
    covered = defined = 0
    lcs, raws, widths = [], [], []
    for k in range(sims):
        rows, raw = simulate_cell(sc, seed + k)
        res = lc_pws(rows, rounds=rounds, seed=seed + k)
        raws.append(raw)
        if res.note:
            continue
        defined += 1
        covered += res.low <= sc.truth <= res.high
        lcs.append(res.value)
        widths.append(res.high - res.low)
    return {
        "scenario": sc.name,
        "truth": sc.truth,
        "sims": sims,
        "defined": defined,
        "share_na": round(1.0 - defined / sims, 4),
        "coverage": round(covered / defined, 4) if defined else None,
        "mean_lc_pws": round(float(np.mean(lcs)), 4) if lcs else None,
        "mean_raw_pws": round(float(np.mean(raws)), 4),
        "mean_width": round(float(np.mean(widths)), 4) if widths else None,
    }
