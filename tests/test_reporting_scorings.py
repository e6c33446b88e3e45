"""The judge-free tables read from scores stages (reporting/scorings.py): selector health is the one the scoring
stage stored in its DONE, computed again only where none describes the scores file; shown the same either way."""

from __future__ import annotations

from gsnr_bench.analysis.health import display_row, health_of
from gsnr_bench.core.fileio import read_json, write_json, write_jsonl
from gsnr_bench.reporting.scorings import health
from gsnr_bench.run.runrecord import RunRecord, save_record
from gsnr_bench.selection.base import ScoreResult
from gsnr_bench.selection.ranking import rank_order, score_rows


def _scoring(run, name: str, meta_extra: dict) -> list[dict]:
    res = ScoreResult(ids=["a", "b", "c", "d"], scores=[4.0, 3.0, 2.0, 1.0], eligible=[True, False, True, False])
    rows = score_rows(res, rank_order(res, 0))
    write_jsonl(run / "scores" / name / "scores.jsonl", rows)
    notes = {"skipped_empty": 1}
    write_json(run / "scores" / name / "DONE", {"selector": "x", "n": 4, "notes": notes, **meta_extra})
    return rows


def test_health_is_read_from_the_stage_where_stored_else_computed(tmp_path):
    save_record(tmp_path, RunRecord({"name": "r", "selection": {"ratios": [0.5]}}, []))  # scoring counts at its budgets
    rows = _scoring(tmp_path, "stored", {"health": {"stored": True, "eligible": 7}})
    _scoring(tmp_path, "old", {})  # a run scored before health was stored
    _scoring(tmp_path, "mean", {"health": {"stored": True}, "combine": "mean_rank"})  # first seed's, not this table
    out = {h["scores"]: h for h in health(tmp_path, [])}
    assert out["scores/stored/scores.jsonl"] == {"stored": True, "eligible": 7, "selector": "x (stored)",
                                                 "scores": "scores/stored/scores.jsonl"}  # fmt: skip
    computed = health_of("x", rows, {"skipped_empty": 1})
    for name in ("old", "mean"):
        assert out[f"scores/{name}/scores.jsonl"] == {**computed, "selector": f"x ({name})",
                                                      "scores": f"scores/{name}/scores.jsonl"}  # fmt: skip
    assert computed["ineligible_why"] == {"skipped_empty": 1, "unexplained": 1}


def test_a_stored_health_shows_as_the_computed_one_does(tmp_path):
    """Stored with sorted keys, GrADS's norm correlations still show in health_of's order."""
    rows = [
        {"id": str(i), "log_density": float(i), "loss": float(-i), "norm_wte": float(i % 3),
         "norm_lm_head": float(i % 2), "norm_tied": float(i), "eligible": i > 1}
        for i in range(8)
    ]  # fmt: skip
    h = health_of("grads", rows, {"skipped_long": 1})
    write_json(tmp_path / "h.json", h)
    stored = read_json(tmp_path / "h.json")
    assert list(stored) != list(h)  # the file's order is not health_of's
    assert display_row(stored) == display_row(h)
    signal = display_row(stored)["signal"]
    assert signal.index("norm_wte") < signal.index("norm_lm_head") < signal.index("norm_tied")
    assert display_row(stored)["why ineligible"] == "skipped_long 1, unexplained 1"
