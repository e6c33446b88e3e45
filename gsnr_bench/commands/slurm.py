"""`gsnr-bench launch --slurm`: a sweep as Slurm jobs chained by job dependencies.

    score      every selector's scores and subsets (and the demo world)          slurm.score
    finetune   a job array, one task per model still to train: the 100% baseline  slurm.finetune
               and each selector x budget cell (afterok: score)
    generate   answers of every system (afterok: the whole fine-tune array)        slurm.generate
    judge      every cell against the baseline, through the judge endpoints;       slurm.judge (no GPU)
               asks for no GPU (afterok: generate)
    report     report/ and the manifest (afterok: judge)                          slurm.report

The whole configuration is validated (selectors, judges and their endpoints, test sets, files, budgets, the
batch size against the fine-tune job's GPUs) and the run record written before the first sbatch. Only what
is left is submitted: a stage whose directory is DONE gets no job, so after a cancelled or failed job the same
command submits exactly the work that is missing. Jobs are submitted with --kill-on-invalid-dep=yes: when one
fails or is cancelled, the jobs that waited for it leave the queue instead of waiting forever. Each job's log
is RUN/slurm/logs/<job name>-<job id>[_<task>].out; RUN/slurm/submissions.jsonl records every submission (job
ids, stages, which array task trains which model) and every stage a job finishes records the job in its DONE
file, so report/jobs.csv says which job made which cell."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gsnr_bench.core.config import Config
from gsnr_bench.core.errors import ConfigError, GsnrError
from gsnr_bench.core.progress import stdout_console
from gsnr_bench.core.slurm_config import SLURM_STAGES

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline

SUBMISSIONS = Path("slurm") / "submissions.jsonl"
LOGS = Path("slurm") / "logs"


class SlurmError(GsnrError):
    """sbatch is missing or refused a job."""


@dataclass
class Job:
    stage: str
    options: list[str]  # sbatch resource options from the config's slurm section
    systems: list[str] = field(default_factory=list)  # finetune: the model each array task trains
    job_id: str | None = None
    after: str | None = None  # the job it waits for (afterok)


@dataclass
class Work:
    """What a sweep still needs, stage by stage (a fresh run: everything)."""

    score: bool
    finetune: list[str]  # systems whose model is not trained, the baseline first
    generate: bool
    judge: bool


def sbatch_options(cfg: Config, stage: str) -> list[str]:
    """The sbatch options of one stage's jobs, from the slurm section (stage values over its defaults)."""
    r = cfg.slurm.stage(stage)
    opts = [f"--cpus-per-task={r.cpus}"]
    for flag, value in (("--partition", r.partition), ("--account", r.account), ("--time", r.time), ("--mem", r.mem)):
        if value:
            opts.append(f"{flag}={value}")
    if r.gpus:
        opts.append(f"--gpus-per-node={r.gpus}")
    return opts + list(r.extra)


def check_resources(cfg: Config) -> None:
    """What only the launcher knows: the fine-tune job's GPUs must divide the effective batch (one process per
    GPU), exactly as the training protocol will demand on the node, not hours later."""
    from gsnr_bench.training.plan import grad_accum

    gpus = cfg.slurm.stage("finetune").gpus
    try:
        grad_accum(cfg.finetune, max(gpus, 1))  # one process per GPU; a CPU job is one process
    except ConfigError as exc:
        raise ConfigError(f"slurm.finetune.gpus={gpus}: {exc}") from None
    if gpus > 1:
        accelerate_config(cfg)
    for stage in SLURM_STAGES:
        for opt in cfg.slurm.stage(stage).extra:
            if not opt.startswith("--") or opt.split("=")[0] in ("--array", "--dependency", "--output", "--wrap"):
                raise ConfigError(
                    f"slurm.{stage}.extra: {opt!r} is not an sbatch option the launcher leaves to you "
                    "(--array, --dependency, --output and --wrap are its own)"
                )


def accelerate_config(cfg: Config) -> Path:
    """The accelerate config file of multi-GPU fine-tune jobs (slurm.accelerate_config)."""
    from gsnr_bench.core.resources import find_resource

    name = cfg.slurm.accelerate_config
    found = find_resource("configs", f"{name}.yaml") if not name.endswith((".yaml", ".yml")) else None
    path = found or Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"slurm.accelerate_config {name!r} is neither a shipped accelerate config (accelerate/fsdp, "
            "accelerate/deepspeed-zero3) nor a file"
        )
    return path.resolve()


def work_left(pipe: Pipeline, selectors: list[str]) -> Work:
    """Which stages are not DONE. Nothing is run; a stage whose inputs are not made yet counts as left."""
    from gsnr_bench.pipeline import BASELINE, system_name

    cells = [system_name(s, r) for s, r in pipe.cells(selectors)]
    everything = Work(True, [BASELINE, *cells], True, True)
    if not pipe.store.exists:
        return everything
    if pipe.sources.demo.world and not pipe.sources.world_stage().done:  # reading the plan would build it
        return everything
    layout = pipe.plan(selectors)
    todo = [] if layout.baseline_model.done else [BASELINE]
    score = judge = False
    generate = not layout.baseline_answers.done
    for name, c in layout.cells.items():
        score |= not c.subset.done
        if c.model is None or not c.model.done:
            todo.append(name)
        generate |= c.answers is None or not c.answers.done
        judge |= len(c.judgments) < len(pipe.cfg.judging.judges) or not all(j.done for j in c.judgments.values())
    return Work(score, todo, generate or bool(todo), judge or generate or bool(todo))


def plan_jobs(cfg: Config, work: Work) -> list[Job]:
    jobs = []
    if work.score:
        jobs.append(Job("score", sbatch_options(cfg, "score")))
    if work.finetune:
        jobs.append(Job("finetune", sbatch_options(cfg, "finetune"), systems=list(work.finetune)))
    if work.generate:
        jobs.append(Job("generate", sbatch_options(cfg, "generate")))
    if work.judge:
        jobs.append(Job("judge", sbatch_options(cfg, "judge")))
    jobs.append(Job("report", sbatch_options(cfg, "report")))
    return jobs


def task_command(root: Path, job: Job, cfg: Config) -> list[str]:
    """What a job runs: the task module on this run; a multi-GPU fine-tune runs it once per GPU under
    `accelerate launch` (rank 0 records, every rank trains: pipeline/runner.py)."""
    python = [sys.executable]
    gpus = cfg.slurm.stage(job.stage).gpus
    if job.stage == "finetune" and gpus > 1:
        python += ["-m", "accelerate.commands.launch", "--config_file", str(accelerate_config(cfg))]
        python += ["--num_processes", str(gpus)]
    cmd = [*python, "-m", "gsnr_bench.commands.slurm_task", "--run-dir", str(root), "--phase", job.stage]
    if job.systems:
        cmd += ["--systems", ",".join(job.systems)]
    return cmd


def sbatch_argv(root: Path, job: Job, after: str | None, cfg: Config) -> list[str]:
    array = job.stage == "finetune"
    log = root / LOGS / ("%x-%A_%a.out" if array else "%x-%j.out")
    argv = [
        "sbatch",
        "--parsable",
        "--kill-on-invalid-dep=yes",
        f"--job-name=gsnr-{job.stage}",
        f"--output={log}",
        f"--chdir={Path.cwd()}",
        "--export=ALL",
        *job.options,
    ]
    if array:
        argv.append(f"--array=0-{len(job.systems) - 1}")
    if after:
        argv.append(f"--dependency=afterok:{after}")
    argv.append("--wrap=" + shlex.join(["exec", *task_command(root, job, cfg)]))
    return argv


def submit(root: Path, jobs: list[Job], cfg: Config) -> None:
    """sbatch each job after the previous one (the chain's order is the stages' order)."""
    after = None
    for job in jobs:
        try:
            res = subprocess.run(sbatch_argv(root, job, after, cfg), capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmError(f"sbatch for the {job.stage} job failed: {exc}") from None
        if res.returncode != 0:
            said = (res.stderr or res.stdout).strip().splitlines()
            submitted = ", ".join(f"{j.stage}={j.job_id}" for j in jobs if j.job_id) or "none"
            raise SlurmError(
                f"sbatch refused the {job.stage} job: {said[-1] if said else f'exit {res.returncode}'} "
                f"(already submitted: {submitted}; cancel them with scancel or let them run)"
            )
        job.job_id, job.after = res.stdout.strip().split(";")[0], after
        after = job.job_id


def still_queued(root: Path) -> list[str]:
    """Jobs of this run's earlier submissions that squeue still lists (pending or running): submitting again
    now would queue a second copy of their work."""
    from gsnr_bench.core.fileio import read_jsonl

    path = root / SUBMISSIONS
    if not path.is_file() or shutil.which("squeue") is None:
        return []
    ours = {j["job_id"] for sub in read_jsonl(path, tolerant=True) for j in sub.get("jobs", [])}
    try:  # %F: the array's job id for array tasks, the job id otherwise
        res = subprocess.run(["squeue", "-h", "-o", "%F"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(f"squeue failed: {exc}") from None
    if res.returncode != 0:
        raise SlurmError(f"squeue failed: {(res.stderr or res.stdout).strip() or res.returncode}")
    return sorted({line.strip() for line in res.stdout.splitlines()} & ours)


def cmd_launch(args: argparse.Namespace) -> int:
    from gsnr_bench.commands.runs import resolve_run
    from gsnr_bench.core.fileio import append_jsonl
    from gsnr_bench.pipeline import Pipeline, system_name
    from gsnr_bench.run.runrecord import RunRecord, history_entry, save_record
    from gsnr_bench.run.store import RunStore

    if not args.slurm:
        raise ConfigError("launch needs a scheduler: --slurm (the only one so far)")
    plan = resolve_run(args)
    cfg, root = plan.cfg, plan.root.resolve()
    store = RunStore(root, create=False)
    pipe = Pipeline(cfg, store, quiet=True)
    selectors = cfg.selection.selectors
    # everything first, as `gsnr-bench run` would check it, then what only the launcher knows
    pipe.validate(selectors, "judge")
    check_resources(cfg)
    jobs = plan_jobs(cfg, work_left(pipe, selectors))
    if getattr(args, "dry_run", False):
        print_jobs(root, jobs, submitted=False)
        return 0
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch is not on PATH: run launch --slurm on a Slurm login node")
    queued = still_queued(root)
    if queued:
        raise SlurmError(
            f"job(s) {', '.join(queued)} of an earlier submission on this run are still queued or running; "
            "wait for them (squeue) or cancel them (scancel), then launch again to submit what is left"
        )
    store.create()
    record = plan.record or RunRecord(cfg.to_dict(), [])
    cells = [system_name(s, r) for s, r in pipe.cells(selectors)]
    record.history.append(history_entry(None, plan.changed, cells, cfg.judging.judges, "launch"))
    record.config = cfg.to_dict()
    save_record(root, record)
    (root / LOGS).mkdir(parents=True, exist_ok=True)
    try:
        submit(root, jobs, cfg)
    finally:  # what was submitted is recorded even when a later sbatch failed
        if any(j.job_id for j in jobs):
            now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
            append_jsonl(
                root / SUBMISSIONS,
                [
                    {
                        "at": now,
                        "user": os.environ.get("USER", ""),
                        "jobs": [
                            {
                                "stage": j.stage,
                                "job_id": j.job_id,
                                "after": j.after,
                                "options": j.options,
                                "array": j.systems,
                            }
                            for j in jobs
                            if j.job_id
                        ],
                    }
                ],
            )
    print_jobs(root, jobs, submitted=True)
    return 0


def print_jobs(root: Path, jobs: list[Job], *, submitted: bool) -> None:
    from rich.table import Table

    t = Table(title=f"slurm jobs ({root})")
    for col in ("stage", "job", "tasks", "sbatch options", "after"):
        t.add_column(col)
    prev = "-"
    for j in jobs:
        tasks = ", ".join(f"{k}:{s}" for k, s in enumerate(j.systems)) if j.systems else "1"
        t.add_row(j.stage, j.job_id or "-", tasks, " ".join(j.options), prev)
        prev = j.job_id or j.stage
    out = stdout_console()
    out.print(t)
    out.print(f"logs: {root / LOGS}")
    if not submitted:
        out.print("dry run: nothing submitted")
