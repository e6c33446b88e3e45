"""`gsnr-bench report` and `gsnr-bench leaderboard publish`: re-render from runs' files, never run a stage."""

from __future__ import annotations

import argparse

from gsnr_bench.core.errors import EXIT_FAILED_COMPARISONS
from gsnr_bench.core.progress import console, stdout_console


def table_flags(args: argparse.Namespace) -> dict:
    """The paper-table flags given on this command (None: not given, the run's report.tables holds)."""
    return {"judge_mean": args.judge_mean, "wtl": args.wtl, "interval": args.interval}


def cmd_report(args: argparse.Namespace) -> int:
    """RUN/report/ from every judged cell of the run (and its imports and human labels)."""
    from gsnr_bench.reporting.build import write_report
    from gsnr_bench.reporting.printing import print_report

    rr = write_report(args.run_dir, table_flags(args))
    print_report(rr, stdout_console())
    return EXIT_FAILED_COMPARISONS if rr.failed else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from gsnr_bench.reporting.build import publish_runs

    for p in publish_runs(args.runs, args.out, table_flags(args)):
        console.print(f"wrote {p}")
    return 0
