"""Selector scoring throughput, measured side by side in one run on the same data and proxy.

    .venv/bin/python bench/scoring.py [--examples 192] [--repeats 2] [--members 5] [--batch-size 4]
                                      [--bucket-batches 2] [--max-length 512] [--threads N] [--model-vocab V]

Proxy: a random-init 4-layer GPT-2 (n_embd 256, 4 heads, 1024 positions) with a byte-level BPE (8192 tokens)
trained locally on the pool texts; nothing is downloaded. `--model-vocab 50257` gives the model GPT-2's
embedding and LM-head size instead. Data: the first --examples records of ../shared/data/alpaca_sample.json
when present (real Alpaca lengths), else tiny_pool. Prompt: Superfiltering's plain template (G-SNR's
default), max length --max-length.

Timing: rows that are compared do the same work and are interleaved so that they share the machine's moments.
plain, gsnr and naive are three copies of one ensemble (same init) training the same epoch plan (same
examples, same members, same steps), one step of each in turn with the order rotating; each row's step times
are summed. ifd and ifd_bs1 alternate the same way, length batch by length batch. A 2-core VM here drifts by
10-20% from one minute to the next: timed one after the other (as this script did before), gsnr/naive ranged
1.35-2.04 over sessions and 1.57-1.93 over three consecutive runs of one build; interleaved, both sides see
the same drift. A short untimed warm-up comes first (first-seen shapes are slow on CPU); --repeats full epochs
are timed with fresh ensembles, and the per-repeat ratios are printed next to the overall one. The naive
loop's norms are checked against the G-SNR engine's (same parameters at every step): the printed maximum
relative difference shows the two rows did the same job. The process runs with cpu_malloc's setting, as every
CPU stage of gsnr-bench does; GSNR_BENCH_MALLOC=system measures without it.
Padding: the engine's length buckets hold batch_size * bucket_batches examples. On a pool of a few hundred
the buckets span a wide length range (bucket_batches 8 pads 1.32x here at 192 examples, 1.04x at 2,000; the
selector runs on 52k), so the bench uses --bucket-batches 2 (1.08x at 192) to reproduce a large pool's padding.
Padded tokens are not counted as useful work either way; the table shows the padding factor.

Rows (each an epoch-equivalent over the same pool, every member seeing every example once):
  gsnr        the G-SNR engine's training epoch with in-pass per-example norms (Ensemble.train_epoch collect=True)
  plain       the same ensemble, same init and data order, trained without norms (collect=False)
  naive       one forward + backward per example per member (the LoRA layers in "reference" autograd mode,
              Hugging Face's labels loss), the member's norm read from its parameter gradients, gradients
              accumulated and one Adam step per batch: the same job done the naive way
  ifd         batched, length-bucketed IFD losses (losses.mean_losses; conditioned + answer-alone)
  ifd_bs1     the batch-size-1 reference (losses.mean_losses_bs1, Hugging Face's labels loss)
Compared rows do the same work, so their ratios of tokens/s, examples/s and seconds are equal. Goals:
gsnr/plain >= 0.9, gsnr/naive >= 1.8, ifd/ifd_bs1 >= 1.5, gsnr GFLOP/s >= 40% of the matmul rate.

FLOP count (useful work only; padding and recomputation are not counted, so they count against a row).
Per real token of a sequence of length L, with d = n_embd, n_layer layers, V vocab, r LoRA rank, for one
member's pass:
  linear layers, forward       2 * P_lin            P_lin = n_layer * 12 d^2 (qkv 3d^2, proj d^2, MLP 8d^2)
  attention, forward           4 * d * n_layer * (t+1) at position t (QK^T and AV over the causal prefix)
  LM head, forward             2 * V * d            at scored (response) positions only
  training backward            frozen weights need only input gradients: 2 * P_lin, attention 2x its forward,
                               LM head 2 * V * d at scored positions; LoRA on c_attn (in d, out 3d): forward
                               2(d r + r 3d), backward 4(d r + r 3d) (input grads + weight grads)
  norms (gsnr only)            per-example LoRA gradients are the weight grads above, formed per example:
                               no extra matmul FLOPs beyond the squares (counted as 0)
So fwd+bwd = 4 P_lin + 12 d n_layer (t+1) + 4 V d [scored] + 6 * 4 d r per token and member; IFD rows count the
forward terms only (2 P_lin + 4 d n_layer (t+1) + 2 V d [scored]). The usual "6 x params x tokens" would
overstate this work (a frozen backbone computes no weight gradients) and is not used. The matmul rate is the
best of several plain fp32 torch.mm runs (2048 x 2048) in the same process.
Results print as a table and go to bench/out/scoring.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/tiny_models.py: the tiny pool
DATA = ROOT.parent / "shared" / "data" / "alpaca_sample.json"


def load_pool(n: int):
    from gsnr_bench.domain.records import Example

    from tiny_models import tiny_pool  # tests/tiny_models.py

    if DATA.exists():
        recs = json.loads(DATA.read_text(encoding="utf-8"))[:n]
        return [
            Example(f"a{i}", r["instruction"], r.get("input", ""), r["output"]) for i, r in enumerate(recs)
        ], f"alpaca_sample.json[:{n}]"
    return tiny_pool(n, seed=0, max_words=120), "tiny_pool"


def build_proxy(
    path: Path,
    texts: list[str],
    *,
    vocab: int = 8192,
    model_vocab: int = 0,
    n_layer: int = 4,
    n_embd: int = 256,
    n_head: int = 4,
    seed: int = 0,
) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tok.save_pretrained(path)
    torch.manual_seed(seed)
    # --model-vocab 50257 keeps GPT-2's embedding/LM-head size (the tokenizer uses the first rows)
    cfg = GPT2Config(
        vocab_size=max(len(tok), model_vocab),
        n_positions=1024,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        activation_function="gelu_new",
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


def ifd_parts(sel, tok, pool, max_length: int, fl) -> tuple[int, float, list]:
    """IFD's batches as the selector forms them (pair and answer-alone encodings, length-bucketed), with their
    token count and forward FLOPs: what the batched-vs-batch-size-1 rows of the benches time."""
    from gsnr_bench.selection.encoding import Encoded
    from gsnr_bench.selection.losses import length_batches

    cond, alone = sel.encode(tok, pool, max_length)
    ifd_tok = sum(len(e.ids[i]) for e in (cond, alone) for i in e.ok())
    ifd_fl = sum(fl.seq(len(e.ids[i]), e.n_scored(i), train=False) for e in (cond, alone) for i in e.ok())
    parts = []
    for e in (cond, alone):
        ok = e.ok()
        for b in length_batches([len(e.ids[i]) for i in ok], sel.max_tokens, sel.max_batch):
            sub = [ok[j] for j in b]
            parts.append(Encoded([e.ids[i] for i in sub], [e.start[i] for i in sub], [e.status[i] for i in sub]))
    return ifd_tok, ifd_fl, parts


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


class Flops:
    """The documented per-token count (module docstring)."""

    def __init__(self, cfg, rank: int):
        self.d, self.L, self.V, self.r = cfg.n_embd, cfg.n_layer, cfg.vocab_size, rank
        self.P = self.L * 12 * self.d**2

    def seq(self, length: int, scored: int, *, train: bool, lora: bool = True) -> float:
        d, L = self.d, self.L
        attn = 4 * d * L * sum(t + 1 for t in range(length))
        fwd = 2 * self.P * length + attn + 2 * self.V * d * scored
        if not train:
            return fwd
        lo = (2 * (d * self.r + self.r * 3 * d) * L * length) * 3 if lora else 0  # fwd 1x + bwd 2x
        return 2 * fwd + attn + lo  # backward: linear/head dX = 1x fwd, attention 2x fwd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=192)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--bucket-batches", type=int, default=2)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4, help="examples per member per step")
    ap.add_argument("--max-tokens", type=int, default=None, help="padded tokens per stacked pass (engine default)")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--model-vocab", type=int, default=0, help="LM-head rows if above the tokenizer's (GPT-2: 50257)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scoring.json")
    a = ap.parse_args()

    import numpy as np
    import torch
    from transformers.utils import logging as hf_logging

    from gsnr_bench.core.cpu_malloc import keep_freed_memory
    from gsnr_bench.selection.encoding import encode_pairs
    from gsnr_bench.selection.ensemble import EngineConfig, Ensemble
    from gsnr_bench.selection.ifd import SuperfilteringIfd
    from gsnr_bench.selection.lora import attach
    from gsnr_bench.selection.losses import mean_losses, mean_losses_bs1
    from gsnr_bench.selection.prompts import plain_prompt
    from gsnr_bench.selection.proxy import load_proxy

    hf_logging.disable_progress_bar()  # a bar per model load would bury the table
    if a.threads:
        torch.set_num_threads(a.threads)
    pool, source = load_pool(a.examples)
    M, rank = a.members, 8
    with tempfile.TemporaryDirectory() as tmp:
        texts = [f"{e.instruction}\n{e.input}\n{e.output}" for e in load_pool(2000)[0]]
        proxy = str(build_proxy(Path(tmp) / "proxy", texts, model_vocab=a.model_vocab))
        tok, model, pad, dev = load_proxy(proxy)
        cfgm = model.config
        enc = encode_pairs(tok, [plain_prompt(e) for e in pool], [e.output for e in pool], a.max_length)
        idx = enc.ok()
        lens = [len(enc.ids[i]) for i in idx]
        scored = [enc.n_scored(i) for i in idx]
        fl = Flops(cfgm, rank)
        seq_train = sum(fl.seq(len(enc.ids[i]), enc.n_scored(i), train=True) for i in idx)
        peak = matmul_gflops()
        print(
            f"torch {torch.__version__} threads={torch.get_num_threads()} data={source} examples={len(idx)} "
            f"tokens/example mean={np.mean(lens):.0f} max={max(lens)} scored mean={np.mean(scored):.0f}"
        )
        malloc = keep_freed_memory()
        print(
            f"malloc: {'freed memory kept in process (core/cpu_malloc.py)' if malloc else 'system default'}; "
            "GSNR_BENCH_MALLOC=system measures without"
        )
        print(
            f"proxy: GPT-2 n_layer={cfgm.n_layer} n_embd={cfgm.n_embd} vocab={cfgm.vocab_size}; "
            f"LoRA members={M} rank={rank} on c_attn; batch {a.batch_size}/member; fp32 matmul {peak:.1f} GFLOP/s"
        )

        def ensemble(seed=0):
            torch.manual_seed(seed)
            _, mdl, _, _ = load_proxy(proxy)
            layers, sink = attach(mdl, ["c_attn"], M, rank, 16.0, seed=seed)
            kw = {} if a.max_tokens is None else {"max_tokens": a.max_tokens}
            cfg = EngineConfig(
                members=M,
                rank=rank,
                alpha=16.0,
                lr=5e-5,
                epochs=1,
                batch_size=a.batch_size,
                record_epochs=[1],
                bucket_batches=a.bucket_batches,
                **kw,
            )
            return mdl, layers, Ensemble(mdl, layers, sink, cfg, pad, dev)

        rows = {}

        def record(name, secs, n_ex, toks, flops, note=""):
            rows[name] = {
                "seconds": secs,
                "examples_per_s": n_ex / secs,
                "tokens_per_s": toks / secs,
                "gflops_per_s": flops / secs / 1e9,
                "pct_of_matmul": 100 * flops / secs / 1e9 / peak,
                "note": note,
            }

        from gsnr_bench.selection.ensemble import epoch_plan

        def naive_step(mdl, layers, ens, batch):
            """One forward + backward per example per member; the member's norm read from its gradient;
            gradients accumulated as the engine's mean-of-member-means loss, one Adam step per batch."""
            M, b = len(batch), len(batch[0])
            params = [p for l in layers for p in (l.A, l.B)]
            norms = np.empty((M, b))
            for m, mb in enumerate(batch):
                for l in layers:
                    l.active = m
                for j, i in enumerate(mb):
                    ids = torch.tensor([enc.ids[i]])
                    labels = ids.clone()
                    labels[0, : enc.start[i]] = -100
                    grads = torch.autograd.grad(mdl(input_ids=ids, labels=labels).loss, params)
                    norms[m, j] = float(torch.sqrt(sum(g[m].square().sum() for g in grads)))
                    for p, g in zip(params, grads):
                        p.grad = g / (M * b) if p.grad is None else p.grad + g / (M * b)
            ens.opt.step()
            ens.opt.zero_grad(set_to_none=True)
            return norms

        # G-SNR, plain and naive: three copies of the same ensemble (same init) train the same epoch plan,
        # interleaved step by step (the order rotating), so all three see the same data and the same moments
        # of background load; their summed step times are compared.
        plan = epoch_plan(idx, [len(s) for s in enc.ids], ensemble()[2].cfg, 1)
        tok_all = sum(lens) * M
        padded = sum(M * a.batch_size * max(len(enc.ids[i]) for mb in st for i in mb) for st in plan)
        names = ("plain", "gsnr", "naive")
        secs = {n: [] for n in names}
        norm_err = 0.0
        for rep in range(a.repeats + 1):  # repeat 0 warms up (first-seen shapes are slow on CPU), untimed
            runs = {n: ensemble() for n in names}
            for l in runs["naive"][1]:
                l.mode = "reference"
            t_rep = {n: 0.0 for n in names}
            got = {n: np.full((M, len(enc)), np.nan) for n in ("gsnr", "naive")}
            steps = plan if rep else plan[:4]
            for k, batch in enumerate(steps):
                for n in names[k % 3 :] + names[: k % 3]:
                    mdl, layers, ens = runs[n]
                    t = time.perf_counter()
                    if n == "naive":
                        sq = naive_step(mdl, layers, ens, batch) ** 2
                    else:
                        _, sq = ens.step(enc, batch, collect=n == "gsnr", update=True)
                    t_rep[n] += time.perf_counter() - t
                    if n in got:
                        for m, mb in enumerate(batch):
                            got[n][m, mb] = np.sqrt(sq[m])
            if rep:
                for n in names:
                    secs[n].append(t_rep[n])
                seen = np.isfinite(got["gsnr"])
                norm_err = max(norm_err, float(np.max(np.abs(got["gsnr"] - got["naive"])[seen] / got["naive"][seen])))
        peak = max(peak, matmul_gflops())  # again after the timed epochs: the best of both is the machine's rate
        rows_fl = M * seq_train
        notes = {
            "plain": "epoch, same engine, no norms",
            "gsnr": "epoch, in-pass per-example norms",
            "naive": "epoch, 1 fwd+bwd per example per member",
        }
        for n in names:
            record(
                n,
                sum(secs[n]) / a.repeats,
                len(idx),
                tok_all,
                rows_fl,
                f"{notes[n]}, padding {padded / tok_all:.2f}x" if n != "naive" else notes[n],
            )
        per_rep = {
            f"{x}/{y}": [round(sy / sx, 3) for sx, sy in zip(secs[x], secs[y])]
            for x, y in (("gsnr", "plain"), ("gsnr", "naive"))
        }

        # IFD: batched vs batch size 1, interleaved batch by batch on the same examples

        sel = SuperfilteringIfd(max_length=a.max_length)
        ifd_tok, ifd_fl, parts = ifd_parts(sel, tok, pool, a.max_length, fl)
        t_ifd = {"ifd": [], "ifd_bs1": []}
        for rep in range(a.repeats + 1):
            tot = {"ifd": 0.0, "ifd_bs1": 0.0}
            for k, part in enumerate(parts if rep else parts[:2]):
                for n in ("ifd", "ifd_bs1") if k % 2 else ("ifd_bs1", "ifd"):
                    t = time.perf_counter()
                    if n == "ifd":
                        x = mean_losses(model, part, pad_id=pad, max_tokens=sel.max_tokens, max_batch=sel.max_batch)
                    else:
                        y = mean_losses_bs1(model, part)
                    tot[n] += time.perf_counter() - t
                np.testing.assert_allclose(x, y, rtol=1e-4)
            if rep:
                for n in tot:
                    t_ifd[n].append(tot[n])
        record(
            "ifd",
            sum(t_ifd["ifd"]) / a.repeats,
            len(pool),
            ifd_tok,
            ifd_fl,
            f"batched, max_tokens={sel.max_tokens} max_batch={sel.max_batch}",
        )
        record("ifd_bs1", sum(t_ifd["ifd_bs1"]) / a.repeats, len(pool), ifd_tok, ifd_fl, "batch size 1, HF labels loss")
        per_rep["ifd/ifd_bs1"] = [round(y / x, 3) for x, y in zip(t_ifd["ifd"], t_ifd["ifd_bs1"])]

    # every row did the same work (same examples, same epoch plan), so ratios of rates are ratios of seconds
    ratios = {
        "gsnr/plain": (rows["gsnr"]["tokens_per_s"] / rows["plain"]["tokens_per_s"], 0.9),
        "gsnr/naive": (rows["gsnr"]["tokens_per_s"] / rows["naive"]["tokens_per_s"], 1.8),
        "ifd/ifd_bs1": (rows["ifd"]["tokens_per_s"] / rows["ifd_bs1"]["tokens_per_s"], 1.5),
        "gsnr GFLOP/s / matmul": (rows["gsnr"]["gflops_per_s"] / peak, 0.4),
    }
    print(f"\n{'row':<9s} {'seconds':>8s} {'examples/s':>11s} {'tokens/s':>10s} {'GFLOP/s':>8s} {'%matmul':>8s}  note")
    for name, r in rows.items():
        print(
            f"{name:<9s} {r['seconds']:8.2f} {r['examples_per_s']:11.2f} {r['tokens_per_s']:10.0f} "
            f"{r['gflops_per_s']:8.1f} {r['pct_of_matmul']:7.1f}%  {r['note']}"
        )
    print(
        f"{'matmul':<9s} {'':>8s} {'':>11s} {'':>10s} {peak:8.1f} {100.0:7.1f}%  fp32 torch.mm 2048^3, "
        "best of 10 (5 before, 5 after the epochs)"
    )
    print()
    for k, (v, goal) in ratios.items():
        reps = f"   per repeat {per_rep[k]}" if k in per_rep else ""
        print(f"{k:<24s} {v:6.2f}   goal >= {goal:<4}  {'met' if v >= goal else 'MISSED'}{reps}")
    print(f"same job: G-SNR in-pass norms vs the naive loop's, max relative difference {norm_err:.1e}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(
        json.dumps(
            {
                "config": {
                    **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                    "data": source,
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "proxy": {"n_layer": cfgm.n_layer, "n_embd": cfgm.n_embd, "vocab": cfgm.vocab_size},
                },
                "matmul_gflops": peak,
                "rows": rows,
                "per_repeat": per_rep,
                "norm_max_rel_diff": norm_err,
                "malloc_tuned": malloc,
                "ratios": {k: {"value": v, "goal": g, "met": v >= g} for k, (v, g) in ratios.items()},
            },
            indent=2,
        )
    )
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
