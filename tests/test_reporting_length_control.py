"""Length-controlled PWS: seeded synthetic judges with known length preferences (docs/length.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from gsnr_bench.reporting.config import ReportConfig
from gsnr_bench.reporting.lc_simulation import ALL_LONGER, BLIND, LENGTH_LOVING, coverage, simulate_cell
from gsnr_bench.reporting.length_control import LcRow, cell_rows, design_inflation, identify, lc_pws
from gsnr_bench.reporting.results import CellMeta, results_from_csv, results_from_judgments, results_to_csv

Y = {"win": 1.0, "tie": 0.5, "lose": 0.0}


def _judged(seed, judge, q=200, shift=60.0, system="sys@0.1"):
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
        else:  # ignores length: a fixed 45/20/35 win/tie/lose split
            pw = 0.45
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


def test_a_cells_lc_pws_does_not_depend_on_the_other_cells():
    """Issue 22: LC-PWS once moved with the company a cell was reported in (a difficulty term borrowed from the
    other cells). Adding or removing other selectors must leave every LC column of a cell unchanged."""
    a = _judged(0, "longer", q=80, system="a@0.1")
    others = _judged(1, "blind", q=80, system="b@0.1") + _judged(2, "step", q=80, system="c@0.1", shift=-40.0)
    meta = {s: CellMeta("d", "m", "lora", s.split("@")[0], 0.1) for s in ("a@0.1", "b@0.1", "c@0.1")}
    cols = ["judge", "testset", "lc_pws", "lc_ci_low", "lc_ci_high", "lc_note"]

    def lc_of_a(recs):
        used = {k: v for k, v in meta.items() if any(r["system"] == k for r in recs)}
        df = results_from_judgments(recs, used)
        return df[df["selector"] == "a"][cols].reset_index(drop=True)

    alone = lc_of_a(a)
    assert alone["lc_pws"].notna().all()
    pd.testing.assert_frame_equal(lc_of_a(a + others), alone)
    pd.testing.assert_frame_equal(lc_of_a(others[80:] + a), alone)


def test_every_answer_longer_is_na_with_the_reason_not_an_extrapolation():
    """Issue 22's case: a length-blind judge (true PWS 0.671) and every answer longer than the baseline's. The
    old fit reported 0.831 [0.774, 0.890] (excluding the truth); now the cell is n/a and says why."""
    for seed in range(5):
        rows, raw = simulate_cell(ALL_LONGER, seed)
        assert all(r.delta > 0 for r in rows)
        res = lc_pws(rows, rounds=200, seed=seed)
        assert math.isnan(res.value) and math.isnan(res.low) and math.isnan(res.high)
        assert "outside the data" in res.note and "0 of 120" in res.note


def test_a_nearly_constant_length_term_is_na():
    # answers on both sides of zero, but tanh(delta / sd) is ~1 for all but the few short ones
    d = np.array([-1.0] * 6 + [1000.0] * 54 + [1001.0] * 60)
    assert design_inflation(d) > 10 and "nearly constant" in identify(d)
    assert identify(np.array([-2.0, -1.0, 0.0, 1.0, 2.0] * 4)) == ""
    assert design_inflation(np.zeros(10)) == 1.0 and identify(np.zeros(10)) == ""  # no length difference at all


def test_na_note_names_the_judge_and_reaches_the_results_table():
    recs = _judged(0, "blind", shift=5000.0)  # every answer far longer
    recs += [{**r, "judge": "k"} for r in _judged(0, "blind")]
    df = results_from_judgments(recs, {"sys@0.1": CellMeta("d", "m", "lora", "sys", 0.1)})
    mean = df[(df["judge"] == "mean") & (df["testset"] == "pooled")].iloc[0]
    only_k = df[(df["judge"] == "k") & (df["testset"] == "pooled")].iloc[0]
    assert math.isnan(mean["lc_pws"]) and mean["lc_note"].startswith("j: only 0 of 200")
    assert only_k["lc_note"] == "" and not math.isnan(only_k["lc_pws"])
    back = results_from_csv(results_to_csv(df))
    assert (back["lc_note"] == df["lc_note"]).all()


def test_na_is_shown_with_its_reason_in_every_rendering(tmp_path):
    from gsnr_bench.reporting.publish import publish

    recs = _judged(0, "blind", shift=5000.0, system="far@0.1") + _judged(1, "longer", system="near@0.1")
    meta = {s: CellMeta("d", "m", "lora", s.split("@")[0], 0.1) for s in ("far@0.1", "near@0.1")}
    df = results_from_judgments(recs, meta)
    publish(df, tmp_path)
    md = (tmp_path / "leaderboard.md").read_text()
    lc_table = md.split("## Table 1-LC")[1].split("\n## ")[0]
    assert "| Pooled | far | n/a |" in lc_table and "| Pooled | near | n/a |" not in lc_table
    assert "- n/a: far@0.1 (d / m / lora): only 0 of 200 answers are no longer than the baseline's" in lc_table
    assert "n/a" in (tmp_path / "leaderboard.tex").read_text()
    html = (tmp_path / "index.html").read_text()
    assert 'title="only 0 of 200 answers are no longer than the baseline&#39;s' in html
    from rich.console import Console

    from gsnr_bench.reporting.collect import RunResults
    from gsnr_bench.reporting.printing import print_report

    console = Console(record=True, width=250)
    print_report(RunResults(tmp_path, df, recs), console)
    screen = console.export_text()
    assert "LC-PWS n/a for far@0.1: only 0 of 200 answers" in screen and "LC-PWS n/a for near" not in screen


def test_simulation_coverage_against_known_truth():
    """The fast version of bench/lc_coverage.py (seeded): a judge that ignores length -> the 95% interval
    covers the true PWS in >= 90% of simulated cells; a judge that favours length -> LC-PWS recovers the PWS at
    zero length difference (covered in >= 90%) while raw PWS is far above it."""
    blind = coverage(BLIND, 100, rounds=300)
    loving = coverage(LENGTH_LOVING, 100, rounds=300)
    print(blind, loving)
    assert blind["defined"] == 100 and blind["coverage"] >= 0.90
    assert loving["defined"] == 100 and loving["coverage"] >= 0.90
    assert abs(loving["mean_lc_pws"] - LENGTH_LOVING.truth) < 0.05 < loving["mean_raw_pws"] - LENGTH_LOVING.truth
    assert coverage(ALL_LONGER, 10, rounds=100)["share_na"] == 1.0


def test_characters_are_used_when_tokens_are_missing():
    recs = _judged(0, "longer")
    for r in recs[:3]:
        r["system_tokens"] = None
    rows = cell_rows(recs)
    assert rows[5].delta == recs[5]["system_len"] - recs[5]["baseline_len"]
    assert lc_pws(rows, rounds=1000).value < 1.15


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


def test_score_length_spearman_is_the_one_spearman():
    from scipy.stats import spearmanr

    from gsnr_bench.reporting.length_stats import score_length_spearman

    rows = [{"id": f"e{i}", "score": s} for i, s in enumerate([0.3, 0.1, 0.9, 0.5, 0.5, 0.2])]
    rows.append({"id": "e9", "score": 5.0, "eligible": False})  # ineligible: left out
    lengths = {f"e{i}": n for i, n in enumerate([30, 12, 80, 41, 44, 9])} | {"e9": 1}
    rho = score_length_spearman(rows, lengths)
    assert rho == pytest.approx(spearmanr([0.3, 0.1, 0.9, 0.5, 0.5, 0.2], [30, 12, 80, 41, 44, 9]).statistic)
    assert math.isnan(score_length_spearman(rows[:2], lengths))  # fewer than 3 pairs: undefined, never 0
