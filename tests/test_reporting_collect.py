"""collect() reads each judged cell through its typed record (domain/cell.py): the skipped questions per test set,
older version-1 records, and a record of another version refused with the fix named."""

from __future__ import annotations

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import write_json, write_jsonl
from gsnr_bench.domain.cell import CELL_VERSION, CellRecord
from gsnr_bench.reporting.collect import collect
from gsnr_bench.run.runrecord import RunRecord, save_record
from gsnr_bench.run.store import CELL, RunStore


def _cell(run, system: str, skipped: dict, outcomes=("win", "lose")) -> dict:
    d = run / "judgments" / "j" / f"{system}-vs-full-k"
    qids = [str(i + 1) for i in range(len(outcomes))]
    write_jsonl(
        d / "judgments.jsonl",
        [
            {"testset": "vicuna", "question_id": q, "judge": "j", "judge_model": "m", "system": system,
             "baseline": "full", "prompt_version": "v1", "order": "shuffle", "combine": None, "null_pair": False,
             "calls": [], "outcome": o, "system_len": 3, "baseline_len": 4}
            for q, o in zip(qids, outcomes)
        ],
    )  # fmt: skip
    cell = {
        "version": CELL_VERSION, "system": system, "baseline": "full", "judge": "j", "judge_model": "m",
        "selector": system.split("@")[0], "ratio": float(system.split("@")[1]), "dataset": "alpaca",
        "target_model": "t", "regime": "lora", "protocol": "p-1", "protocol_detail": {}, "scores": "scores/x/s.jsonl",
        "subset": "subsets/x", "train_logs": {}, "truth": None, "testsets": {"vicuna": qids},
        "prompt_version": "v1", "run_name": "r", "skipped": skipped,
    }  # fmt: skip
    write_json(d / CELL, cell)
    return cell


def _run(tmp_path):
    run = tmp_path / "run"
    RunStore(run)
    save_record(run, RunRecord({"name": "r", "report": {"bootstrap_rounds": 1000}}, [{"command": "run"}]))
    return run


def test_questions_skipped_as_too_long_are_counted_per_test_set(tmp_path):
    run = _run(tmp_path)
    _cell(run, "random@0.1", {"vicuna": ["7", "9"]})
    _cell(run, "longest@0.1", {"vicuna": ["9"], "wizardlm": ["2"]})
    rr = collect(run)
    assert rr.skipped == {"vicuna": 2, "wizardlm": 1}  # the union over cells, per test set
    by = {c["system"]: c for c in rr.cells}
    assert (by["random@0.1"]["skipped"], by["longest@0.1"]["skipped"]) == (2, 2)
    assert by["random@0.1"]["judged"] == 2 and by["random@0.1"]["pending"] == 0


def test_an_older_record_without_lengths_is_read_and_another_version_refused(tmp_path):
    run = _run(tmp_path)
    old = _cell(run, "random@0.1", {})
    old.pop("skipped")
    write_json(run / "judgments" / "j" / "random@0.1-vs-full-k" / CELL, old)  # before skipped, budget, lengths
    rr = collect(run)
    assert rr.cell_meta["p-1|random@0.1"].train_len is None and rr.skipped == {}
    assert CellRecord.read(run / "judgments" / "j" / "random@0.1-vs-full-k" / CELL).budget == "0.1"
    write_json(run / "judgments" / "j" / "random@0.1-vs-full-k" / CELL, {**old, "version": 99})
    with pytest.raises(DataError, match="cell record version 99.*remove that stage directory"):
        collect(run)
