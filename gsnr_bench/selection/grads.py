"""GrADS ("Learn More, Forget Less: a gradient-aware data selection approach"; docs/selectors.md).

The paper's recipe, as far as it is specified: fine-tune the proxy for one epoch on the pool (a preliminary
fine-tune), take every example's gradient magnitude with respect to the embedding and LM-head parameters,
fit a kernel density estimate over that combined gradient signal, and select the representative examples,
the ones in the high-density region. No public code exists; every choice the paper leaves open is listed
here and exposed as a constructor parameter (defaults in brackets).

Preliminary fine-tune
- `finetune` ["full"]: what the one-epoch fine-tune trains: "full" (every proxy weight; the paper
  fine-tunes the model itself), "lora" (one LoRA adapter of rank `lora_rank`, alpha `lora_alpha`, on
  `lora_target` ["c_attn"], GPT-2's fused qkv; the rest frozen), "embedding" (only the input embedding and
  the LM head, i.e. exactly the parameters whose gradients are measured), or "none" (score the raw proxy).
- `ft_lr` [5e-5], `ft_epochs` [1], `ft_batch_size` [8 examples per optimizer step], AdamW with no weight
  decay, constant learning rate, no clipping. Loss = mean over the batch of each example's token-mean loss
  over its response tokens (prompt masked), the same per-example loss whose gradients are measured.
  Data order: seeded, length-bucketed shuffle (ensemble.epoch_plan with one member). `ft_max_examples`
  [None = the whole eligible pool] fine-tunes on a seeded subset when the pool is large.
- Dropout is off (eval mode) during the fine-tune and the measurement, so scores are deterministic for a seed.

Gradient magnitudes
- g_i = gradient of example i's token-mean response loss (the same loss G-SNR uses) at the fine-tuned
  parameters, each example on its own (no batch-mean scaling).
- Parameter groups: the input embedding E (GPT-2 `wte`) and the LM head W (GPT-2 `lm_head`, plus its bias
  if it has one). Position embeddings are not included (they carry no token identity).
- Tied weights (GPT-2 ties wte and lm_head: one [V, d] matrix). Its gradient is the sum of an input-side
  part G_in (from the embedding lookup) and an output-side part G_out (from the head). `tied` ["split"]:
  "split" measures ||G_in|| and ||G_out|| as two groups, which is what the two groups are in an untied model
  (LLaMA, the paper's targets, do not tie them); "sum" uses the true gradient of the shared matrix,
  ||G_in + G_out||, as the single "embedding" magnitude. All three numbers are always written to the score
  file for tied models (`norm_wte`, `norm_lm_head`, `norm_tied`).
- How they are computed (one batched forward and one backward to the input embeddings per batch; no
  per-example backward, no per-example [V, d] gradient ever materialised):
  * input side: the per-example gradient w.r.t. E is nonzero only on the rows of the example's tokens:
    G_in[v] = sum_{t: x_t = v} e_t with e_t = dL_i/d(embedding output at t). The e_t of every row come from
    one backward of sum_i L_i to `inputs_embeds` (rows do not interact: right padding, causal attention).
    ||G_in||^2 = sum over the example's distinct tokens of ||sum of its e_t||^2 (index_add by token id).
  * output side: G_out = sum_t gz_t h_t^T over scored positions (gz_t = dL_i/dlogits_t, h_t the head input),
    so ||G_out||^2 = sum_{t,t'} (gz_t . gz_t')(h_t . h_t') (the ghost-norm identity: n^2 (V + d) flops per
    example instead of n V d and a [V, d] buffer). A head bias adds ||sum_t gz_t||^2.
  * tied sum: ||G_in + G_out||^2 = ||G_in||^2 + ||G_out||^2 + 2 <G_in, G_out>, and the cross term needs
    G_out only at the example's distinct input tokens: <S_u, (gz[:, u]^T H)> summed over distinct tokens u.
  Verified against per-example autograd in tests/test_selection_grads.py.

Density
- `feature` ["joint"]: "joint" fits the KDE on the 2-D vector (input-embedding norm, LM-head norm) ("split")
  or on the 1-D tied norm ("sum"); "total" fits it on the 1-D norm of the whole measured gradient
  (sqrt(||G_in||^2 + ||G_out||^2) with "split" or an untied model, ||G_in + G_out|| with "sum").
- `log` [True]: features are log norms (norms are positive and heavy-tailed; a Gaussian kernel on the raw
  scale spends its bandwidth on the tail).
- `standardize` ["zscore"]: per-feature "zscore" (mean/std of the eligible examples), "robust"
  (median / (IQR / 1.349)) or "none". scipy's KDE is affine-invariant (its kernel follows the data
  covariance), so this matters for the sklearn estimator only.
- `kde` ["scipy"]: scipy.stats.gaussian_kde (bandwidth = factor x data covariance; `bandwidth` "scott",
  "silverman" or a float factor) or "sklearn" (KernelDensity, isotropic Gaussian kernel; `bandwidth`
  "scott", "silverman" or a float absolute bandwidth in standardized units).
- `kde_max_points` [20000]: the KDE is fit on a seeded subsample of at most this many eligible examples
  (evaluation is O(N x fit points)), then evaluated at every eligible example.
- Score = log density of the example's feature (a monotone transform of the density, so the ranking is the
  paper's "highest density first"; the log avoids ties at an underflowed 0). Columns: norm_wte,
  norm_lm_head, [norm_tied], loss (after the fine-tune), log_density, density.
- Degenerate cases: fewer than 3 eligible examples, or a constant feature, give every eligible example
  log density 0 for the affected dimension (said in notes), never NaN.

Text: `template` ["plain", Superfiltering's "{instruction}\\n{input}\\n"] or "alpaca"; response = output
(+ EOS with `append_eos`); `max_length` [None = the run's proxy.max_length, capped by the proxy context].
Ineligible examples (empty response, prompt filling max_length, non-finite loss) get eligible=False,
score 0 and a count in notes. Memory is capped by `max_tokens` (padded tokens per pass) and `max_batch`.
Work is cached under `<workdir>/grads/<key>/` (the fine-tuned weights `ft.pt`, then `norms.npz` + DONE),
keyed by pool, proxy and every parameter that changes the norms, so an interrupted run resumes and a
re-run with only different density parameters skips the model work.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, PositiveFloat

from gsnr_bench.core.fileio import atomic_path, write_json, write_text
from gsnr_bench.selection.base import ScoreResult, SelectionContext
from gsnr_bench.selection.common import SelectorParams, as_list, cache_dir, cache_key, check_pool, report
from gsnr_bench.selection.encoding import OK, encode_pairs
from gsnr_bench.selection.grads_density import log_density, standardize_features
from gsnr_bench.selection.grads_finetune import load_trainable, preliminary_finetune, prepare_finetune
from gsnr_bench.selection.grads_norms import embedding_grad_norms
from gsnr_bench.selection.prompts import Template, prompt_fn

# the selector's public face, wherever each step lives (grads_norms.py, grads_density.py, grads_finetune.py)
__all__ = ["GradsParams", "GradsSelector", "embedding_grad_norms", "log_density", "standardize_features"]

CACHE_VERSION = 1


class GradsParams(SelectorParams):
    """GrADS's parameters (the module docstring says what each does)."""

    finetune: Literal["full", "lora", "embedding", "none"] = "full"
    ft_lr: PositiveFloat = 5e-5
    ft_epochs: int = Field(1, ge=1)
    ft_batch_size: int = Field(8, ge=1)
    ft_max_examples: int | None = None
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_target: Annotated[list[str], BeforeValidator(as_list)] = ["c_attn"]
    tied: Literal["split", "sum"] = "split"
    feature: Literal["joint", "total"] = "joint"
    log: bool = True
    standardize: Literal["zscore", "robust", "none"] = "zscore"
    kde: Literal["scipy", "sklearn"] = "scipy"
    bandwidth: Literal["scott", "silverman"] | PositiveFloat = "scott"
    kde_max_points: int | None = 20000
    template: Template = "plain"
    append_eos: bool = False
    max_length: int | None = None
    max_tokens: int = Field(2048, ge=8)
    max_batch: int = Field(16, ge=1)
    seed: int | None = None


# what the density step reads: changing only these reuses the cached norms
DENSITY = frozenset({"tied", "feature", "log", "standardize", "kde", "bandwidth", "kde_max_points"})
BATCHING = frozenset({"max_tokens", "max_batch"})  # memory only: the norms are the same


class GradsSelector:
    name = "grads"
    uses_proxy = True
    Params = GradsParams

    def __init__(self, *, device: str | None = None, **params: Any):
        self.device = device
        self.params = GradsParams.parse("grads", params)

    # ---------------------------------------------------------------- cache
    def cache_key(self, ctx: SelectionContext) -> dict[str, Any]:
        p = self.params.model_dump(exclude=DENSITY | BATCHING)
        p["seed"] = ctx.seed if p["seed"] is None else p["seed"]
        p["max_length"] = p["max_length"] or ctx.max_length
        return cache_key(CACHE_VERSION, p, ctx)

    def cache_dir(self, ctx: SelectionContext, key: dict[str, Any]) -> Path:
        return cache_dir(ctx.workdir, "grads", key)

    # ---------------------------------------------------------------- scoring
    def score(self, ctx: SelectionContext) -> ScoreResult:
        check_pool(ctx.pool)
        key = self.cache_key(ctx)
        d = self.cache_dir(ctx, key)
        notes: dict[str, Any] = {"cache": str(d), "finetune": self.params.finetune}
        if (d / "DONE").exists():
            with np.load(d / "norms.npz") as z:
                stats = {k: z[k].astype(np.float64) for k in z.files}
            meta = json.loads((d / "meta.json").read_text())
            status, tied = meta["status"], meta["tied"]
            notes["cache_hit"] = True
        else:
            stats, status, tied = self._measure(ctx, key, d)
            notes["cache_hit"] = False
        return self._result(ctx, stats, status, tied, notes, key["params"]["seed"])

    def _measure(self, ctx, key, d: Path):

        from gsnr_bench.selection.proxy import context_limit, load_proxy

        p = key["params"]
        tok, model, pad_id, dev = load_proxy(ctx.proxy, self.device or ctx.device, "float32")
        head, emb = model.get_output_embeddings(), model.get_input_embeddings()
        tied = head.weight is emb.weight
        fmt = prompt_fn(p["template"])
        enc = encode_pairs(
            tok,
            [fmt(e) for e in ctx.pool],
            [e.output for e in ctx.pool],
            context_limit(model, p["max_length"]),
            append_eos=p["append_eos"],
        )
        d.mkdir(parents=True, exist_ok=True)
        write_json(
            d / "meta.json", {"key": key, "ids": [e.id for e in ctx.pool], "status": enc.status, "tied": bool(tied)}
        )
        idx = enc.ok()
        stats = {k: np.full(len(enc), np.nan) for k in ("sq_in", "sq_out", "cross", "loss")}
        if idx:
            self._finetune(ctx, p, model, enc, idx, pad_id, dev, d / "ft.pt")
            for prm in model.parameters():
                prm.requires_grad_(False)
            stats = embedding_grad_norms(
                model,
                enc,
                idx,
                pad_id=pad_id,
                device=dev,
                max_tokens=self.params.max_tokens,
                max_batch=self.params.max_batch,
                progress=lambda a, b: report(ctx.progress, "grads: gradient norms", a, b),
            )
        with atomic_path(d / "norms.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **stats)
        write_text(d / "DONE", "ok\n")
        return stats, enc.status, bool(tied)

    def _finetune(self, ctx, p: dict[str, Any], model, enc, idx: list[int], pad_id: int, dev, ft: Path) -> None:
        """The preliminary fine-tune, or its trained parameters read back from `ft` (saved there when done)."""
        import torch

        torch.manual_seed(p["seed"])
        trainable = prepare_finetune(model, p, ctx.proxy)
        if ft.exists():
            load_trainable(model, trainable, torch.load(ft, map_location="cpu", weights_only=True))
            return
        if p["finetune"] == "none":
            return
        ft_idx = idx
        if p["ft_max_examples"] is not None and len(idx) > p["ft_max_examples"]:
            rng = np.random.default_rng([p["seed"], 17])
            ft_idx = sorted(rng.choice(idx, size=p["ft_max_examples"], replace=False).tolist())
        preliminary_finetune(
            model,
            trainable,
            enc,
            ft_idx,
            pad_id=pad_id,
            device=dev,
            lr=p["ft_lr"],
            epochs=p["ft_epochs"],
            batch_size=p["ft_batch_size"],
            seed=p["seed"],
            max_tokens=self.params.max_tokens,
            progress=lambda a, b: report(ctx.progress, "grads: preliminary fine-tune", a, b),
        )
        with atomic_path(ft) as tmp:
            torch.save({k: v.detach().cpu() for k, v in trainable.items()}, tmp)

    def _result(self, ctx, stats, status, tied: bool, notes: dict, seed: int) -> ScoreResult:
        q = self.params
        ok = np.array([s == OK for s in status])
        for s in status:
            if s != OK:
                notes[f"skipped_{s}"] = notes.get(f"skipped_{s}", 0) + 1
        n_in, n_out, n_tied = _norms(stats)
        F = self._features(stats, tied, n_in, n_out, n_tied)
        good = ok & np.isfinite(F).all(1) & np.isfinite(stats["loss"])
        if q.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                pos = F[good] > 0
                floor = F[good][pos].min() if pos.any() else 1.0
                F = np.log(np.maximum(F, floor))
        nonfinite = int((ok & ~good).sum())
        if nonfinite:
            notes["skipped_nonfinite_loss"] = nonfinite
        Z = standardize_features(F[good], q.standardize)
        ld_good, kde_notes = log_density(Z, kde=q.kde, bandwidth=q.bandwidth, max_points=q.kde_max_points, seed=seed)
        notes.update(kde_notes)
        ld = np.zeros(len(ctx.pool))
        ld[good] = ld_good
        notes["eligible"] = int(good.sum())
        notes["features"] = (
            (["norm_tied"] if (tied and q.tied == "sum") else ["norm_wte", "norm_lm_head"])
            if q.feature == "joint"
            else ["norm_total"]
        )
        return ScoreResult(
            ids=[e.id for e in ctx.pool],
            scores=[float(x) if g else 0.0 for x, g in zip(ld, good)],
            eligible=good.tolist(),
            columns=_columns(stats, ld, good, tied, n_in, n_out, n_tied),
            notes=notes,
        )

    def _features(self, stats, tied: bool, n_in, n_out, n_tied) -> np.ndarray:
        """The KDE's features [N, 1 or 2] before the log: `feature` x `tied` (the module docstring)."""
        q = self.params
        if q.feature == "joint":
            return np.stack([n_tied] if (tied and q.tied == "sum") else [n_in, n_out], axis=1)
        return (n_tied if (tied and q.tied == "sum") else np.sqrt(stats["sq_in"] + stats["sq_out"]))[:, None]


def _norms(stats: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(||G_in||, ||G_out||, ||G_in + G_out||) from the squared norms and the cross term."""
    n_in = np.sqrt(np.maximum(stats["sq_in"], 0))
    n_out = np.sqrt(np.maximum(stats["sq_out"], 0))
    n_tied = np.sqrt(np.maximum(stats["sq_in"] + stats["sq_out"] + 2 * stats["cross"], 0))
    return n_in, n_out, n_tied


def _columns(stats, ld, good, tied: bool, n_in, n_out, n_tied) -> dict[str, list]:
    """The score file's columns; None where the example is not eligible or the value is not finite."""
    clean = lambda a: [float(x) if (g and math.isfinite(x)) else None for x, g in zip(a, good)]  # noqa: E731
    cols: dict[str, list] = {"norm_wte": clean(n_in), "norm_lm_head": clean(n_out)}
    if tied:
        cols["norm_tied"] = clean(n_tied)
    cols["loss"] = clean(stats["loss"])
    cols["log_density"] = clean(ld)
    cols["density"] = clean(np.exp(ld))
    return cols
