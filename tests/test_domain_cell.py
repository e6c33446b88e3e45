"""cell.json through its typed record (domain/cell.py): written by the pipeline, read back by the report."""

from __future__ import annotations

import json

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.cell import CELL_VERSION, CellLengths, CellRecord


def _record(**kw) -> CellRecord:
    base = dict(
        version=CELL_VERSION,
        system="random@0.1",
        baseline="full",
        judge="gpt",
        judge_model="m",
        selector="random",
        ratio=0.1,
        budget="0.1",
        dataset="alpaca",
        target_model="llama",
        regime="lora",
        protocol="p-1",
        protocol_detail={"prompt": "vicuna-pair-v1"},
        scores="scores/x/scores.jsonl",
        subset="subsets/x",
        train_logs={"full": "models/f/train_log.jsonl"},
        truth=None,
        testsets={"vicuna": ["1", "2"]},
        skipped={},
        prompt_version="vicuna-pair-v1",
        run_name="real",
        lengths=CellLengths("chars", 10.0, 12.5, "cache/lengths/x.json", {"full": "answers/f"}),
    )
    return CellRecord(**{**base, **kw})


def test_cell_record_round_trips_and_rejects_other_versions(tmp_path):
    rec = _record()
    rec.write(tmp_path / "cell.json")
    data = json.loads((tmp_path / "cell.json").read_text())
    assert data["lengths"]["train_len"] == 12.5 and data["testsets"] == {"vicuna": ["1", "2"]}
    assert CellRecord.read(tmp_path / "cell.json") == rec
    CellRecord.read(tmp_path / "cell.json").write(tmp_path / "again.json")  # read then written: the same bytes
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "cell.json").read_bytes()
    with pytest.raises(DataError, match="cell record version 0, expected"):
        CellRecord.from_dict({**data, "version": 0})
    with pytest.raises(DataError, match="cell.json: cell record lacks protocol, system"):
        CellRecord.from_dict({k: v for k, v in data.items() if k not in ("system", "protocol")})


def test_an_older_version_1_record_reads_with_what_it_lacks_left_empty():
    """Records written before budgets, skipped questions and lengths were recorded: the report still reads them."""
    old = {k: v for k, v in _record(ratio=0.25).to_dict().items() if k not in ("budget", "skipped", "lengths")}
    rec = CellRecord.from_dict(old)
    assert (rec.budget, rec.skipped, rec.lengths) == ("0.25", {}, None)
    assert rec.system == "random@0.1" and rec.testsets == {"vicuna": ["1", "2"]}
