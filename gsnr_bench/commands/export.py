"""`gsnr-bench export`: a finished subset in rank order, in the pool's own format, for other trainers."""

from __future__ import annotations

import argparse

from ..progress import console


def cmd_export(args: argparse.Namespace) -> int:
    from ..data.export import export_subset

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
