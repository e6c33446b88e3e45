"""What the libraries may print. A normal run shows gsnr-bench's own lines only; `--verbose` shows the rest.

Set before the libraries are imported (environment variables they read at import, inherited by
`accelerate launch` children), and applied to the ones already imported (tests, notebooks). Nothing heavy is
imported here: `gsnr-bench --help` stays torch-free.

Quiet: transformers / datasets / huggingface_hub / peft / accelerate log errors only, their progress bars
(weight loading, shard writing, dataset saving) are off, and Python warnings raised inside those libraries
(deprecations of one library used by another, e.g. peft reading transformers' `is_gradient_checkpointing`)
are ignored. Warnings whose cause was ours are fixed at the source instead (training/finetune.py: special
tokens aligned before the Trainer, the causal-LM loss named, `fan_in_fan_out` for GPT-2's Conv1D)."""

from __future__ import annotations

import logging
import os
import sys
import warnings

LIBRARIES = (
    "transformers",
    "peft",
    "accelerate",
    "datasets",
    "huggingface_hub",
    "tokenizers",
    "torch",
    "safetensors",
    "tensorboard",
)
_WARNING_MODULES = r"(" + "|".join(LIBRARIES) + r")(\.|$)"
_ENV_QUIET = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
_SET_BY_US: dict[str, str] = {}  # environment values this module set (a user's own values are left alone)


def configure_library_output(verbose: bool = False) -> None:
    """Quiet (default) or verbose library output for the rest of this process and its children."""
    if verbose:
        for key, value in list(_SET_BY_US.items()):  # back to the libraries' defaults (warnings and bars shown)
            if os.environ.get(key) == value:
                del os.environ[key]
            del _SET_BY_US[key]
        warnings.filters[:] = [f for f in warnings.filters if not _ours(f)]  # type: ignore[index]
    else:
        for key, value in _ENV_QUIET.items():
            if key not in os.environ or os.environ[key] == _SET_BY_US.get(key):
                os.environ[key] = _SET_BY_US[key] = value
        for category in (UserWarning, FutureWarning, DeprecationWarning, RuntimeWarning):
            warnings.filterwarnings("ignore", category=category, module=_WARNING_MODULES)
    level = logging.WARNING if verbose else logging.ERROR
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(level)
    _apply_to_imported(verbose)


def _ours(f: tuple) -> bool:
    module = f[3]
    return f[0] == "ignore" and module is not None and getattr(module, "pattern", module) == _WARNING_MODULES


def _apply_to_imported(verbose: bool) -> None:
    """The same settings for libraries this process imported already (their env vars were read at import)."""
    with warnings.catch_warnings():  # a hub imported with HF_HUB_DISABLE_PROGRESS_BARS=1 refuses to re-enable
        warnings.simplefilter("ignore")  # its bars, with a warning: the env's choice stands, silently
        _apply_levels(verbose)


def _apply_levels(verbose: bool) -> None:
    if "transformers" in sys.modules:
        from transformers.utils import logging as tl

        tl.set_verbosity_warning() if verbose else tl.set_verbosity_error()
        tl.enable_progress_bar() if verbose else tl.disable_progress_bar()
    if "datasets" in sys.modules:
        from datasets.utils import logging as dl

        dl.set_verbosity_warning() if verbose else dl.set_verbosity_error()
        dl.enable_progress_bar() if verbose else dl.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import utils as hu

        hu.logging.set_verbosity_warning() if verbose else hu.logging.set_verbosity_error()
        hu.enable_progress_bars() if verbose else hu.disable_progress_bars()
