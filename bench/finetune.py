"""Fine-tuning throughput (training tokens/s, padding excluded) on a small GPT-2 target, LoRA and full.

    .venv/bin/python bench/finetune.py [--examples 256] [--epochs 1] [--target DIR]

tokens/s is measured over the training loop (Trainer on_train_begin -> on_train_end); `wall` adds model
loading, tokenisation and the final save. --target trains a model dir of your own (e.g. runs/demo's target)
instead of the built-in random-init GPT-2 (4 layers, 128 wide)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # tiny_models: the offline target


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=256)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--target", type=Path, help="GPT-2-style model dir (default: a built-in tiny GPT-2)")
    a = p.parse_args()

    import torch
    from transformers import TrainerCallback

    from gsnr_bench.core.fileio import read_json
    from gsnr_bench.training.config import FinetuneConfig
    from gsnr_bench.training.finetune import finetune

    from tiny_models import build_tiny_gpt2, examples

    class LoopTimer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001
            self.start = time.perf_counter()

        def on_train_end(self, args, state, control, **kw):  # noqa: ANN001
            self.seconds = time.perf_counter() - self.start

    with tempfile.TemporaryDirectory() as tmp:
        target = a.target or build_tiny_gpt2(Path(tmp) / "target", n_layer=4, n_embd=128, n_positions=512)
        exs = examples(a.examples)
        print(f"torch threads={torch.get_num_threads()} examples={len(exs)} epochs={a.epochs} target={target.name}")
        for regime in ("lora", "full"):
            cfg = FinetuneConfig(
                regime=regime,
                lr=1e-3,
                epochs=a.epochs,
                batch_size=16,
                micro_batch_size=8,
                max_length=256,
                save_steps=10_000,
                lora={"targets": ["c_attn"]},
            )
            out = Path(tmp) / regime
            timer = LoopTimer()
            t = time.perf_counter()
            finetune(exs, cfg, str(target), out, callbacks=[timer])
            wall = time.perf_counter() - t
            info = read_json(out / "trained.json")
            toks = info["train_tokens"] * a.epochs
            print(
                f"{regime:<5s} steps={info['global_step']:<4d} tokens={toks:<7.0f} train_seconds={timer.seconds:6.2f} "
                f"tokens/s={toks / timer.seconds:8.1f} wall={wall:6.2f}s final_loss={info['train_loss']:.3f}"
            )


if __name__ == "__main__":
    main()
