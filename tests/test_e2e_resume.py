"""Slow end-to-end tests: a run SIGKILLed in the middle of a stage resumes where it stopped, and the default
demo (`gsnr-bench run --selector gsnr`, the README's command) completes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

SMALL = [
    "--set",
    "demo.pool_size=160",
    "--set",
    "demo.pretrain_examples=96",
    "--set",
    "demo.pretrain_epochs=1",
    "--set",
    "demo.wizardlm_questions=6",
    "--set",
    "demo.vicuna_questions=4",
    "--set",
    "finetune.epochs=6",
    "--set",
    "finetune.batch_size=4",
    "--set",
    "finetune.micro_batch_size=4",
    "--set",
    "finetune.save_steps=10",
    "--ratio",
    "0.2",
    "--quiet",
]


def _wait_for(pred, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_killed_mid_finetune_resumes(tmp_path):
    rd = tmp_path / "run"
    args = [sys.executable, "-m", "gsnr_bench", "run", "--selector", "random", "--run-dir", str(rd), *SMALL]
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
        start_new_session=True,
    )
    try:
        # the 100% model is mid-training once its first checkpoint is on disk
        hit = _wait_for(lambda: any(rd.glob("models/full-*/work/checkpoint-*")), 300)
        assert hit, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint in time"
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    full = next(rd.glob("models/full-*"))
    assert not (full / "DONE").exists()  # killed mid-stage: not marked finished
    finished_before = {p.parent.name for p in rd.glob("*/*/DONE")}
    assert any(n.startswith("random") for n in finished_before)  # selection had finished

    res = run_cli("run", "--selector", "random", "--run-dir", str(rd), *SMALL, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (full / "DONE").exists()
    log = [json.loads(line) for line in (full / "train_log.jsonl").open()]
    steps = [r["step"] for r in log if "loss" in r]
    assert steps == sorted(set(steps)), "a resumed fine-tune logs each step once"
    # stages finished before the kill were reused, the interrupted one was finished
    status = {(m[0], m[1]): m[2] for m in re.findall(r"│ (\S+)\s+│ (\S+)\s+│ (done|cached)", res.stdout)}
    assert status[("world", "demo")] == status[("scores", "random")] == status[("subsets", "random@0.2")] == "cached"
    assert status[("models", "full")] == "done"
    recs = [json.loads(line) for f in rd.glob("judgments/reference/*/judgments.jsonl") for line in f.open()]
    recs = [r for r in recs if not r["null_pair"]]
    assert len(recs) == 10 and len({(r["testset"], r["question_id"]) for r in recs}) == 10


def test_default_demo_command(tmp_path):
    """`gsnr-bench run --selector gsnr` with no config: the offline demo, end to end, at full size."""
    res = run_cli("run", "--selector", "gsnr", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = (tmp_path / "runs" / "demo" / "report" / "leaderboard.csv").read_text().splitlines()
    assert sum(",mean,pooled," in r for r in rows) == 3  # gsnr at 5, 10 and 15%
    assert "Enrichment of clean examples" in res.stdout


def test_finetune_under_a_distributed_launcher(tmp_path):
    """`gsnr-bench finetune` under torchrun with 2 CPU processes: rank 0 runs the stages, both ranks train."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    small = [
        "--set",
        "demo.pool_size=96",
        "--set",
        "demo.pretrain_examples=96",
        "--set",
        "demo.pretrain_epochs=1",
        "--set",
        "finetune.epochs=1",
        "--set",
        "finetune.batch_size=16",
        "--set",
        "finetune.micro_batch_size=8",
        "--ratio",
        "0.25",
        "--quiet",
    ]
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "-m",
        "gsnr_bench",
        "finetune",
        "--selector",
        "random",
        "--run-dir",
        str(tmp_path / "run"),
        *small,
    ]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    args = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("models/*/training_args.json")]
    assert len(args) == 2 and {a["world_size"] for a in args} == {2}
    assert all((p.parent / "DONE").exists() for p in (tmp_path / "run").glob("models/*/training_args.json"))
