"""Everything is validated before any work: bad names, a run dir that is not a run, an unwritable run dir are
one-line errors and nothing is written."""

from __future__ import annotations

import pytest

from gsnr_bench.cli import main

from run_dirs import write_pool


# ------------------------------------------------------------------ 8. everything validated before any work
@pytest.mark.parametrize(
    "extra,pattern",
    [
        (["--set", "judging.judges=[gtp]"], "unknown judge 'gtp'"),
        (["--set", "data.testsets=[no/such.jsonl]"], "test set file not found"),
        (["--config", "no-such-preset"], "config not found"),
        (["--proxy", "./no/such/dir", "--selector", "ifd-superfiltering"], "proxy model not found"),
    ],
)
def test_select_validates_every_name_before_writing(tmp_path, capsys, extra, pattern):
    pool = write_pool(tmp_path)
    run = tmp_path / "r"
    rc = main(["select", "--train-data", str(pool), "--selector", "random", *extra, "--run-dir", str(run), "--quiet"])
    assert rc == 2 and pattern in capsys.readouterr().err
    assert not run.exists()  # no subsets, no config.yaml, not even the marker


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "is not a gsnr-bench run directory"),
    ],
)
def test_run_dir_that_is_not_a_run_is_refused(tmp_path, capsys, make, pattern):
    target = tmp_path / "r"
    make(target)
    assert (
        main(
            [
                "select",
                "--train-data",
                str(write_pool(tmp_path)),
                "--selector",
                "random",
                "--run-dir",
                str(target),
                "--quiet",
            ]
        )
        == 2
    )
    assert pattern in capsys.readouterr().err


def test_unwritable_run_dir_is_one_line_before_work(tmp_path, capsys, monkeypatch):
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    rc = main(
        [
            "select",
            "--train-data",
            str(write_pool(tmp_path)),
            "--selector",
            "random",
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 2 and "cannot write to" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
