#!/usr/bin/env python
"""Calibrate the sweep plan's throughput table from a finished run: the plan's FLOPs for each stage the run made,
against the seconds its DONE file records.

    python bench/plan_calibrate.py RUN [--hardware cpu]

Prints, per kind of work (train: fine-tunes and scoring ensembles, forward: IFD, decode: generation), the
FLOPs the plan counts, the seconds the run took, the effective FLOP/s that makes (the number to put into
gsnr_bench/commands/plan_data.yaml for that hardware) and its ratio to the table's entry; then the plan's hours
against the run's for each stage. Stages the run found cached (seconds 0 in this command) are left out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--hardware", default="cpu")
    args = p.parse_args(argv)

    from gsnr_bench.commands.runs import resolve_run
    from gsnr_bench.commands.sweep_plan import build_plan, plan_data, plan_sizes
    from gsnr_bench.pipeline import BASELINE, Pipeline
    from gsnr_bench.run.store import RunStore

    ns = argparse.Namespace(run_dir=args.run, config=[], overrides=[])
    plan_run = resolve_run(ns)
    pipe = Pipeline(plan_run.cfg, RunStore(plan_run.root, create=False), quiet=True)
    selectors = pipe.cfg.selection.selectors
    sizes = plan_sizes(pipe)
    plan = build_plan(pipe, selectors, args.hardware, sizes)
    layout = pipe.plan(selectors)
    with pipe.peeking():
        dirs = {("score", s): pipe.scores(s) for s in selectors}
    dirs[("finetune", BASELINE)] = layout.baseline_model
    dirs[("generate", BASELINE)] = layout.baseline_answers
    for name, cell in layout.cells.items():
        dirs[("finetune", name)] = cell.model
        dirs[("generate", name)] = cell.answers
    by_kind: dict[str, list[float]] = {}
    by_stage: dict[str, list[float]] = {}
    for it in plan["items"]:
        sd = dirs.get((it["stage"], it["name"]))
        if sd is None or not sd.done or not it["flops"]:
            continue
        seconds = float(sd.meta().get("seconds", 0))
        if seconds <= 0:
            continue
        kind = it["kind"]
        by_kind.setdefault(kind, [0.0, 0.0])
        by_kind[kind][0] += it["flops"]
        by_kind[kind][1] += seconds
        by_stage.setdefault(it["stage"], [0.0, 0.0])
        by_stage[it["stage"]][0] += it["gpu_hours"]
        by_stage[it["stage"]][1] += seconds / 3600
    table = plan_data()["hardware"][args.hardware]
    print(f"run {args.run} against the {args.hardware} entry of plan_data.yaml")
    print(
        f"{'kind':8} {'FLOPs':>12} {'seconds':>9} {'measured FLOP/s':>16} {'table FLOP/s':>13} {'measured/table':>15}"
    )
    for kind, (flops, secs) in sorted(by_kind.items()):
        rate = flops / secs
        print(f"{kind:8} {flops:12.3e} {secs:9.1f} {rate:16.3e} {float(table[kind]):13.3e} {rate / table[kind]:15.2f}")
    print(f"{'stage':8} {'planned h':>10} {'actual h':>9} {'actual/planned':>15}")
    for stage, (planned, actual) in by_stage.items():
        print(f"{stage:8} {planned:10.4f} {actual:9.4f} {actual / planned:15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
