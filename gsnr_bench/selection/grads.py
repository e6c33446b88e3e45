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
from typing import Annotated, Any, Callable, Literal

import numpy as np
from pydantic import BeforeValidator, Field, PositiveFloat

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import atomic_path, write_json, write_text
from gsnr_bench.selection.base import ScoreResult, SelectionContext
from gsnr_bench.selection.common import SelectorParams, as_list, cache_dir, cache_key, check_pool, report
from gsnr_bench.selection.encoding import OK, Encoded, encode_pairs
from gsnr_bench.selection.prompts import Template, prompt_fn

CACHE_VERSION = 1


# --------------------------------------------------------------------------- per-example norms
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
    import torch

    from gsnr_bench.selection.losses import padded_batches, trunk_and_head

    trunk, head = trunk_and_head(model)
    emb_mod = model.get_input_embeddings()
    tied = head.weight is emb_mod.weight or head.weight.data_ptr() == emb_mod.weight.data_ptr()
    bias = getattr(head, "bias", None)
    n = len(enc)
    out = {k: np.full(n, np.nan) for k in ("sq_in", "sq_out", "cross", "loss")}
    done = 0
    for members, ids, rows, pos in padded_batches(enc, idx, pad_id, device, max_tokens, max_batch):
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
                G, H = gz[starts[r] : ends[r]], h[starts[r] : ends[r]]  # [n, V], [n, d]
                sq_out = ((G @ G.t()).double() * (H @ H.t()).double()).sum()
                if bias is not None:
                    sq_out = sq_out + G.sum(0).double().square().sum()
                x = ids[r, : len(enc.ids[i])]
                uniq, inv = torch.unique(x, return_inverse=True)
                S = torch.zeros(len(uniq), e.shape[-1], device=e.device).index_add_(0, inv, e[r, : len(x)])
                sq_in = S.double().square().sum()
                cross = (
                    (S.double() * (G[:, uniq].t() @ H).double()).sum() if tied else torch.zeros((), dtype=torch.float64)
                )
                out["sq_in"][i], out["sq_out"][i] = float(sq_in), float(sq_out)
                out["cross"][i], out["loss"][i] = float(cross), float(losses[r])
        done += nb
        if progress:
            progress(done, len(idx))
    return out


# --------------------------------------------------------------------------- density
def log_density(
    X: np.ndarray, *, kde: str = "scipy", bandwidth: Any = "scott", max_points: int | None = 20000, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Log density of each row of X [N, d] under a Gaussian KDE fit on (a seeded subsample of) X.
    Constant columns are dropped (they carry no density information); with fewer than 3 rows or no varying
    column every row gets 0. Never NaN."""
    X = np.asarray(X, dtype=np.float64)
    notes: dict[str, Any] = {}
    N = X.shape[0]
    if N == 0:
        return np.zeros(0), notes
    keep = np.ptp(X, axis=0) > 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0))
    if N < 3 or not keep.any():
        notes["kde_degenerate"] = "fewer than 3 eligible examples" if N < 3 else "constant features"
        return np.zeros(N), notes
    if not keep.all():
        notes["kde_dropped_constant_dims"] = int((~keep).sum())
    X = X[:, keep]
    fit = X
    if max_points is not None and N > max_points:
        fit = X[np.sort(np.random.default_rng(seed).choice(N, size=max_points, replace=False))]
        notes["kde_fit_points"] = int(max_points)
    if kde == "scipy":
        from scipy.stats import gaussian_kde

        try:
            est = gaussian_kde(fit.T, bw_method=bandwidth)
            ld = est.logpdf(X.T)
        except np.linalg.LinAlgError:  # collinear features: fall back to the first varying one
            est = gaussian_kde(fit[:, 0], bw_method=bandwidth)
            ld = est.logpdf(X[:, 0])
            notes["kde_singular_covariance"] = True
        notes["kde_bandwidth_factor"] = float(est.factor)
    elif kde == "sklearn":
        from sklearn.neighbors import KernelDensity

        est = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(fit)
        ld = est.score_samples(X)
        notes["kde_bandwidth"] = float(est.bandwidth_)
    else:
        raise ConfigError(f"grads: kde must be 'scipy' or 'sklearn', not {kde!r}")
    ld = np.asarray(ld, dtype=np.float64)
    lo = np.min(ld[np.isfinite(ld)]) if np.isfinite(ld).any() else 0.0
    return np.where(np.isfinite(ld), ld, lo), notes  # -inf (underflow far out) -> the lowest finite value


def standardize_features(F: np.ndarray, how: str) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if how == "none" or F.shape[0] == 0:
        return F
    if how == "zscore":
        c, s = F.mean(0), F.std(0)
    elif how == "robust":
        q1, med, q3 = np.percentile(F, [25, 50, 75], axis=0)
        c, s = med, (q3 - q1) / 1.349
    else:
        raise ConfigError(f"grads: standardize must be 'zscore', 'robust' or 'none', not {how!r}")
    return (F - c) / np.where(s > 0, s, 1.0)


# --------------------------------------------------------------------------- the selector
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
        import torch

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
            torch.manual_seed(p["seed"])
            trainable = prepare_finetune(model, p, ctx.proxy)
            ft = d / "ft.pt"
            if ft.exists():
                load_trainable(model, trainable, torch.load(ft, map_location="cpu", weights_only=True))
            elif p["finetune"] != "none":
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

    def _result(self, ctx, stats, status, tied: bool, notes: dict, seed: int) -> ScoreResult:
        q = self.params
        n = len(ctx.pool)
        ok = np.array([s == OK for s in status])
        for s in status:
            if s != OK:
                notes[f"skipped_{s}"] = notes.get(f"skipped_{s}", 0) + 1
        n_in = np.sqrt(np.maximum(stats["sq_in"], 0))
        n_out = np.sqrt(np.maximum(stats["sq_out"], 0))
        n_tied = np.sqrt(np.maximum(stats["sq_in"] + stats["sq_out"] + 2 * stats["cross"], 0))
        if q.feature == "joint":
            F = np.stack([n_tied] if (tied and q.tied == "sum") else [n_in, n_out], axis=1)
        else:
            F = (n_tied if (tied and q.tied == "sum") else np.sqrt(stats["sq_in"] + stats["sq_out"]))[:, None]
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
        ld = np.zeros(n)
        ld[good] = ld_good
        notes["eligible"] = int(good.sum())
        notes["features"] = (
            (["norm_tied"] if (tied and q.tied == "sum") else ["norm_wte", "norm_lm_head"])
            if q.feature == "joint"
            else ["norm_total"]
        )
        clean = lambda a: [float(x) if (g and math.isfinite(x)) else None for x, g in zip(a, good)]  # noqa: E731
        cols: dict[str, list] = {"norm_wte": clean(n_in), "norm_lm_head": clean(n_out)}
        if tied:
            cols["norm_tied"] = clean(n_tied)
        cols["loss"] = clean(stats["loss"])
        cols["log_density"] = clean(ld)
        cols["density"] = clean(np.exp(ld))
        return ScoreResult(
            ids=[e.id for e in ctx.pool],
            scores=[float(x) if g else 0.0 for x, g in zip(ld, good)],
            eligible=good.tolist(),
            columns=cols,
            notes=notes,
        )


# --------------------------------------------------------------------------- the preliminary fine-tune
def prepare_finetune(model, p: dict[str, Any], proxy_name: str = "proxy") -> dict[str, Any]:
    """Mark the parameters the fine-tune trains; -> {name: parameter} (LoRA: attaches one adapter)."""
    mode = p["finetune"]
    for prm in model.parameters():
        prm.requires_grad_(False)
    if mode == "none":
        return {}
    if mode == "full":
        out = dict(model.named_parameters())  # tied weights appear once
    elif mode == "embedding":
        emb, head = model.get_input_embeddings(), model.get_output_embeddings()
        out = {"input_embeddings": emb.weight}
        if head.weight is not emb.weight:
            out["output_embeddings"] = head.weight
        if getattr(head, "bias", None) is not None:
            out["output_bias"] = head.bias
    else:
        from gsnr_bench.selection.lora import attach

        layers, _ = attach(
            model,
            p["lora_target"],
            1,
            p["lora_rank"],
            p["lora_alpha"],
            seed=p["seed"],
            proxy_name=f"proxy {proxy_name!r}",
        )
        out = {f"lora{i}.{k}": getattr(l, k) for i, l in enumerate(layers) for k in ("A", "B")}
    for prm in out.values():
        prm.requires_grad_(True)
    return out


def load_trainable(model, trainable: dict[str, Any], state: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for k, prm in trainable.items():
            prm.copy_(state[k])


def preliminary_finetune(
    model,
    trainable: dict[str, Any],
    enc: Encoded,
    idx: list[int],
    *,
    pad_id: int,
    device: Any,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
    max_tokens: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """AdamW (no weight decay, constant lr) on the mean of per-example token-mean response losses, dropout
    off, seeded length-bucketed order; steps larger than max_tokens padded tokens are split into
    micro-batches (gradient accumulation). -> the per-step losses."""
    import torch

    from gsnr_bench.selection.ensemble import EngineConfig, epoch_plan
    from gsnr_bench.selection.losses import example_mean_losses, pad_right, scored_positions, trunk_and_head

    trunk, head = trunk_and_head(model)
    params = list({id(v): v for v in trainable.values()}.values())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    lengths = [len(s) for s in enc.ids]
    cfg = EngineConfig(members=1, batch_size=batch_size, seed=seed, epochs=epochs, record_epochs=[])
    plan = [(e, step[0]) for e in range(1, epochs + 1) for step in epoch_plan(idx, lengths, cfg, e)]
    hist = []
    for k, (_, batch) in enumerate(plan):
        T = max(lengths[i] for i in batch)
        chunk = max(1, max_tokens // max(1, T))
        total = 0.0
        for c0 in range(0, len(batch), chunk):
            part = batch[c0 : c0 + chunk]
            seqs = [enc.ids[i] for i in part]
            ids = pad_right(seqs, pad_id, device)
            rows, pos = scored_positions(seqs, [enc.start[i] for i in part], device)
            losses = example_mean_losses(trunk(input_ids=ids)[0], head, ids, rows, pos, len(part))
            losses = torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses))
            (losses.sum() / len(batch)).backward()
            total += float(losses.detach().sum())
        opt.step()
        opt.zero_grad(set_to_none=True)
        hist.append(total / len(batch))
        if progress:
            progress(k + 1, len(plan))
    return hist
