"""finetune.report_to: the Trainer also logs to TensorBoard (offline event files in the model's stage dir)."""

from __future__ import annotations

import importlib.util

import pytest

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.core.fileio import read_json
from gsnr_bench.training.config import FinetuneConfig
from gsnr_bench.training.finetune import finetune

from tiny_models import examples


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed")
def test_tensorboard_event_files_under_the_stage_dir(tiny_gpt2, tmp_path, monkeypatch):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    cfg = FinetuneConfig(epochs=1, batch_size=4, micro_batch_size=4, max_length=64, report_to="tensorboard")
    finetune(examples(8), cfg, str(tiny_gpt2), tmp_path / "tb")
    events = list((tmp_path / "tb" / "runs").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert any("loss" in tag for tag in acc.Tags()["scalars"])
    # logging is not protocol: the same training_args.json as without a tracker
    finetune(examples(8), cfg.model_copy(update={"report_to": "none"}), str(tiny_gpt2), tmp_path / "plain")
    assert read_json(tmp_path / "tb" / "training_args.json") == read_json(tmp_path / "plain" / "training_args.json")
    assert "TENSORBOARD_LOGGING_DIR" not in __import__("os").environ


def test_missing_tracker_is_a_one_line_error(tiny_gpt2, tmp_path, monkeypatch):
    import gsnr_bench.training.finetune as F

    monkeypatch.setitem(F._TRACKER_MODULES, "wandb", ("surely_not_installed_pkg",))
    cfg = FinetuneConfig(epochs=1, batch_size=4, micro_batch_size=4, max_length=64, report_to="wandb")
    with pytest.raises(ConfigError, match="finetune.report_to=wandb needs the surely_not_installed_pkg package"):
        finetune(examples(4), cfg, str(tiny_gpt2), tmp_path / "w")
