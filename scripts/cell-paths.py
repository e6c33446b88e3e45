#!/usr/bin/env python
"""Print where the pipeline keeps each fine-tune of a sweep, so an outside launcher can train into it.

    python scripts/cell-paths.py --config paper/alpaca-llama2-7b-full --run-dir RUN --selector gsnr --ratio 0.05
    python scripts/cell-paths.py --config paper/alpaca-llama2-7b-full --run-dir RUN --baseline

Takes the flags of `gsnr-bench finetune`. Prints one tab-separated line per model: system name, the subset's
selection.jsonl (`-` for the 100% baseline) and the model stage directory
(RUN/models/<system>-<hash>). Subsets are computed first when missing (the score and select stages run, under
the store's lock, exactly as `gsnr-bench select` would); nothing is fine-tuned. Train with

    accelerate launch --config_file configs/accelerate/fsdp.yaml -m gsnr_bench.training.launch \\
        --config CONFIG --subset SUBSET --out MODEL_DIR

(omit --subset for the baseline); the next `gsnr-bench generate/judge/run` with the same config finds the
trained model there and reuses it (the stage key is the pipeline's own: same config, same subset, same base).
"""

from __future__ import annotations

import sys
from typing import Any

from gsnr_bench.cli import build_parser
from gsnr_bench.errors import ConfigError, GsnrError


def main(argv: list[str]) -> int:
    baseline_only = "--baseline" in argv
    argv = [a for a in argv if a != "--baseline"]
    args = build_parser().parse_args(["finetune", *argv])
    try:
        from gsnr_bench.commands import config_from_args, run_dir_for
        from gsnr_bench.pipeline import BASELINE, Pipeline, system_name
        from gsnr_bench.selection.budgets import budget_list
        from gsnr_bench.store import RunStore

        class _Paths(Pipeline):
            """The real pipeline, except that model stages are only addressed, never run."""

            def _run_stage(self, sd: Any, work: Any) -> Any:
                if sd.stage == "models":
                    return sd
                return super()._run_stage(sd, work)

        cfg = config_from_args(args)
        pipe = _Paths(cfg, RunStore(run_dir_for(args, cfg)), quiet=True)
        rows = [(BASELINE, "-", pipe.model(BASELINE, pipe.inputs.pool).path)]
        if not baseline_only:
            if not cfg.selection.selectors:
                raise ConfigError("no selector given: use --selector NAME (or --baseline)")
            pipe.preflight(cfg.selection.selectors, "select")
            for s in cfg.selection.selectors:
                for r in budget_list(cfg.selection):  # ratios, then absolute sizes (--n)
                    sub = pipe.subset(s, r)
                    name = system_name(s, r)  # as Pipeline.run names it
                    rows.append((name, str(sub.path / "selection.jsonl"),
                                 pipe.model(name, pipe.subset_examples(sub)).path))
    except GsnrError as exc:
        print(f"cell-paths: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for name, subset, out in rows:
        print(f"{name}\t{subset}\t{out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
