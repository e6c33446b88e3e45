"""The real CLI end to end on a small offline demo: select -> fine-tune -> generate -> judge -> report, then
re-run (nothing recomputed), dry-run, publish (byte-identical), and the two imports."""

from __future__ import annotations

import csv
import json
import re

import pytest

from conftest import run_cli

SMALL = ["--set", "demo.pool_size=96", "--set", "demo.pretrain_examples=96", "--set", "demo.pretrain_epochs=1",
         "--set", "demo.wizardlm_questions=6", "--set", "demo.vicuna_questions=4", "--set", "finetune.epochs=1",
         "--ratio", "0.1", "0.25", "--quiet"]
SYSTEMS = ["gsnr@0.1", "gsnr@0.25", "random@0.1", "random@0.25"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    res = run_cli("run", "--selector", "gsnr", "random", "--run-dir", str(root / "run"), *SMALL, cwd=root)
    assert res.returncode == 0, res.stderr[-3000:]
    return root, res


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_demo_end_to_end(run):
    root, res = run
    rd = root / "run"
    assert "PWS vs the 100% model" in res.stdout and "Enrichment of clean examples" in res.stdout
    rows = _csv(rd / "report" / "leaderboard.csv")
    pooled = {(r["selector"], r["ratio"]): r for r in rows if r["judge"] == "mean" and r["testset"] == "pooled"}
    assert set(pooled) == {("gsnr", "0.1"), ("gsnr", "0.25"), ("random", "0.1"), ("random", "0.25")}
    for r in pooled.values():
        assert int(r["n"]) + int(r["failed"]) == 10  # 6 WizardLM + 4 Vicuna questions, each judged once
        assert int(r["wins"]) + int(r["ties"]) + int(r["losses"]) == int(r["n"])
        assert 0.0 <= float(r["ci_low"]) <= float(r["pws"]) <= float(r["ci_high"]) <= 2.0
    # every system was judged on every question exactly once, by the reference judge over HTTP
    recs = [json.loads(line) for f in rd.glob("judgments/reference/*/judgments.jsonl") for line in f.open()]
    assert sorted({r["system"] for r in recs}) == SYSTEMS
    scored = [r for r in recs if not r["null_pair"]]
    assert len({(r["system"], r["testset"], r["question_id"]) for r in scored}) == len(scored) == 40
    nulls = [r for r in recs if r["null_pair"]]  # 2 per test set and system; the reference judge ties them
    assert len(nulls) == 16 and {r["outcome"] for r in nulls} == {"tie"}
    summary = json.loads((rd / "report" / "summary.json").read_text())
    assert {e["selector"] for e in summary["enrichment"]} == {"gsnr", "random"}
    assert all(0.0 <= e["auc"] <= 1.0 for e in summary["enrichment"])
    assert summary["bias"][0]["judge"] == "reference"
    manifest = json.loads((rd / "manifest.json").read_text())
    assert manifest["libraries"]["torch"] and manifest["seeds"]["global"] == 0
    assert {s["stage"] for s in manifest["stages"]} >= {"world", "scores", "subsets", "models", "answers"}
    assert manifest["judging"]["judges"][0]["name"] == "reference"
    html = (rd / "report" / "index.html").read_text()
    assert "<table" in html and "<svg" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched
    # subsets have the exact budget and name pool ids in rank order
    sel = [json.loads(line) for line in next(rd.glob("subsets/gsnr@0.25-*/selection.jsonl")).open()]
    assert len(sel) == 24 and [r["rank"] for r in sel] == sorted(r["rank"] for r in sel)


def test_demo_reports_lc_pws_and_lengths(run):
    """Every cell has an LC-PWS with its interval and the answer / subset / pool lengths (docs/length.md)."""
    root, res = run
    rd = root / "run"
    assert "LC-PWS" in res.stdout and "Spearman" in res.stdout
    for r in _csv(rd / "report" / "leaderboard.csv"):
        assert 0.0 <= float(r["lc_ci_low"]) <= float(r["lc_ci_high"]) <= 2.0 and 0.0 <= float(r["lc_pws"]) <= 2.0
        assert float(r["sys_len"]) > 0 and float(r["base_len"]) > 0
        assert float(r["train_len"]) > 0 and float(r["pool_len"]) > 0
    lengths = json.loads((rd / "report" / "summary.json").read_text())["lengths"]
    assert {x["selector"] for x in lengths} == {"gsnr", "random"}
    assert all(-1.0 <= x["spearman_score_vs_length"] <= 1.0 for x in lengths)
    assert "LC-PWS" in (rd / "report" / "index.html").read_text()
    assert "Table 1-LC" in (rd / "report" / "leaderboard.md").read_text()


def test_rerun_recomputes_nothing(run):
    root, _ = run
    done = {p: p.stat().st_mtime_ns for p in (root / "run").rglob("DONE")}
    res = run_cli("run", "--selector", "gsnr", "random", "--run-dir", str(root / "run"), *SMALL, cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    statuses = re.findall(r"│ (done|cached) ", res.stdout)
    assert statuses and set(statuses) == {"cached"}
    assert {p: p.stat().st_mtime_ns for p in (root / "run").rglob("DONE")} == done


def test_dry_run_sends_nothing_new(run):
    root, _ = run
    res = run_cli("judge", "--dry-run", "--selector", "gsnr", "random", "--run-dir", str(root / "run"), *SMALL,
                  cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "total: 0 calls to send" in res.stdout
    assert res.stdout.count("generated") == 4


def test_publish_is_byte_identical(run):
    root, _ = run
    outs = []
    for name in ("lb1", "lb2"):
        res = run_cli("leaderboard", "publish", str(root / "run"), "--out", str(root / name), cwd=root)
        assert res.returncode == 0, res.stderr
        outs.append({p.name: p.read_bytes() for p in (root / name).iterdir()})
    assert outs[0] == outs[1]
    assert set(outs[0]) == {"leaderboard.csv", "leaderboard.md", "leaderboard.tex", "index.html"}
    assert outs[0]["leaderboard.csv"] == (root / "run" / "report" / "leaderboard.csv").read_bytes()


def test_gpt_judge_key_lands_in_no_file(run):
    """The GPT judge through the real CLI against a local OpenAI-compatible server that demands a key: the
    key is sent (the server accepts it) and written nowhere: not in judgments, cache, manifest, config, report."""
    from gsnr_bench.judging.reference_server import ReferenceJudgeServer

    root, _ = run
    rd = root / "run"
    key = "sk-PLANTED-e2e-0123456789abcdef"
    with ReferenceJudgeServer({}, model="gpt-4o-mini", api_key=key) as srv:
        res = run_cli("run", "--selector", "gsnr", "random", "--judge", "gpt", "reference", "--run-dir", str(rd),
                      *SMALL, cwd=root, env={"OPENAI_API_KEY": key, "OPENAI_BASE_URL": srv.base_url})
        assert res.returncode == 0, res.stderr[-2000:]
        assert srv.log.chat_requests > 0
    assert key not in res.stdout + res.stderr
    leaks = [p for p in rd.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaks == []
    rows = _csv(rd / "report" / "leaderboard.csv")
    assert {r["judge"] for r in rows} == {"gpt", "reference", "mean"}
    manifest = json.loads((rd / "manifest.json").read_text())
    assert {j["name"]: j["api_key_env"] for j in manifest["judging"]["judges"]}["gpt"] == "OPENAI_API_KEY"


def _questions(rd):
    inputs = json.loads((rd / "report" / "inputs.json").read_text())
    return [(t, q) for t, qs in sorted(inputs["testsets"].items()) for q in qs]


def test_import_human_labels(run):
    root, _ = run
    rd = root / "run"
    bad = root / "bad.csv"
    bad.write_text("testset,question_id,system_a,system_b,label,annotator\n"
                   "demo-vicuna,1,gsnr@0.1,full,better,ann1\ndemo-vicuna,999,gsnr@0.1,full,win,ann1\n")
    res = run_cli("import-human", str(bad), "--run-dir", str(rd), cwd=root)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "better" in res.stderr and "999" in res.stderr
    assert not (rd / "human").exists()
    labels = ["win", "tie", "lose"]
    good = root / "human.csv"
    with good.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["testset", "question_id", "system_a", "system_b", "label", "annotator"])
        for i, (t, q) in enumerate(_questions(rd)):
            for ann in ("ann1", "ann2"):
                w.writerow([t, q, "gsnr@0.1", "full", labels[(i + (ann == "ann2")) % 3], ann])
    res = run_cli("import-human", str(good), "--run-dir", str(rd), cwd=root)
    assert res.returncode == 0, res.stderr
    summary = json.loads((rd / "report" / "summary.json").read_text())
    assert "reference" in [a["judge"] for a in summary["agreement"]]  # (and gpt, if its test ran first)
    pooled = [h for h in summary["human"] if h["testset"] == "pooled"]
    assert pooled and pooled[0]["system"] == "gsnr@0.1" and pooled[0]["n"] == 10


def test_import_superfiltering_review(run):
    root, _ = run
    rd = root / "run"
    qs = [q for t, q in _questions(rd) if t == "demo-vicuna"]
    items = [{"question_id": int(q), "text": f"q{q}", "Answer1": "a", "Answer2": "b", "scores": [8, 6],
              "scores_reverse": [5, 7]} for q in qs]
    review = root / "cherry_vicuna.json"
    review.write_text(json.dumps({"Meta_Info": {"dataset_name": "demo-vicuna"}, "data": items}))
    res = run_cli("import-judgments", str(review), "--format", "superfiltering", "--run-dir", str(rd),
                  "--system", "cherry@0.1", "--testset", "demo-vicuna", "--judge", "gpt-3.5", cwd=root)
    assert res.returncode == 0, res.stderr
    rows = _csv(rd / "report" / "leaderboard.csv")
    cherry = [r for r in rows if r["selector"] == "cherry" and r["judge"] == "gpt-3.5" and r["testset"] == "pooled"]
    assert cherry and cherry[0]["wins"] == str(len(qs)) and cherry[0]["pws"] == "2.0000"
    # the same file again would count every comparison twice: refused, nothing written
    before = sorted(p.name for p in (rd / "imported").iterdir())
    review.write_text(json.dumps({"Meta_Info": {"dataset_name": "demo-vicuna"}, "data": items}) + "\n")
    res = run_cli("import-judgments", str(review), "--format", "superfiltering", "--run-dir", str(rd),
                  "--system", "cherry@0.1", "--testset", "demo-vicuna", "--judge", "gpt-3.5", cwd=root)
    assert res.returncode == 2 and "duplicate" in res.stderr
    assert sorted(p.name for p in (rd / "imported").iterdir()) == before
