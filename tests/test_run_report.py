"""`report` re-renders a run from its files alone: every finished cell, protocols kept apart, failed
comparisons counted, the last record of a retried comparison. Synthetic run dirs, CLI in-process."""

from __future__ import annotations

import json

from gsnr_bench.cli import main

from run_dirs import real_run, write_cell


# ------------------------------------------------------------------ 1. report re-renders from files only
def test_report_with_no_flags_renders_the_run_never_the_demo(tmp_path, capsys):
    run = real_run(tmp_path)
    write_cell(run, "random@0.1")
    write_cell(run, "ifd-superfiltering@0.25", outcomes=("win", "win", "tie"))
    before = (run / "config.yaml").read_bytes()
    assert main(["report", "--run-dir", str(run)]) == 0
    assert (run / "config.yaml").read_bytes() == before  # the record is untouched
    assert not (run / "world").exists() and not (run / "scores").exists()  # no stage, no demo
    rows = (run / "report" / "leaderboard.csv").read_text()
    assert "random" in rows and "ifd-superfiltering" in rows
    assert "gsnr-bench: real" in (run / "report" / "index.html").read_text()


# ------------------------------------------------------------------ 2. every finished cell, protocols apart
def test_report_covers_every_cell_and_keeps_protocols_apart(tmp_path):
    from gsnr_bench.reporting.collect import collect

    run = real_run(tmp_path)
    write_cell(run, "random@0.1", protocol="p-aaaa1111")
    write_cell(run, "random@0.1", protocol="p-bbbb2222", outcomes=("win", "win", "win"), baseline_answers="b2")
    write_cell(run, "gsnr@0.1", protocol="p-aaaa1111")
    rr = collect(run)
    pooled = rr.results[(rr.results.judge == "mean") & (rr.results.testset == "pooled")]
    assert sorted(zip(pooled.selector, pooled.protocol)) == [
        ("gsnr", "p-aaaa1111"),
        ("random", "p-aaaa1111"),
        ("random", "p-bbbb2222"),
    ]
    assert sorted(pooled.pws.round(3)) == [1.0, 1.0, 2.0]  # not pooled into one random@0.1 row
    assert main(["report", "--run-dir", str(run)]) == 0
    md = (run / "report" / "leaderboard.md").read_text()
    assert "lora [p-aaaa1111]" in md and "lora [p-bbbb2222]" in md


def test_failed_comparisons_are_counted_and_the_report_exits_nonzero(tmp_path):
    run = real_run(tmp_path)
    write_cell(run, "random@0.1", outcomes=("win", "failed", "failed"))
    assert main(["report", "--run-dir", str(run)]) == 3
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["cells"][0]["failed"] == 2 and summary["cells"][0]["complete"] is False
    assert "2 failed comparison(s)" in (run / "report" / "index.html").read_text()


def test_a_retried_comparison_keeps_its_last_record(tmp_path):
    from gsnr_bench.reporting.collect import collect

    run = real_run(tmp_path)
    d = write_cell(run, "random@0.1", outcomes=("failed", "win"))
    first = json.loads((d / "judgments.jsonl").read_text().splitlines()[0])
    with open(d / "judgments.jsonl", "a") as fh:  # the next command judged the failed one again
        fh.write(json.dumps({**first, "outcome": "lose"}) + "\n")
    rr = collect(run)
    pooled = rr.results[(rr.results.judge == "mean") & (rr.results.testset == "pooled")].iloc[0]
    assert (pooled.wins, pooled.losses, pooled.failed) == (1, 1, 0)
