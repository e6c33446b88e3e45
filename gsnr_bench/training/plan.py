"""The training protocol as plain data: a pure function of the config, the base model and the world size.

`protocol()` is what training_args.json holds. It contains nothing derived from the data (no example count,
no step count, no paths), so every selector of a sweep gets a byte-identical file: that is the check that all
systems were trained the same way. Data-dependent facts (examples, skipped, steps) go to trained.json."""

from __future__ import annotations

import math
import os
from typing import Any

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.domain.templates import IGNORE_INDEX, template_fingerprint
from gsnr_bench.training.config import FinetuneConfig

PROTOCOL_VERSION = 1


def world_size() -> int:
    """Processes of this run: set by `accelerate launch`/torchrun, 1 for a plain `python`."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def grad_accum(cfg: FinetuneConfig, world: int) -> int:
    """batch_size = micro_batch_size * grad_accum * world; refuse rather than round, so the effective batch
    (part of the protocol) is exactly what the config says on every machine."""
    per_step = cfg.micro_batch_size * world
    if cfg.batch_size % per_step:
        raise ConfigError(
            f"finetune.batch_size={cfg.batch_size} is not a multiple of micro_batch_size={cfg.micro_batch_size} x "
            f"{world} process(es); pick a micro_batch_size (or process count) that divides it"
        )
    return cfg.batch_size // per_step


def planned_steps(n_examples: int, micro: int, accum: int, world: int, epochs: float) -> int:
    """Optimizer steps the Trainer takes: a partial accumulation window at an epoch's end still steps."""
    batches = math.ceil(n_examples / (micro * world))
    return max(1, math.ceil(math.ceil(batches / accum) * epochs))


def capped_accum(cfg: FinetuneConfig, n_examples: int, world: int) -> int:
    """Gradient-accumulation steps for `n_examples` under finetune.min_steps: the configured ones, or the most
    (the largest effective batch) that still give min_steps optimizer steps, at least 1."""
    accum = grad_accum(cfg, world)
    if not cfg.min_steps:
        return accum
    for a in range(accum, 0, -1):
        if planned_steps(n_examples, cfg.micro_batch_size, a, world, cfg.epochs) >= cfg.min_steps:
            return a
    return 1


def precision(cfg: FinetuneConfig, device: str) -> dict[str, Any]:
    """Where weights live and how the forward runs.

    LoRA: the frozen base is loaded in the working dtype (bf16 on a modern GPU), adapters train in fp32.
    Full: weights are fp32 masters with bf16/fp16 autocast (mixed precision), the standard Alpaca recipe;
    a pure-bf16 full fine-tune loses small updates at lr 2e-5."""
    import torch

    from gsnr_bench.modeling.loading import torch_dtype

    work = torch_dtype(cfg.dtype, device)
    name = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[work]
    load = name if cfg.regime == "lora" else "float32"
    return {
        "load_dtype": load,
        "bf16": name == "bfloat16" and device != "cpu",
        "fp16": name == "float16" and device != "cpu",
    }


def protocol(cfg: FinetuneConfig, base_model: str, *, world: int, device: str) -> dict[str, Any]:
    accum = grad_accum(cfg, world)
    return {
        "protocol_version": PROTOCOL_VERSION,
        "base_model": base_model,
        "finetune": cfg.model_dump(mode="json", exclude={"model", "report_to"}),  # logging is not protocol
        "world_size": world,
        "gradient_accumulation_steps": accum,
        "effective_batch_size": cfg.micro_batch_size * accum * world,
        "precision": precision(cfg, device),
        "templates": template_fingerprint(),
        "label_ignore_index": IGNORE_INDEX,
        "optimizer": "adamw_torch",
    }


def training_arguments(
    proto: dict[str, Any], work_dir: str, *, device: str, report_to: str = "none", run_name: str | None = None
) -> Any:
    """transformers.TrainingArguments for the protocol (no eval, no hub); `report_to` (finetune.report_to) names
    the one experiment tracker that also receives the logs, "none" by default."""
    import inspect

    from transformers import TrainingArguments

    f = proto["finetune"]
    # transformers 5 renamed gradient_checkpointing; keep working with both spellings
    ckpt = (
        "activation_checkpointing"
        if "activation_checkpointing" in inspect.signature(TrainingArguments).parameters
        else "gradient_checkpointing"
    )
    warm = f["warmup_ratio"] if f["warmup_ratio"] < 1 else 0.9999  # a float in [0, 1) is a ratio of total steps
    return TrainingArguments(
        output_dir=work_dir,
        per_device_train_batch_size=f["micro_batch_size"],
        gradient_accumulation_steps=proto["gradient_accumulation_steps"],
        num_train_epochs=f["epochs"],
        learning_rate=f["lr"],
        lr_scheduler_type=f["scheduler"],
        warmup_steps=warm,
        weight_decay=f["weight_decay"],
        optim=proto["optimizer"],
        seed=f["seed"],
        data_seed=f["seed"],
        bf16=proto["precision"]["bf16"],
        fp16=proto["precision"]["fp16"],
        **{ckpt: f["gradient_checkpointing"]},
        logging_strategy="steps",
        logging_steps=f["logging_steps"],
        save_strategy="steps",
        save_steps=f["save_steps"],
        save_total_limit=2,  # the newest plus one: a crash while saving leaves a good one behind
        eval_strategy="no",
        report_to=report_to,
        run_name=run_name,
        disable_tqdm=True,
        remove_unused_columns=False,
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every trainable weight (LoRA or full) is used in each forward
    )
