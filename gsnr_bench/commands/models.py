"""`gsnr-bench models ls | fetch NAME`: the models the project can make locally, with no model hub."""

from __future__ import annotations

import argparse

from gsnr_bench.core.progress import stdout_console


def cmd_models(args: argparse.Namespace) -> int:
    from gsnr_bench.modeling import catalog

    if args.models_command == "ls":
        from rich.table import Table

        t = Table(title="fetchable models (models/*.yaml)")
        for col in ("name", "description", "fetched"):
            t.add_column(col)
        for name, e in catalog.entries().items():
            d = catalog.fetched_dir(name)
            t.add_row(name, e.description, str(d) if d else "no (gsnr-bench models fetch " + name + ")")
        stdout_console().print(t)
        return 0
    from gsnr_bench.modeling.fetch import fetch

    e = catalog.entry(args.name)
    d = fetch(e, say=lambda msg: print(msg, flush=True))
    if e.caveat:
        print(f"note: {e.caveat}")
    print(d)  # the last line: the directory, for scripts ($(gsnr-bench models fetch NAME | tail -1))
    return 0
