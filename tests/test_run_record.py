"""The run record (config.yaml) is the config of every later command on a run: it is used, its changes are
logged in its history, and a failed command leaves it as it was."""

from __future__ import annotations

from gsnr_bench.cli import main
from gsnr_bench.commands.runs import resolve_run
from gsnr_bench.run.runrecord import RunRecord, load_record, save_record
from gsnr_bench.run.store import RunStore

from run_dirs import cli_args, write_pool


# ------------------------------------------------------------------ existing runs: the record is the config
def test_a_command_on_an_existing_run_uses_its_record_and_logs_changes(tmp_path):
    pool = write_pool(tmp_path)
    run = tmp_path / "r"
    first = resolve_run(
        cli_args(
            "select",
            "--train-data",
            str(pool),
            "--selector",
            "random",
            "--ratio",
            "0.25",
            "--set",
            "finetune.lr=3e-5",
            "--run-dir",
            str(run),
        )
    )
    RunStore(run)
    save_record(run, RunRecord(first.cfg.to_dict(), [{"command": "select"}]))
    again = resolve_run(cli_args("select", "--run-dir", str(run)))
    assert again.cfg == first.cfg and again.changed == {}
    changed = resolve_run(cli_args("select", "--run-dir", str(run), "--set", "finetune.lr=1e-5", "--selector", "gsnr"))
    assert changed.cfg.data.train == str(pool)  # not the demo
    assert changed.changed == {"finetune.lr": [3e-5, 1e-5], "selection.selectors": [["random"], ["gsnr"]]}


def test_select_records_history_and_keeps_it(tmp_path):
    pool = write_pool(tmp_path)
    run = tmp_path / "r"
    assert (
        main(
            [
                "select",
                "--train-data",
                str(pool),
                "--selector",
                "random",
                "--ratio",
                "0.25",
                "--run-dir",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["select", "--run-dir", str(run), "--ratio", "0.5", "--quiet"]) == 0
    rec = load_record(run)
    assert [h["cells"] for h in rec.history] == [["random@0.25"], ["random@0.5"]]
    assert rec.history[1]["changed"] == {"selection.ratios": [[0.25], [0.5]]}
    assert rec.config["data"]["train"] == str(pool)
    assert len(list(run.glob("subsets/*/DONE"))) == 2 and len(list(run.glob("scores/*/DONE"))) == 1


def test_a_failed_command_leaves_the_record_as_it_was(tmp_path, capsys):
    pool = write_pool(tmp_path)
    run = tmp_path / "r"
    assert (
        main(
            [
                "select",
                "--train-data",
                str(pool),
                "--selector",
                "random",
                "--ratio",
                "0.5",
                "--run-dir",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    before = (run / "config.yaml").read_bytes()
    assert main(["select", "--run-dir", str(run), "--set", "judging.judges=[gtp]", "--quiet"]) == 2
    assert (run / "config.yaml").read_bytes() == before
