"""Scoring at growing pool sizes: is time linear in the pool and memory bounded by the model and batch?

    .venv/bin/python bench/scale.py [--sizes 1000 4000 16000] [--selectors gsnr ifd-superfiltering]

Pool: ../shared/data/alpaca_sample.json (2,000 real Alpaca records), cycled with distinct ids (`a<i>`) to the
size asked (so 4k and 16k repeat the real length distribution), else the synthetic tiny_pool. Proxy: the demo's
size (configs/demo.yaml + DemoConfig: GPT-2, 2 layers, n_embd 64, 2 heads, 512 positions, a 1,024-token
byte-level BPE trained here on the pool text), random init (scoring cost does not depend on the weights);
proxy.max_length 256 as in the demo. Selectors run with their shipped parameters (the demo's G-SNR lr 1e-3).

Each (selector, size) runs in a fresh subprocess, so its peak RSS (getrusage ru_maxrss) is its own; the worker
also reports its RSS just before scoring (interpreter, torch, proxy and pool loaded), so `peak - before` is what
scoring itself added. Printed per size: seconds, seconds per 1k records, the ratio of s/1k to the smallest
size's (1.00 = linear; goal within 10%), the same for the process's CPU seconds (all threads: on a shared
machine other users' load stretches wall time from one minute to the next, CPU time much less), RSS before /
peak, and the extrapolation of the largest size's s/1k
to 52,002 records (the Alpaca pool). Writes bench/out/scale.json (a later invocation with other --selectors
keeps the earlier ones' entries). Threads: torch's default (all cores).

The README rows were measured on a quiet 2-core machine with `--selectors gsnr ifd-superfiltering --sizes 1000
4000 16000` (about 8 minutes in all); under other users' load both times and their ratios scatter by +-30%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/tiny_models.py: the tiny pool
DATA = ROOT.parent / "shared" / "data" / "alpaca_sample.json"
OUT = Path(__file__).resolve().parent / "out"
ALPACA = 52002
DEMO_PARAMS = {"gsnr": {"lr": 1e-3}}  # configs/demo.yaml selection.params


def pool(n: int):
    from gsnr_bench.domain.records import Example

    from tiny_models import tiny_pool  # tests/tiny_models.py

    if not DATA.exists():
        return [Example(f"t{i}", e.instruction, e.input, e.output) for i, e in enumerate(tiny_pool(n, max_words=120))]
    recs = json.loads(DATA.read_text(encoding="utf-8"))
    return [
        Example(f"a{i}", r["instruction"], r.get("input", "") or "", r["output"])
        for i, r in ((i, recs[i % len(recs)]) for i in range(n))
    ]


def build_proxy(path: Path) -> Path:
    """The demo's proxy architecture (DemoConfig defaults) and tokenizer recipe, random init."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from gsnr_bench.data.config import DemoConfig
    from gsnr_bench.domain.templates import load_template

    demo = DemoConfig()
    texts = [f"{e.instruction}\n{e.input}\n{e.output}" for e in pool(2000)]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(
        texts + [load_template("input"), load_template("noinput")] * 50,
        trainers.BpeTrainer(
            vocab_size=demo.vocab_size,
            special_tokens=["<|endoftext|>", "<|pad|>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|pad|>",
        model_max_length=512,
    )
    tok.save_pretrained(path)
    torch.manual_seed(demo.seed)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=demo.proxy_embd,
        n_layer=demo.proxy_layers,
        n_head=max(1, demo.proxy_embd // 32),
        activation_function="gelu_new",
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


def rss_mb() -> float:
    """Current resident set size (Linux /proc), MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(selector: str, size: int, proxy: str) -> None:
    from gsnr_bench.core.noise import configure_library_output
    from gsnr_bench.core.registry import selectors
    from gsnr_bench.selection.base import SelectionContext

    configure_library_output(False)
    examples = pool(size)
    sel = selectors().build(selector, DEMO_PARAMS.get(selector, {}))
    import torch  # noqa: F401  (loaded before the RSS baseline)

    with tempfile.TemporaryDirectory() as work:
        ctx = SelectionContext(
            pool=examples, params={}, seed=0, workdir=Path(work), proxy=proxy, device="cpu", max_length=256
        )
        before = rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        res = sel.score(ctx)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(res.scores) == size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(
        json.dumps(
            {
                "selector": selector,
                "size": size,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "rss_before_mb": before,
                "peak_rss_mb": peak,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    ap.add_argument("--selectors", nargs="+", default=["gsnr", "ifd-superfiltering"])
    ap.add_argument("--worker", nargs=3, metavar=("SELECTOR", "SIZE", "PROXY"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], int(a.worker[1]), a.worker[2])
        return
    from gsnr_bench.core.noise import configure_library_output

    configure_library_output(False)
    sizes = sorted(a.sizes)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proxy = str(build_proxy(Path(tmp) / "proxy"))
        for sel in a.selectors:
            for n in sizes:
                res = subprocess.run(
                    [sys.executable, __file__, "--worker", sel, str(n), proxy], env=env, capture_output=True, text=True
                )
                if res.returncode != 0:
                    sys.exit(f"{sel} at {n} failed:\n{res.stderr[-3000:]}")
                row = json.loads(res.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"  {sel:20s} {n:6d} records  {row['seconds']:8.1f} s", flush=True)
    result = {
        "pool": "alpaca_sample.json cycled" if DATA.exists() else "tiny_pool",
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "proxy": "demo size: GPT-2 2x64, 2 heads, vocab 1024, max_length 256",
        "selectors": {},
    }
    print(f"\nscoring at scale ({result['pool']}, demo-sized proxy, {os.cpu_count()} cores)")
    print(
        f"{'selector':20s} {'records':>8s} {'seconds':>9s} {'s/1k':>7s} {'vs linear':>9s} {'CPU s/1k':>9s} "
        f"{'vs linear':>9s} {'RSS before':>10s} {'peak RSS':>9s}"
    )
    for sel in a.selectors:
        mine = [r for r in rows if r["selector"] == sel]
        base = mine[0]["seconds"] / mine[0]["size"] * 1000
        cbase = mine[0]["cpu_seconds"] / mine[0]["size"] * 1000
        out = []
        for r in mine:
            per_k, cpu_k = r["seconds"] / r["size"] * 1000, r["cpu_seconds"] / r["size"] * 1000
            r = {
                **r,
                "s_per_1k": per_k,
                "ratio_to_linear": per_k / base,
                "cpu_s_per_1k": cpu_k,
                "cpu_ratio_to_linear": cpu_k / cbase,
            }
            out.append(r)
            print(
                f"{sel:20s} {r['size']:8d} {r['seconds']:9.1f} {per_k:7.2f} {r['ratio_to_linear']:9.2f} "
                f"{cpu_k:9.2f} {r['cpu_ratio_to_linear']:9.2f} "
                f"{r['rss_before_mb']:8.0f}MB {r['peak_rss_mb']:7.0f}MB"
            )
        last = out[-1]
        extra = last["s_per_1k"] * ALPACA / 1000
        print(
            f"{'':20s} extrapolated to {ALPACA:,} records: {extra / 60:.1f} min (from {last['size']:,} records' s/1k)"
        )
        result["selectors"][sel] = {
            "sizes": [r["size"] for r in out],
            "rows": out,
            "extrapolated_52002_s": extra,
            "max_ratio_to_linear": max(r["ratio_to_linear"] for r in out),
            "max_cpu_ratio_to_linear": max(r["cpu_ratio_to_linear"] for r in out),
        }
    OUT.mkdir(exist_ok=True)
    path = OUT / "scale.json"
    if path.exists():  # selectors measured by an earlier invocation (other --sizes) are kept
        old = json.loads(path.read_text()).get("selectors", {})
        result["selectors"] = {**{k: v for k, v in old.items() if k not in result["selectors"]}, **result["selectors"]}
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
