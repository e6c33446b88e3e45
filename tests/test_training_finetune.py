"""finetune(): artifacts, resume after an interruption, identical protocols across selectors, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainerCallback

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.modeling.artifacts import load_for_inference
from gsnr_bench.training.config import FinetuneConfig
from gsnr_bench.training.finetune import finetune

from tiny_models import examples

# min_steps 0: these tests pin the configured batch (finetune.min_steps would cap it for 8-16 examples)
CFG = dict(lr=1e-3, epochs=2, batch_size=4, micro_batch_size=2, max_length=96, save_steps=2, seed=1, min_steps=0)


class Stop(Exception):
    pass


class StopAt(TrainerCallback):
    """Simulates a kill after `step` optimizer steps (after that step's checkpoint, if any, was saved)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.step:
            raise Stop


def test_lora_resumes_from_last_checkpoint(tiny_gpt2, tmp_path):
    cfg = FinetuneConfig(regime="lora", **CFG)
    out = tmp_path / "m"
    with pytest.raises(Stop):
        finetune(examples(16), cfg, str(tiny_gpt2), out, callbacks=[StopAt(3)])
    assert not (out / "model").exists() and not (out / "trained.json").exists()  # nothing half-published
    assert (out / "work" / "checkpoint-2").is_dir()
    seen = []
    final = finetune(examples(16), cfg, str(tiny_gpt2), out, progress=lambda t, d, n: seen.append((d, n)))
    info = read_json(out / "trained.json")
    assert info["resumed_from"] == "checkpoint-2"
    assert info["global_step"] == info["max_steps"] == 8  # 16 examples / batch 4 * 2 epochs
    assert seen[0] == (2, 8) and seen[-1] == (8, 8)
    log = read_jsonl(out / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, 9))  # steps 3.. logged once, after the resume
    assert set(log[0]) == {"step", "epoch", "loss", "lr"}
    assert (final / "adapter_config.json").is_file() and not (out / "work").exists()
    # a finished dir is returned as is
    assert finetune(examples(16), cfg, str(tiny_gpt2), out) == final


def test_full_regime_and_protocol_identical_across_selectors(tiny_gpt2, tmp_path):
    cfg = FinetuneConfig(regime="full", **{**CFG, "epochs": 1})
    a = finetune(examples(8), cfg, str(tiny_gpt2), tmp_path / "sel-a")
    finetune(examples(12)[4:], cfg, str(tiny_gpt2), tmp_path / "sel-b")
    args_a = (tmp_path / "sel-a" / "training_args.json").read_bytes()
    assert args_a == (tmp_path / "sel-b" / "training_args.json").read_bytes()
    proto = json.loads(args_a)
    assert proto["gradient_accumulation_steps"] == 2 and proto["effective_batch_size"] == 4
    assert "examples" not in json.dumps(proto)
    assert (a / "config.json").is_file() and (a / "tokenizer.json").is_file()
    model, tok, info = load_for_inference(tmp_path / "sel-a", device="cpu", dtype="float32")
    assert info["regime"] == "full" and info["examples"] == 8


def test_batch_must_divide(tiny_gpt2, tmp_path):
    cfg = FinetuneConfig(**{**CFG, "batch_size": 6, "micro_batch_size": 4})
    with pytest.raises(ConfigError, match="not a multiple"):
        finetune(examples(4), cfg, str(tiny_gpt2), tmp_path / "m")


def test_bad_lora_targets_and_long_prompts(tiny_gpt2, tmp_path):
    cfg = FinetuneConfig(**{**CFG, "lora": {"targets": ["q_proj"]}})
    with pytest.raises(ConfigError, match="lora.targets"):
        finetune(examples(4), cfg, str(tiny_gpt2), tmp_path / "m")
    with pytest.raises(DataError, match="max_length"):
        finetune(examples(4), FinetuneConfig(**{**CFG, "max_length": 12}), str(tiny_gpt2), tmp_path / "n")
    assert not (tmp_path / "n" / "model").exists()


def test_adapter_for_another_base_is_refused(tiny_gpt2, tiny_gpt2_other, tmp_path):
    cfg = FinetuneConfig(regime="lora", **{**CFG, "epochs": 1})
    finetune(examples(4), cfg, str(tiny_gpt2), tmp_path / "m")
    trained = tmp_path / "m" / "trained.json"
    info = read_json(trained)
    trained.write_text(json.dumps({**info, "base_model": str(tiny_gpt2_other)}))
    with pytest.raises(DataError, match="was trained on"):
        load_for_inference(tmp_path / "m", device="cpu", dtype="float32")
    # even when the adapter's own record is rewritten, the shapes give it away
    ac = tmp_path / "m" / "model" / "adapter_config.json"
    ac.write_text(json.dumps({**json.loads(ac.read_text()), "base_model_name_or_path": str(tiny_gpt2_other)}))
    with pytest.raises(DataError, match="does not fit"):
        load_for_inference(tmp_path / "m", device="cpu", dtype="float32")


def test_no_generation_dir_is_clear(tmp_path):
    with pytest.raises(DataError, match="no trained model"):
        load_for_inference(Path(tmp_path), device="cpu", dtype="float32")


def test_checkpoint_cut_mid_save_is_skipped(tmp_path):
    """A kill while the Trainer saves leaves a checkpoint without trainer_state.json (written last):
    resume takes the newest complete one and drops the torn one."""
    from gsnr_bench.training.finetune import last_complete_checkpoint

    work = tmp_path / "work"
    for step, state in ((10, "{}"), (20, '{"global_step": 20}'), (30, None), (40, '{"global_st')):
        d = work / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "model.safetensors").write_bytes(b"x")
        if state is not None:
            (d / "trainer_state.json").write_text(state)
    assert last_complete_checkpoint(work) == str(work / "checkpoint-20")
    assert sorted(p.name for p in work.iterdir()) == ["checkpoint-10", "checkpoint-20"]
    assert last_complete_checkpoint(tmp_path / "empty") is None
