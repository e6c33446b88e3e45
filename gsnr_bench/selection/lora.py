"""Stacked LoRA members on a frozen proxy: one module per target projection holding all M members.

Why our own module rather than peft: the M members run as one [M*b, T] batch through the shared frozen
backbone (one big matmul per weight), with a batched (bmm) LoRA delta per member, and the backward is the
fused per-example-norm kernel of pernorms.py. Targets: GPT-2 Conv1D (weight [in, out], e.g. the fused qkv
`c_attn`) or nn.Linear (weight [out, in]). LoRA dropout is always 0 (deterministic norms)."""

from __future__ import annotations

import math

import torch
from torch import nn

from gsnr_bench.core.errors import DataError
from gsnr_bench.selection.pernorms import NormSink, StackedLoraFn


class StackedLora(nn.Module):
    def __init__(self, base: nn.Module, members: int, rank: int, alpha: float, sink: NormSink):
        super().__init__()
        self.base = base
        w = base.weight
        self.transposed = isinstance(base, nn.Linear)  # Linear stores [out, in]
        d_in, d_out = (w.shape[1], w.shape[0]) if self.transposed else (w.shape[0], w.shape[1])
        self.members, self.rank, self.scale, self.sink = members, rank, alpha / rank, sink
        self.grad_scale = 1.0
        self.mode = "stacked"  # "stacked" (fused kernel) | "reference" (plain autograd, one member: tests, naive)
        self.active = 0
        # fp32 master copies whatever the backbone dtype; A is filled by attach(), B = 0 as in peft
        self.A = nn.Parameter(torch.zeros(members, d_in, rank, device=w.device))
        self.B = nn.Parameter(torch.zeros(members, rank, d_out, device=w.device))

    def weight_in_out(self) -> torch.Tensor:
        return self.base.weight.t() if self.transposed else self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        W = self.weight_in_out()
        dt = x.dtype
        A, B = self.A.to(dt), self.B.to(dt)
        if self.mode == "reference":
            m = self.active
            out = x @ W + (self.base.bias if self.base.bias is not None else 0)
            return out + self.scale * ((x @ A[m]) @ B[m])
        bias = self.base.bias
        dev = x.device.type
        if torch.is_autocast_enabled(dev):  # run the kernel in the autocast dtype; norms stay fp32 inside
            ct = torch.get_autocast_dtype(dev)
            x, W, A, B = x.to(ct), W.to(ct), self.A.to(ct), self.B.to(ct)
            bias = bias.to(ct) if bias is not None else None
            with torch.autocast(dev, enabled=False):
                return StackedLoraFn.apply(x, W, bias, A, B, self.scale, self.sink, self.grad_scale)
        return StackedLoraFn.apply(x, W, bias, A, B, self.scale, self.sink, self.grad_scale)


def attach(
    model: nn.Module, targets: list[str], members: int, rank: int, alpha: float, seed: int, proxy_name: str = "proxy"
) -> tuple[list[StackedLora], NormSink]:
    """Replace every module whose name ends with one of `targets` by a StackedLora; members initialised from
    seed (member m's draws come from its own generator seeded seed*1000+m, so members are independent and
    adding members does not change earlier ones)."""
    sink = NormSink()
    found = [
        (n, m)
        for n, m in model.named_modules()
        if any(n == t or n.endswith("." + t) for t in targets) and hasattr(m, "weight") and m.weight.dim() == 2
    ]
    if not found:
        raise DataError(
            f"{proxy_name} has no module named {targets} to attach LoRA to "
            f"(GPT-2 proxies have the fused qkv projection 'c_attn'; set params.target)"
        )
    gens = [torch.Generator().manual_seed(seed * 1000 + m) for m in range(members)]
    layers = []
    for name, mod in found:
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        lay = StackedLora(mod, members, rank, alpha, sink)
        with torch.no_grad():  # peft's init: A ~ U(+-1/sqrt(fan_in)) (kaiming a=sqrt(5)), per member stream
            for m in range(members):
                bound = 1.0 / math.sqrt(lay.A.shape[1])
                lay.A[m].copy_(torch.empty(lay.A.shape[1:]).uniform_(-bound, bound, generator=gens[m]))
        setattr(parent, name.rsplit(".", 1)[-1], lay)
        layers.append(lay)
    return layers, sink


def lora_state(layers: list[StackedLora]) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": getattr(l, k).detach().cpu().clone() for i, l in enumerate(layers) for k in ("A", "B")}


def load_lora_state(layers: list[StackedLora], state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for i, l in enumerate(layers):
            l.A.copy_(state[f"{i}.A"])
            l.B.copy_(state[f"{i}.B"])
