"""report/jobs.csv's rows (reporting/jobs.py): per judged cell, the Slurm job that made each of its stages, read
through the cell's typed record; the 100% model's row first."""

from __future__ import annotations

from gsnr_bench.core.fileio import write_json
from gsnr_bench.domain.cell import CELL_VERSION, CellLengths, CellRecord
from gsnr_bench.reporting.jobs import stage_jobs
from gsnr_bench.run.store import CELL


def _done(run, rel: str, job: str | None) -> None:
    write_json(run / rel / "DONE", {"slurm_job": job} if job else {})


def test_each_stage_names_the_job_that_made_it(tmp_path):
    run = tmp_path
    stages = {"scores/s": "11", "subsets/x": "12", "models/m": "13_1", "models/f": "13_0", "answers/a": None,
              "answers/f": "14_0", "judgments/j/c": "15"}  # fmt: skip
    for rel, job in stages.items():
        _done(run, rel, job)
    rec = CellRecord(
        CELL_VERSION, "random@0.1", "full", "j", "m", "random", 0.1, "0.1", "alpaca", "t", "lora", "p-1", {},
        "scores/s/scores.jsonl", "subsets/x", {"random@0.1": "models/m/train_log.jsonl",
        "full": "models/f/train_log.jsonl"}, None, {"vicuna": ["1"]}, {}, "v1", "r",
        CellLengths("chars", 1.0, 1.0, "cache/l.json", {"random@0.1": "answers/a", "full": "answers/f"}),
    )  # fmt: skip
    rec.write(run / "judgments" / "j" / "c" / CELL)
    rows = stage_jobs(run)
    assert rows == [
        {"system": "full", "judge": "-", "scores": "-", "subset": "-", "model": "13_0", "answers": "14_0",
         "judgments": "-"},
        {"system": "random@0.1", "judge": "j", "scores": "11", "subset": "12", "model": "13_1", "answers": "-",
         "judgments": "15"},
    ]  # fmt: skip
    for rel in stages:  # no stage made by a Slurm job: no table
        _done(run, rel, None)
    assert stage_jobs(run) == []
