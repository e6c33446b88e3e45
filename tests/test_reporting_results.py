"""Judgment records -> long results table -> Table 1 / Table 2 / CSV."""

import pandas as pd
import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.reporting.config import ReportConfig
from gsnr_bench.reporting.results import (
    COLUMNS,
    CellMeta,
    combine_results,
    results_from_csv,
    results_from_judgments,
    results_to_csv,
)


def rec(system, testset, qid, outcome, judge="gpt-4o", pv="vicuna-pair-v1", **kw):
    r = {
        "testset": testset,
        "question_id": str(qid),
        "judge": judge,
        "judge_model": judge,
        "system": system,
        "baseline": "full",
        "prompt_version": pv,
        "order": "shuffle",
        "combine": None,
        "null_pair": False,
        "calls": [
            {
                "first": "system",
                "scores": [7.0, 6.0],
                "parse_failed": outcome == "failed",
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "cost": 0.0,
            }
        ],
        "outcome": outcome,
        "system_len": 10,
        "baseline_len": 12,
    }
    r.update(kw)
    return r


META = {
    "gsnr@0.1": CellMeta("alpaca", "llama2-7b", "lora", "gsnr", 0.1),
    "random@0.1": CellMeta("alpaca", "llama2-7b", "lora", "random", 0.1),
    "gsnr-alt1@0.1": CellMeta("alpaca", "llama2-7b", "lora", "gsnr-alt1", 0.1),
    "gsnr@0.05": CellMeta("alpaca", "llama2-7b", "lora", "gsnr", 0.05),
}


def hand_records():
    # gsnr@0.1, judge A: vicuna W W T L (+ one failed), wizardlm W L; judge B: vicuna W T T T, wizardlm T T.
    out = [rec("gsnr@0.1", "vicuna", q, o, judge="A") for q, o in enumerate(["win", "win", "tie", "lose", "failed"], 1)]
    out += [rec("gsnr@0.1", "wizardlm", q, o, judge="A") for q, o in enumerate(["win", "lose"], 1)]
    out += [rec("gsnr@0.1", "vicuna", q, o, judge="B") for q, o in enumerate(["win", "tie", "tie", "tie"], 1)]
    out += [rec("gsnr@0.1", "wizardlm", q, o, judge="B") for q, o in enumerate(["tie", "tie"], 1)]
    out.append(rec("gsnr@0.1", "vicuna", 1, "win", judge="A", null_pair=True))  # diagnostic only
    return out


def cell(df, judge, testset, selector="gsnr", ratio=0.1):
    r = df[(df.judge == judge) & (df.testset == testset) & (df.selector == selector) & (df.ratio == ratio)]
    assert len(r) == 1
    return r.iloc[0]


def test_results_golden_counts_and_pws():
    df = results_from_judgments(hand_records(), META, ReportConfig())
    assert list(df.columns) == COLUMNS
    a = cell(df, "A", "vicuna")
    assert (a.n, a.wins, a.ties, a.losses, a.failed) == (4, 2, 1, 1, 1)
    assert a.pws == pytest.approx(1.25)
    assert cell(df, "A", "pooled").pws == pytest.approx(1 + (3 - 2) / 6)
    assert cell(df, "B", "pooled").pws == pytest.approx(1 + 1 / 6)
    m = cell(df, "mean", "pooled")  # mean of judges' PWS; counts summed over judges
    assert m.pws == pytest.approx((1 + 1 / 6 + 1 + 1 / 6) / 2)
    assert (m.wins, m.ties, m.losses, m.failed) == (4, 6, 2, 1)
    for r in df.itertuples():
        assert r.ci_low <= r.pws + 1e-12 and r.pws <= r.ci_high + 1e-12
    # row order: per judge test sets then pooled; the mean judge last
    assert list(zip(df.judge, df.testset))[:3] == [("A", "vicuna"), ("A", "wizardlm"), ("A", "pooled")]
    assert df.judge.iloc[-1] == "mean"


def test_results_refuse_bad_records():
    with pytest.raises(DataError, match="no run metadata"):
        results_from_judgments([rec("ifd@0.1", "vicuna", 1, "win")], META)
    with pytest.raises(DataError, match="prompt versions"):
        results_from_judgments(
            [rec("gsnr@0.1", "vicuna", 1, "win"), rec("gsnr@0.1", "vicuna", 2, "win", pv="v2")], META
        )
    with pytest.raises(DataError, match="expected 'vicuna-pair-v1'"):
        results_from_judgments([rec("gsnr@0.1", "vicuna", 1, "win", pv="v2")], META, prompt_version="vicuna-pair-v1")
    with pytest.raises(DataError, match="duplicate"):
        results_from_judgments([rec("gsnr@0.1", "vicuna", 1, "win"), rec("gsnr@0.1", "vicuna", 1, "lose")], META)
    with pytest.raises(DataError, match="not win/tie/lose"):
        results_from_judgments([rec("gsnr@0.1", "vicuna", 1, "draw")], META)


def small_df():
    recs = [rec("gsnr@0.1", "vicuna", q, o) for q, o in enumerate(["win", "win", "tie", "lose"], 1)]
    recs += [rec("random@0.1", "vicuna", q, o) for q, o in enumerate(["lose", "tie", "tie", "win"], 1)]
    recs += [rec("gsnr-alt1@0.1", "vicuna", q, o) for q, o in enumerate(["win", "tie", "tie", "lose"], 1)]
    recs += [rec("gsnr@0.05", "vicuna", q, o) for q, o in enumerate(["tie", "tie", "tie", "lose"], 1)]
    return results_from_judgments(recs, META)


def test_csv_roundtrip_and_stable():
    df = small_df()
    text = results_to_csv(df)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    back = results_from_csv(text)
    assert results_to_csv(back) == text
    assert results_to_csv(df.sample(frac=1, random_state=0)) == text  # row order does not matter
    key = ["selector", "regime", "ratio", "judge", "testset"]
    pws = [d.sort_values(key)["pws"].reset_index(drop=True) for d in (back, df)]
    pd.testing.assert_series_equal(pws[0], pws[1], atol=1e-4)


def test_combine_results_refuses_the_same_cell_twice():
    df = small_df()
    with pytest.raises(DataError, match="more than one run"):
        combine_results([df, df])
    assert len(combine_results([df])) == len(df)
