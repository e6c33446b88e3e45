"""Fine-tune one sweep cell, as one process or under `accelerate launch` (FSDP / DeepSpeed ZeRO-3):

    accelerate launch --config_file configs/accelerate/fsdp.yaml -m gsnr_bench.commands.launch \\
        --config configs/paper/alpaca-llama2-7b-full.yaml --subset RUN/subsets/gsnr-0.05-abc/selection.jsonl \\
        --out RUN/models/gsnr@0.05-xyz

The examples are the pool (`--pool`, default data.train of the config) restricted to the ids of `--subset`
(core's selection.jsonl) in the subset's order, or every pool example without `--subset` (the 100% baseline).
The base model is finetune.model of the config unless `--base` is given. Errors print one line, exit 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gsnr_bench.commands.launch", description=__doc__.split("\n")[0])
    p.add_argument("--config", action="append", default=[], help="YAML config or preset (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--subset", type=Path, help="selection.jsonl ({id, ...} per line); omit for the whole pool")
    p.add_argument("--pool", help="pool file or dataset name (default: data.train of the config)")
    p.add_argument("--base", help="base model dir or hub name (default: finetune.model)")
    p.add_argument("--out", type=Path, required=True, help="output dir (model/, trained.json, train_log.jsonl)")
    return p.parse_args(argv)


def cell_examples(pool: list, subset: Path | None) -> list:
    """The pool's examples `subset` lists (the pipeline's own reading of a selection.jsonl), or the whole pool."""
    from gsnr_bench.pipeline.stages.subsets import examples_in

    return pool if subset is None else examples_in(pool, subset, str(subset))


def main(argv: list[str] | None = None) -> int:
    from gsnr_bench.core.errors import ConfigError, GsnrError

    args = parse_args(argv)
    try:
        from gsnr_bench.core.config import build_config
        from gsnr_bench.data.pool import load_pool
        from gsnr_bench.training.finetune import finetune

        cfg = build_config(args.config, args.overrides)
        base = args.base or cfg.finetune.model
        source = args.pool or cfg.data.train
        if not base or not source:
            raise ConfigError(
                "name the target and the pool: --config (with finetune.model and data.train), "
                "or --base DIR and --pool FILE"
            )
        if base == "demo" or source == "demo":
            raise ConfigError("the demo target/pool live inside a run: pass --base DIR and --pool FILE")
        from gsnr_bench.modeling.catalog import resolve_model

        base = resolve_model(base, "target")  # a catalogue name -> its fetched directory
        pool = load_pool(source, max_examples=cfg.data.max_examples)
        out = finetune(cell_examples(pool, args.subset), cfg.finetune, base, args.out)
    except GsnrError as exc:
        print(f"gsnr-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
