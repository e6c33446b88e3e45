"""Per-stage costs of the real CPU experiment on SmolLM2 (docs/real-cpu.md sizes configs/real-cpu.yaml from them).

    M="$(gsnr-bench models fetch smollm2-135m-instruct | tail -1)"
    GSNR_BENCH_DATA_DIR=../shared/data python bench/real_cpu_costs.py --model "$M"

Measures, with one torch thread: LoRA fine-tuning (q, k, v, o; r 8; batch 4; max length 512) on real Alpaca
records, the held-out score on Alpaca-GPT4 records, and HF greedy generation (batch 16, 128 new tokens) on Vicuna
questions. Prints wall and process CPU seconds: on a shared machine the CPU seconds are what a dedicated core
takes. Writes bench/out/real_cpu_costs.json."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path, required=True, help="the fetched SmolLM2 directory")
    p.add_argument("--data", type=Path, default=DATA, help="../shared/data")
    a = p.parse_args()

    import torch
    from transformers import TrainerCallback

    from gsnr_bench.core.fileio import read_json, write_json
    from gsnr_bench.data.pool import load_pool
    from gsnr_bench.data.testsets import load_testset
    from gsnr_bench.generation.base import question_prompt
    from gsnr_bench.generation.config import GenerationConfig
    from gsnr_bench.generation.heldout import score_heldout
    from gsnr_bench.generation.hf import HFGenerator
    from gsnr_bench.training.config import FinetuneConfig, LoraConfig
    from gsnr_bench.training.finetune import finetune

    torch.set_num_threads(1)
    out: dict = {"threads": 1}

    class StepClock(TrainerCallback):  # from the end of step 1 (warm) to the end of training
        def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001
            if state.global_step == 1:
                self.start = clocks()

        def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
            w, c = clocks()
            self.wall, self.cpu, self.steps = w - self.start[0], c - self.start[1], state.global_step - 1

    pool = load_pool(a.data / "alpaca_sample.json")[:20]
    cfg = FinetuneConfig(
        regime="lora",
        lr=2e-4,
        epochs=1,
        batch_size=4,
        micro_batch_size=4,
        max_length=512,
        dtype="float32",
        min_steps=0,
        lora=LoraConfig(r=8, alpha=16, targets=["q_proj", "k_proj", "v_proj", "o_proj"]),
    )
    with tempfile.TemporaryDirectory() as tmp:
        clock = StepClock()
        finetune(pool, cfg, str(a.model), Path(tmp) / "m", callbacks=[clock])
        info = read_json(Path(tmp) / "m" / "trained.json")
        tokens = info["train_tokens"] / info["examples"]
        out["finetune"] = {
            "steps_timed": clock.steps,
            "wall_s_per_step": round(clock.wall / clock.steps, 2),
            "cpu_s_per_step": round(clock.cpu / clock.steps, 2),
            "cpu_s_per_example": round(clock.cpu / clock.steps / 4, 3),
            "tokens_per_example": round(tokens, 1),
            "cpu_s_per_token": round(clock.cpu / clock.steps / 4 / tokens, 5),
        }
        print(json.dumps(out["finetune"]), flush=True)
        held = load_pool(a.data / "alpaca_gpt4_sample.json")[:16]
        c0 = clocks()
        score_heldout(a.model, held, Path(tmp) / "h", max_length=384, batch_size=4)
        c1 = clocks()
        out["heldout"] = {
            "records": len(held),
            "wall_s_per_record": round((c1[0] - c0[0]) / len(held), 2),
            "cpu_s_per_record": round((c1[1] - c0[1]) / len(held), 2),
        }
        print(json.dumps(out["heldout"]), flush=True)
    qs = load_testset(f"vicuna={a.data / 'vicuna_80.jsonl'}")[:16]
    gen = HFGenerator(a.model, GenerationConfig(max_new_tokens=128, batch_size=16))
    c0 = clocks()
    comps = gen.generate([question_prompt(q) for q in qs])
    c1 = clocks()
    ntok = sum(c.completion_tokens for c in comps)
    out["generation"] = {
        "questions": len(qs),
        "tokens": ntok,
        "wall_tokens_per_s": round(ntok / (c1[0] - c0[0]), 1),
        "cpu_tokens_per_s": round(ntok / (c1[1] - c0[1]), 1),
        "hit_max_new_tokens": sum(c.completion_tokens >= 128 for c in comps),
    }
    print(json.dumps(out["generation"]), flush=True)
    OUT.mkdir(exist_ok=True)
    write_json(OUT / "real_cpu_costs.json", out)


if __name__ == "__main__":
    main()
