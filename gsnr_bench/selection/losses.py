"""One batched, length-bucketed loss routine over right-padded batches (shared by IFD and the engines).

Why it equals batch size 1: with right padding and a causal model, a real token never attends to a pad (pads
come after it) and positions count from 0 as unpadded, so no attention mask is needed and each row's hidden
states equal the unpadded ones. Logits are taken only at scored positions (never the dense [batch, T, vocab]
tensor), which is most of the speed-up on a small proxy; in float32 the head and the cross-entropy run fused,
block by block over the vocabulary (linear_ce.py)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gsnr_bench.selection.encoding import Encoded
from gsnr_bench.selection.linear_ce import linear_cross_entropy


def length_batches(lengths: Sequence[int], max_tokens: int = 2048, max_batch: int = 16) -> list[list[int]]:
    """Indices grouped longest-first so each padded batch stays under max_tokens (batch x longest)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) >= max_batch or (len(cur) + 1) * longest > max_tokens):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def pad_right(seqs: Sequence[Sequence[int]], pad_id: int, device: Any = "cpu") -> torch.Tensor:
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    for r, s in enumerate(seqs):
        out[r, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out.to(device)


def scored_positions(seqs: Sequence[Sequence[int]], starts: Sequence[int], device: Any = "cpu"):
    """(row, pos) of every scored token and the row each belongs to; hidden at pos-1 predicts token pos."""
    rows, pos = [], []
    for r, (s, st) in enumerate(zip(seqs, starts)):
        n = len(s) - st
        if n > 0:
            rows.append(np.full(n, r))
            pos.append(np.arange(st, len(s)))
    rows_t = torch.as_tensor(np.concatenate(rows) if rows else np.zeros(0, int), dtype=torch.long, device=device)
    pos_t = torch.as_tensor(np.concatenate(pos) if pos else np.zeros(0, int), dtype=torch.long, device=device)
    return rows_t, pos_t


def padded_batches(enc: Encoded, idx: list[int], pad_id: int, device: Any, max_tokens: int, max_batch: int):
    """Length-bucketed batches of the examples `idx`: (example indices, right-padded ids [b, T], rows and
    positions of the scored tokens)."""
    for b in length_batches([len(enc.ids[i]) for i in idx], max_tokens, max_batch):
        members = [idx[j] for j in b]
        seqs = [enc.ids[i] for i in members]
        rows, pos = scored_positions(seqs, [enc.start[i] for i in members], device)
        yield members, pad_right(seqs, pad_id, device), rows, pos


def trunk_and_head(model) -> tuple[Callable, torch.nn.Module]:
    """The transformer without its LM head, and the head (GPT-2: model.transformer / model.lm_head)."""
    return model.base_model, model.get_output_embeddings()


def example_mean_losses(
    hidden: torch.Tensor, head: torch.nn.Module, ids: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor, n_rows: int
) -> torch.Tensor:
    """Token-mean CE per row over its scored tokens, logits only at those positions. Float32 result."""
    h = hidden[rows, pos - 1]
    targets = ids[rows, pos]
    weight, bias = head.weight, getattr(head, "bias", None)
    if isinstance(head, torch.nn.Linear) and h.dtype == weight.dtype == torch.float32:
        tok = linear_cross_entropy(h, weight, bias, targets)  # fused, blockwise (linear_ce.py)
    else:
        tok = F.cross_entropy(head(h).float(), targets, reduction="none")
    sums = torch.zeros(n_rows, dtype=torch.float32, device=tok.device).index_add_(0, rows, tok)
    counts = torch.zeros(n_rows, dtype=torch.float32, device=tok.device).index_add_(0, rows, torch.ones_like(tok))
    return sums / counts.clamp_min(1)


@torch.no_grad()
def mean_losses(
    model,
    enc: Encoded,
    *,
    pad_id: int,
    device: Any = "cpu",
    max_tokens: int = 2048,
    max_batch: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Per-example token-mean loss over scored tokens; NaN where nothing is scored (status != ok)."""
    out = np.full(len(enc), np.nan, dtype=np.float64)
    idx = enc.ok()
    trunk, head = trunk_and_head(model)
    done = 0
    for members, ids, rows, pos in padded_batches(enc, idx, pad_id, device, max_tokens, max_batch):
        hidden = trunk(input_ids=ids)[0]
        out[members] = example_mean_losses(hidden, head, ids, rows, pos, len(members)).double().cpu().numpy()
        done += len(members)
        if progress:
            progress(done, len(idx))
    return out


@torch.no_grad()
def mean_losses_bs1(model, enc: Encoded, *, device: Any = "cpu") -> np.ndarray:
    """The reference definition: one unpadded sequence at a time, HF's own labels loss (prompt = -100)."""
    out = np.full(len(enc), np.nan, dtype=np.float64)
    for i in enc.ok():
        ids = torch.as_tensor(np.asarray(enc.ids[i])[None], dtype=torch.long, device=device)
        labels = ids.clone()
        labels[0, : enc.start[i]] = -100
        out[i] = float(model(input_ids=ids, labels=labels).loss)
    return out
