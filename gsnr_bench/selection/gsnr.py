"""G-SNR selector (GradFiltering) and its ablations gsnr-alt1/2/3 (docs/selectors.md).

Train M LoRA members on the frozen proxy for T epochs (ensemble.py), record each example's per-member
gradient norms at epochs s and t, and rank by Eq. 5 (utility.py). The ensemble's norms are the expensive
part; they are cached under `<shared_cache or workdir>/gsnr-ensemble/<key>/` keyed by everything that
changes them (pool content, proxy, and the training/recording params), so gsnr and its three ablations,
which differ only in `variant`/`eps`, share one ensemble training. Cache layout:
    <key>/meta.json   the key's inputs (human-readable), ids
    <key>/ckpt.pt     LoRA + Adam state + norms so far, written after every epoch (resume point)
    <key>/norms.npz   e<epoch> -> float32 [M, N] norms (NaN = example skipped), written last
    <key>/DONE
Prompt format: `template` "plain" (Superfiltering's "{instruction}\\n{input}\\n", the GPT-2 proxy line of
work; default) or "alpaca"; the response is the output (+ EOS with append_eos)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from gsnr_bench.analysis.gsnr_utility import VARIANTS, gsnr_table
from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import atomic_path, write_json, write_text
from gsnr_bench.selection.base import ScoreResult, SelectionContext
from gsnr_bench.selection.common import SelectorParams, as_list, cache_dir, cache_key, check_pool, report
from gsnr_bench.selection.encoding import OK, encode_pairs
from gsnr_bench.selection.prompts import Template, prompt_fn

CACHE_VERSION = 1


class GsnrParams(SelectorParams):
    """G-SNR's parameters (docs/selectors.md): the ensemble's (members ... dtype; they key the shared ensemble
    cache) and the score's (variant, s, t, eps; they do not)."""

    variant: Literal[VARIANTS] = "gsnr"  # type: ignore[valid-type]
    members: int = Field(5, ge=1)
    rank: int = Field(8, ge=1)
    alpha: float = 16.0
    target: Annotated[list[str], BeforeValidator(as_list)] = ["c_attn"]
    lr: float = 5e-5
    epochs: int = Field(2, ge=1)
    s: int = 1
    t: int = 2
    eps: float = Field(1e-8, gt=0)
    seed: int | None = None
    order_seed: int | None = None
    data_order: Literal["bucketed", "independent"] = "bucketed"
    bucket_batches: int = 8
    batch_size: int = Field(4, ge=1)
    norms: Literal["inpass", "snapshot"] = "inpass"
    record_all_epochs: bool = False
    template: Template = "plain"
    append_eos: bool = False
    max_length: int | None = None
    max_tokens: int = 2048
    dtype: str = "float32"
    figure: bool = False

    @model_validator(mode="after")
    def _epochs_in_order(self) -> GsnrParams:
        if not (1 <= self.s < self.t <= self.epochs):
            raise ConfigError(f"gsnr: need 1 <= s < t <= epochs, got s={self.s}, t={self.t}, epochs={self.epochs}")
        return self


SCORE_ONLY = frozenset({"variant", "s", "t", "eps", "figure", "record_all_epochs"})  # not in the ensemble's key


class GsnrSelector:
    uses_proxy = True  # the run checks the proxy model before any stage
    Params = GsnrParams

    def __init__(self, *, device: str | None = None, **params: Any):
        self.params = q = GsnrParams.parse("gsnr", params)
        self.name = "gsnr" if q.variant == "gsnr" else f"gsnr-{q.variant}"
        self.variant, self.s, self.t, self.eps, self.figure = q.variant, q.s, q.t, q.eps, q.figure
        self.device = device

    # ---------------------------------------------------------------- cache
    def cache_key(self, ctx: SelectionContext) -> dict[str, Any]:
        q = self.params
        p = q.model_dump(exclude=SCORE_ONLY)
        p["record_epochs"] = list(range(1, q.epochs + 1)) if q.record_all_epochs else [q.s, q.t]
        p["seed"] = ctx.seed if p["seed"] is None else p["seed"]
        p["order_seed"] = p["seed"] if p["order_seed"] is None else p["order_seed"]
        p["max_length"] = p["max_length"] or ctx.max_length
        return cache_key(CACHE_VERSION, p, ctx)

    def cache_dir(self, ctx: SelectionContext, key: dict[str, Any]) -> Path:
        return cache_dir(ctx.shared_cache or ctx.workdir, "gsnr-ensemble", key)

    # ---------------------------------------------------------------- scoring
    def score(self, ctx: SelectionContext) -> ScoreResult:
        check_pool(ctx.pool)
        key = self.cache_key(ctx)
        p = key["params"]
        d = self.cache_dir(ctx, key)
        fmt = prompt_fn(p["template"])
        notes: dict[str, Any] = {
            "norms": p["norms"],
            "cache": str(d),
            "variant": self.variant,
            "s": self.s,
            "t": self.t,
            "lr": p["lr"],
            "epochs": p["epochs"],
        }
        if (d / "DONE").exists():
            with np.load(d / "norms.npz") as z:
                norms = {int(k[1:]): z[k].astype(np.float64) for k in z.files}
            enc_status = json.loads((d / "meta.json").read_text())["status"]
            notes["cache_hit"] = True
        else:
            norms, enc_status = self._train(ctx, key, d, fmt)
            notes["cache_hit"] = False
        return self._result(ctx, norms, enc_status, notes)

    def _train(self, ctx, key, d: Path, fmt):
        p = key["params"]
        model, pad_id, dev, amp, enc = self.encode_pool(ctx, p, fmt)
        d.mkdir(parents=True, exist_ok=True)
        write_json(d / "meta.json", {"key": key, "ids": [e.id for e in ctx.pool], "status": enc.status})
        idx = enc.ok()
        if not idx:
            norms = {e: np.full((p["members"], len(enc)), np.nan) for e in p["record_epochs"]}
        else:
            ens = self.build_ensemble(ctx, p, model, pad_id, dev, amp)
            norms = ens.run(enc, idx, ckpt=d / "ckpt.pt", progress=lambda task, a, b: report(ctx.progress, task, a, b))
        with atomic_path(d / "norms.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{f"e{e}": v.astype(np.float32) for e, v in norms.items()})
        write_text(d / "DONE", "ok\n")
        # the float32 values just stored, so a cache hit and a fresh run give identical scores
        return {e: v.astype(np.float32).astype(np.float64) for e, v in norms.items()}, enc.status

    def encode_pool(self, ctx, p: dict[str, Any], fmt):
        """The proxy (fp32 masters; autocast per dtype) and the pool encoded for it: (model, pad_id, device,
        autocast dtype, Encoded). Shared with scripts/gsnr-regimes.py's snapshot-from-checkpoints."""
        import torch

        from gsnr_bench.modeling.loading import torch_dtype
        from gsnr_bench.selection.proxy import context_limit, load_proxy

        tok, model, pad_id, dev = load_proxy(ctx.proxy, self.device or ctx.device, "float32")
        amp = torch_dtype(p["dtype"], dev)
        if amp != torch.float32 and not dev.startswith("cuda"):
            raise ConfigError(f"gsnr: dtype {p['dtype']!r} needs CUDA; on CPU use float32")
        enc = encode_pairs(
            tok,
            [fmt(e) for e in ctx.pool],
            [e.output for e in ctx.pool],
            context_limit(model, p["max_length"]),
            append_eos=p["append_eos"],
        )
        return model, pad_id, dev, amp, enc

    def build_ensemble(self, ctx, p: dict[str, Any], model, pad_id: int, dev: Any, amp: Any):
        """The LoRA ensemble on the proxy, seeded exactly as every run of these params is."""
        import torch

        from gsnr_bench.selection.ensemble import EngineConfig, Ensemble
        from gsnr_bench.selection.lora import attach

        torch.manual_seed(p["seed"])
        layers, sink = attach(
            model, p["target"], p["members"], p["rank"], p["alpha"], seed=p["seed"], proxy_name=f"proxy {ctx.proxy!r}"
        )
        cfg = EngineConfig(
            members=p["members"],
            rank=p["rank"],
            alpha=p["alpha"],
            lr=p["lr"],
            epochs=p["epochs"],
            batch_size=p["batch_size"],
            seed=p["order_seed"],
            data_order=p["data_order"],
            bucket_batches=p["bucket_batches"],
            norms=p["norms"],
            record_epochs=p["record_epochs"],
            max_tokens=p["max_tokens"],
            autocast=None if amp == torch.float32 else amp,
        )
        return Ensemble(model, layers, sink, cfg, pad_id, dev)

    def _result(self, ctx, norms: dict[int, np.ndarray], status: list[str], notes: dict) -> ScoreResult:
        tab = gsnr_table(norms[self.s], norms[self.t], self.eps, self.variant)
        ok = np.array([st == OK for st in status])
        used = np.isfinite(norms[self.s]).all(0) & np.isfinite(norms[self.t]).all(0)
        nonfinite = int((ok & ~used).sum())
        eligible = ok & used & np.isfinite(tab["utility"])
        for st in status:
            if st != OK:
                notes[f"skipped_{st}"] = notes.get(f"skipped_{st}", 0) + 1
        if nonfinite:
            notes["skipped_nonfinite_loss"] = nonfinite
        clean = lambda a: [float(x) if (e and math.isfinite(x)) else None for x, e in zip(a, eligible)]  # noqa
        cols: dict[str, list] = {}
        for e in sorted(norms):
            for m in range(norms[e].shape[0]):
                cols[f"norm_m{m}_e{e}"] = clean(norms[e][m])
        for k in ("G_s", "G_t", "V_s", "V_t", "utility"):
            cols[k] = clean(tab[k])
        if self.figure and len(norms) >= 2:
            from gsnr_bench.selection.dynamics import draw_figure1

            notes["figure"] = str(draw_figure1(norms, Path(ctx.workdir) / "figure1.png", mask=eligible))
        return ScoreResult(
            ids=[e.id for e in ctx.pool],
            scores=[float(u) if e else 0.0 for u, e in zip(tab["utility"], eligible)],
            eligible=eligible.tolist(),
            columns=cols,
            notes=notes,
        )
