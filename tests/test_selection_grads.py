"""GrADS: batched per-example embedding / LM-head gradient norms against per-example autograd (tied and
untied GPT-2), determinism, ineligible examples, density maths, registration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gsnr_bench.core import registry
from gsnr_bench.core.errors import ConfigError
from gsnr_bench.domain.records import Example
from gsnr_bench.selection.base import SelectionContext
from gsnr_bench.selection.encoding import encode_pairs
from gsnr_bench.selection.grads import GradsSelector, embedding_grad_norms, log_density
from gsnr_bench.selection.prompts import plain_prompt
from gsnr_bench.selection.proxy import load_proxy

from tiny_models import build_tiny_proxy, tiny_pool

SMALL = dict(ft_lr=1e-2, ft_batch_size=3, max_tokens=200, max_batch=4)


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory):
    return str(build_tiny_proxy(tmp_path_factory.mktemp("proxy"), n_layer=2, n_embd=32, seed=4))


def _ctx(pool, proxy, tmp_path, seed=0):
    return SelectionContext(pool=pool, params={}, seed=seed, workdir=tmp_path, proxy=proxy, max_length=96)


def _reference(model, enc, idx, params):
    """Plain autograd, one unpadded example at a time, HF's own labels loss."""
    out = np.zeros((len(idx), len(params)))
    for j, i in enumerate(idx):
        ids = torch.tensor([enc.ids[i]])
        labels = ids.clone()
        labels[0, : enc.start[i]] = -100
        grads = torch.autograd.grad(model(input_ids=ids, labels=labels).loss, params)
        out[j] = [float(g.double().norm()) for g in grads]
    return out


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def test_batched_norms_equal_per_example_autograd_tied_and_untied(proxy_dir):
    tok, model, pad, _ = load_proxy(proxy_dir)
    with torch.no_grad():  # a random, non-trivial state (the head sees real gradients everywhere)
        torch.manual_seed(0)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    pool = tiny_pool(9, seed=5)
    enc = encode_pairs(tok, [plain_prompt(e) for e in pool], [e.output for e in pool], 64)
    idx = enc.ok()
    assert model.lm_head.weight is model.transformer.wte.weight  # GPT-2 ties them
    got = embedding_grad_norms(model, enc, idx, pad_id=pad, max_tokens=150, max_batch=4)  # several batches
    wte = model.transformer.wte.weight
    wte.requires_grad_(True)
    ref_tied = _reference(model, enc, idx, [wte])[:, 0]
    tied = np.sqrt(got["sq_in"] + got["sq_out"] + 2 * got["cross"])[idx]
    assert _rel(tied, ref_tied) <= 1e-4
    # untie (same function, two matrices): the split parts are the two groups' gradients
    model.lm_head.weight = torch.nn.Parameter(wte.detach().clone())
    ref = _reference(model, enc, idx, [wte, model.lm_head.weight])
    assert _rel(np.sqrt(got["sq_in"][idx]), ref[:, 0]) <= 1e-4
    assert _rel(np.sqrt(got["sq_out"][idx]), ref[:, 1]) <= 1e-4
    for p in model.parameters():
        p.requires_grad_(False)
    untied = embedding_grad_norms(model, enc, idx, pad_id=pad, max_tokens=4096, max_batch=16)
    np.testing.assert_allclose(untied["sq_in"][idx], got["sq_in"][idx], rtol=1e-4)
    assert (untied["cross"][idx] == 0).all()


def test_scores_finite_deterministic_and_ineligible_skipped(proxy_dir, tmp_path):
    pool = tiny_pool(12, seed=6) + [Example("empty", "write", "", ""), Example("long", "the " * 100, "", "one")]
    a = GradsSelector(finetune="lora", **SMALL).score(_ctx(pool, proxy_dir, tmp_path / "a"))
    b = GradsSelector(finetune="lora", **SMALL).score(_ctx(pool, proxy_dir, tmp_path / "b"))
    assert a.scores == b.scores and a.columns == b.columns
    assert all(math.isfinite(s) for s in a.scores)
    assert a.eligible[-2:] == [False, False] and all(a.eligible[:-2])
    assert a.notes["skipped_empty_response"] == 1 and a.notes["skipped_prompt_too_long"] == 1
    assert a.columns["norm_wte"][-1] is None and a.columns["density"][-2] is None
    assert {"norm_wte", "norm_lm_head", "norm_tied", "loss", "log_density", "density"} <= set(a.columns)
    # score = log density of the 2-D log-norm feature under scipy's KDE
    F = np.log(np.array([a.columns["norm_wte"][:-2], a.columns["norm_lm_head"][:-2]], dtype=float).T)
    F = (F - F.mean(0)) / F.std(0)
    from scipy.stats import gaussian_kde

    np.testing.assert_allclose(a.scores[:-2], gaussian_kde(F.T).logpdf(F.T), rtol=1e-6)
    # a density-only change reuses the cached norms; the fine-tune changes them
    c = GradsSelector(finetune="lora", kde="sklearn", bandwidth=0.5, **SMALL).score(
        _ctx(pool, proxy_dir, tmp_path / "a")
    )
    assert c.notes["cache_hit"] and c.columns["norm_wte"] == a.columns["norm_wte"]
    assert all(math.isfinite(s) for s in c.scores)
    d = GradsSelector(finetune="full", tied="sum", feature="total", **SMALL).score(
        _ctx(pool, proxy_dir, tmp_path / "a")
    )
    assert not d.notes["cache_hit"] and d.columns["norm_wte"] != a.columns["norm_wte"]
    assert d.notes["features"] == ["norm_total"] and all(math.isfinite(s) for s in d.scores)


def test_nothing_scoreable_and_bad_params(proxy_dir, tmp_path):
    res = GradsSelector(**SMALL).score(_ctx([Example("e", "x", "", "")], proxy_dir, tmp_path))
    assert res.eligible == [False] and res.scores == [0.0]
    res = GradsSelector(finetune="none", **SMALL).score(_ctx(tiny_pool(2, seed=1), proxy_dir, tmp_path))
    assert res.scores == [0.0, 0.0] and res.notes["kde_degenerate"]
    for bad in (
        dict(finetune="adapter"),
        dict(tied="mean"),
        dict(kde="fft"),
        dict(bandwidth="wide"),
        dict(standardize="minmax"),
        dict(feature="x"),
    ):
        with pytest.raises(ConfigError):
            GradsSelector(**bad)


def test_log_density_degenerate_and_subsampled():
    assert (log_density(np.ones((5, 2)))[0] == 0).all()
    X = np.random.default_rng(0).normal(size=(300, 2))
    X[:, 1] = 3.0  # a constant column is dropped
    ld, notes = log_density(X, max_points=100)
    assert np.isfinite(ld).all() and notes["kde_dropped_constant_dims"] == 1 and notes["kde_fit_points"] == 100
    assert ld[np.argmin(np.abs(X[:, 0]))] > ld[np.argmax(np.abs(X[:, 0]))]  # the centre is denser than the tail


def test_registered_and_listed(tmp_path, cli):
    reg = registry.selectors()
    assert reg.get("grads").target == "gsnr_bench.selection.grads:GradsSelector"
    sel = reg.build("grads", {})
    assert sel.name == "grads" and sel.params.finetune == "full"
    res = cli("ls", "selectors", cwd=tmp_path, env={"COLUMNS": "200"})
    assert res.returncode == 0 and "grads" in res.stdout
