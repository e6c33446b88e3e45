"""Generation throughput on a small GPT-2 target: vLLM beside HF batched and HF batch size 1, same model and
prompts, measured in one run.

    .venv/bin/python bench/generation.py [--questions 32] [--max-new-tokens 64] [--batch-size 16] [--target DIR]
    .venv-vllm/bin/python bench/generation.py ...   # adds the vLLM row (skipped where vllm is not installed)

The default target is a random-init GPT-2 (4 layers, 128 wide, the demo target's kind) with a locally trained
BPE: it rarely emits EOS, so every answer runs the full max_new_tokens and both settings generate the same
number of tokens. --target takes any model dir (e.g. a demo run's target or a fine-tuned models/<system>-<hash>);
tokens/s then counts the tokens each setting actually generated. vLLM's engine start is timed apart from its
generation (on CPU it runs with the settings the backend applies there: eager, 10% of RAM, 1 GiB KV cache)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # tiny_models: the offline target


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--target", type=Path, help="model dir (default: a built-in tiny GPT-2)")
    p.add_argument("--no-vllm", action="store_true", help="HF rows only")
    a = p.parse_args()

    import importlib.util

    import torch

    from gsnr_bench.fileio import write_json
    from gsnr_bench.generation.config import GenerationConfig
    from gsnr_bench.generation.hf import HFGenerator
    from gsnr_bench.templates import build_prompt

    from tiny_models import build_tiny_gpt2

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        target = a.target or build_tiny_gpt2(Path(tmp) / "target", n_layer=4, n_embd=128, n_positions=512)
        prompts = [build_prompt(f"Explain colour {i} in {i % 7 + 1} words") for i in range(a.questions)]
        rows = []
        for bs in (1, a.batch_size):
            gen = HFGenerator(target, GenerationConfig(max_new_tokens=a.max_new_tokens, batch_size=bs))
            gen.generate(prompts[:2])  # warm-up
            t = time.perf_counter()
            comps = gen.generate(prompts)
            secs = time.perf_counter() - t
            toks = sum(c.completion_tokens for c in comps)
            rows.append((f"hf batch_size={bs}", toks, secs, toks / secs))
            del gen
        start = None
        if not a.no_vllm and importlib.util.find_spec("vllm") is not None:
            from gsnr_bench.generation import vllm as backend

            cfg = GenerationConfig(backend="vllm", max_new_tokens=a.max_new_tokens)
            t = time.perf_counter()
            gen = backend.VLLMGenerator(target, cfg)
            start = time.perf_counter() - t
            gen.generate(prompts[:2])  # warm-up
            t = time.perf_counter()
            comps = gen.generate(prompts)  # vLLM batches by itself (continuous batching)
            secs = time.perf_counter() - t
            toks = sum(c.completion_tokens for c in comps)
            rows.append(("vllm", toks, secs, toks / secs))
            backend.close_engines()
    print(f"torch threads={torch.get_num_threads()} questions={a.questions} max_new_tokens={a.max_new_tokens}")
    for name, toks, secs, tps in rows:
        print(f"{name:<16s} tokens={toks:<6d} seconds={secs:7.2f} tokens/s={tps:9.1f}")
    ratios = {"hf_batched/hf_bs1": rows[1][3] / rows[0][3]}
    if start is not None:
        ratios.update({"vllm/hf_batched": rows[2][3] / rows[1][3], "vllm/hf_bs1": rows[2][3] / rows[0][3]})
        print(f"vLLM engine start: {start:.1f} s")
    for k, v in ratios.items():
        print(f"{k} throughput ratio: {v:.2f}x")
    write_json(
        Path(__file__).resolve().parent / "out" / "generation.json",
        {
            "questions": a.questions,
            "max_new_tokens": a.max_new_tokens,
            "vllm_engine_start_s": start,
            "rows": [{"setting": n, "tokens": t, "seconds": s, "tokens_per_s": r} for n, t, s, r in rows],
            "ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
