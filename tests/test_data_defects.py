"""The real-data defect generator (gsnr_bench/data/defects.py): fixed seeded shares, labelled, selector-blind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gsnr_bench.cli import main
from gsnr_bench.core.errors import DataError
from gsnr_bench.data.defects import DEFECT_MIX, plant_defects, shares, write_planted
from gsnr_bench.data.pool import load_pool
from gsnr_bench.domain.truth import check_against_pool, parse_truth


def _source(tmp_path: Path, n: int = 120) -> Path:
    rows = [
        {
            "instruction": f"Question number {i} about topic {i % 7}?",
            "input": "",
            "output": " ".join(f"word{i}_{k}" for k in range(5 + i % 20)),
        }
        for i in range(n)
    ]
    path = tmp_path / "src.json"
    path.write_text(json.dumps(rows))
    return path


def _check(planted, source: Path, rate: float, n: int) -> None:
    src = {e.id: e for e in load_pool(source)}
    by_id = {r["id"]: r for r in planted.records}
    labels = planted.truth
    assert sorted(labels) == sorted(by_id) and len(by_id) == n
    want = shares(round(rate * n), DEFECT_MIX)
    for kind, count in want.items():
        assert list(labels.values()).count(kind) == count, kind
    originals = {rid: src[planted.meta["source_ids"][rid]] for rid in by_id}
    clean_texts = {
        (originals[i].instruction, originals[i].input, originals[i].output)
        for i, lab in labels.items()
        if lab == "clean"
    }
    drawn_outputs = {o.output for o in originals.values()}
    for rid, r in by_id.items():
        o, lab = originals[rid], labels[rid]
        if lab == "clean":
            assert (r["instruction"], r["input"], r["output"]) == (o.instruction, o.input, o.output)
        elif lab == "empty":
            assert r["output"] == "" and r["instruction"] == o.instruction
        elif lab == "truncated":
            words = o.output.split()
            assert (
                r["output"].split() == words[: len(r["output"].split())] and len(r["output"].split()) <= len(words) // 2
            )
        elif lab == "off_topic":
            assert r["output"] != o.output and r["output"] in drawn_outputs and r["instruction"] == o.instruction
        elif lab == "duplicate":
            assert (r["instruction"], r["input"], r["output"]) in clean_texts
        else:
            raise AssertionError(lab)


def test_shares_sum_and_follow_the_mix():
    assert sum(shares(150, DEFECT_MIX).values()) == 150
    assert shares(20, DEFECT_MIX) == {"off_topic": 7, "truncated": 6, "empty": 2, "duplicate": 5}


def test_planted_defects_are_what_their_labels_say(tmp_path):
    src = _source(tmp_path)
    p = plant_defects(src, n=100, rate=0.3, seed=3)
    _check(p, src, 0.3, 100)
    assert plant_defects(src, n=100, rate=0.3, seed=3).records == p.records  # seeded
    assert plant_defects(src, n=100, rate=0.3, seed=4).truth != p.truth


def test_real_alpaca_pool_and_truth_the_harness_reads(tmp_path, shared_data):
    REAL = shared_data / "alpaca_sample.json"
    p = plant_defects(REAL, n=500, rate=0.3, seed=0)
    _check(p, REAL, 0.3, 500)
    pool, truth, written = write_planted(p, tmp_path / "out")
    assert written
    labels = parse_truth(truth)
    check_against_pool(labels, [e.id for e in load_pool(pool)], str(truth))  # what --truth checks
    assert sum(v != "clean" for v in labels.values()) == 150


def test_write_is_idempotent_and_never_overwrites(tmp_path):
    src = _source(tmp_path)
    out = tmp_path / "out"
    assert write_planted(plant_defects(src, n=50, rate=0.2, seed=0), out)[2]
    before = (out / "pool.json").read_bytes()
    assert not write_planted(plant_defects(src, n=50, rate=0.2, seed=0), out)[2]
    with pytest.raises(DataError, match="other content"):
        write_planted(plant_defects(src, n=50, rate=0.2, seed=1), out)
    assert (out / "pool.json").read_bytes() == before


def test_cli_one_line_errors(tmp_path, capsys):
    src = _source(tmp_path, 30)
    assert main(["plant-defects", str(src), "--n", "20", "--out", str(tmp_path / "o")]) == 0
    assert "truth:" in capsys.readouterr().out
    assert main(["plant-defects", str(src), "--n", "31", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot draw 31 records" in err
    assert main(["plant-defects", str(src), "--n", "20", "--rate", "1.5", "--out", str(tmp_path / "o3")]) == 2
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
