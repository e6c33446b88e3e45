"""The `gsnr-bench` command line. Parsing imports nothing heavy: `--help` never loads torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

STAGES = ("score", "select", "finetune", "generate", "judge")


def _common(p: argparse.ArgumentParser, *, selectors: bool = True) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument("--config", action="append", default=[], metavar="FILE.yaml",
                   help="YAML config or shipped preset name (demo, paper/alpaca-llama2-7b-lora); repeatable, later wins")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.SUB=VALUE",
                   help="override one config key, e.g. --set judging.order=both (repeatable)")
    g.add_argument("--run-dir", type=Path, help="run directory (default: runs/<config name>)")
    g.add_argument("--train-data", help="Alpaca JSON/JSONL file or Hugging Face dataset name (data.train)")
    g.add_argument("--truth", metavar="FILE", help="ground truth of the pool: JSON/JSONL/CSV id -> clean | defect "
                   "label (data.truth); enables enrichment and the oracle / anti-oracle controls")
    g.add_argument("--proxy", help="proxy model dir or hub name (proxy.model)")
    g.add_argument("--target", help="target model dir or hub name (finetune.model)")
    g.add_argument("--testset", dest="testsets", action="extend", nargs="+",
                   help="wizardlm, vicuna, a path, or NAME=PATH (data.testsets)")
    g.add_argument("--judge", dest="judges", action="extend", nargs="+", help="judge name(s) (judging.judges)")
    g.add_argument("--seed", type=int, help="global seed")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    if selectors:
        g.add_argument("--selector", dest="selectors", action="extend", nargs="+",
                       help="selector name(s) or path/to/file.py:ClassName (selection.selectors)")
        g.add_argument("--ratio", dest="ratios", action="extend", nargs="+", type=float,
                       help="fraction(s) of the pool to keep (selection.ratios)")
        g.add_argument("--selector-seeds", type=int, metavar="N", help="score each selector with N seeds and report "
                       "the rankings' stability (selection.seeds)")
        g.add_argument("--budget-base", type=int, help="n = round(ratio * BASE), e.g. 52002 as in Superfiltering")


def _judging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-cost", type=float, metavar="USD",
                   help="stop judging before this run's judge spend (over all its commands) passes USD")
    p.add_argument("--concurrency", type=int, metavar="N", help="concurrent judge requests")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gsnr-bench",
        description="Benchmark instruction-tuning data selectors: select -> fine-tune -> generate -> judge -> report.",
    )
    parser.add_argument("--version", action="version", version=f"gsnr-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="every stage for the given selectors and ratios, then the report "
                                   "(default: the offline demo)")
    _common(p)
    _judging(p)
    for stage in STAGES:
        p = sub.add_parser(stage, help=f"run the pipeline up to the {stage} stage (earlier stages are reused)")
        _common(p)
        if stage == "judge":
            p.add_argument("--dry-run", action="store_true", help="print the number of calls and estimated cost")
            _judging(p)

    p = sub.add_parser("report", help="re-render a run's report from its files (every judged cell; runs no stage)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"), help="run directory (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("ls", help="list selectors, judges, generators or runs")
    p.add_argument("what", choices=["selectors", "judges", "generators", "runs"])
    p.add_argument("--runs-root", type=Path, default=Path("runs"), help="where to look for runs (ls runs)")

    p = sub.add_parser("leaderboard", help="publish leaderboard tables and a static HTML page")
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    pp = lsub.add_parser("publish", help="CSV + Markdown + LaTeX + HTML from one or more run directories")
    pp.add_argument("runs", nargs="+", type=Path)
    pp.add_argument("--out", type=Path, default=Path("leaderboard"))

    p = sub.add_parser("import-human", help="import human win/tie/lose labels into a run and report agreement")
    p.add_argument("file", type=Path)
    p.add_argument("--run-dir", type=Path, required=True)

    p = sub.add_parser("import-judgments", help="import Superfiltering/Cherry review JSON or FastChat pairwise JSONL")
    p.add_argument("file", type=Path)
    p.add_argument("--format", required=True, choices=["superfiltering", "fastchat"])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--system", help="name of the system judged against the baseline (superfiltering format)")
    p.add_argument("--baseline", default="full")
    p.add_argument("--testset", required=True, help="test set the judgments belong to")
    p.add_argument("--judge", default="imported", help="judge name to record (fastchat: default the file's)")
    p.add_argument("--combine", choices=["lenient", "strict"], default=None,
                   help="how two orders combine (default: the format's own: superfiltering lenient, fastchat strict)")
    p.add_argument("--model", default="imported", help="target model the judged systems were trained from "
                   "(shown in the leaderboard; default: %(default)s)")
    p.add_argument("--regime", default="imported", help="training regime of the judged systems (lora, full; "
                   "default: %(default)s)")
    p.add_argument("--dataset", default=None, help="training pool of the judged systems (default: imported)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from .errors import GsnrError

    try:
        from .commands import dispatch

        return dispatch(args)
    except GsnrError as exc:
        print(f"gsnr-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # disk full, permission denied, read-only file system: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"gsnr-bench: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gsnr-bench: interrupted; run the same command again to resume where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
