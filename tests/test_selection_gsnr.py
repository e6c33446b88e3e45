"""The G-SNR selector: Eq. 5 from its own columns, one cached ensemble for all four variants, bad input,
Figure 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.domain.records import Example
from gsnr_bench.selection.base import SelectionContext
from gsnr_bench.selection.gsnr import GsnrSelector

from tiny_models import build_tiny_proxy, tiny_pool

SMALL = dict(members=3, rank=4, alpha=8, lr=1e-2, batch_size=3, bucket_batches=2)


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory):
    return str(build_tiny_proxy(tmp_path_factory.mktemp("proxy"), n_layer=2, n_embd=32, seed=3))


def _ctx(pool, proxy, tmp_path, cache=True):
    return SelectionContext(
        pool=pool,
        params={},
        seed=0,
        workdir=tmp_path / "work",
        proxy=proxy,
        max_length=96,
        shared_cache=tmp_path / "cache" if cache else None,
    )


def test_four_variants_share_one_ensemble_and_follow_eq5(proxy_dir, tmp_path):
    pool = tiny_pool(10, seed=4) + [Example("empty", "write", "", ""), Example("long", "the " * 100, "", "one")]
    res = GsnrSelector(**SMALL).score(_ctx(pool, proxy_dir, tmp_path))
    assert res.notes["cache_hit"] is False
    assert res.notes["skipped_empty_response"] == 1 and res.notes["skipped_prompt_too_long"] == 1
    ok = np.array(res.eligible)
    assert ok.sum() == 10 and not ok[-2:].any()
    assert all(math.isfinite(s) for s in res.scores)
    n_s = np.array([res.columns[f"norm_m{m}_e1"] for m in range(3)], dtype=float)[:, ok]
    n_t = np.array([res.columns[f"norm_m{m}_e2"] for m in range(3)], dtype=float)[:, ok]
    G_s, G_t = n_s.mean(0), n_t.mean(0)
    V_t = (n_t**2).mean(0) - G_t**2
    eps = 1e-8
    np.testing.assert_allclose(np.array(res.scores)[ok], (G_s - G_t) / (G_s + eps) / (V_t + eps), rtol=1e-6)
    np.testing.assert_allclose(np.array(res.columns["V_t"], dtype=float)[ok], V_t, rtol=1e-6, atol=1e-12)
    expected = {"alt1": G_s - G_t, "alt2": (G_s - G_t) / (G_s + eps), "alt3": (G_s - G_t) / (V_t + eps)}
    for variant, want in expected.items():
        r = GsnrSelector(variant=variant, **SMALL).score(_ctx(pool, proxy_dir, tmp_path))
        assert r.notes["cache_hit"] is True and r.notes["cache"] == res.notes["cache"]
        np.testing.assert_allclose(np.array(r.scores)[ok], want, rtol=1e-6)
    # a knob that changes the training is a different cache entry
    other = GsnrSelector(**{**SMALL, "lr": 2e-2}).score(_ctx(pool, proxy_dir, tmp_path))
    assert other.notes["cache"] != res.notes["cache"]


def test_all_epochs_recorded_and_figure1(proxy_dir, tmp_path):
    pool = tiny_pool(9, seed=8)
    sel = GsnrSelector(
        **{**SMALL, "members": 4}, epochs=3, s=1, t=3, record_all_epochs=True, figure=True, norms="snapshot"
    )
    res = sel.score(_ctx(pool, proxy_dir, tmp_path, cache=False))
    assert {f"norm_m{m}_e{e}" for m in range(4) for e in (1, 2, 3)} <= set(res.columns)
    png = res.notes["figure"]
    assert png.endswith("figure1.png")
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_params_and_pools(proxy_dir, tmp_path):
    with pytest.raises(ConfigError):
        GsnrSelector(s=2, t=1)
    with pytest.raises(ConfigError):
        GsnrSelector(variant="alt7")
    pool = tiny_pool(3, seed=0)
    with pytest.raises(DataError, match="duplicate"):
        GsnrSelector(**SMALL).score(_ctx(pool + pool[:1], proxy_dir, tmp_path))
    with pytest.raises(DataError, match="no module named"):
        GsnrSelector(**SMALL, target="q_proj").score(_ctx(pool, proxy_dir, tmp_path))
    # nothing scoreable: every example ineligible, no NaN scores, no training needed
    res = GsnrSelector(**SMALL).score(_ctx([Example("e", "x", "", "")], proxy_dir, tmp_path))
    assert res.eligible == [False] and res.scores == [0.0]
