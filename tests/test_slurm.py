"""The Slurm tier: a real single-node, CPU-only cluster (Debian's slurm-wlm + munge, started from a generated
slurm.conf by tests/slurm_cluster.py) runs a small demo sweep through `gsnr-bench launch --slurm`: score, a job
array of fine-tunes, generation, judging, report, chained by job dependencies. A fine-tune job is cancelled
with scancel; resubmitting the sweep redoes that job and nothing else, and the leaderboard is byte-identical to
the single-process run's. Every daemon and job process is gone afterwards."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, missing_binaries

from conftest import ROOT

pytestmark = pytest.mark.slurm

SMALL = [
    "--set",
    "demo.pool_size=64",
    "--set",
    "demo.pretrain_examples=64",
    "--set",
    "demo.pretrain_epochs=1",
    "--set",
    "demo.wizardlm_questions=4",
    "--set",
    "demo.vicuna_questions=3",
    "--set",
    "finetune.epochs=1",
    "--set",
    "generation.max_new_tokens=12",
    "--selector",
    "random",
    "longest",
    "--ratio",
    "0.25",
    "--judge",
    "reference",
    "--quiet",
]
# the test cluster has no GPU; partition and time limits come from the config section like on a real one
RESOURCES = [
    "--set",
    "slurm.partition=debug",
    "--set",
    "slurm.account=gsnr-test",
    "--set",
    "slurm.time=00:20:00",
    "--set",
    "slurm.finetune.time=00:15:00",
    "--set",
    "slurm.score.gpus=0",
    "--set",
    "slurm.finetune.gpus=0",
    "--set",
    "slurm.generate.gpus=0",
]
CANCELLED = "longest@0.25"


def _env(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return {**env, **(extra or {})}


def _gsnr(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gsnr_bench", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Slurm/munge not installed ({', '.join(missing)}); .ci/run installs slurm-wlm and munge")
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs its daemons as root (SlurmUser=root)")
    c = SlurmCluster(tmp_path_factory.mktemp("slurm") / "cluster")
    with c:
        yield c
        c.wait_idle(60)
    left = c.leftover_pids()
    assert left == [], f"processes of the test cluster still running after stop: {left}"
    assert all(p.poll() is not None for p in c.procs.values())


def _submissions(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "slurm" / "submissions.jsonl").read_text().splitlines()]


def _jobs(sub: dict) -> dict[str, dict]:
    return {j["stage"]: j for j in sub["jobs"]}


def _times(cluster, job_id: str) -> tuple[str, str]:
    """(first start, last end) over a job's tasks, ISO times from scontrol (kept MinJobAge after the end)."""
    out = cluster.run("scontrol", "show", "job", job_id).stdout
    return min(re.findall(r"StartTime=(\S+)", out)), max(re.findall(r"EndTime=(\S+)", out))


def _done_files(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("DONE")}


@pytest.fixture(scope="module")
def sweep(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    env = _env(cluster.env)
    single = _gsnr("run", "--run-dir", str(root / "single"), *SMALL, env=_env(), cwd=root)
    assert single.returncode == 0, single.stderr[-3000:]

    run = root / "slurm-run"
    first = _gsnr("launch", "--slurm", "--run-dir", str(run), *SMALL, *RESOURCES, env=env, cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    sub1 = _jobs(_submissions(run)[0])
    task = sub1["finetune"]["array"].index(CANCELLED)
    # cancelled while it waits for the score job: its dependants (generate, judge, report) leave the queue
    cancel = cluster.run("scancel", f"{sub1['finetune']['job_id']}_{task}")
    assert cancel.returncode == 0, cancel.stderr
    cluster.wait_idle(240)
    after_first = _done_files(run)
    details = {
        stage: cluster.run("scontrol", "show", "job", j["job_id"], check=False).stdout for stage, j in sub1.items()
    }

    second = _gsnr("launch", "--slurm", "--run-dir", str(run), *SMALL, *RESOURCES, env=env, cwd=root)
    assert second.returncode == 0, second.stderr[-3000:]
    cluster.wait_idle(240)
    sub2 = _jobs(_submissions(run)[1])
    times = {stage: _times(cluster, j["job_id"]) for stage, j in sub2.items()}
    return {
        "root": root,
        "run": run,
        "single": root / "single",
        "sub1": sub1,
        "sub2": sub2,
        "times": times,
        "after_first": after_first,
        "details": details,
        "second": second,
    }


def test_launch_validates_everything_before_submitting(cluster, tmp_path):
    env = _env(cluster.env)
    bad = [
        ["--selector", "no-such-selector"],
        ["--judge", "no-such-judge"],
        ["--set", "slurm.judge.gpus=1"],
        ["--set", "finetune.batch_size=6", "--set", "finetune.micro_batch_size=4", "--set", "slurm.finetune.gpus=1"],
    ]
    for extra in bad:
        res = _gsnr(
            "launch", "--slurm", "--run-dir", str(tmp_path / "run"), *SMALL, *RESOURCES, *extra, env=env, cwd=tmp_path
        )
        assert res.returncode == 2, (extra, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr, res.stderr
        assert not (tmp_path / "run").exists()  # nothing written
    assert cluster.queue() == []  # nothing submitted


def test_sweep_is_chained_score_finetune_array_generate_judge_report(sweep):
    sub1, details = sweep["sub1"], sweep["details"]
    assert list(sub1) == ["score", "finetune", "generate", "judge", "report"]
    assert sub1["finetune"]["array"] == ["full", "random@0.25", CANCELLED]
    # the cancelled fine-tune task's dependants left the queue instead of waiting forever
    for stage in ("generate", "judge", "report"):
        assert "JobState=CANCELLED" in details[stage], details[stage]
    # each job of the resubmission started after the one before it ended (afterok chain)
    ends = list(sweep["times"].values())
    for (_, end), (start, _) in zip(ends, ends[1:]):
        assert start >= end
    chain = list(sweep["sub2"].values())
    assert all(j["after"] == p["job_id"] for p, j in zip(chain, chain[1:]))
    assert "Partition=debug" in details["score"] and "TimeLimit=00:15:00" in details["finetune"]
    assert "TimeLimit=00:20:00" in details["judge"]
    assert all("Account=gsnr-test" in d for d in details.values())
    assert all("gres/gpu" not in d for d in details.values())
    assert not any(o.startswith("--gpus") for o in sub1["judge"]["options"])


def test_cancelled_finetune_is_redone_and_nothing_else(sweep):
    run, sub2, before = sweep["run"], sweep["sub2"], sweep["after_first"]
    # after the cancel: every other model trained, the cancelled one not, no answers, no report
    models = {k for k in before if k.startswith("models/")}
    assert len(models) == 2 and not any(k.startswith(f"models/{CANCELLED}-") for k in models)
    assert not any(k.startswith("answers/") for k in before)
    # the resubmission: no score job, one fine-tune task (the cancelled model), then the rest of the chain
    assert list(sub2) == ["finetune", "generate", "judge", "report"]
    assert sub2["finetune"]["array"] == [CANCELLED]
    now = _done_files(run)
    assert {k: v for k, v in now.items() if k in before} == before  # nothing finished was made again
    assert any(k.startswith(f"models/{CANCELLED}-") for k in now)


def test_leaderboard_is_byte_identical_to_the_single_process_run(sweep):
    slurm_csv = (sweep["run"] / "report" / "leaderboard.csv").read_bytes()
    assert slurm_csv == (sweep["single"] / "report" / "leaderboard.csv").read_bytes()
    assert b"random" in slurm_csv and b"longest" in slurm_csv


def test_logs_in_run_dir_and_report_names_the_job_of_each_cell(sweep):
    run, sub1, sub2 = sweep["run"], sweep["sub1"], sweep["sub2"]
    logs = {p.name for p in (run / "slurm" / "logs").iterdir()}
    assert f"gsnr-score-{sub1['score']['job_id']}.out" in logs
    assert {f"gsnr-finetune-{sub1['finetune']['job_id']}_{i}.out" for i in (0, 1)} <= logs
    assert f"gsnr-finetune-{sub2['finetune']['job_id']}_0.out" in logs
    for stage in ("generate", "judge", "report"):
        assert f"gsnr-{stage}-{sub2[stage]['job_id']}.out" in logs
    with open(run / "report" / "jobs.csv", newline="") as fh:
        rows = {r["system"]: r for r in csv.DictReader(fh)}
    a1, a2 = sub1["finetune"]["job_id"], sub2["finetune"]["job_id"]
    assert rows["full"]["model"] == f"{a1}_0"
    assert rows["random@0.25"]["model"] == f"{a1}_1"
    assert rows[CANCELLED]["model"] == f"{a2}_0"  # the resubmission made it
    for system in ("random@0.25", CANCELLED):
        assert rows[system]["scores"] == sub1["score"]["job_id"]
        assert rows[system]["answers"] == sub2["generate"]["job_id"]
        assert rows[system]["judgments"] == sub2["judge"]["job_id"]
    report_log = (run / "slurm" / "logs" / f"gsnr-report-{sub2['report']['job_id']}.out").read_text()
    assert f"model={a2}_0" in report_log
