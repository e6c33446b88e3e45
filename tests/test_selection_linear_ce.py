"""The fused, vocabulary-blocked LM head + cross-entropy against head(h) then F.cross_entropy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gsnr_bench.selection.linear_ce import linear_cross_entropy


def _inputs(R=37, d=16, V=1000, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(R, d, generator=g, dtype=torch.float64) * 2
    W = torch.randn(V, d, generator=g, dtype=torch.float64)
    b = torch.randn(V, generator=g, dtype=torch.float64) if bias else None
    t = torch.randint(0, V, (R,), generator=g)
    t[:4] = torch.tensor([0, V - 1, 255, 256])  # targets on block edges
    return h, W, b, t


@pytest.mark.parametrize("block", [256, 300, 1000, 4096])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_log_softmax_loss_and_all_gradients(block, bias):
    h, W, b, t = _inputs(bias=bias)
    weights = torch.rand(h.shape[0], dtype=torch.float64)  # a non-uniform upstream gradient
    leaves = [x.clone().requires_grad_() for x in (h, W) + ((b,) if bias else ())]
    ref = F.cross_entropy(F.linear(leaves[0], leaves[1], leaves[2] if bias else None), t, reduction="none")
    ref_grads = torch.autograd.grad((ref * weights).sum(), leaves)
    mine = [x.clone().requires_grad_() for x in (h, W) + ((b,) if bias else ())]
    out = linear_cross_entropy(mine[0], mine[1], mine[2] if bias else None, t, block)
    grads = torch.autograd.grad((out * weights).sum(), mine)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradcheck_through_several_blocks():
    h, W, b, t = _inputs(R=5, d=3, V=700)
    args = (h.requires_grad_(), W.requires_grad_(), b.requires_grad_())
    assert torch.autograd.gradcheck(lambda x, w, c: linear_cross_entropy(x, w, c, t, 256), args)


def test_float32_frozen_head_and_no_grad_path():
    h, W, _, t = _inputs(R=64, d=32, V=5000)
    h, W = h.float(), W.float()
    ref = F.cross_entropy(h @ W.t(), t, reduction="none")
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(h, W, None, t, 1024), ref, rtol=1e-5, atol=1e-5)
    x = h.clone().requires_grad_()
    linear_cross_entropy(x, W, None, t, 1024).sum().backward()
    y = h.clone().requires_grad_()
    F.cross_entropy(y @ W.t(), t, reduction="none").sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-4, atol=1e-6)
    assert W.grad is None


def test_extreme_logits_stay_finite_and_no_rows_is_empty():
    h, W, _, t = _inputs(R=8, d=4, V=600)
    h = h * 1e3  # logits of order 1e3-1e4: exp would overflow without the running max
    out = linear_cross_entropy(h, W, None, t, 256)
    ref = F.cross_entropy(h @ W.t(), t, reduction="none")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
    assert linear_cross_entropy(h[:0], W, None, t[:0]).shape == (0,)
