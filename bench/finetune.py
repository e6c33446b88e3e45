"""Fine-tuning throughput (training tokens/s, padding excluded) on a small GPT-2 target, LoRA and full.

    .venv/bin/python bench/finetune.py [--examples 256] [--epochs 1]
"""

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
    a = p.parse_args()

    import torch

    from gsnr_bench.fileio import read_json
    from gsnr_bench.training.config import FinetuneConfig
    from gsnr_bench.training.finetune import finetune
    from tiny_models import build_tiny_gpt2, examples

    with tempfile.TemporaryDirectory() as tmp:
        target = build_tiny_gpt2(Path(tmp) / "target", n_layer=4, n_embd=128, n_positions=512)
        exs = examples(a.examples)
        print(f"torch threads={torch.get_num_threads()} examples={len(exs)} epochs={a.epochs}")
        for regime in ("lora", "full"):
            cfg = FinetuneConfig(regime=regime, lr=1e-3, epochs=a.epochs, batch_size=16, micro_batch_size=8,
                                 max_length=256, save_steps=10_000, lora={"targets": ["c_attn"]})
            out = Path(tmp) / regime
            t = time.perf_counter()
            finetune(exs, cfg, str(target), out)
            secs = time.perf_counter() - t
            info = read_json(out / "trained.json")
            toks = info["train_tokens"] * a.epochs
            print(f"{regime:<5s} steps={info['global_step']:<4d} tokens={toks:<7.0f} seconds={secs:6.2f} "
                  f"tokens/s={toks / secs:8.1f} final_loss={info['train_loss']:.3f} (wall incl. load/save)")


if __name__ == "__main__":
    main()
