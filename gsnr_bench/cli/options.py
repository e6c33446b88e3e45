"""The options the pipeline commands share, one parent parser per group (run, pool, budgets, target, testsets,
judging), and the help formatter every command uses (defaults shown)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gsnr_bench.commands.flags import keyed


class Help(argparse.HelpFormatter):
    """Shows each option's default where it has one (not for flags, lists that start empty, or None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d in (None, False, [], argparse.SUPPRESS) or action.option_strings == []:
            return text
        return f"{text} (default: %(default)s)"


def command(sub: Any, name: str, help: str, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, parents=parents, formatter_class=Help)


def group(title: str, *options: tuple[tuple[str, ...], dict[str, Any]]) -> argparse.ArgumentParser:
    """A parent parser holding one group of options, shared by the commands that use them."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(title)
    for flags, kw in options:
        g.add_argument(*flags, **kw)
    return p


def option_groups() -> dict[str, argparse.ArgumentParser]:
    """The option groups by name (run, pool, budgets, target, testsets, judging): one table, read top to bottom."""
    return {
        "run": group(
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
        "pool": group(
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
        "budgets": group(
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
        "target": group(
            "target",
            (
                ("--target",),
                dict(
                    metavar="MODEL", help=keyed("target", "target model: a directory, a hub name or a catalogue name")
                ),
            ),
        ),
        "testsets": group(
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
        "judging": group(
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
