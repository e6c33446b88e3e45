"""The multi-process entry: `accelerate launch --cpu --num_processes 1 -m gsnr_bench.commands.launch` on a tiny
target (the same code path FSDP/ZeRO-3 runs take on GPUs), and its one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from gsnr_bench.commands.launch import main
from gsnr_bench.core.fileio import read_json, write_jsonl

from tiny_models import examples

# min_steps 0: the configured batch exactly (finetune.min_steps would cap it for 4 examples)
FT = {
    "regime": "lora",
    "lr": 1e-3,
    "epochs": 1,
    "batch_size": 4,
    "micro_batch_size": 2,
    "max_length": 96,
    "min_steps": 0,
}


def _cell(tmp_path, ids):
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [e.to_dict() for e in examples(12)])
    subset = tmp_path / "selection.jsonl"
    write_jsonl(subset, [{"id": i, "rank": k, "score": 1.0} for k, i in enumerate(ids)])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "finetune": FT}))
    return pool, subset, cfg


@pytest.mark.slow  # a real `accelerate launch` subprocess: ~8 s of start-up; CI runs it with -m slow
def test_accelerate_launch_one_cpu_process(tiny_gpt2, tmp_path):
    pool, subset, cfg = _cell(tmp_path, ["ex1", "ex3", "ex5", "ex7"])
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "gsnr_bench.commands.launch",
        "--config",
        str(cfg),
        "--pool",
        str(pool),
        "--subset",
        str(subset),
        "--base",
        str(tiny_gpt2),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = read_json(out / "trained.json")
    assert info["examples"] == 4 and info["global_step"] == 1
    assert json.loads((out / "training_args.json").read_text())["world_size"] == 1
    assert (out / "model" / "adapter_config.json").is_file()


def test_launch_errors_are_one_line(tiny_gpt2, tmp_path, capsys):
    pool, subset, cfg = _cell(tmp_path, ["ex1", "nope"])
    rc = main(
        [
            "--config",
            str(cfg),
            "--pool",
            str(pool),
            "--subset",
            str(subset),
            "--base",
            str(tiny_gpt2),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "ids not in the pool" in capsys.readouterr().err
    rc = main(["--config", str(cfg), "--out", str(tmp_path / "o")])
    assert rc == 2 and "--base DIR" in capsys.readouterr().err
