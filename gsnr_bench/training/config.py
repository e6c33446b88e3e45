"""Config of the fine-tuning stage: everything that defines the protocol, identical across selectors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gsnr_bench.core.settings_base import Section


class LoraConfig(Section):
    r: int = Field(8, gt=0)
    alpha: int = 16
    dropout: float = 0.05
    # module names to adapt; None = PEFT's default for the architecture (LLaMA: q_proj, v_proj; GPT-2:
    # c_attn). The paper presets name q_proj/k_proj/v_proj/o_proj.
    targets: list[str] | None = None


class FinetuneConfig(Section):
    # a local dir or a hub name (meta-llama/Llama-2-7b-hf); "demo" = the demo world's. No default:
    # a run names its target (--target).
    model: str | None = None
    regime: Literal["lora", "full"] = "lora"
    lr: float = Field(2e-5, gt=0)
    epochs: float = Field(3, gt=0)
    batch_size: int = Field(128, gt=0)  # effective batch = micro_batch_size * grad_accum * world size
    # a subset too small for batch_size to give this many optimizer steps trains with fewer gradient-accumulation
    # steps (a smaller effective batch, never below micro_batch_size x world size), so it trains for real;
    # recorded in trained.json and printed. 0 = off (exactly batch_size). At the paper presets' sizes
    # (>= 2,600 examples, batch 128, 3 epochs: >= 63 steps) it never acts. docs/real-cpu.md
    min_steps: int = Field(30, ge=0)
    micro_batch_size: int = Field(4, gt=0)
    warmup_ratio: float = Field(0.03, ge=0, le=1)
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_length: int = Field(512, gt=8)
    on_long_prompt: Literal["skip", "error"] = "skip"  # a prompt that fills max_length: skip+count or fail
    lora: LoraConfig = LoraConfig()
    seed: int = 42
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    gradient_checkpointing: bool = False
    save_steps: int = Field(200, gt=0)
    logging_steps: int = Field(1, gt=0)
    # where the Trainer also logs loss/lr: none | tensorboard (event files in <model stage dir>/runs) | wandb | mlflow.
    # Logging only: it is not part of the training protocol (training_args.json).
    report_to: Literal["none", "tensorboard", "wandb", "mlflow"] = "none"
    keep_checkpoints: bool = False  # keep work/checkpoint-* after success (7B full checkpoints are ~80 GB)
