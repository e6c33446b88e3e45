"""The CLI surface: each stage command takes the options of the stages it runs and no others; every argument
has help text; defaults are shown; metavars name one value."""

from __future__ import annotations

import argparse

import pytest

from gsnr_bench.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                out.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return out


SUBS = _subparsers(build_parser())


def _options(p: argparse.ArgumentParser) -> set[str]:
    return {o for a in p._actions for o in a.option_strings}


@pytest.mark.parametrize(
    "command,refused",
    [
        ("score", ["--ratio", "0.1"]),
        ("score", ["--target", "t"]),
        ("select", ["--target", "t"]),
        ("select", ["--judge", "gpt"]),
        ("finetune", ["--testset", "vicuna"]),
        ("generate", ["--max-cost", "1"]),
        ("report", ["--selector", "gsnr"]),
    ],
)
def test_stage_commands_refuse_options_they_do_not_use(command, refused):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, *refused])
    assert exc.value.code == 2


def test_run_and_judge_take_the_judging_options():
    for command in ("run", "judge"):
        args = build_parser().parse_args([command, "--max-cost", "5", "--concurrency", "4", "--judge", "gpt", "qwen"])
        assert (args.max_cost, args.concurrency, args.judges) == (5.0, 4, ["gpt", "qwen"])
    assert (
        _options(SUBS["score"])
        < _options(SUBS["select"])
        < _options(SUBS["finetune"])
        < _options(SUBS["generate"])
        < _options(SUBS["judge"])
    )


def test_every_argument_has_help_and_a_singular_metavar():
    missing, plural = [], []
    for name, p in SUBS.items():
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not a.help:
                missing.append(f"{name} {a.option_strings or a.dest}")
            mv = a.metavar if isinstance(a.metavar, str) else ""
            if mv.endswith("S") and mv not in ("ARGS",) or "(S)" in (a.help or "").upper():
                plural.append(f"{name} {a.option_strings}: {mv}")
    assert missing == [] and plural == []


def test_help_shows_defaults():
    text = SUBS["leaderboard publish"].format_help()
    assert "(default: leaderboard)" in text
    assert "(default: runs/demo)" in SUBS["report"].format_help()
