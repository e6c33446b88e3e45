"""The run manifest: what produced these results (versions, git hash, seeds, config, timings)."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from gsnr_bench import STORE_VERSION, __version__
from gsnr_bench.core.fileio import write_json

LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "vllm",
    "openai",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
)


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = None
    return out


def git_hash() -> str | None:
    src = Path(__file__).resolve().parents[2]  # the checkout (this file is gsnr_bench/run/manifest.py)
    try:
        res = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return res.stdout.strip() + ("-dirty" if dirty else "")


def write_manifest(root: Path, config: dict[str, Any], stages: list[dict[str, Any]], extra: dict[str, Any]) -> Path:
    manifest = {
        "gsnr_bench": __version__,
        "store_version": STORE_VERSION,
        "git": git_hash(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "seeds": {
            "global": config.get("seed"),
            "finetune": config.get("finetune", {}).get("seed"),
            "generation": config.get("generation", {}).get("seed"),
            "judging": config.get("judging", {}).get("seed"),
        },
        "config": config,
        "stages": stages,
        **extra,
    }
    path = root / "manifest.json"
    write_json(path, manifest)
    return path
