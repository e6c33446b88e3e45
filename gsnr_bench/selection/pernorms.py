"""Per-example gradient norms of stacked LoRA members from one batched backward (the Opacus/einsum method).

For one LoRA'd projection h = x W + b + s (x A_m) B_m of member m and one example with tokens t:
    grad B_m = s * sum_t u_t g_t^T        (u = x A_m, g = dL/dh)         -> [r, out]
    grad A_m = sum_t x_t (s g_t B_m^T)^T                                -> [in, r]
With r << in, out both per-example gradients are small, so we form them with two batched matmuls over the
examples (cost r/out of the projection itself) instead of the T^2 ghost-norm Gram matrices. Their squared
Frobenius norms (fp32) are added to a sink shared by all layers; the parameter gradients are their sums.

Inputs are stacked member-major: x is [M*b, T, in], rows m*b..(m+1)*b-1 belong to member m. Pad positions
carry zero output gradient (nothing after them is scored and nothing before them attends to them), so they
add nothing."""

from __future__ import annotations

import torch


class NormSink:
    """Collects squared per-example gradient norms [M, b] (fp32) across layers during one backward."""

    def __init__(self) -> None:
        self.sq: torch.Tensor | None = None
        self.enabled = False

    def add(self, sq: torch.Tensor) -> None:
        self.sq = sq if self.sq is None else self.sq + sq

    def reset(self) -> None:
        self.sq = None


class StackedLoraFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, bias, A, B, scale: float, sink: NormSink, grad_scale: float):
        M = A.shape[0]
        Mb, T, d_in = x.shape
        b = Mb // M
        x2 = x.reshape(-1, d_in)
        base = torch.addmm(bias, x2, W) if bias is not None else x2 @ W
        u = torch.bmm(x.reshape(M, b * T, d_in), A)  # [M, bT, r]
        out = torch.baddbmm(base.view(M, b * T, -1), u, B, alpha=scale)
        ctx.save_for_backward(x, W, A, B, u)
        ctx.scale, ctx.sink, ctx.grad_scale = scale, sink, grad_scale
        return out.view(Mb, T, -1)

    @staticmethod
    def backward(ctx, g):
        x, W, A, B, u = ctx.saved_tensors
        scale, sink = ctx.scale, ctx.sink
        M, d_in, r = A.shape
        Mb, T, d_out = g.shape
        b = Mb // M
        g = g.contiguous()
        gm = g.view(M, b * T, d_out)
        gu = torch.bmm(gm, B.transpose(1, 2)).mul_(scale)  # dL/du [M, bT, r]
        gx = torch.baddbmm((g.view(-1, d_out) @ W.t()).view(M, b * T, d_in), gu, A.transpose(1, 2))
        if sink.enabled:
            f = torch.float32
            # per-example gradients [Mb, r, out] and [Mb, in, r]: batched over (member, example)
            pB = torch.bmm(u.view(Mb, T, r).transpose(1, 2).to(f), g.view(Mb, T, d_out).to(f)).mul_(scale)
            pA = torch.bmm(x.transpose(1, 2).to(f), gu.view(Mb, T, r).to(f))
            sink.add((pA.square().sum((1, 2)) + pB.square().sum((1, 2))).view(M, b))
            gA = pA.view(M, b, d_in, r).sum(1).to(A.dtype)
            gB = pB.view(M, b, r, d_out).sum(1).to(B.dtype)
        else:
            gA = torch.bmm(x.reshape(M, b * T, d_in).transpose(1, 2), gu)
            gB = torch.bmm(u.transpose(1, 2), gm).mul_(scale)
        gs = ctx.grad_scale
        if gs != 1.0:
            gA, gB = gA * gs, gB * gs
        return gx.view(Mb, T, d_in), None, None, gA, gB, None, None, None
