"""The fine-tuning stage: Alpaca-format examples -> a LoRA adapter or a full model, resumable.

Runs the same under plain `python` (one process) and under `accelerate launch` (FSDP / DeepSpeed ZeRO-3 picked
up by the Trainer from the launcher's environment). Only rank 0 writes the stage's files."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.core.fileio import dumps, read_json, write_bytes, write_json
from gsnr_bench.domain.records import Example
from gsnr_bench.domain.templates import Collator, encode_examples, prepare_tokenizer
from gsnr_bench.modeling.artifacts import MODEL_SUBDIR, TRAINED, check_adapter_base
from gsnr_bench.training.config import FinetuneConfig
from gsnr_bench.training.plan import capped_accum, planned_steps, protocol, training_arguments, world_size

ProgressFn = Callable[[str, int, int], None]
ARGS_FILE = "training_args.json"
LOG_FILE = "train_log.jsonl"


def finetune(
    examples: Sequence[Example],
    cfg: FinetuneConfig,
    base_model: str,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Train `base_model` on `examples`; return out_dir/model. A finished out_dir is returned as is; a partial
    one resumes from its last checkpoint in out_dir/work. `callbacks` are extra TrainerCallbacks (tests)."""
    out_dir = Path(out_dir)
    final = out_dir / MODEL_SUBDIR
    if (out_dir / TRAINED).is_file() and final.is_dir():
        return final
    if not examples:
        raise DataError("nothing to fine-tune on: the example list is empty")

    from transformers import Trainer, set_seed
    from transformers.utils import logging as hf_logging

    from gsnr_bench.modeling.loading import load_tokenizer, resolve_device
    from gsnr_bench.training.callbacks import LossLog, Progress, trim_log

    hf_logging.disable_progress_bar()  # per-shard tqdm bars would interleave with the stage's own bar
    started = time.time()
    device = resolve_device("auto")
    proto = protocol(cfg, base_model, world=world_size(), device=device)
    _write_protocol(out_dir, proto)
    tok = prepare_tokenizer(load_tokenizer(base_model))
    max_length = _max_length(cfg, base_model)
    enc = encode_examples(tok, examples, max_length, cfg.on_long_prompt)

    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    last = last_complete_checkpoint(work)
    # the protocol keeps the configured batch (identical for every subset); the batch this subset trains with,
    # capped by finetune.min_steps, follows from its size alone and goes to trained.json
    accum = capped_accum(cfg, len(enc.features), proto["world_size"])
    try:  # before the model is loaded, so DeepSpeed ZeRO-3 can shard it while loading
        args = training_arguments(
            {**proto, "gradient_accumulation_steps": accum},
            str(work),
            device=device,
            report_to=_check_tracker(cfg.report_to),
            run_name=out_dir.name,
        )
    except ValueError as exc:
        raise ConfigError(f"finetune: {str(exc).splitlines()[0]}") from None
    set_seed(cfg.seed)  # LoRA matrices are initialised before the Trainer seeds
    model = _build_model(cfg, base_model, proto, last, tok)

    log_path = out_dir / LOG_FILE
    if args.process_index == 0:
        if last:
            trim_log(log_path, int(Path(last).name.rsplit("-", 1)[1]))
        elif log_path.exists():
            log_path.unlink()  # a fresh start: a stale log from a run without checkpoints is meaningless
    with _tracker_env(cfg.report_to, out_dir):  # the tracker callbacks read their settings when built
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=_Features(enc.features),
            data_collator=Collator(tok.pad_token_id),
            processing_class=tok,
            callbacks=[LossLog(log_path), Progress(progress), *callbacks],
        )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the loss goes to train_log.jsonl and the progress bar, not stdout
    result = _train(trainer, cfg, last)
    _publish(trainer, out_dir)
    if trainer.is_world_process_zero():
        write_json(
            out_dir / TRAINED,
            {
                "base_model": base_model,
                "regime": cfg.regime,
                "model_subdir": MODEL_SUBDIR,
                "examples": len(enc.features),
                "skipped_long_prompt": len(enc.skipped),
                "skipped_ids": enc.skipped[:50],
                "truncated": enc.truncated,
                "train_tokens": enc.tokens,
                "target_tokens": enc.target_tokens,
                "tokens_trained": int(round(enc.tokens * float(trainer.state.epoch or 0))),
                "effective_batch_size": cfg.micro_batch_size * accum * proto["world_size"],
                "configured_batch_size": proto["effective_batch_size"],
                "batch_capped": accum != proto["gradient_accumulation_steps"],
                "min_steps": cfg.min_steps,
                "planned_steps": planned_steps(
                    len(enc.features), cfg.micro_batch_size, accum, proto["world_size"], cfg.epochs
                ),
                "max_length_used": max_length,
                "global_step": int(trainer.state.global_step),
                "max_steps": int(trainer.state.max_steps),
                "epochs": float(trainer.state.epoch or 0),
                "train_loss": float(result.training_loss),
                "resumed_from": Path(last).name if last else None,
                "seconds": round(time.time() - started, 3),
                "finetune": cfg.model_dump(mode="json"),
            },
        )
        if not cfg.keep_checkpoints:
            shutil.rmtree(work, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return final


_TRACKER_MODULES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}


def _check_tracker(name: str) -> str:
    """finetune.report_to must name an installed tracker: a one-line error instead of the Trainer's traceback."""
    import importlib.util

    mods = _TRACKER_MODULES.get(name)
    if mods and not any(importlib.util.find_spec(m) for m in mods):
        raise ConfigError(
            f"finetune.report_to={name} needs the {mods[0]} package: pip install {mods[0]} "
            "(or set finetune.report_to=none)"
        )
    return name


@contextlib.contextmanager
def _tracker_env(name: str, out_dir: Path):
    """TensorBoard event files go to <stage dir>/runs (the work dir is deleted after training) unless the user
    set TENSORBOARD_LOGGING_DIR; W&B and MLflow are configured by their own environment variables."""
    if name != "tensorboard" or os.environ.get("TENSORBOARD_LOGGING_DIR"):
        yield
        return
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out_dir / "runs")
    try:
        yield
    finally:
        os.environ.pop("TENSORBOARD_LOGGING_DIR", None)


def _max_length(cfg: FinetuneConfig, base_model: str) -> int:
    """finetune.max_length, capped (with a one-line notice) by the base model's positions."""
    from transformers import AutoConfig

    from gsnr_bench.modeling.context import cap_length, model_positions

    try:
        positions = model_positions(AutoConfig.from_pretrained(base_model))
    except Exception:  # the model load right after reports an unusable base properly
        positions = None
    return cap_length(cfg.max_length, positions, key="finetune.max_length", model=base_model)


def last_complete_checkpoint(work: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing, or None. The Trainer writes trainer_state.json
    last, so a checkpoint without a readable one was cut by a kill mid-save: it is removed (resuming from it
    would fail, and its step would be saved again anyway)."""
    import json

    steps = sorted(
        (p for p in work.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for ckpt in steps:
        try:
            json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
            return str(ckpt)
        except (OSError, ValueError):
            shutil.rmtree(ckpt, ignore_errors=True)
    return None


class _Features:
    """A list of tokenised examples as a map-style dataset."""

    def __init__(self, features: list[dict[str, list[int]]]) -> None:
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.features[i]


def _write_protocol(out_dir: Path, proto: dict[str, Any]) -> None:
    """Write training_args.json; a partial dir trained under another protocol must not be resumed."""
    path = out_dir / ARGS_FILE
    if path.is_file() and read_json(path) != proto:
        raise DataError(
            f"{out_dir} was started with a different training protocol ({path} differs); "
            "delete the directory to retrain"
        )
    write_bytes(path, dumps(proto).encode())


def align_special_tokens(model: Any, tok: Any) -> None:
    """Give the model config and generation config the tokenizer's EOS/BOS/PAD ids (prepare_tokenizer may have
    made EOS the pad), as the Trainer would otherwise do itself with a warning on every fine-tune."""
    gen = getattr(model, "generation_config", None)
    for name in ("eos_token_id", "bos_token_id", "pad_token_id"):
        want = getattr(tok, name, None)
        if want is None:
            continue
        have = getattr(model.config, name, None)
        if not (isinstance(have, list) and want in have):
            setattr(model.config, name, [want, *(t for t in have if t != want)] if isinstance(have, list) else want)
        if gen is not None:
            g = getattr(gen, name, None)
            if isinstance(g, list):
                if want not in g:
                    setattr(gen, name, [want, *g])
            else:
                setattr(gen, name, want)


def _default_targets(model: Any) -> list[str] | None:
    """PEFT's default LoRA targets for the architecture (GPT-2: c_attn; LLaMA: q_proj, v_proj), so the
    Conv1D check below sees them; None lets PEFT decide (and name the problem) for other architectures."""
    from gsnr_bench.training.lora_targets import peft_default_targets

    return peft_default_targets(getattr(model.config, "model_type", ""))


def _conv1d_targets(model: Any, targets: Sequence[str]) -> bool:
    """True when the LoRA targets are transformers' Conv1D (GPT-2 stores those weights transposed): peft needs
    fan_in_fan_out=True for them (it would set it itself, with a warning)."""
    from transformers.pytorch_utils import Conv1D

    hits = [m for n, m in model.named_modules() if n.split(".")[-1] in set(targets)]
    return bool(hits) and all(isinstance(m, Conv1D) for m in hits)


def _build_model(cfg: FinetuneConfig, base_model: str, proto: dict[str, Any], last: str | None, tok: Any) -> Any:
    from gsnr_bench.modeling.loading import load_causal_lm

    model = load_causal_lm(base_model, device="cpu", dtype=proto["precision"]["load_dtype"])
    align_special_tokens(model, tok)
    if getattr(model, "loss_type", None) is None:
        model.loss_type = "ForCausalLM"  # GPT-2's class name does not say which loss; it is the causal-LM one
    if cfg.gradient_checkpointing:
        model.config.use_cache = False
    if cfg.regime == "full":
        return model
    from peft import LoraConfig, get_peft_model

    if last:
        check_adapter_base(Path(last), base_model)
    targets = list(cfg.lora.targets) if cfg.lora.targets else _default_targets(model)
    lcfg = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        fan_in_fan_out=bool(targets) and _conv1d_targets(model, targets),
    )
    try:
        model = get_peft_model(model, lcfg)
    except ValueError as exc:
        raise ConfigError(
            f"finetune.lora.targets={cfg.lora.targets} do not match modules of {base_model}: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from None
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed frozen embeddings would otherwise cut the graph
    return model


def _train(trainer: Any, cfg: FinetuneConfig, last: str | None) -> Any:
    import torch

    try:
        return trainer.train(resume_from_checkpoint=last)
    except torch.OutOfMemoryError:
        raise DataError(
            f"out of GPU memory while fine-tuning ({cfg.regime}); lower finetune.micro_batch_size "
            f"(now {cfg.micro_batch_size}; batch_size stays, gradient accumulation grows) or finetune.max_length "
            f"(now {cfg.max_length}), set finetune.gradient_checkpointing=true (now {cfg.gradient_checkpointing}), "
            "use regime=lora, or shard with accelerate launch (FSDP / ZeRO-3, docs/gpu.md); "
            "the run resumes from its last checkpoint"
        ) from None


def _publish(trainer: Any, out_dir: Path) -> None:
    """Save into a temp dir, then rename it to out_dir/model: model/ is whole or absent."""
    final = out_dir / MODEL_SUBDIR
    tmp = out_dir / f".{MODEL_SUBDIR}.partial"
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)  # left by a crash between the rename and trained.json
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))  # every rank: FSDP/ZeRO-3 gather the weights collectively
    if trainer.is_world_process_zero():
        os.replace(tmp, final)
