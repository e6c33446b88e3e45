"""Synthetic run directories for the run tests: a pool file, a judged cell (judgments.jsonl + cell.json) and a
real (non-demo) run with its record. Test support, not shipped."""

from __future__ import annotations

import json
from pathlib import Path

from gsnr_bench.cli import build_parser
from gsnr_bench.core.fileio import write_json, write_jsonl
from gsnr_bench.domain.cell import CELL_VERSION
from gsnr_bench.run.runrecord import RunRecord, save_record
from gsnr_bench.run.store import CELL, RunStore


def cli_args(*argv):
    return build_parser().parse_args(list(argv))


def write_pool(tmp_path, n=40):
    p = tmp_path / "pool.json"
    p.write_text(json.dumps([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(n)]))
    return p


def write_cell(
    run: Path,
    system="random@0.1",
    judge="gpt",
    protocol="p-aaaa1111",
    outcomes=("win", "lose", "tie"),
    testset="vicuna",
    baseline_answers="b1",
):
    sel, ratio = system.split("@")
    d = run / "judgments" / judge / f"{system}-vs-full-{protocol}"
    recs = [
        {
            "testset": testset,
            "question_id": str(i + 1),
            "judge": judge,
            "judge_model": "m",
            "system": system,
            "baseline": "full",
            "prompt_version": "vicuna-pair-v1",
            "order": "shuffle",
            "combine": None,
            "null_pair": False,
            "calls": [],
            "outcome": o,
            "system_len": 10,
            "baseline_len": 12,
        }
        for i, o in enumerate(outcomes)
    ]
    write_jsonl(d / "judgments.jsonl", recs)
    write_json(
        d / CELL,
        {
            "version": CELL_VERSION,
            "system": system,
            "baseline": "full",
            "judge": judge,
            "judge_model": "m",
            "selector": sel,
            "ratio": float(ratio),
            "dataset": "alpaca",
            "target_model": "llama",
            "regime": "lora",
            "protocol": protocol,
            "protocol_detail": {"baseline_answers": baseline_answers},
            "scores": "scores/x/scores.jsonl",
            "subset": "subsets/x",
            "train_logs": {},
            "truth": None,
            "testsets": {testset: [str(i + 1) for i in range(len(outcomes))]},
            "prompt_version": "vicuna-pair-v1",
            "run_name": "real",
        },
    )
    return d


def real_run(tmp_path) -> Path:
    run = tmp_path / "run"
    RunStore(run)
    save_record(run, RunRecord({"name": "real", "report": {"bootstrap_rounds": 1000}}, [{"command": "run"}]))
    return run
