"""The LoRA-ensemble engine: train M members on a frozen proxy and record per-example gradient norms.

Training loss = mean over members of (mean over the batch of each example's token-mean response loss).
All members go through the backbone as one stacked [M*b, T] batch. Norms come from pernorms.StackedLoraFn
in the same backward that produces the training gradient:
- norms="inpass" (default): epoch e's norm of example i is taken in epoch e's own training step, at the
  parameters of that step. Free (no extra pass: 3.4x faster end to end than a separate scoring pass in the
  prototype measurements) and what the paper
  describes as "collected during training".
- norms="snapshot": an extra forward/backward over the pool at the end of epoch e, at the epoch's final
  parameters (an exact snapshot; every member sees the same example at the same parameters).
Data orders: member m gets its own seeded shuffle. With data_order="bucketed" (default) the pool is cut into
length-sorted groups of batch_size*bucket_batches examples; the group order is shared (so a stacked step pads
little) while each member shuffles and batches within every group on its own. data_order="independent" gives
every member a full independent permutation (more padding). Dropout is off (eval mode, LoRA dropout 0), so
norms are deterministic for a seed. Adam over the stacked parameters equals one Adam per member (elementwise);
there is no gradient clipping (a global clip would couple members)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import atomic_path
from gsnr_bench.selection.encoding import Encoded
from gsnr_bench.selection.lora import StackedLora, load_lora_state, lora_state
from gsnr_bench.selection.losses import example_mean_losses, pad_right, scored_positions, trunk_and_head
from gsnr_bench.selection.pernorms import NormSink


@dataclass
class EngineConfig:
    members: int = 5
    rank: int = 8
    alpha: float = 16.0
    lr: float = 5e-5
    epochs: int = 2
    batch_size: int = 4  # examples per member per step (M*batch_size sequences per stacked pass)
    seed: int = 0
    data_order: str = "bucketed"  # bucketed | independent
    bucket_batches: int = 8
    norms: str = "inpass"  # inpass | snapshot
    record_epochs: list[int] = field(default_factory=lambda: [1, 2])
    max_tokens: int = 2048  # per stacked pass (padded tokens); larger steps are split into micro-batches
    # (2048: 1-2.5k tokens per pass measured best on a 2-core CPU, larger passes spill cache and page-fault;
    # bench/scoring.py: x1.2 over 4096)
    autocast: Any = None  # torch dtype for autocast on CUDA (bf16/fp16), None = native dtype

    def check(self) -> None:
        if self.members < 1 or self.rank < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("members, rank, epochs and batch_size must be >= 1")
        if self.data_order not in ("bucketed", "independent"):
            raise ConfigError(f"data_order must be 'bucketed' or 'independent', not {self.data_order!r}")
        if self.norms not in ("inpass", "snapshot", "none"):
            raise ConfigError(f"norms must be 'inpass' or 'snapshot', not {self.norms!r}")
        bad = [e for e in self.record_epochs if not 1 <= e <= self.epochs]
        if bad:
            raise ConfigError(f"recorded epochs {bad} are outside 1..{self.epochs}")


def epoch_plan(idx: list[int], lengths: list[int], cfg: EngineConfig, epoch: int) -> list[list[list[int]]]:
    """Steps of the epoch; a step holds one equally sized list of example indices per member."""
    M, b = cfg.members, cfg.batch_size
    if cfg.data_order == "independent":
        perms = [np.random.default_rng([cfg.seed, epoch, m]).permutation(idx).tolist() for m in range(M)]
        return [[p[k : k + b] for p in perms] for k in range(0, len(idx), b)]
    srt = sorted(idx, key=lambda i: (lengths[i], i))
    size = b * cfg.bucket_batches
    groups = [srt[k : k + size] for k in range(0, len(srt), size)]
    steps = []
    for g in np.random.default_rng([cfg.seed, epoch, 7919]).permutation(len(groups)):
        perms = [np.random.default_rng([cfg.seed, epoch, m, int(g)]).permutation(groups[g]).tolist() for m in range(M)]
        steps += [[p[k : k + b] for p in perms] for k in range(0, len(groups[g]), b)]
    return steps


class Ensemble:
    def __init__(
        self, model, layers: list[StackedLora], sink: NormSink, cfg: EngineConfig, pad_id: int, device: Any = "cpu"
    ):
        cfg.check()
        self.model, self.layers, self.sink, self.cfg = model, layers, sink, cfg
        self.pad_id, self.device = pad_id, device
        self.trunk, self.head = trunk_and_head(model)
        self.opt = torch.optim.Adam([p for l in layers for p in (l.A, l.B)], lr=cfg.lr)
        self.nonfinite = 0

    # ---------------------------------------------------------------- one stacked step
    def step(self, enc: Encoded, batch: list[list[int]], *, collect: bool, update: bool):
        """-> (losses [M, b], squared norms [M, b] or None) as float64 numpy. Non-finite losses get NaN norms
        and no gradient."""
        M, b = len(batch), len(batch[0])
        T = max(len(enc.ids[i]) for mb in batch for i in mb)
        chunk = max(1, min(b, self.cfg.max_tokens // max(1, M * T)))
        for l in self.layers:
            l.grad_scale = 1.0 / (M * b)  # parameter grads of the mean-of-member-means loss
        losses = np.empty((M, b))
        sq = np.empty((M, b)) if collect else None
        for c0 in range(0, b, chunk):
            part = [mb[c0 : c0 + chunk] for mb in batch]
            lo, s = self._micro(enc, part, collect=collect, backward=update or collect)
            losses[:, c0 : c0 + chunk] = lo
            if collect:
                sq[:, c0 : c0 + chunk] = s
        if update:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return losses, sq

    def _micro(self, enc: Encoded, part: list[list[int]], *, collect: bool, backward: bool):
        M, c = len(part), len(part[0])
        seqs = [enc.ids[i] for mb in part for i in mb]
        starts = [enc.start[i] for mb in part for i in mb]
        ids = pad_right(seqs, self.pad_id, self.device)
        rows, pos = scored_positions(seqs, starts, self.device)
        self.sink.reset()
        self.sink.enabled = collect
        amp = (
            torch.autocast(device_type=torch.device(self.device).type, dtype=self.cfg.autocast)
            if self.cfg.autocast is not None
            else contextlib.nullcontext()
        )
        with amp:
            hidden = self.trunk(input_ids=ids)[0]
            losses = example_mean_losses(hidden, self.head, ids, rows, pos, M * c)
        finite = torch.isfinite(losses)
        if backward:
            torch.where(finite, losses, torch.zeros_like(losses)).sum().backward()
        lo = losses.detach().double().cpu().numpy().reshape(M, c)
        bad = ~finite.cpu().numpy().reshape(M, c)
        self.nonfinite += int(bad.sum())
        sq = None
        if collect:
            sq = self.sink.sq.detach().double().cpu().numpy().reshape(M, c)
            sq[bad] = np.nan
        self.sink.reset()
        return lo, sq

    # ---------------------------------------------------------------- passes
    def train_epoch(
        self,
        enc: Encoded,
        idx: list[int],
        epoch: int,
        *,
        collect: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray | None:
        """One training epoch; with collect, the in-pass norms [M, N] (NaN where not seen)."""
        lengths = [len(s) for s in enc.ids]
        plan = epoch_plan(idx, lengths, self.cfg, epoch)
        norms = np.full((self.cfg.members, len(enc)), np.nan) if collect else None
        for k, batch in enumerate(plan):
            _, sq = self.step(enc, batch, collect=collect, update=True)
            if collect:
                for m, mb in enumerate(batch):
                    norms[m, mb] = np.sqrt(sq[m])
            if progress:
                progress(k + 1, len(plan))
        return norms

    def snapshot(self, enc: Encoded, idx: list[int], progress: Callable[[int, int], None] | None = None):
        """Norms of every member at the current parameters, no update: each step feeds one batch to all members."""
        from gsnr_bench.selection.losses import length_batches

        norms = np.full((self.cfg.members, len(enc)), np.nan)
        per = max(1, self.cfg.max_tokens // self.cfg.members)
        batches = length_batches([len(enc.ids[i]) for i in idx], per, self.cfg.batch_size * 2)
        for k, b in enumerate(batches):
            mb = [idx[j] for j in b]
            _, sq = self.step(enc, [mb] * self.cfg.members, collect=True, update=False)
            norms[:, mb] = np.sqrt(sq)
            if progress:
                progress(k + 1, len(batches))
        return norms

    # ---------------------------------------------------------------- whole run with checkpoints
    def run(
        self,
        enc: Encoded,
        idx: list[int],
        ckpt: Path | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[int, np.ndarray]:
        """Train cfg.epochs epochs, recording norms at cfg.record_epochs; resumes from `ckpt` (written after
        every epoch) if present. -> {epoch: norms [M, N]}."""
        cfg = self.cfg
        norms: dict[int, np.ndarray] = {}
        first = 1
        if ckpt is not None and ckpt.exists():
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
            load_lora_state(self.layers, state["lora"])
            self.opt.load_state_dict(state["opt"])
            norms = {int(k): np.asarray(v) for k, v in state["norms"].items()}
            first = state["epoch_done"] + 1
        for e in range(first, cfg.epochs + 1):
            rec = e in cfg.record_epochs and cfg.norms != "none"
            prog = (lambda d, t, e=e: progress(f"ensemble epoch {e}/{cfg.epochs}", d, t)) if progress else None
            got = self.train_epoch(enc, idx, e, collect=rec and cfg.norms == "inpass", progress=prog)
            if rec and cfg.norms == "inpass":
                norms[e] = got
            elif rec:
                sprog = (lambda d, t, e=e: progress(f"snapshot norms epoch {e}", d, t)) if progress else None
                norms[e] = self.snapshot(enc, idx, sprog)
            if ckpt is not None:
                with atomic_path(ckpt) as tmp:
                    torch.save(
                        {
                            "epoch_done": e,
                            "lora": lora_state(self.layers),
                            "opt": self.opt.state_dict(),
                            "norms": {k: v for k, v in norms.items()},
                        },
                        tmp,
                    )
        return norms
