"""What each CLI command does. Imported only after argument parsing succeeded."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from .config import Config, build_config
from .errors import ConfigError
from .fileio import write_text
from .progress import console, stdout_console


def config_from_args(args: argparse.Namespace) -> Config:
    extra: dict[str, Any] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            extra.setdefault(section, {})[key] = value

    put("data", "train", getattr(args, "train_data", None))
    put("data", "testsets", getattr(args, "testsets", None))
    put("proxy", "model", getattr(args, "proxy", None))
    put("finetune", "model", getattr(args, "target", None))
    put("judging", "judges", getattr(args, "judges", None))
    put("selection", "selectors", getattr(args, "selectors", None))
    put("selection", "ratios", getattr(args, "ratios", None))
    put("selection", "budget_base", getattr(args, "budget_base", None))
    put("judging", "max_cost", getattr(args, "max_cost", None))
    put("judging", "concurrency", getattr(args, "concurrency", None))
    if getattr(args, "seed", None) is not None:
        extra["seed"] = args.seed
    return build_config(args.config or ["demo"], args.overrides, extra)


def run_dir_for(args: argparse.Namespace, cfg: Config) -> Path:
    return args.run_dir or Path("runs") / cfg.name


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "ls":
        return cmd_ls(args)
    if args.command == "leaderboard":
        from .report_stage import publish_runs

        for p in publish_runs(args.runs, args.out):
            console.print(f"wrote {p}")
        return 0
    if args.command == "export":
        from .export import export_subset

        done = export_subset(args.run_dir, args.selector, args.ratio, args.out, fmt=args.export_format,
                             force=args.force, subset=args.subset, train_data=args.train_data)
        console.print(f"wrote {done.n} examples of {done.subset.name} to {done.path} ({done.format})",
                      markup=False, soft_wrap=True)
        return 0
    if args.command == "import-human":
        from .report_stage import import_human_into_run

        import_human_into_run(args.file, args.run_dir)
        return 0
    if args.command == "import-judgments":
        from .report_stage import import_judgments_into_run

        import_judgments_into_run(args)
        return 0
    return cmd_pipeline(args)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from .manifest import write_manifest
    from .pipeline import Pipeline
    from .store import RunStore

    cfg = config_from_args(args)
    root = run_dir_for(args, cfg)
    store = RunStore(root)
    write_text(root / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=True))
    pipe = Pipeline(cfg, store, quiet=args.quiet)
    selectors = cfg.selection.selectors
    if not selectors:
        raise ConfigError("no selector given: use --selector NAME")
    upto = "report" if args.command == "run" else args.command
    if upto == "judge" and getattr(args, "dry_run", False):
        from .judge_plan import print_dry_run

        print_dry_run(pipe, selectors)
        return 0
    if upto == "score":
        pipe.preflight(selectors, upto)
        for s in selectors:
            pipe.scores(s)
        out: dict[str, Any] = {}
    else:
        out = pipe.run(selectors, upto=upto)
    if os.environ.get("RANK", "0") == "0":  # under a distributed launcher only rank 0 records and reports
        write_manifest(root, cfg.to_dict(), store.finished_stages(), _manifest_extra(pipe))
        _print_summary(pipe, out, root)
    return 0


def _manifest_extra(pipe: Any) -> dict[str, Any]:
    from .judge_plan import judging_manifest

    return judging_manifest(pipe)


def _print_summary(pipe: Any, out: dict[str, Any], root: Path) -> None:
    from rich.table import Table


    out_console = stdout_console()
    t = Table(title=f"stages ({root})", show_lines=False)
    t.add_column("stage")
    t.add_column("item")
    t.add_column("status")
    t.add_column("seconds", justify="right")
    for e in pipe.events:
        t.add_row(e.stage, e.label, "cached" if e.cached else "done", f"{e.seconds:.1f}")
    out_console.print(t)
    report = out.get("report")
    if report is not None:
        report.print(out_console)


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.table import Table

    console = stdout_console()

    from . import registry

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
