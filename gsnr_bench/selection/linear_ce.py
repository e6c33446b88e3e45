"""Fused LM head + token cross-entropy, computed over vocabulary blocks.

loss_r = logsumexp_v(h_r . W_v + b_v) - (h_r . W_t(r) + b_t(r)) for scored hidden states h [R, d], head weight
W [V, d] (GPT-2: tied to the token embedding) and targets t [R].

Why not head(h) then F.cross_entropy: that path makes five passes over the [R, V] logits in main memory
(the matmul writes them, log_softmax reads and writes a copy, the backward zero-fills a one-hot gradient,
scatters into it, and log_softmax's backward reads two [R, V] tensors to write a third). Here each block of
columns is produced by one matmul, reduced while it is still in cache (an online logsumexp), and stored once;
the backward reads each stored block once, turns it into softmax - onehot in a cache-sized scratch and feeds
it straight to the matmuls. The logits still exist once (the backward needs them) but are never zero-filled,
copied or log-softmaxed in memory. Numerically the same function as log_softmax + NLL (max-shifted, fp32).

Float32 only (the CPU scoring path); other dtypes take the plain path in losses.example_mean_losses."""

from __future__ import annotations

import torch

BLOCK_COLUMNS = 4096  # vocabulary columns per block (measured: 2048-16384 equal, ~1500 slower)


def _blocks(V: int, size: int):
    return [(j0, min(V, j0 + size)) for j0 in range(0, V, size)]


class LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, W, bias, targets, block: int):
        R, V = h.shape[0], W.shape[0]
        keep = any(ctx.needs_input_grad[:3])
        m = torch.full((R,), float("-inf"), dtype=h.dtype, device=h.device)
        s = torch.zeros(R, dtype=h.dtype, device=h.device)
        tgt = torch.zeros(R, dtype=h.dtype, device=h.device)
        scratch = torch.empty(R, min(block, V), dtype=h.dtype, device=h.device)
        stored = []
        for j0, j1 in _blocks(V, block):
            L = torch.empty(R, j1 - j0, dtype=h.dtype, device=h.device) if keep else scratch[:, : j1 - j0]
            if bias is not None:
                torch.addmm(bias[j0:j1], h, W[j0:j1].t(), out=L)
            else:
                torch.mm(h, W[j0:j1].t(), out=L)
            inside = (targets >= j0) & (targets < j1)
            tgt = torch.where(inside, L.gather(1, (targets - j0).clamp(0, j1 - j0 - 1)[:, None])[:, 0], tgt)
            m_new = torch.maximum(m, L.amax(1))
            s.mul_(torch.exp(m - m_new))
            e = scratch[:, : j1 - j0] if keep else L
            torch.sub(L, m_new[:, None], out=e)
            s.add_(e.exp_().sum(1))
            m = m_new
            if keep:
                stored.append(L)
        lse = m + s.log()
        if keep:
            ctx.save_for_backward(h, W, targets, lse, *stored)
            ctx.has_bias, ctx.block = bias is not None, block
        return lse - tgt

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        h, W, targets, lse, *stored = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        R, V = h.shape[0], W.shape[0]
        g = g.contiguous()
        grad_h = torch.zeros_like(h) if need_h else None
        grad_w = torch.empty_like(W) if need_w else None
        grad_b = torch.empty(V, dtype=W.dtype, device=W.device) if need_b and ctx.has_bias else None
        scratch = torch.empty(R, min(ctx.block, V), dtype=h.dtype, device=h.device)
        rows = torch.arange(R, device=h.device)
        for (j0, j1), L in zip(_blocks(V, ctx.block), stored):
            P = scratch[:, : j1 - j0]
            torch.sub(L, lse[:, None], out=P)
            P.exp_().mul_(g[:, None])  # dL/dlogits = g * (softmax - onehot)
            inside = (targets >= j0) & (targets < j1)
            r = rows[inside]
            P[r, targets[r] - j0] -= g[r]
            if need_h:
                grad_h.addmm_(P, W[j0:j1])
            if need_w:
                torch.mm(P.t(), h, out=grad_w[j0:j1])
            if grad_b is not None:
                torch.sum(P, 0, out=grad_b[j0:j1])
        return grad_h, grad_w, grad_b, None, None


def linear_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor, block: int | None = None
) -> torch.Tensor:
    """Per-row CE of the logits h @ weight.T + bias against targets, float32 [R]."""
    if h.shape[0] == 0:
        return h.new_zeros(0)
    return LinearCrossEntropy.apply(h.contiguous(), weight, bias, targets, block or BLOCK_COLUMNS)
