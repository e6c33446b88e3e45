"""What a finished fine-tune leaves behind, and loading it back for generation.

out_dir/model/            LoRA adapter (adapter_config.json + weights) or full model, plus tokenizer
out_dir/training_args.json  the protocol (byte-identical across selectors of a sweep)
out_dir/train_log.jsonl   per-step {step, epoch, loss, lr}
out_dir/trained.json      written last: base model, regime, data counts, steps, final loss
out_dir/work/             Trainer checkpoints while training (removed after success unless kept)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json

TRAINED = "trained.json"
MODEL_SUBDIR = "model"


def read_trained(model_dir: Path) -> tuple[Path, dict[str, Any]]:
    """(dir holding the weights, trained.json). Accepts the stage dir, its model/ subdir, or a plain HF
    model dir (treated as a full model: lets you generate from an untrained base)."""
    model_dir = Path(model_dir)
    for root in (model_dir, model_dir.parent):
        if (root / TRAINED).is_file():
            info = read_json(root / TRAINED)
            weights = root / info.get("model_subdir", MODEL_SUBDIR)
            if not weights.is_dir():
                raise DataError(f"{root / TRAINED} names {weights}, which does not exist")
            return weights, info
    if (model_dir / "config.json").is_file():
        return model_dir, {"regime": "full", "base_model": str(model_dir)}
    raise DataError(f"{model_dir} holds no trained model (no {TRAINED}, no config.json): fine-tune it first")


def _same_model(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a.rstrip("/") == b.rstrip("/")


def check_adapter_base(adapter_dir: Path, base_model: str) -> None:
    """An adapter trained on another base would load with shape errors or, worse, silently produce junk."""
    cfg_path = Path(adapter_dir) / "adapter_config.json"
    if not cfg_path.is_file():
        raise DataError(f"{adapter_dir} is not a LoRA adapter (no adapter_config.json)")
    trained_on = read_json(cfg_path).get("base_model_name_or_path") or ""
    if trained_on and not _same_model(trained_on, base_model):
        raise DataError(f"adapter {adapter_dir} was trained on {trained_on!r}, not on base model {base_model!r}")


def attach_adapter(base: Any, adapter_dir: Path, *, trainable: bool = False) -> Any:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:  # size mismatch / missing target modules
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"adapter {adapter_dir} does not fit its base model: {first[:300]}") from None


def load_for_inference(model_dir: Path, *, device: str, dtype: str) -> tuple[Any, Any, dict[str, Any]]:
    """(model in eval mode, tokenizer, trained.json). A LoRA adapter is merged into its base for speed."""
    from gsnr_bench.modeling.loading import load_causal_lm, load_tokenizer

    weights, info = read_trained(model_dir)
    tok_src = weights if (weights / "tokenizer_config.json").is_file() else info["base_model"]
    tok = load_tokenizer(str(tok_src))
    if info["regime"] == "lora":
        check_adapter_base(weights, info["base_model"])
        base = load_causal_lm(info["base_model"], device=device, dtype=dtype)
        model = attach_adapter(base, weights).merge_and_unload()
    else:
        model = load_causal_lm(str(weights), device=device, dtype=dtype)
    model.eval()
    return model, tok, info
