"""The shipped paper presets and accelerate configs load and carry the paper's recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gsnr_bench.config import build_config

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted((ROOT / "configs" / "paper").glob("*.yaml"))


def test_eight_presets():
    assert len(PRESETS) == 8


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_is_valid_and_follows_recipe(path):
    c = build_config([path])
    f = c.finetune
    assert f.lr == (2e-5 if "-7b-" in path.name else 1e-5)
    assert (f.epochs, f.batch_size, f.warmup_ratio, f.scheduler) == (3, 128, 0.03, "cosine")
    assert f.regime in path.stem and c.selection.ratios == [0.05, 0.10, 0.15]
    assert c.judging.judges == ["gpt", "qwen"] and c.data.testsets == ["wizardlm", "vicuna"]


@pytest.mark.parametrize("name", ["fsdp.yaml", "deepspeed-zero3.yaml"])
def test_accelerate_configs_parse(name):
    data = yaml.safe_load((ROOT / "configs" / "accelerate" / name).read_text())
    assert data["distributed_type"] in {"FSDP", "DEEPSPEED"}
