"""`gsnr-bench report` and `gsnr-bench leaderboard publish`: re-render from runs' files, never run a stage."""

from __future__ import annotations

import argparse

from ..errors import EXIT_FAILED_COMPARISONS
from ..progress import console, stdout_console


def cmd_report(args: argparse.Namespace) -> int:
    """RUN/report/ from every judged cell of the run (and its imports and human labels)."""
    from ..reporting.build import write_report
    from ..reporting.printing import print_report

    rr = write_report(args.run_dir)
    print_report(rr, stdout_console())
    return EXIT_FAILED_COMPARISONS if rr.failed else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ..reporting.build import publish_runs

    for p in publish_runs(args.runs, args.out):
        console.print(f"wrote {p}")
    return 0
