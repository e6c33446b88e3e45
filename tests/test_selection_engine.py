"""The LoRA-ensemble gradient engine against per-example autograd (fp32, padding, varied lengths)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gsnr_bench.core.errors import DataError
from gsnr_bench.selection.encoding import encode_pairs
from gsnr_bench.selection.ensemble import EngineConfig, Ensemble
from gsnr_bench.selection.lora import attach
from gsnr_bench.selection.prompts import plain_prompt
from gsnr_bench.selection.proxy import load_proxy

from tiny_models import build_tiny_proxy, tiny_pool


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory):
    return str(build_tiny_proxy(tmp_path_factory.mktemp("proxy"), n_layer=2, n_embd=32, seed=1))


def _setup(proxy_dir, members, seed=0, n=11, **cfg):
    tok, model, pad, dev = load_proxy(proxy_dir)
    torch.manual_seed(1234 + seed)
    layers, sink = attach(model, ["c_attn"], members, rank=4, alpha=8, seed=seed)
    with torch.no_grad():  # random B: with peft's B = 0 the A-gradient check would be vacuous
        for l in layers:
            l.B.normal_(0, 0.3)
    pool = tiny_pool(n, seed=seed)
    enc = encode_pairs(tok, [plain_prompt(e) for e in pool], [e.output for e in pool], 64)
    ens = Ensemble(model, layers, sink, EngineConfig(members=members, rank=4, alpha=8, **cfg), pad, dev)
    return model, layers, ens, enc


def reference_norms(model, layers, enc, members, idx):
    """Plain autograd, one unpadded example and one member at a time; HF's own labels loss."""
    out = np.zeros((members, len(idx)))
    for l in layers:
        l.mode = "reference"
    try:
        for m in range(members):
            for l in layers:
                l.active = m
            for j, i in enumerate(idx):
                ids = torch.tensor([enc.ids[i]])
                labels = ids.clone()
                labels[0, : enc.start[i]] = -100
                loss = model(input_ids=ids, labels=labels).loss
                grads = torch.autograd.grad(loss, [p for l in layers for p in (l.A, l.B)])
                out[m, j] = float(torch.sqrt(sum(g[m].double().square().sum() for g in grads)))
    finally:
        for l in layers:
            l.mode = "stacked"
    return out


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("seed,order", [(0, "bucketed"), (977493, "independent"), (4242, "independent")])
def test_inpass_norms_match_autograd_every_member_both_epochs(proxy_dir, seed, order):
    members = 3
    b = int(np.random.default_rng(seed).integers(2, 5))
    model, layers, ens, enc = _setup(
        proxy_dir, members, seed=seed, lr=1e-2, batch_size=b, data_order=order, bucket_batches=2
    )
    idx = enc.ok()  # an example whose prompt fills max_length is ineligible (no response tokens)
    orig = ens.step
    checked = []

    def checked_step(enc_, batch, *, collect, update):
        refs = [reference_norms(model, layers, enc_, members, mb) for mb in batch]
        losses, sq = orig(enc_, batch, collect=collect, update=update)
        for m, ref in enumerate(refs):
            assert _rel(np.sqrt(sq[m]), ref[m]) <= 1e-4, (seed, m)
        checked.append(len(batch[0]))
        return losses, sq

    ens.step = checked_step
    norms = ens.run(enc, idx)
    assert set(norms) == {1, 2}
    assert sum(checked) == 2 * len(idx)
    for e in (1, 2):
        assert norms[e].shape == (members, len(enc)) and np.isfinite(norms[e][:, idx]).all()
        assert (norms[e][:, idx] > 0).all()
    assert not np.allclose(norms[1][:, idx], norms[2][:, idx])  # parameters moved between epochs


def test_snapshot_norms_match_autograd_at_epoch_end(proxy_dir):
    members = 2
    model, layers, ens, enc = _setup(
        proxy_dir, members, seed=3, lr=1e-2, batch_size=3, norms="snapshot", max_tokens=96
    )  # small max_tokens forces micro-batches too
    idx = list(range(len(enc)))
    norms = ens.run(enc, idx)
    ref = reference_norms(model, layers, enc, members, idx)
    assert _rel(norms[2], ref) <= 1e-4


def test_resume_after_interrupted_epoch_gives_same_norms(proxy_dir, tmp_path):
    _, _, ens, enc = _setup(proxy_dir, 2, seed=5, lr=1e-2, batch_size=3)
    idx = list(range(len(enc)))
    full = ens.run(enc, idx)

    _, _, ens2, _ = _setup(proxy_dir, 2, seed=5, lr=1e-2, batch_size=3)
    ckpt = tmp_path / "ckpt.pt"

    def boom(task, done, total):
        if task.startswith("ensemble epoch 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ens2.run(enc, idx, ckpt=ckpt, progress=boom)
    _, _, ens3, _ = _setup(proxy_dir, 2, seed=5, lr=1e-2, batch_size=3)
    resumed = ens3.run(enc, idx, ckpt=ckpt)
    for e in (1, 2):
        np.testing.assert_allclose(resumed[e], full[e], rtol=1e-6)


def test_proxy_without_target_modules(proxy_dir):
    _, model, _, _ = load_proxy(proxy_dir)
    with pytest.raises(DataError, match="no module named"):
        attach(model, ["q_proj"], 2, 4, 8, seed=0)
