"""The pipeline commands (run, score, select, finetune, generate, judge) and how a command finds its run.

Which configuration a command uses:
  - on an existing run (RUN/config.yaml): the run's recorded config, then --config files, then flags
    and --set; what changed is recorded in the run's history (run/runrecord.py);
  - on a new run: the --config files; with none, the offline demo when the command names no real input,
    else the paper-faithful defaults plus the flags (a missing input is a one-line error, never the demo).
Everything is validated (names, files, parameter types, judges) before the record is written or any
stage runs."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsnr_bench.commands.flags import flag_tree
from gsnr_bench.core.config import Config, build_config
from gsnr_bench.core.errors import EXIT_FAILED_COMPARISONS, BudgetExceeded
from gsnr_bench.core.progress import stdout_console
from gsnr_bench.run.runrecord import RunRecord, changes, history_entry, load_record, save_record
from gsnr_bench.run.store import MARKER, RunStore

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline, SweepOutcome

REAL_INPUTS = ("train_data", "proxy", "target", "testsets")


def default_sources(args: argparse.Namespace) -> list[Any]:
    """--config files; with none, the demo preset unless a real input is named (then the defaults)."""
    if args.config:
        return list(args.config)
    if any(getattr(args, k, None) for k in REAL_INPUTS):
        return []
    return ["demo"]


@dataclass
class RunPlan:
    root: Path
    cfg: Config
    record: RunRecord | None  # None: a new run

    @property
    def changed(self) -> dict[str, list[Any]]:
        return changes(self.record.config, self.cfg.to_dict()) if self.record else {}


def resolve_run(args: argparse.Namespace) -> RunPlan:
    """The run directory and the configuration this command uses on it. Writes nothing."""
    extra = flag_tree(args)
    if args.run_dir is not None:
        root = Path(args.run_dir)
    else:
        root = Path("runs") / build_config(default_sources(args), args.overrides, extra).name
    RunStore(root, create=False)  # a file, a foreign dir or another store version: one line, now
    record = load_record(root) if (root / MARKER).is_file() else None
    sources = [record.config, *args.config] if record else default_sources(args)
    return RunPlan(root, build_config(sources, args.overrides, extra), record)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from gsnr_bench.pipeline import Pipeline

    plan = resolve_run(args)
    cfg, root = plan.cfg, plan.root
    store = RunStore(root, create=False)
    pipe = Pipeline(cfg, store, quiet=args.quiet)
    selectors = cfg.selection.selectors
    upto = "judge" if args.command == "run" else args.command
    if _dry_run(args, pipe, selectors):
        return 0
    pipe.validate(selectors, upto)
    store.create()
    record_command(args, plan, pipe, upto)
    rank0 = os.environ.get("RANK", "0") == "0"  # under a distributed launcher only rank 0 records and reports
    printed = []

    def scored() -> None:  # judge-free results as soon as the scores exist, before any fine-tuning
        if rank0:
            printed.append(print_judge_free(root))

    outcome = pipe.run(selectors, upto=upto, on_scored=scored)
    if not rank0:
        return 0
    rr = None
    if args.command == "run":
        from gsnr_bench.reporting.build import write_report

        rr = write_report(root)
    write_run_manifest(root, cfg, store, outcome.spent)
    print_summary(outcome, rr, root, judge_free=not printed)
    return exit_status(outcome, cfg, root)


def _dry_run(args: argparse.Namespace, pipe: Pipeline, selectors: list[str]) -> bool:
    """`run --dry-run` (the sweep plan) or `judge --dry-run` (the judging plan), printed; False for neither."""
    dry = getattr(args, "dry_run", False)
    if args.command == "run" and dry:
        from gsnr_bench.commands.sweep_plan import cmd_plan

        cmd_plan(pipe, selectors, args.hardware, args.json)
        return True
    if getattr(args, "json", None) or getattr(args, "hardware", None):
        from gsnr_bench.core.errors import ConfigError

        raise ConfigError("--json and --hardware belong to the sweep plan: add --dry-run")
    if args.command == "judge" and dry:
        from gsnr_bench.commands.dry_run import print_dry_run

        pipe.validate(selectors, "judge", check_endpoints=False)  # sends nothing, so needs no endpoint
        print_dry_run(pipe, selectors)
        return True
    return False


def record_command(args: argparse.Namespace, plan: RunPlan, pipe: Pipeline, upto: str) -> None:
    """This command in the run record's history (argv, changed keys, cells, judges), after validation."""
    from gsnr_bench.pipeline import system_name

    cfg = plan.cfg
    record = plan.record or RunRecord(cfg.to_dict(), [])
    cells = [system_name(s, r) for s, r in pipe.cells(cfg.selection.selectors)] if upto != "score" else []
    judges = cfg.judging.judges if upto == "judge" else []
    record.history.append(history_entry(getattr(args, "argv", None), plan.changed, cells, judges, args.command))
    record.config = cfg.to_dict()
    save_record(plan.root, record)


def print_judge_free(root: Path) -> dict:
    """Write RUN/report/judge-free.json and print enrichment, selector health and seed stability."""
    from gsnr_bench.reporting.build import write_judge_free
    from gsnr_bench.reporting.printing import print_judge_free as show

    jf = write_judge_free(root)
    show(jf, stdout_console())
    return jf


def write_run_manifest(root: Path, cfg: Config, store: RunStore, spent: float) -> None:
    """RUN/manifest.json, with `spent`: what this command sent to judges (USD)."""
    from gsnr_bench.commands.dry_run import judging_manifest
    from gsnr_bench.run.manifest import write_manifest

    write_manifest(root, cfg.to_dict(), store.finished_stages(), judging_manifest(cfg, root, spent))


def exit_status(outcome: SweepOutcome, cfg: Config, root: Path) -> int:
    """One line and a non-zero exit when judging did not finish (README: exit codes)."""
    if outcome.budget_stop is not None:
        from gsnr_bench.judging.cache import run_spend

        limit = cfg.judging.max_cost
        spent = run_spend(root, cfg.judging)
        _say(
            f"stopped at --max-cost: ${spent:.4f} spent of ${limit:g} by this run; {outcome.left_unjudged} "
            "comparison(s) of this command left unjudged (run again with a higher --max-cost to finish them; "
            "nothing judged is lost)"
        )
        return BudgetExceeded.exit_code
    if outcome.failed_comparisons:
        _say(
            f"{outcome.failed_comparisons} comparison(s) failed in {len(outcome.incomplete)} judging stage(s) (counted "
            "in the report's failed column); run the same command again to retry exactly those"
        )
        return EXIT_FAILED_COMPARISONS
    return 0


def _say(line: str) -> None:
    """One unwrapped line on stderr, like the CLI's errors (a terminal-width wrap would split it)."""
    print(f"gsnr-bench: {line}", file=sys.stderr)


def print_summary(outcome: SweepOutcome, rr: Any, root: Path, *, judge_free: bool = True) -> None:
    from rich.table import Table

    out_console = stdout_console()
    t = Table(title=f"stages ({root})", show_lines=False)
    t.add_column("stage")
    t.add_column("item")
    t.add_column("status")
    t.add_column("seconds", justify="right")
    for e in outcome.events:
        t.add_row(e.stage, e.label, e.status or ("cached" if e.cached else "done"), f"{e.seconds:.1f}")
    out_console.print(t)
    if rr is not None:
        from gsnr_bench.reporting.printing import print_report

        print_report(rr, out_console, judge_free=judge_free)
