"""Generation throughput, vLLM against Hugging Face batched `generate`, interleaved A/B/A/B in one process on the
same model and prompts, so machine load drifts over both alike.

    .venv-vllm/bin/python bench/generation.py [--rounds 3] [--questions 32] [--max-new-tokens 64] [--batch-size 16]
        [--target DIR]

Default target: SmolLM2-135M-Instruct (`gsnr-bench models fetch smollm2-135m-instruct`), float32 on both sides,
on the first --questions Vicuna questions from ../shared/data (GSNR_BENCH_SHARED_DATA elsewhere) through the
model's chat template, greedy. Both engines are loaded once before the rounds (vLLM's start is timed and printed
apart); then each round runs vLLM on all prompts, then HF on all prompts. tokens/s counts the tokens each side
actually generated (up to EOS). Prints every round, the median of each side and their ratio; writes
bench/out/generation.json. Without vllm installed it prints the HF rows only."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prompts_for(target: Path, n: int) -> list[str]:
    from transformers import AutoTokenizer

    data = Path(os.environ.get("GSNR_BENCH_SHARED_DATA") or ROOT.parent / "shared" / "data")
    path = data / "vicuna_80.jsonl"
    if path.is_file():
        qs = [json.loads(x)["turns"][0] for x in path.read_text().splitlines() if x.strip()][:n]
    else:  # no shared data: plain questions, said in the output
        print(f"note: {path} not found; using generated questions")
        qs = [f"Explain colour {i} in {i % 7 + 1} words" for i in range(n)]
    tok = AutoTokenizer.from_pretrained(target)
    if tok.chat_template:
        return [
            tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
            for q in qs
        ]
    from gsnr_bench.domain.templates import build_prompt

    return [build_prompt(q) for q in qs]


def timed(gen, prompts: list[str]) -> tuple[int, float]:
    t = time.perf_counter()
    comps = gen.generate(prompts)
    return sum(c.completion_tokens for c in comps), time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--questions", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16, help="HF batch size")
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--target", type=Path, help="model dir (default: the fetched SmolLM2-135M-Instruct)")
    p.add_argument("--hf-threads", type=int, help="torch threads for the HF side (default: torch's own choice)")
    a = p.parse_args()

    import torch

    if a.hf_threads:
        torch.set_num_threads(a.hf_threads)

    from gsnr_bench.core.fileio import write_json
    from gsnr_bench.generation.config import GenerationConfig
    from gsnr_bench.generation.hf import HFGenerator

    if a.target is None:
        from gsnr_bench.modeling import catalog
        from gsnr_bench.modeling.fetch import fetch

        a.target = catalog.fetched_dir("smollm2-135m-instruct") or fetch(catalog.entry("smollm2-135m-instruct"))
    prompts = prompts_for(a.target, a.questions)
    cfg = GenerationConfig(max_new_tokens=a.max_new_tokens, batch_size=a.batch_size, max_model_len=a.max_model_len)
    sides: dict[str, object] = {}
    start = None
    if importlib.util.find_spec("vllm") is not None:
        from gsnr_bench.generation import vllm as backend

        t = time.perf_counter()
        sides["vllm"] = backend.VLLMGenerator(a.target, cfg.model_copy(update={"backend": "vllm"}))
        start = time.perf_counter() - t
    sides["hf"] = HFGenerator(a.target, cfg.model_copy(update={"backend": "hf"}))
    for gen in sides.values():
        gen.generate(prompts[:2])  # warm-up
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(a.rounds):
        row = {}
        for name, gen in sides.items():  # A then B, every round
            toks, secs = timed(gen, prompts)
            row[name] = {"tokens": toks, "seconds": secs, "tokens_per_s": toks / secs}
            print(f"round {r + 1} {name:<5s} tokens={toks:<6d} seconds={secs:7.2f} tokens/s={toks / secs:8.1f}")
        rounds.append(row)
    med = {n: statistics.median(x[n]["tokens_per_s"] for x in rounds) for n in sides}
    print(
        f"torch threads={torch.get_num_threads()} questions={a.questions} max_new_tokens={a.max_new_tokens} "
        f"hf batch_size={a.batch_size} rounds={a.rounds} (interleaved)"
    )
    for n, v in med.items():
        print(f"median {n:<5s} tokens/s={v:8.1f}")
    ratio = med["vllm"] / med["hf"] if "vllm" in med else None
    if start is not None:
        print(f"vLLM engine start: {start:.1f} s (not counted)")
        faster = "vLLM" if ratio >= 1 else "HF"
        print(f"vllm/hf throughput ratio (medians): {ratio:.2f}x; {faster} is faster here")
    if "vllm" in sides:
        from gsnr_bench.generation import vllm as backend

        backend.close_engines()
    write_json(
        ROOT / "bench" / "out" / "generation.json",
        {
            "target": str(a.target),
            "questions": a.questions,
            "max_new_tokens": a.max_new_tokens,
            "hf_batch_size": a.batch_size,
            "torch_threads": torch.get_num_threads(),
            "vllm_engine_start_s": start,
            "rounds": rounds,
            "median_tokens_per_s": med,
            "vllm_over_hf": ratio,
        },
    )


if __name__ == "__main__":
    main()
