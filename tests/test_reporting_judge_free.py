"""Judge-free results as soon as scores exist (issue 22): `score --truth` prints and writes enrichment, selector
health and seed stability; `report` renders a run that has scores and no judgments."""

from __future__ import annotations

import json


def _inputs(tmp_path, n=40):
    pool = tmp_path / "pool.json"
    rows = [{"id": f"e{i}", "instruction": f"say {i}", "output": "" if i % 5 == 0 else f"answer {i}"} for i in range(n)]
    pool.write_text(json.dumps(rows))
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n" + "".join(f"e{i},{'empty' if i % 5 == 0 else 'clean'}\n" for i in range(n)))
    return pool, truth


def test_score_with_truth_prints_and_writes_judge_free_results_and_report_renders_them(cli, tmp_path, tiny_gpt2):
    pool, truth = _inputs(tmp_path)
    run = tmp_path / "run"
    args = ["--train-data", str(pool), "--truth", str(truth), "--proxy", str(tiny_gpt2), "--run-dir", str(run)]
    res = cli("score", *args, "--selector", "random", "oracle", "--selector-seeds", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "Enrichment of clean examples" in res.stdout and "Selector health" in res.stdout
    assert "Ranking stability over seeds" in res.stdout
    jf = json.loads((run / "report" / "judge-free.json").read_text())
    by = {(r["selector"], r["ratio"]): r for r in jf["enrichment"]}
    assert by[("oracle", 0.1)]["auc"] == 1.0 and by[("oracle", 0.1)]["lift"] == 1.25  # 32 of 40 clean
    assert {h["selector"] for h in jf["health"]} == {"random", "oracle"}
    assert [s["selector"] for s in jf["stability"]] == ["oracle", "random"] and jf["stability"][0]["seeds"] == 2
    assert not (run / "report" / "leaderboard.csv").exists()  # `score` writes the judge-free results only

    rep = cli("report", "--run-dir", str(run))
    assert rep.returncode == 0, rep.stderr
    assert "no judged comparisons yet" in rep.stdout and "Enrichment of clean examples" in rep.stdout
    md = (run / "report" / "leaderboard.md").read_text()
    assert "## Selector health" in md and "## Enrichment of clean examples" in md
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["enrichment"] == jf["enrichment"] and summary["cells"] == []
    assert "Enrichment" in (run / "report" / "index.html").read_text()
