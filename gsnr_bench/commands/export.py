"""`gsnr-bench export`: a finished subset in rank order, in the pool's own format, for other trainers."""

from __future__ import annotations

import argparse

from gsnr_bench.core.progress import console


def cmd_export(args: argparse.Namespace) -> int:
    from gsnr_bench.core.errors import DataError
    from gsnr_bench.data.export import export_all, export_subset

    if args.all:
        if args.selector or args.ratio is not None or args.subset:
            raise DataError("--all exports every finished subset; leave out --selector, --ratio and --subset")
        for done in export_all(
            args.run_dir, args.out, fmt=args.export_format, force=args.force, train_data=args.train_data
        ):
            console.print(f"wrote {done.n} examples of {done.subset.name} to {done.path} ({done.format})", markup=False)
        return 0
    if not args.selector or args.ratio is None:
        raise DataError("give --selector and --ratio of the subset to export, or --all for every subset")

    done = export_subset(
        args.run_dir,
        args.selector,
        args.ratio,
        args.out,
        fmt=args.export_format,
        force=args.force,
        subset=args.subset,
        train_data=args.train_data,
    )
    console.print(
        f"wrote {done.n} examples of {done.subset.name} to {done.path} ({done.format})", markup=False, soft_wrap=True
    )
    return 0
