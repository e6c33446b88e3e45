"""The pipeline package's own contracts: the demo is decided in inputs.py only, run() returns a typed outcome,
one flag table drives both the help and the config keys, and launch.py reads a subset with the pipeline's own
reader (cell.json's typed record: tests/test_domain_cell.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gsnr_bench.cli import build_parser
from gsnr_bench.commands.flags import CONFIG_FLAGS, flag_tree
from gsnr_bench.core.config import build_config
from gsnr_bench.core.errors import DataError
from gsnr_bench.pipeline import Pipeline, SweepOutcome
from gsnr_bench.run.store import RunStore

PACKAGE = Path(__file__).resolve().parent.parent / "gsnr_bench" / "pipeline"


def _pool(tmp_path: Path, n: int = 40) -> Path:
    p = tmp_path / "pool.json"
    p.write_text(json.dumps([{"instruction": f"q{i}", "output": "a" * (i + 1)} for i in range(n)]))
    return p


def test_only_inputs_py_names_the_demo():
    named = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if re.search(r"""["']demo["'-]""", p.read_text(encoding="utf-8"))
    }
    assert named == {"inputs.py"}


def test_no_pipeline_module_is_over_400_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 400, sizes


def test_run_returns_the_outcome_and_a_second_run_reuses_every_stage(tmp_path):
    sel = {"ratios": [0.1, 0.25], "params": {"longest": {"unit": "chars"}}}
    cfg = build_config([], [], {"data": {"train": str(_pool(tmp_path))}, "selection": sel})
    pipe = Pipeline(cfg, RunStore(tmp_path / "run"), quiet=True)
    pipe.validate(["random", "longest"], "select")
    assert pipe.outcome().events == []
    out = pipe.run(["random", "longest"], upto="select")
    assert isinstance(out, SweepOutcome)
    assert set(out.scores) == {"random", "longest"}
    assert set(out.subsets) == {(s, r) for s in ("random", "longest") for r in (0.1, 0.25)}
    assert all(sd.done for sd in out.subsets.values()) and out.models == {} and out.judgments == {}
    assert [(e.stage, e.cached) for e in out.events] == [("scores", False)] * 2 + [("subsets", False)] * 4
    assert (out.spent, out.budget_stop, out.left_unjudged, out.failed_comparisons) == (0.0, None, 0, 0)
    again = Pipeline(cfg, RunStore(tmp_path / "run", create=False), quiet=True).run(
        ["random", "longest"], upto="select"
    )
    assert all(e.cached for e in again.events) and len(again.events) == 6
    assert {k: v.key for k, v in again.subsets.items()} == {k: v.key for k, v in out.subsets.items()}


def test_one_flag_table_drives_the_help_and_the_config_keys():
    parser = build_parser()
    judge = parser._subparsers._group_actions[0].choices["judge"]
    by_dest = {a.dest: a for a in judge._actions}
    assert set(CONFIG_FLAGS) <= set(by_dest)  # every flag of the table is a flag of the stage commands
    for dest, key in CONFIG_FLAGS.items():
        if dest != "max_cost":  # its help explains the spend limit instead (docs/judging.md)
            assert f"({key}" in by_dest[dest].help, dest
    args = parser.parse_args(
        ["judge", "--train-data", "p.json", "--n", "5", "--seed", "3", "--judge", "gpt", "--max-cost", "2"]
        + ["--selector", "random", "--truth", "t.csv"]
    )
    assert flag_tree(args) == {
        "data": {"train": "p.json", "truth": "t.csv"},
        "judging": {"judges": ["gpt"], "max_cost": 2.0},
        "selection": {"selectors": ["random"], "sizes": [5], "ratios": []},  # --n alone: only absolute budgets
        "seed": 3,
    }
    args = parser.parse_args(["select", "--ratio", "0.1", "--n", "5"])
    assert flag_tree(args) == {"selection": {"ratios": [0.1], "sizes": [5]}}


def test_launch_reads_a_subset_with_the_pipelines_reader(tmp_path):
    from gsnr_bench.commands.launch import cell_examples
    from gsnr_bench.data.pool import load_pool

    pool = load_pool(str(_pool(tmp_path, 5)))
    sel = tmp_path / "selection.jsonl"
    sel.write_text("".join(json.dumps({"id": e.id}) + "\n" for e in reversed(pool[:3])))
    assert cell_examples(pool, sel) == list(reversed(pool[:3]))
    assert cell_examples(pool, None) == pool
    sel.write_text(json.dumps({"id": "nope"}) + "\n")
    with pytest.raises(DataError, match=f"{re.escape(str(sel))} names 1 ids not in the pool"):
        cell_examples(pool, sel)


def test_the_exit_code_and_its_line_come_from_the_outcome(tmp_path, capsys):
    from gsnr_bench.commands.runs import exit_status
    from gsnr_bench.core.errors import EXIT_FAILED_COMPARISONS, BudgetExceeded
    from gsnr_bench.pipeline.outcome import JudgeTally

    cfg = build_config([], [], {"data": {"train": "p.json"}, "judging": {"max_cost": 0.5}})
    assert exit_status(SweepOutcome([], [], JudgeTally()), cfg, tmp_path) == 0
    failed = SweepOutcome([], [object(), object()], JudgeTally(failed_comparisons=7))
    assert exit_status(failed, cfg, tmp_path) == EXIT_FAILED_COMPARISONS
    assert "7 comparison(s) failed in 2 judging stage(s)" in capsys.readouterr().err
    stopped = SweepOutcome([], [], JudgeTally(budget_stop=BudgetExceeded("limit"), left_unjudged=13))
    assert exit_status(stopped, cfg, tmp_path) == BudgetExceeded.exit_code
    err = capsys.readouterr().err
    assert "spent of $0.5 by this run; 13 comparison(s) of this command left unjudged" in err
