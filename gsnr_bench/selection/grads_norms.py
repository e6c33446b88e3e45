"""GrADS's per-example gradient magnitudes of the input embedding and the LM head, from one batched forward and one
backward to the input embeddings per batch (the input side by index_add over token ids, the output side by the
ghost-norm identity, the tied cross term at the example's distinct tokens): selection/grads.py says how."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gsnr_bench.selection.encoding import Encoded


def embedding_grad_norms(
    model,
    enc: Encoded,
    idx: list[int],
    *,
    pad_id: int,
    device: Any = "cpu",
    max_tokens: int = 2048,
    max_batch: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Squared per-example gradient norms of the input embedding and the LM head, from one batched backward
    per batch. -> {"sq_in", "sq_out", "cross" (tied models: <G_in, G_out>, else 0), "loss"}, each [len(enc)]
    float64, NaN outside idx or where the loss is non-finite."""

    from gsnr_bench.selection.losses import padded_batches, trunk_and_head

    trunk, head = trunk_and_head(model)
    emb_mod = model.get_input_embeddings()
    tied = head.weight is emb_mod.weight or head.weight.data_ptr() == emb_mod.weight.data_ptr()
    bias = getattr(head, "bias", None)
    n = len(enc)
    out = {k: np.full(n, np.nan) for k in ("sq_in", "sq_out", "cross", "loss")}
    done = 0
    for members, ids, rows, pos in padded_batches(enc, idx, pad_id, device, max_tokens, max_batch):
        _batch_norms(trunk, head, emb_mod, enc, members, ids, rows, pos, tied, bias, out)
        done += len(members)
        if progress:
            progress(done, len(idx))
    return out


def _batch_norms(trunk, head, emb_mod, enc: Encoded, members, ids, rows, pos, tied: bool, bias, out) -> None:
    """One batch into `out`: one forward, one backward of the summed losses to the input embeddings and the
    logits, then each example's norms from its own rows."""
    import torch

    with torch.no_grad():
        emb0 = emb_mod(ids)
    emb = emb0.detach().float().requires_grad_(True)
    hidden = trunk(inputs_embeds=emb.to(emb0.dtype))[0]
    h = hidden[rows, pos - 1]
    logits = head(h).float()
    tok = torch.nn.functional.cross_entropy(logits, ids[rows, pos], reduction="none")
    nb = len(members)
    counts = torch.zeros(nb, device=tok.device).index_add_(0, rows, torch.ones_like(tok))
    losses = torch.zeros(nb, device=tok.device).index_add_(0, rows, tok) / counts.clamp_min(1)
    finite = torch.isfinite(losses)
    e, gz = torch.autograd.grad(torch.where(finite, losses, torch.zeros_like(losses)).sum(), [emb, logits])
    with torch.no_grad():
        h = h.detach().float()
        ends = torch.cumsum(counts.long(), 0).tolist()
        starts = [0] + ends[:-1]
        for r, i in enumerate(members):
            if not bool(finite[r]):
                continue
            x = ids[r, : len(enc.ids[i])]
            G, H = gz[starts[r] : ends[r]], h[starts[r] : ends[r]]  # [n, V], [n, d]
            sq_in, sq_out, cross = _example_norms(G, H, e[r, : len(x)], x, tied, bias)
            out["sq_in"][i], out["sq_out"][i] = float(sq_in), float(sq_out)
            out["cross"][i], out["loss"][i] = float(cross), float(losses[r])


def _example_norms(G, H, E, x, tied: bool, bias) -> tuple:
    """(||G_in||^2, ||G_out||^2, <G_in, G_out> or 0) of one example from its logit gradients G [n, V], head
    inputs H [n, d], input-embedding gradients E [len(x), d] and token ids x."""
    import torch

    sq_out = ((G @ G.t()).double() * (H @ H.t()).double()).sum()
    if bias is not None:
        sq_out = sq_out + G.sum(0).double().square().sum()
    uniq, inv = torch.unique(x, return_inverse=True)
    S = torch.zeros(len(uniq), E.shape[-1], device=E.device).index_add_(0, inv, E)
    sq_in = S.double().square().sum()
    cross = (S.double() * (G[:, uniq].t() @ H).double()).sum() if tied else torch.zeros((), dtype=torch.float64)
    return sq_in, sq_out, cross
