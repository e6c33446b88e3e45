"""Which cluster job made which cell: every stage a Slurm job finished records the job in its DONE file
(store.StageDir.mark_done); this table joins them per judged cell, from the run's files alone."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from gsnr_bench.core.fileio import read_json, write_text
from gsnr_bench.domain.cell import CellRecord
from gsnr_bench.run.store import CELL, DONE

COLUMNS = ("system", "judge", "scores", "subset", "model", "answers", "judgments")


def _job(stage_dir: Path) -> str:
    done = stage_dir / DONE
    return str(read_json(done).get("slurm_job") or "-") if done.is_file() else "-"


def stage_jobs(run: str | Path) -> list[dict[str, Any]]:
    """One row per judged cell (and one for the baseline): the job that made each of its stages, `-` for a
    stage made outside Slurm. Empty when no stage of the run was made by a Slurm job."""
    run = Path(run)
    rows, base = [], None
    for cell_file in sorted(run.glob(f"judgments/*/*/{CELL}")):
        cell = CellRecord.read(cell_file)
        answers = cell.lengths.answers if cell.lengths else {}
        logs = cell.train_logs
        rows.append(
            {
                "system": cell.system,
                "judge": cell.judge,
                "scores": _job((run / cell.scores).parent),
                "subset": _job(run / cell.subset),
                "model": _job((run / logs[cell.system]).parent) if cell.system in logs else "-",
                "answers": _job(run / answers[cell.system]) if cell.system in answers else "-",
                "judgments": _job(cell_file.parent),
            }
        )
        if base is None and cell.baseline in logs:
            base = _baseline_row(run, cell.baseline, logs, answers)
    if base is not None:
        rows.insert(0, base)
    if all(v == "-" for r in rows for k, v in r.items() if k not in ("system", "judge")):
        return []
    return rows


def _baseline_row(run: Path, baseline: str, logs: dict[str, str], answers: dict[str, str]) -> dict[str, Any]:
    """The 100% model's row: the jobs that trained it and generated its answers."""
    return {
        "system": baseline,
        "judge": "-",
        "scores": "-",
        "subset": "-",
        "model": _job((run / logs[baseline]).parent),
        "answers": _job(run / answers[baseline]) if baseline in answers else "-",
        "judgments": "-",
    }


def write_jobs_csv(run: str | Path, out: Path) -> list[dict[str, Any]]:
    """report/jobs.csv, only for a run whose stages Slurm jobs made (other runs' reports are unchanged)."""
    rows = stage_jobs(run)
    if rows:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text(out, buf.getvalue())
    return rows
