"""Golden, hand-computed cases for the reporting math."""

import math

import numpy as np
import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.judgment import combine
from gsnr_bench.reporting.metrics import (
    agreement,
    bootstrap_pws_ci,
    cohen_kappa,
    count_outcomes,
    precision_lift,
    pws,
    question_matrices,
    score_auc,
)


def test_pws_golden():
    assert pws(5, 3, 2) == pytest.approx(1.3)  # 1 + (5 - 2) / 10
    assert pws(0, 0, 4) == 0.0 and pws(4, 0, 0) == 2.0 and pws(0, 7, 0) == 1.0
    assert math.isnan(pws(0, 0, 0))


def test_failed_counted_apart_not_scored():
    c = count_outcomes(["win", "win", "lose", "tie", "failed", "failed"])
    assert (c.wins, c.ties, c.losses, c.failed, c.n) == (2, 1, 1, 2, 4)
    assert c.pws == pytest.approx(1.25)
    with pytest.raises(DataError):
        count_outcomes(["won"])


LENIENT = {
    ("win", "win"): "win",
    ("win", "tie"): "win",
    ("win", "lose"): "tie",
    ("tie", "tie"): "tie",
    ("tie", "lose"): "lose",
    ("lose", "lose"): "lose",
}
STRICT = {
    ("win", "win"): "win",
    ("win", "tie"): "tie",
    ("win", "lose"): "tie",
    ("tie", "tie"): "tie",
    ("tie", "lose"): "tie",
    ("lose", "lose"): "lose",
}


@pytest.mark.parametrize("rule,table", [("lenient", LENIENT), ("strict", STRICT)])
def test_combine_rules_truth_table(rule, table):
    for (a, b), want in table.items():
        assert combine([a, b], rule) == want
        assert combine([b, a], rule) == want  # symmetric in the two orders
    assert combine(["win", "failed"], rule) == "failed"
    assert combine(["failed", "failed"], rule) == "failed"


def test_combine_bad_input():
    with pytest.raises(DataError):
        combine(["win", "win"], "majority")
    with pytest.raises(DataError):
        combine(["win", "draw"], "strict")


def test_question_matrices_group_by_question():
    rows = [("j", "q1", "win"), ("j", "q1", "tie"), ("j", "q2", "lose"), ("j", "q3", "failed")]
    d, n = question_matrices(rows)
    assert d.tolist() == [[1.0, -1.0]] and n.tolist() == [[2.0, 1.0]]  # q3 (failed only) is dropped


def test_bootstrap_tiny_hand_case_one_win_one_loss():
    # Two questions, W and L: resampled PWS is 2, 1, 1, 0 with p = 1/4, 1/2, 1/4 -> 95% interval [0, 2].
    d, n = question_matrices([("j", "a", "win"), ("j", "b", "lose")])
    assert bootstrap_pws_ci(d, n, rounds=1000, seed=0) == (0.0, 2.0)


def test_bootstrap_tiny_hand_case_two_wins_one_tie():
    # W, W, T: PWS = 1 + k/3 with k ~ Bin(3, 2/3); P(k=0) = 1/27 > 2.5%, P(k=3) = 8/27 > 2.5%.
    d, n = question_matrices([("j", "a", "win"), ("j", "b", "win"), ("j", "c", "tie")])
    assert bootstrap_pws_ci(d, n, rounds=1000, seed=0) == (1.0, 2.0)


def _random_rows(seed, nq=60, judges=("j1",)):
    rng = np.random.default_rng(seed)
    return [(j, f"q{q}", str(rng.choice(["win", "tie", "lose"], p=[0.5, 0.3, 0.2]))) for q in range(nq) for j in judges]


def test_bootstrap_seeded_reproducible_and_brackets_point():
    d, n = question_matrices(_random_rows(1))
    point = 1 + d.sum() / n.sum()
    ci1 = bootstrap_pws_ci(d, n, rounds=1000, seed=7)
    assert ci1 == bootstrap_pws_ci(d, n, rounds=1000, seed=7)
    assert ci1[0] < point < ci1[1]


def test_bootstrap_matches_a_plain_numpy_bootstrap():
    d, n = question_matrices(_random_rows(2))
    rng = np.random.default_rng(123)
    idx = rng.integers(0, d.shape[1], size=(4000, d.shape[1]))
    boot = 1 + d[0][idx].sum(1) / n[0][idx].sum(1)
    lo, hi = bootstrap_pws_ci(d, n, rounds=4000, seed=0)
    assert lo == pytest.approx(np.percentile(boot, 2.5), abs=0.03)
    assert hi == pytest.approx(np.percentile(boot, 97.5), abs=0.03)


def test_bootstrap_mean_of_identical_judges_equals_one_judge():
    # Questions move as a whole across judges: two identical judges give exactly one judge's interval.
    one = _random_rows(3)
    two = one + [("j2", q, o) for _, q, o in one]
    assert bootstrap_pws_ci(*question_matrices(two), seed=5) == bootstrap_pws_ci(*question_matrices(one), seed=5)


def test_bootstrap_degenerate_cases():
    d, n = question_matrices([("j", "a", "tie"), ("j", "b", "tie")])
    assert bootstrap_pws_ci(d, n) == (1.0, 1.0)
    d, n = question_matrices([("j", "a", "win")])
    assert bootstrap_pws_ci(d, n) == (2.0, 2.0)
    assert all(math.isnan(x) for x in bootstrap_pws_ci(np.zeros((1, 0)), np.zeros((1, 0))))


def test_agreement_golden():
    j = ["win", "win", "tie", "lose", "lose", "tie"]
    h = ["win", "lose", "tie", "lose", "tie", "win"]
    a = agreement(j, h)
    assert a["accuracy"] == pytest.approx(0.5)
    assert a["accuracy_no_ties"] == pytest.approx(2 / 3) and a["n_no_ties"] == 3
    # p_o = 1/2, p_e = 3 * (1/3 * 1/3) = 1/3 -> kappa = (1/2 - 1/3) / (2/3) = 1/4
    assert a["kappa"] == pytest.approx(0.25)


def test_kappa_edge_cases():
    assert cohen_kappa(["win", "lose"], ["win", "lose"]) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(["tie", "tie"], ["tie", "tie"]))  # undefined, not 1 or 0
    assert math.isnan(agreement([], [])["accuracy"])


def test_enrichment_golden():
    ranked = ["a", "b", "c", "d"]
    clean = {"a": True, "b": True, "c": False, "d": True}
    (row,) = precision_lift(ranked, clean, [0.5])
    assert row == {"ratio": 0.5, "n": 2, "precision": 1.0, "base_rate": 0.75, "lift": pytest.approx(4 / 3)}
    # positives a, b, d; negative c: a > c, b > c, d < c -> AUC 2/3
    assert score_auc({"a": 4, "b": 3, "c": 2, "d": 1}, clean) == pytest.approx(2 / 3)
    assert math.isnan(score_auc({"a": 1.0}, {"a": True}))
    with pytest.raises(DataError):
        precision_lift(["zz"], clean, [0.5])
