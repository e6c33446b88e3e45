"""One job of a `gsnr-bench launch --slurm` sweep (commands/slurm.py submits it; do not call it yourself):

    python -m gsnr_bench.commands.slurm_task --run-dir RUN --phase score|finetune|generate|judge|report
                                             [--systems full,gsnr@0.05,...]   (finetune: one per array task)

Every job reads the run's recorded configuration (RUN/config.yaml, written by the launcher after validating
it), so all jobs of a sweep run the same configuration. Stages are the pipeline's own: a DONE stage is reused,
a partial one resumes, and the store's stage locks keep two jobs off one stage. Errors print one line, exit 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gsnr_bench.commands.slurm_task", description=__doc__.split("\n")[0])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--phase", required=True, choices=["score", "finetune", "generate", "judge", "report"])
    p.add_argument("--systems", default="", help="finetune: comma-separated systems, one per array task")
    return p.parse_args(argv)


def _pipeline(root: Path) -> Pipeline:
    from gsnr_bench.core.config import build_config
    from gsnr_bench.core.errors import StoreError
    from gsnr_bench.pipeline import Pipeline
    from gsnr_bench.run.runrecord import load_record
    from gsnr_bench.run.store import RunStore

    record = load_record(root)
    if record is None:
        raise StoreError(f"{root} has no run record (config.yaml); submit the sweep with gsnr-bench launch --slurm")
    cfg = build_config([record.config])
    return Pipeline(cfg, RunStore(root, create=False), quiet=True)


def train_one(pipe: Pipeline, system: str) -> None:
    """The model of one system: the 100% baseline or one selector x budget cell (its subset is made first if
    missing, as the pipeline would)."""
    from gsnr_bench.core.errors import ConfigError
    from gsnr_bench.pipeline import BASELINE, system_name

    if system == BASELINE:
        pipe.model(BASELINE, pipe.inputs.pool)
        return
    for s, r in pipe.cells(pipe.cfg.selection.selectors):
        if system_name(s, r) == system:
            pipe.model(system, pipe.subset_examples(pipe.subset(s, r)))
            return
    raise ConfigError(f"{system!r} is not a cell of this run's sweep")


def run_phase(args: argparse.Namespace) -> int:
    from gsnr_bench.commands.runs import exit_status, print_summary, write_run_manifest

    root = args.run_dir
    pipe = _pipeline(root)
    selectors = pipe.cfg.selection.selectors
    job = os.environ.get("SLURM_JOB_ID", "?")
    print(f"gsnr-bench slurm job {job}: phase {args.phase} on {root}", flush=True)
    if args.phase == "finetune":
        systems = [s for s in args.systems.split(",") if s]
        task = int(os.environ.get("SLURM_ARRAY_TASK_ID", "0"))
        if not 0 <= task < len(systems):
            from gsnr_bench.core.errors import ConfigError

            raise ConfigError(f"array task {task} has no system (systems: {', '.join(systems)})")
        print(f"array task {task}: fine-tune {systems[task]}", flush=True)
        train_one(pipe, systems[task])
        outcome = pipe.outcome()
    elif args.phase == "report":
        from gsnr_bench.core.progress import stdout_console
        from gsnr_bench.reporting.build import write_report
        from gsnr_bench.reporting.jobs import stage_jobs
        from gsnr_bench.reporting.printing import print_report

        rr = write_report(root)
        write_run_manifest(root, pipe.cfg, pipe.store, 0.0)  # this job sent nothing to judges
        print_report(rr, stdout_console())
        for row in stage_jobs(root):
            print("made by job: " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        return 0
    else:
        upto = {"score": "select"}.get(args.phase, args.phase)
        pipe.validate(selectors, upto)
        outcome = pipe.run(selectors, upto=upto)
    print_summary(outcome, None, root)
    return exit_status(outcome, pipe.cfg, root) if args.phase == "judge" else 0


def main(argv: list[str] | None = None) -> int:
    from gsnr_bench.core.errors import GsnrError
    from gsnr_bench.core.noise import configure_library_output

    args = parse_args(argv)
    configure_library_output(verbose=False)
    try:
        return run_phase(args)
    except GsnrError as exc:
        print(f"gsnr-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
