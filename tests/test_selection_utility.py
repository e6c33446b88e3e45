"""G-SNR and its ablations against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from gsnr_bench.analysis.gsnr_utility import ensemble_mean, ensemble_var, gsnr_table, relative_drops, utility
from gsnr_bench.core.errors import ConfigError

# two members, three examples
NS = np.array([[2.0, 1.0, 4.0], [4.0, 1.0, 2.0]])  # epoch s
NT = np.array([[1.0, 2.0, 1.0], [3.0, 2.0, 1.0]])  # epoch t
EPS = 1e-8


def test_mean_and_variance_by_hand():
    # G_s = (3, 1, 3); V_s = mean(n^2) - G^2 = (10-9, 1-1, 10-9) = (1, 0, 1)
    np.testing.assert_allclose(ensemble_mean(NS), [3, 1, 3])
    np.testing.assert_allclose(ensemble_var(NS), [1, 0, 1])
    # G_t = (2, 2, 1); V_t = (5-4, 4-4, 1-1) = (1, 0, 0)
    np.testing.assert_allclose(ensemble_mean(NT), [2, 2, 1])
    np.testing.assert_allclose(ensemble_var(NT), [1, 0, 0], atol=1e-15)


def test_gsnr_and_ablations_by_hand():
    t = gsnr_table(NS, NT, EPS)
    # drop = (1, -1, 2); rel = (1/3, -1, 2/3); V_t = (1, 0, 0)
    np.testing.assert_allclose(t["utility"], [(1 / 3) / (1 + EPS), -1 / EPS, (2 / 3) / EPS], rtol=1e-7)
    np.testing.assert_allclose(utility(t["G_s"], t["G_t"], t["V_t"], EPS, "alt1"), [1, -1, 2])
    np.testing.assert_allclose(utility(t["G_s"], t["G_t"], t["V_t"], EPS, "alt2"), [1 / 3, -1, 2 / 3], rtol=1e-7)
    np.testing.assert_allclose(utility(t["G_s"], t["G_t"], t["V_t"], EPS, "alt3"), [1, -1 / EPS, 2 / EPS], rtol=1e-7)
    assert set(t) == {"G_s", "G_t", "V_s", "V_t", "utility"}


def test_eps_and_unknown_variant():
    assert utility([0.0], [0.0], [0.0], 0.5, "gsnr")[0] == 0.0
    np.testing.assert_allclose(utility([1.0], [0.5], [0.0], 0.5, "gsnr"), [(0.5 / 1.5) / 0.5])
    with pytest.raises(ConfigError):
        utility([1.0], [1.0], [1.0], EPS, "alt9")


def test_relative_drops_profiles():
    d = relative_drops({1: NS, 2: NT}, eps=0.0)
    assert set(d) == {(0, 2), (1, 2)}
    np.testing.assert_allclose(d[(0, 2)], [0.5, -1.0, 0.75])
    np.testing.assert_allclose(d[(1, 2)], [0.25, -1.0, 0.5])
