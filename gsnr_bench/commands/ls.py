"""`gsnr-bench ls`: selectors, judges, generators, runs."""

from __future__ import annotations

import argparse

from gsnr_bench.core.progress import stdout_console


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.table import Table

    console = stdout_console()

    from gsnr_bench.core import registry

    if args.what == "runs":
        t = Table(title=f"runs under {args.runs_root}")
        for col in ("run", "stages done", "selectors"):
            t.add_column(col)
        for marker in sorted(args.runs_root.glob("*/gsnr-run.json")):
            run = marker.parent
            done = list(run.glob("*/*/DONE")) + list(run.glob("judgments/*/*/DONE"))
            sels = sorted({p.parent.name.rsplit("-", 1)[0] for p in run.glob("scores/*/DONE")})
            t.add_row(str(run), str(len(done)), ", ".join(sels))
        console.print(t)
        return 0
    reg = {"selectors": registry.selectors, "judges": registry.judges, "generators": registry.generators}[args.what]()
    t = Table(title=args.what)
    t.add_column("name", style="bold")
    t.add_column("description")
    t.add_column("source")
    for name, spec in reg.specs().items():
        t.add_row(name, reg.describe(spec), spec.source)
    console.print(t)
    return 0
