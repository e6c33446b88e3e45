"""Loading causal LMs and tokenizers from a local directory or a Hugging Face hub name.

Imports torch/transformers lazily: callers are stages, never `import gsnr_bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsnr_bench.core.cpu_malloc import keep_freed_memory
from gsnr_bench.core.errors import DataError
from gsnr_bench.core.threads import configure_torch_threads


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DataError(f"device {device!r} requested but CUDA is not available")
    configure_torch_threads()  # once per process: OMP_NUM_THREADS, else the cores available (core/threads.py)
    if device == "cpu":
        keep_freed_memory()  # per-step tensors reuse memory instead of page-faulting (core/cpu_malloc.py)
    return device


def torch_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if name not in table:
        raise DataError(f"unknown dtype {name!r}; use one of float32, bfloat16, float16, auto")
    return table[name]


def _hub_error(name: str, what: str, exc: Exception) -> DataError:
    if Path(name).exists():
        return DataError(
            f"cannot load {what} from {name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        )
    return DataError(
        f"cannot load {what} {name!r}: not a local directory, and the Hugging Face hub could not provide it "
        f"(offline, gated, or misspelled); download it first or pass a local path"
    )


def load_tokenizer(name_or_path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:  # transformers raises OSError/ValueError/HF errors
        raise _hub_error(name_or_path, "tokenizer", exc) from None
    return tok


def load_causal_lm(name_or_path: str, *, device: str = "cpu", dtype: str = "float32", **kwargs: Any) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype(dtype, device), **kwargs)
    except DataError:
        raise
    except Exception as exc:
        raise _hub_error(name_or_path, "model", exc) from None
    return model.to(device)
