"""LoRA target modules checked against the target's architecture before any work, from its config alone.

The model is built on PyTorch's meta device (no weights read, no memory allocated), so a 7B target is checked
in about a second; a misspelt module name fails now, in one line, instead of after the pool was scored."""

from __future__ import annotations

from typing import Any, Sequence

from gsnr_bench.core.errors import ConfigError, DataError


def module_names(config: Any) -> dict[str, str]:
    """Every module of the architecture `config` describes: dotted name -> class name (weights never loaded)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {name: type(m).__name__ for name, m in model.named_modules() if name}


def peft_default_targets(model_type: str) -> list[str] | None:
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    found = DEFAULTS.get(model_type)
    return list(found) if found else None


# what peft's LoRA can wrap (a target that names, say, a whole attention block is refused by peft)
LORA_LAYERS = {"Linear", "Conv1D", "Conv1d", "Conv2d", "Conv3d", "Embedding", "Linear8bitLt", "Linear4bit"}


def check_lora_targets(base_model: str, targets: Sequence[str] | None) -> list[str]:
    """The LoRA targets the fine-tune will use (finetune.lora.targets, else peft's default for the architecture),
    each matching at least one layer peft can adapt, as peft matches them (the module's name, or its dotted
    suffix). Raises a one-line ConfigError naming the module names the architecture has."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(base_model)
    except Exception as exc:  # OSError / ValueError from transformers
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read the config of target {base_model}: {first}") from None
    names = module_names(config)
    wanted = list(targets) if targets else peft_default_targets(getattr(config, "model_type", ""))
    if not wanted:
        raise ConfigError(
            f"peft has no default LoRA target modules for {getattr(config, 'model_type', '?')!r} models: set "
            f"finetune.lora.targets (layers of this model: {_layer_names(names)})"
        )
    for key in wanted:
        hits = [n for n in names if n == key or n.endswith("." + key)]
        if not hits:
            raise ConfigError(
                f"finetune.lora.targets names {key!r}, which is no module of {base_model} "
                f"({config.model_type}); its adaptable layers are: {_layer_names(names)}"
            )
        if not any(names[n] in LORA_LAYERS for n in hits):
            raise ConfigError(
                f"finetune.lora.targets names {key!r}, a {names[hits[0]]} in {base_model}, not a layer LoRA can "
                f"adapt; its adaptable layers are: {_layer_names(names)}"
            )
    return wanted


def _layer_names(names: dict[str, str]) -> str:
    """The distinct last name parts of the adaptable layers (q_proj, k_proj, ..., lm_head)."""
    leaves = sorted({n.rsplit(".", 1)[-1] for n, cls in names.items() if cls in LORA_LAYERS})
    return ", ".join(leaves) or "none"
