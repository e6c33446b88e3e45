"""`gsnr-bench plant-defects SOURCE --n N --out DIR`: a real pool with labelled defects (data/defects.py)."""

from __future__ import annotations

import argparse


def cmd_plant_defects(args: argparse.Namespace) -> int:
    from gsnr_bench.data.defects import plant_defects, write_planted

    planted = plant_defects(args.source, n=args.n, rate=args.rate, seed=args.seed)
    pool, truth, written = write_planted(planted, args.out)
    counts = ", ".join(f"{k} {v}" for k, v in planted.meta["counts"].items())
    print(f"{'wrote' if written else 'already there (same content)'}: {pool} ({args.n} records: {counts})")
    print(f"truth: {truth}  (use: --train-data {pool} --truth {truth})")
    return 0
