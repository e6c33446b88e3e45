"""Length-controlled PWS: seeded synthetic judges with known length preferences (docs/length.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from gsnr_bench.reporting.config import ReportConfig
from gsnr_bench.reporting.length_control import LcRow, cell_rows, lc_pws, question_difficulty
from gsnr_bench.reporting.results import CellMeta, results_from_csv, results_from_judgments, results_to_csv

Y = {"win": 1.0, "tie": 0.5, "lose": 0.0}


def _judged(seed, judge, q=200, shift=60.0, system="sys@0.1", difficulty=None):
    """Judgment records of one system vs the baseline; the system's answers run `shift` tokens longer."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(4.0, 50.0, q)
    sys_ = np.maximum(base + rng.normal(shift, 100.0, q), 1.0)
    recs = []
    for i in range(q):
        d = sys_[i] - base[i]
        if judge == "longer":  # prefers the longer answer and nothing else (ties at random, 15%)
            o = "tie" if rng.random() < 0.15 else ("win" if rng.random() < expit(3 * math.tanh(d / 100)) else "lose")
        elif judge == "step":  # the longer answer always wins
            o = "win" if d > 0 else "lose" if d < 0 else "tie"
        else:  # ignores length: a fixed 45/20/35 win/tie/lose split (shifted by question difficulty)
            pw = 0.45 if difficulty is None else expit(-0.2 + difficulty[i]) * 0.8
            u = rng.random()
            o = "win" if u < pw else "tie" if u < pw + 0.2 else "lose"
        recs.append(
            {
                "testset": "t",
                "question_id": str(i),
                "judge": "j",
                "system": system,
                "baseline": "full",
                "outcome": o,
                "system_tokens": int(sys_[i]),
                "baseline_tokens": int(base[i]),
                "system_len": int(4 * sys_[i]),
                "baseline_len": int(4 * base[i]),
            }
        )
    return recs


def _raw(recs):
    return 2 * float(np.mean([Y[r["outcome"]] for r in recs]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_length_loving_judge_raw_above_one_lc_covers_one(seed):
    recs = _judged(seed, "longer")
    lc, lo, hi = lc_pws(cell_rows(recs), rounds=1000, seed=seed)
    assert _raw(recs) > 1.2  # raw PWS rewards the long answers
    assert lo <= 1.0 <= hi and abs(lc - 1.0) < 0.12 and hi - lo < 0.5


def test_always_longer_wins_judge_lc_covers_one():
    for seed in (0, 1):
        recs = _judged(seed, "step")
        lc, lo, hi = lc_pws(cell_rows(recs), rounds=1000, seed=seed)
        assert _raw(recs) > 1.3 and lo <= 1.0 <= hi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_length_blind_judge_lc_within_noise_of_raw(seed):
    recs = _judged(seed, "blind")
    lc, lo, hi = lc_pws(cell_rows(recs), rounds=1000, seed=seed)
    raw = _raw(recs)
    assert lo <= raw <= hi and abs(lc - raw) < 0.12


def test_no_length_difference_gives_raw_pws_exactly():
    recs = _judged(0, "blind")
    for r in recs:
        r["system_tokens"] = r["baseline_tokens"]
    lc, lo, hi = lc_pws(cell_rows(recs), rounds=1000)
    assert lc == pytest.approx(_raw(recs), abs=2e-3)


def test_all_wins_stays_finite_and_near_two():
    rows = [LcRow("j", ("t", str(i)), 1.0, float(i - 5)) for i in range(12)]
    lc, lo, hi = lc_pws(rows, rounds=1000)
    assert 1.95 < lc <= 2.0 and 1.9 < lo <= hi <= 2.0


def test_difficulty_is_leave_system_out():
    recs = _judged(0, "blind", system="a@0.1") + _judged(1, "blind", system="b@0.1")
    g = question_difficulty(recs)
    # a's difficulty on a question comes from b's outcome only (and vice versa)
    for i in range(5):
        ya = next(Y[r["outcome"]] for r in recs if r["system"] == "a@0.1" and r["question_id"] == str(i))
        yb = next(Y[r["outcome"]] for r in recs if r["system"] == "b@0.1" and r["question_id"] == str(i))
        ga, gb = g[("j", "t", str(i), "a@0.1")], g[("j", "t", str(i), "b@0.1")]
        assert (ga > gb) == (yb > ya) or ya == yb
    alone = question_difficulty(_judged(0, "blind"))
    assert set(alone.values()) == {0.0}  # no other system: no difficulty information


def test_difficulty_shared_across_systems_keeps_a_blind_judge_blind():
    rng = np.random.default_rng(5)
    diff = rng.normal(0, 1.5, 200)
    recs = []
    for k, s in enumerate(["a@0.1", "b@0.1", "c@0.1", "d@0.1"]):
        recs += _judged(10 + k, "blind", system=s, difficulty=diff)
    g = question_difficulty(recs)
    for s in ["a@0.1", "d@0.1"]:
        mine = [r for r in recs if r["system"] == s]
        lc, lo, hi = lc_pws(cell_rows(mine, g), rounds=1000)
        assert lo <= _raw(mine) <= hi and abs(lc - _raw(mine)) < 0.12


def test_characters_are_used_when_tokens_are_missing():
    recs = _judged(0, "longer")
    for r in recs[:3]:
        r["system_tokens"] = None
    rows = cell_rows(recs)
    assert rows[5].delta == recs[5]["system_len"] - recs[5]["baseline_len"]
    assert lc_pws(rows, rounds=1000)[0] < 1.15


def test_results_table_and_csv_carry_lc_and_lengths():
    recs = _judged(0, "longer")
    meta = {"sys@0.1": CellMeta("d", "m", "lora", "sys", 0.1, train_len=120.5, pool_len=80.25)}
    df = results_from_judgments(recs, meta, ReportConfig())
    pooled = df[(df["judge"] == "mean") & (df["testset"] == "pooled")].iloc[0]
    assert pooled["pws"] > 1.2 and pooled["lc_ci_low"] <= 1.0 <= pooled["lc_ci_high"]
    assert pooled["sys_len"] == pytest.approx(np.mean([r["system_tokens"] for r in recs]))
    assert pooled["base_len"] == pytest.approx(np.mean([r["baseline_tokens"] for r in recs]))
    assert (pooled["train_len"], pooled["pool_len"]) == (120.5, 80.25)
    back = results_from_csv(results_to_csv(df))
    assert back["lc_pws"].iloc[-1] == pytest.approx(round(pooled["lc_pws"], 4))
    assert back["train_len"].iloc[-1] == 120.5
    # a leaderboard.csv written before the length columns existed still reads (as missing)
    old = "\n".join(",".join(line.split(",")[:16]) for line in results_to_csv(df).splitlines()) + "\n"
    assert results_from_csv(old)["lc_pws"].isna().all()
