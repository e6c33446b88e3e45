#!/usr/bin/env python
"""Print where the pipeline keeps each fine-tune of a sweep, so an outside launcher can train into it.

    python scripts/cell-paths.py --config paper/alpaca-llama2-7b-full --run-dir RUN --selector gsnr --ratio 0.05
    python scripts/cell-paths.py --config paper/alpaca-llama2-7b-full --run-dir RUN --baseline

Takes the flags of `gsnr-bench finetune`. Prints one tab-separated line per model: system name, the subset's
selection.jsonl (`-` for the 100% baseline) and the model stage directory
(RUN/models/<system>-<hash>). Subsets are computed first when missing (the score and select stages run, under
the store's lock, exactly as `gsnr-bench select` would); nothing is fine-tuned. Train with

    accelerate launch --config_file configs/accelerate/fsdp.yaml -m gsnr_bench.commands.launch \\
        --config CONFIG --subset SUBSET --out MODEL_DIR

(omit --subset for the baseline); the next `gsnr-bench generate/judge/run` with the same config finds the
trained model there and reuses it (the stage key is the pipeline's own: same config, same subset, same base).
"""

from __future__ import annotations

import sys

from gsnr_bench.cli import build_parser
from gsnr_bench.core.errors import ConfigError, GsnrError


def main(argv: list[str]) -> int:
    baseline_only = "--baseline" in argv
    argv = [a for a in argv if a != "--baseline"]
    args = build_parser().parse_args(["finetune", *argv])
    try:
        from gsnr_bench.commands.runs import resolve_run
        from gsnr_bench.pipeline import BASELINE, Pipeline
        from gsnr_bench.run.store import RunStore

        plan = resolve_run(args)
        cfg = plan.cfg
        pipe = Pipeline(cfg, RunStore(plan.root), quiet=True)
        selectors = [] if baseline_only else cfg.selection.selectors
        if not baseline_only:
            if not selectors:
                raise ConfigError("no selector given: use --selector NAME (or --baseline)")
            pipe.validate(selectors, "select")
            pipe.run(selectors, upto="select")  # subsets are computed when missing, as `gsnr-bench select` would
        layout = pipe.plan(selectors)  # where each fine-tune lives; nothing is trained
        rows = [(BASELINE, "-", layout.baseline_model.path)]
        for name, cell in layout.cells.items():
            rows.append((name, str(cell.subset.path / "selection.jsonl"), cell.model.path))
    except GsnrError as exc:
        print(f"cell-paths: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for name, subset, out in rows:
        print(f"{name}\t{subset}\t{out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
