"""gsnr-bench export: a finished subset in rank order with scores, as Alpaca JSON, JSONL or a HF dataset."""

from __future__ import annotations

import json

import pytest
import yaml

from gsnr_bench.cli import main
from gsnr_bench.core.errors import DataError
from gsnr_bench.data.export import export_subset


def make_run(tmp_path, *, train="pool", subsets=("gsnr@0.1-0123456789ab",), done=True):
    run = tmp_path / "run"
    pool = [{"instruction": f"do {i}", "input": "x" if i % 2 else "", "output": f"out {i}"} for i in range(10)]
    if train == "demo":
        pool_path = run / "world" / "demo-abc" / "world" / "pool.json"
    else:
        pool_path = tmp_path / "alpaca.json"
    pool_path.parent.mkdir(parents=True, exist_ok=True)
    pool_path.write_text(json.dumps(pool))
    run.mkdir(exist_ok=True)
    (run / "config.yaml").write_text(
        yaml.safe_dump({"config": {"data": {"train": "demo" if train == "demo" else str(pool_path)}}, "history": []})
    )
    from gsnr_bench.data.pool import load_pool, pool_fingerprint

    key = pool_fingerprint(load_pool(pool_path))[:16]
    for name in subsets:
        d = run / "subsets" / name
        d.mkdir(parents=True)
        # ids in rank order: 7, 2, 5 (scores descending)
        (d / "selection.jsonl").write_text(
            "".join(
                json.dumps(r) + "\n"
                for r in [
                    {"id": "7", "rank": 1, "score": 0.9},
                    {"id": "2", "rank": 2, "score": 0.5},
                    {"id": "5", "rank": 3, "score": 0.1},
                ]
            )
        )
        if done:
            (d / "DONE").write_text(json.dumps({"pool": key}))
    (run / "subsets" / "ifd@0.05-aaaaaaaaaaaa").mkdir(parents=True)
    (run / "subsets" / "ifd@0.05-aaaaaaaaaaaa" / "DONE").write_text("{}")
    return run


def test_alpaca_json_and_jsonl_in_rank_order(tmp_path):
    run = make_run(tmp_path)
    r = export_subset(run, "gsnr", 0.1, tmp_path / "sel.json")
    rows = json.loads((tmp_path / "sel.json").read_text())
    assert r.n == 3 and r.format == "alpaca-json"
    assert [(x["id"], x["rank"], x["score"]) for x in rows] == [("7", 1, 0.9), ("2", 2, 0.5), ("5", 3, 0.1)]
    assert rows[0] == {"instruction": "do 7", "input": "x", "output": "out 7", "id": "7", "score": 0.9, "rank": 1}
    export_subset(run, "gsnr", 0.1, tmp_path / "sel.jsonl")
    lines = (tmp_path / "sel.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["7", "2", "5"]


def test_hf_dataset_loads_with_load_from_disk(tmp_path):
    from datasets import load_from_disk

    run = make_run(tmp_path, train="demo")
    out = tmp_path / "ds"
    export_subset(run, "gsnr", 0.1, out, fmt="hf-dataset")
    ds = load_from_disk(str(out))
    assert ds.column_names and set(ds.column_names) == {"instruction", "input", "output", "id", "score", "rank"}
    assert ds["id"] == ["7", "2", "5"] and ds[0]["instruction"] == "do 7" and ds["rank"] == [1, 2, 3]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]  # no temp dir left behind
    with pytest.raises(DataError, match="exists; choose another --out or pass --force"):
        export_subset(run, "gsnr", 0.1, out, fmt="hf-dataset")
    export_subset(run, "gsnr", 0.1, out, fmt="hf-dataset", force=True)
    assert load_from_disk(str(out)).num_rows == 3


def test_refusals_are_one_line(tmp_path):
    run = make_run(tmp_path, subsets=("gsnr@0.1-0123456789ab", "gsnr@0.1-ba9876543210"))
    cases = [
        (
            dict(selector="gsnr", ratio=0.2, out=tmp_path / "a.json"),
            "no finished subset gsnr@0.2 .*finished: gsnr@0.1, ifd@0.05",
        ),
        (
            dict(selector="gsnr", ratio=0.1, out=tmp_path / "a.json"),
            "2 subsets of gsnr@0.1 .*0123456789ab.*ba9876543210.*--subset NAME",
        ),
        (dict(selector="gsnr", ratio=0.1, out=tmp_path / "a.parquet"), "cannot tell the format"),
        (dict(selector="gsnr", ratio=0.1, out=tmp_path / "a.json", fmt="csv"), "unknown export format 'csv'"),
    ]
    for kw, msg in cases:
        with pytest.raises(DataError, match=msg) as e:
            export_subset(run, **kw)
        assert "\n" not in str(e.value)
    r = export_subset(run, "gsnr", 0.1, tmp_path / "a.json", subset="gsnr@0.1-ba9876543210")
    assert r.subset.name == "gsnr@0.1-ba9876543210"
    mine = tmp_path / "mine.json"
    mine.write_text("keep me")
    with pytest.raises(DataError, match="mine.json exists"):
        export_subset(run, "gsnr", 0.1, mine, subset="gsnr@0.1-ba9876543210")
    assert mine.read_text() == "keep me"


def test_unfinished_subset_is_not_exported(tmp_path):
    run = make_run(tmp_path, done=False)
    with pytest.raises(DataError, match="no finished subset gsnr@0.1"):
        export_subset(run, "gsnr", 0.1, tmp_path / "a.json")


def test_cli_export(tmp_path, capsys):
    run = make_run(tmp_path)
    out = tmp_path / "x.jsonl"
    assert main(["export", "--run-dir", str(run), "--selector", "gsnr", "--ratio", "0.1", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3
    assert capsys.readouterr().err.strip().splitlines() == [
        f"wrote 3 examples of gsnr@0.1-0123456789ab to {out} (jsonl)"
    ]
    assert main(["export", "--run-dir", str(run), "--selector", "gsnr", "--ratio", "0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gsnr-bench: error:") and "--force" in err[0]


def test_a_pool_changed_since_selection_is_refused(tmp_path):
    """Ids alone would match a rewritten pool: the pool's content must be the one the subset was selected from."""
    run = make_run(tmp_path)
    pool_path = tmp_path / "alpaca.json"
    rows = json.loads(pool_path.read_text())
    rows[7]["output"] = "edited after selection"
    pool_path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match="content changed"):
        export_subset(run, "gsnr", 0.1, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_sharegpt_conversations_in_rank_order(tmp_path):
    run = make_run(tmp_path)
    export_subset(run, "gsnr", 0.1, tmp_path / "sel.json", fmt="sharegpt")
    rows = json.loads((tmp_path / "sel.json").read_text())
    assert [r["id"] for r in rows] == ["7", "2", "5"]
    assert rows[0]["conversations"] == [
        {"from": "human", "value": "do 7\n\nx"},  # the input after a blank line
        {"from": "gpt", "value": "out 7"},
    ]
    assert rows[1]["conversations"][0] == {"from": "human", "value": "do 2"}  # no input, no blank line
    assert rows[0]["score"] == 0.9 and rows[0]["rank"] == 1


def test_all_exports_every_finished_subset_or_nothing(tmp_path, capsys):
    run = make_run(tmp_path, subsets=("gsnr@0.1-0123456789ab", "random@0.1-ba9876543210"))
    out = tmp_path / "all"
    assert main(["export", "--run-dir", str(run), "--all", "--out", str(out), "--format", "jsonl"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["gsnr@0.1-0123456789ab.jsonl", "random@0.1-ba9876543210.jsonl"]  # the unfinished ifd@0.05: not
    assert [json.loads(x)["id"] for x in (out / files[1]).read_text().splitlines()] == ["7", "2", "5"]
    (out / files[0]).write_text("mine")
    assert main(["export", "--run-dir", str(run), "--all", "--out", str(out), "--format", "jsonl"]) == 2
    assert "pass --force" in capsys.readouterr().err and (out / files[0]).read_text() == "mine"
    assert main(["export", "--run-dir", str(run), "--all", "--selector", "gsnr", "--out", str(out)]) == 2
    assert main(["export", "--run-dir", str(run), "--out", str(out)]) == 2  # neither a subset nor --all
    assert "--all" in capsys.readouterr().err
