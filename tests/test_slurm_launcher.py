"""`gsnr-bench launch --slurm` without a cluster: what it submits (a recording stand-in for sbatch), in which
order and with which resources, and that it validates everything before the first sbatch. The real cluster runs
in tests/test_slurm.py (marker `slurm`)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gsnr_bench.core.config import build_config
from gsnr_bench.core.errors import ConfigError

SMALL = ["--set", "demo.pool_size=100", "--selector", "random", "longest", "--ratio", "0.1", "--quiet"]


@pytest.fixture
def fake_sbatch(tmp_path):
    """An sbatch that records its arguments (one JSON list per call) and answers job ids 100, 101, ..."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "sbatch.jsonl"
    script = bindir / "sbatch"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"log = {str(log)!r}\n"
        "n = sum(1 for _ in open(log)) if __import__('os').path.exists(log) else 0\n"
        "open(log, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "print(100 + n)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return env, calls


def _opt(argv: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")), None)


def test_launch_submits_the_chain_with_per_stage_resources(cli, tmp_path, fake_sbatch):
    env, calls = fake_sbatch
    run = tmp_path / "run"
    res = cli(
        "launch",
        "--slurm",
        "--run-dir",
        str(run),
        *SMALL,
        "--judge",
        "reference",
        "--set",
        "slurm.partition=gpu",
        "--set",
        "slurm.account=lab",
        "--set",
        "slurm.finetune.gpus=4",
        "--set",
        "finetune.micro_batch_size=1",  # batch 4 = 1 per GPU x 4 GPUs
        "--set",
        "slurm.finetune.time=48:00:00",
        "--set",
        "slurm.judge.partition=cpu",
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    argv = calls()
    names = [_opt(a, "job-name") for a in argv]
    assert names == ["gsnr-score", "gsnr-finetune", "gsnr-generate", "gsnr-judge", "gsnr-report"]
    by = dict(zip([n.removeprefix("gsnr-") for n in names], argv))
    # chained: each job waits for the one before it, and leaves the queue if that one fails
    assert _opt(by["score"], "dependency") is None
    for k, stage in enumerate(["finetune", "generate", "judge", "report"]):
        assert _opt(by[stage], "dependency") == f"afterok:{100 + k}"
    assert all("--kill-on-invalid-dep=yes" in a for a in argv)
    # the fine-tunes are one array: the 100% model and the two cells
    assert _opt(by["finetune"], "array") == "0-2"
    assert _opt(by["finetune"], "gpus-per-node") == "4" and _opt(by["finetune"], "time") == "48:00:00"
    # 4 GPUs: one process per GPU under accelerate launch (the shipped FSDP config by default)
    wrap = _opt(by["finetune"], "wrap")
    assert "accelerate.commands.launch" in wrap and "--num_processes 4" in wrap and "fsdp.yaml" in wrap
    assert "accelerate" not in _opt(by["generate"], "wrap")
    assert _opt(by["generate"], "gpus-per-node") == "1"
    # judging asks for no GPU, on its own partition; the section's defaults fill the rest
    assert not any(a.startswith("--gpus") for a in by["judge"]) and _opt(by["judge"], "partition") == "cpu"
    assert all(_opt(a, "account") == "lab" for a in argv)
    assert _opt(by["score"], "partition") == "gpu"
    # logs go into the run directory; the job runs the task module on this run
    assert all(_opt(a, "output").startswith(str(run.resolve() / "slurm" / "logs")) for a in argv)
    assert "gsnr_bench.commands.slurm_task" in _opt(by["judge"], "wrap")
    sub = json.loads((run / "slurm" / "submissions.jsonl").read_text().splitlines()[0])
    assert [j["job_id"] for j in sub["jobs"]] == ["100", "101", "102", "103", "104"]
    assert sub["jobs"][1]["array"] == ["full", "random@0.1", "longest@0.1"]
    record = (run / "config.yaml").read_text()
    assert "command: launch" in record and "judges: [reference]" in record


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--selector", "nope"], "unknown selector"),
        (["--judge", "nope"], "unknown judge"),
        (["--set", "slurm.judge.gpus=2"], "never uses a GPU"),
        (["--set", "slurm.finetune.gpus=3"], "not a multiple"),  # demo batch 4 over 3 GPUs
        (["--set", "slurm.finetune.extra=[--array=0-3]"], "launcher"),
        (["--set", "selection.ratios=[0.001]"], "selects"),  # 0.1 examples of 100
        (
            [
                "--set",
                "slurm.finetune.gpus=2",
                "--set",
                "finetune.micro_batch_size=2",
                "--set",
                "slurm.accelerate_config=x.yaml",
            ],
            "accelerate",
        ),
    ],
)
def test_launch_validates_everything_before_any_sbatch(cli, tmp_path, fake_sbatch, extra, message):
    env, calls = fake_sbatch
    res = cli("launch", "--slurm", "--run-dir", str(tmp_path / "run"), *SMALL, *extra, cwd=tmp_path, env=env)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert calls() == [] and not (tmp_path / "run").exists()


def test_launch_needs_slurm_and_sbatch(cli, tmp_path):
    res = cli("launch", "--run-dir", str(tmp_path / "run"), *SMALL, cwd=tmp_path)
    assert res.returncode == 2 and "--slurm" in res.stderr
    res = cli(
        "launch", "--slurm", "--run-dir", str(tmp_path / "run"), *SMALL, cwd=tmp_path, env={"PATH": "/nonexistent"}
    )
    assert res.returncode == 2 and "sbatch is not on PATH" in res.stderr
    assert not (tmp_path / "run").exists()


def test_launch_dry_run_lists_jobs_and_writes_nothing(cli, tmp_path, fake_sbatch):
    env, calls = fake_sbatch
    res = cli("launch", "--slurm", "--dry-run", "--run-dir", str(tmp_path / "run"), *SMALL, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert "nothing submitted" in res.stdout and "0:full" in res.stdout
    assert calls() == [] and not (tmp_path / "run").exists()


def test_judge_section_refuses_gpus_and_stage_values_override_defaults():
    with pytest.raises(ConfigError, match="never uses a GPU"):
        build_config(["demo"], ["slurm.judge.gpus=1"])
    cfg = build_config(["demo"], ["slurm.time=01:00:00", "slurm.generate.time=02:00:00"])
    assert cfg.slurm.stage("generate").time == "02:00:00" and cfg.slurm.stage("score").time == "01:00:00"
    assert cfg.slurm.stage("judge").gpus == 0 and cfg.slurm.stage("finetune").gpus == 1


def test_launch_refuses_while_an_earlier_submission_is_queued(cli, tmp_path, fake_sbatch):
    env, calls = fake_sbatch
    run = tmp_path / "run"
    assert cli("launch", "--slurm", "--run-dir", str(run), *SMALL, cwd=tmp_path, env=env).returncode == 0
    squeue = Path(env["PATH"].split(os.pathsep)[0]) / "squeue"
    squeue.write_text("#!/bin/sh\necho 7\necho 101\n")  # another user's job 7, and our fine-tune array 101
    squeue.chmod(squeue.stat().st_mode | stat.S_IEXEC)
    n = len(calls())
    res = cli("launch", "--slurm", "--run-dir", str(run), *SMALL, cwd=tmp_path, env=env)
    assert res.returncode == 2 and "job(s) 101 of an earlier submission" in res.stderr
    assert len(calls()) == n  # nothing submitted
    squeue.write_text("#!/bin/sh\necho 7\n")  # ours have left the queue: submitting again is allowed
    res = cli("launch", "--slurm", "--run-dir", str(run), *SMALL, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert len((run / "slurm" / "submissions.jsonl").read_text().splitlines()) == 2
