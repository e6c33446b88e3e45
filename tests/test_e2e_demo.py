"""The real CLI end to end on a small offline demo: select -> fine-tune -> generate -> judge -> report, then
re-run (nothing recomputed), dry-run, publish (byte-identical), and the two imports."""

from __future__ import annotations

import csv
import json
import re

import pytest

from gsnr_bench.core.fileio import read_jsonl

from conftest import run_cli

pytestmark = pytest.mark.slow  # the real CLI end to end: minutes on 2 cores; CI runs it (-m slow)

SMALL = [
    "--set",
    "demo.pool_size=96",
    "--set",
    "demo.pretrain_examples=96",
    "--set",
    "demo.pretrain_epochs=1",
    "--set",
    "demo.wizardlm_questions=6",
    "--set",
    "demo.vicuna_questions=4",
    "--set",
    "finetune.epochs=1",
    "--ratio",
    "0.1",
    "0.25",
    "--quiet",
]
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
    """Every cell has an LC-PWS with its interval, or n/a with the reason, and the answer / subset / pool
    lengths (docs/length.md)."""
    root, res = run
    rd = root / "run"
    assert "LC-PWS" in res.stdout and "Spearman" in res.stdout
    na = json.loads((rd / "report" / "summary.json").read_text())["lc_na"]
    for r in _csv(rd / "report" / "leaderboard.csv"):
        if r["lc_note"]:  # 10 questions a cell: the lengths may not reach zero difference
            assert r["lc_pws"] == r["lc_ci_low"] == r["lc_ci_high"] == ""
            assert any(x["reason"] == r["lc_note"] and x["selector"] == r["selector"] for x in na)
        else:
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
    res = run_cli(
        "judge", "--dry-run", "--selector", "gsnr", "random", "--run-dir", str(root / "run"), *SMALL, cwd=root
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "total: 0 calls to send" in res.stdout
    assert res.stdout.count("generated") == 4


def test_sweep_plan_of_a_finished_run_is_all_cached_and_writes_nothing(run):
    root, _ = run
    rd = root / "run"

    def files():  # every file's size and mtime (opening the judge cache to count cached calls touches only its
        # transient -wal/-shm files, and so the cache directory's mtime)
        return {
            p: (p.stat().st_size, p.stat().st_mtime_ns)
            for p in rd.rglob("*")
            if p.is_file() and "-wal" not in p.name and "-shm" not in p.name
        }

    tree = files()
    out = root / "plan.json"
    res = run_cli(
        "run", "--dry-run", "--selector", "gsnr", "random", "--run-dir", str(rd), *SMALL, "--json", str(out), cwd=root
    )
    assert res.returncode == 0, res.stderr[-2000:]
    plan = json.loads(out.read_text())
    assert plan["cache_lookup"] == "ok" and not plan["new_run"]
    for row in plan["stages"]:  # 2 scorings, 5 fine-tunes and generations, 4 judged cells: all cached
        assert row["left"] == 0 and row["cached"] == row["items"] == {"score": 2, "judge": 4}.get(row["stage"], 5)
    assert plan["totals"]["gpu_hours_left"] == 0 and plan["totals"]["usd_left"] == 0
    # a new budget: its scores are cached, its fine-tune, generation and judging are left
    res = run_cli(
        "run",
        "--dry-run",
        "--selector",
        "gsnr",
        "random",
        "--run-dir",
        str(rd),
        *SMALL,
        "--ratio",
        "0.5",
        "--json",
        str(out),
        cwd=root,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    st = {r["stage"]: r for r in json.loads(out.read_text())["stages"]}
    assert st["score"]["left"] == 0 and st["finetune"]["left"] == st["generate"]["left"] == 2
    assert st["judge"]["left"] == 2
    assert files() == tree  # the run directory is untouched, the judge cache's content included


def test_demo_latex_compiles_with_intervals_per_test_set_and_judge(run, tmp_path):
    import shutil

    from conftest import pdflatex

    root, _ = run
    tex = (root / "run" / "report" / "leaderboard.tex").read_text()
    assert "\\scriptsize[" in tex and "demo-WizardLM" in tex and "demo-Vicuna" in tex and "Pooled" in tex
    assert "judge reference" in tex  # a table per judge (the demo's reference judge)
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (CI installs texlive)")
    for columns in ("onecolumn", "twocolumn"):
        (tmp_path / columns).mkdir()
        rc, log = pdflatex(tmp_path / columns, tex, columns)
        assert rc == 0 and "Overfull \\hbox" not in log, log[-3000:]


def test_publish_is_byte_identical(run):
    root, _ = run
    outs = []
    for name in ("lb1", "lb2"):
        res = run_cli("leaderboard", "publish", str(root / "run"), "--out", str(root / name), cwd=root)
        assert res.returncode == 0, res.stderr
        d = root / name
        outs.append({p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()})
    assert outs[0] == outs[1]
    assert {"leaderboard.csv", "leaderboard.md", "leaderboard.tex", "index.html"} <= set(outs[0])
    assert {"figures/pws_by_ratio.pdf", "figures/pws_by_ratio.png", "figures/training_loss.pdf"} <= set(outs[0])
    assert outs[0]["leaderboard.csv"] == (root / "run" / "report" / "leaderboard.csv").read_bytes()


def test_gpt_judge_key_lands_in_no_file(run):
    """The GPT judge through the real CLI against a local OpenAI-compatible server that demands a key: the
    key is sent (the server accepts it) and written nowhere: not in judgments, cache, manifest, config, report."""
    from judge_faults import FaultyJudgeServer

    root, _ = run
    rd = root / "run"
    key = "sk-PLANTED-e2e-0123456789abcdef"
    with FaultyJudgeServer({}, model="gpt-4o-mini", api_key=key) as srv:
        res = run_cli(
            "run",
            "--selector",
            "gsnr",
            "random",
            "--judge",
            "gpt",
            "reference",
            "--run-dir",
            str(rd),
            *SMALL,
            cwd=root,
            env={"OPENAI_API_KEY": key, "OPENAI_BASE_URL": srv.base_url},
        )
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
    cell = json.loads(next(rd.glob("judgments/*/*/cell.json")).read_text())
    return [(t, q) for t, qs in sorted(cell["testsets"].items()) for q in qs]


def test_import_human_labels(run):
    root, _ = run
    rd = root / "run"
    bad = root / "bad.csv"
    bad.write_text(
        "testset,question_id,system_a,system_b,label,annotator\n"
        "demo-vicuna,1,gsnr@0.1,full,better,ann1\ndemo-vicuna,999,gsnr@0.1,full,win,ann1\n"
    )
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
    items = [
        {
            "question_id": int(q),
            "text": f"q{q}",
            "Answer1": "a",
            "Answer2": "b",
            "scores": [8, 6],
            "scores_reverse": [5, 7],
        }
        for q in qs
    ]
    review = root / "cherry_vicuna.json"
    review.write_text(json.dumps({"Meta_Info": {"dataset_name": "demo-vicuna"}, "data": items}))
    res = run_cli(
        "import-judgments",
        str(review),
        "--format",
        "superfiltering",
        "--run-dir",
        str(rd),
        "--system",
        "cherry@0.1",
        "--testset",
        "demo-vicuna",
        "--judge",
        "gpt-3.5",
        cwd=root,
    )
    assert res.returncode == 0, res.stderr
    rows = _csv(rd / "report" / "leaderboard.csv")
    cherry = [r for r in rows if r["selector"] == "cherry" and r["judge"] == "gpt-3.5" and r["testset"] == "pooled"]
    assert cherry and cherry[0]["wins"] == str(len(qs)) and cherry[0]["pws"] == "2.0000"
    # the same file again would count every comparison twice: refused, nothing written
    before = sorted(p.name for p in (rd / "imported").iterdir())
    review.write_text(json.dumps({"Meta_Info": {"dataset_name": "demo-vicuna"}, "data": items}) + "\n")
    res = run_cli(
        "import-judgments",
        str(review),
        "--format",
        "superfiltering",
        "--run-dir",
        str(rd),
        "--system",
        "cherry@0.1",
        "--testset",
        "demo-vicuna",
        "--judge",
        "gpt-3.5",
        cwd=root,
    )
    assert res.returncode == 2 and "duplicate" in res.stderr
    assert sorted(p.name for p in (rd / "imported").iterdir()) == before


def test_two_commands_add_to_one_run_and_report_needs_no_flags(tmp_path):
    """Two `run` commands with different selectors on one run dir, then `report --run-dir RUN`: the leaderboard
    has both selectors' rows, config.yaml records both commands, and nothing was recomputed."""
    rd = tmp_path / "run"
    small = [a for a in SMALL if a not in ("--ratio", "0.1", "0.25")]
    res = run_cli("run", "--selector", "random", "--ratio", "0.1", "--run-dir", str(rd), *small, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_cli("run", "--selector", "gsnr", "--ratio", "0.25", "--run-dir", str(rd), "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _csv(rd / "report" / "leaderboard.csv")
    assert {(r["selector"], r["ratio"]) for r in rows} == {("random", "0.1"), ("gsnr", "0.25")}
    done = {p: p.stat().st_mtime_ns for p in rd.rglob("DONE")}
    config = (rd / "config.yaml").read_bytes()
    res = run_cli("report", "--run-dir", str(rd), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert {(r["selector"], r["ratio"]) for r in _csv(rd / "report" / "leaderboard.csv")} == {
        ("random", "0.1"),
        ("gsnr", "0.25"),
    }
    assert {p: p.stat().st_mtime_ns for p in rd.rglob("DONE")} == done  # nothing recomputed
    assert (rd / "config.yaml").read_bytes() == config
    import yaml

    record = yaml.safe_load(config)
    assert [h["cells"] for h in record["history"]] == [["random@0.1"], ["gsnr@0.25"]]
    assert record["history"][1]["changed"] == {
        "selection.ratios": [[0.1], [0.25]],
        "selection.selectors": [["random"], ["gsnr"]],
    }
    assert record["config"]["name"] == "demo"


def test_failed_judge_calls_exit_nonzero_then_retry_exactly_those(run):
    """A judge server that fails every call, then recovers: the first command exits 3 with a one-line summary
    and leaves the stages incomplete; the second judges exactly the failed comparisons and exits 0."""
    from judge_faults import Faults, FaultyJudgeServer

    root, _ = run
    rd = root / "run"
    _judge_yaml(root, "flaky", "flaky-judge-v1")
    args = [
        "judge",
        "--selector",
        "gsnr",
        "random",
        "--judge",
        "flaky",
        "--run-dir",
        str(rd),
        *SMALL,
        "--set",
        "judging.max_retries=0",
    ]
    with FaultyJudgeServer({}, model="flaky-judge-v1", faults=Faults(rate_500=1.0)) as srv:
        env = {"FLAKY_KEY": "k", "FLAKY_URL": srv.base_url}
        res = run_cli(*args, cwd=root, env=env)
        assert res.returncode == 3, res.stderr[-2000:]
        failed_lines = [ln for ln in (res.stdout + res.stderr).splitlines() if "comparison(s) failed" in ln]
        assert len(failed_lines) == 1 and "run the same command again" in failed_lines[0]
        recs = [json.loads(line) for f in rd.glob("judgments/flaky/*/judgments.jsonl") for line in f.open()]
        n_failed = sum(r["outcome"] == "failed" for r in recs)
        assert n_failed == len(recs) > 0 and not list(rd.glob("judgments/flaky/*/DONE"))
        failed_bodies = set(srv.log.receipts)  # every request of the failed comparisons (identical ones once)
        srv.faults = Faults()
        before = dict(srv.log.receipts)
        res = run_cli(*args, cwd=root, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        sent = {h: n - before.get(h, 0) for h, n in srv.log.receipts.items() if n > before.get(h, 0)}
        # exactly the failed comparisons' requests, each once (comparisons sharing a request share its reply)
        assert set(sent) == failed_bodies and set(sent.values()) == {1}
    assert len(list(rd.glob("judgments/flaky/*/DONE"))) == 4
    recs = [json.loads(line) for f in rd.glob("judgments/flaky/*/judgments.jsonl") for line in f.open()]
    assert len(recs) == n_failed and not any(r["outcome"] == "failed" for r in recs)


def _judge_yaml(root, name, model, price=1.0):
    """A judge of the user's own (judges/ in the working directory) behind env vars, priced per 1M tokens."""
    (root / "judges").mkdir(exist_ok=True)
    up = name.upper()
    (root / "judges" / f"{name}.yaml").write_text(
        f"name: {name}\nprovider: openai-compatible\nmodel: {model}\nbase_url_env: {up}_URL\napi_key_env: {up}_KEY\n"
        f"temperature: 0.0\nmax_tokens: 64\nprice_input_per_1m: {price}\nprice_output_per_1m: {price}\n"
    )


def test_max_cost_is_run_wide_and_dry_run_needs_no_endpoint(run):
    from judge_faults import FaultyJudgeServer

    root, _ = run
    rd = root / "run"
    _judge_yaml(root, "pricey", "pricey-judge-v1", price=1.0)
    base = [
        "--selector",
        "gsnr",
        "random",
        "--judge",
        "pricey",
        "--run-dir",
        str(rd),
        *SMALL,
        "--set",
        "judging.null_pairs=0",
    ]
    # the endpoint is down: the dry run sends nothing and needs none
    res = run_cli("judge", "--dry-run", *base, cwd=root, env={"PRICEY_KEY": "k", "PRICEY_URL": "http://127.0.0.1:9/v1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "total: 40 calls to send" in res.stdout
    prior = json.loads((rd / "manifest.json").read_text())["judging"]["spent_usd_run"]  # earlier tests' judges
    limit = round(prior + 0.004, 6)
    with FaultyJudgeServer({}, model="pricey-judge-v1") as srv:
        env = {"PRICEY_KEY": "k", "PRICEY_URL": srv.base_url}
        res = run_cli("judge", *base, "--max-cost", str(limit), "--concurrency", "4", cwd=root, env=env)
        assert res.returncode == 4, res.stderr[-2000:]
        line = [ln for ln in (res.stdout + res.stderr).splitlines() if "--max-cost" in ln and "spent" in ln]
        assert line, res.stdout[-2000:] + res.stderr[-2000:]
        m = re.search(r"\$([0-9.]+) spent of \$([0-9.]+) by this run; (\d+) comparison", line[0])
        spent, shown_limit, left = float(m.group(1)), float(m.group(2)), int(m.group(3))
        assert shown_limit == pytest.approx(limit) and prior < spent <= limit
        recs = [json.loads(x) for f in rd.glob("judgments/pricey/*/judgments.jsonl") for x in f.open()]
        judged = sum(r["outcome"] != "failed" for r in recs)
        assert 0 < judged < 40 and left == 40 - judged  # 4 systems x 10 questions, over the whole command
        # stopped within one in-flight batch of the limit: the worst case of 4 calls would not have fit
        assert limit - spent < 4 * 0.0006
        manifest = json.loads((rd / "manifest.json").read_text())
        assert manifest["judging"]["spent_usd_run"] == pytest.approx(spent, abs=5e-5)  # the message rounds to 4 places
        sent = srv.log.chat_requests
        cheapest = min(c["cost"] for r in recs for c in r["calls"] if c.get("cost"))
        # the limit is the run's, not the command's: the same command again sends only what the run's unspent
        # remainder covers (here, at most what fits beside the first command's spend), and never passes it
        res = run_cli("judge", *base, "--max-cost", str(limit), cwd=root, env=env)
        assert res.returncode == 4, res.stderr[-2000:]
        again = json.loads((rd / "manifest.json").read_text())["judging"]["spent_usd_run"]
        assert spent - 5e-5 <= again <= limit + 5e-5
        assert (srv.log.chat_requests - sent) * cheapest <= limit - spent + 5e-5


def test_judging_a_sample_of_questions_adds_cells_and_keeps_the_full_ones(run, tmp_path):
    import shutil

    root, _ = run
    rd = tmp_path / "run"
    shutil.copytree(root / "run", rd)
    before = {p: p.read_bytes() for p in rd.glob("judgments/*/*/cell.json")}
    res = run_cli(
        "judge",
        "--selector",
        "gsnr",
        "--judge",
        "reference",  # the demo's judge, whatever judge an earlier test of this module left in the run's record
        "--run-dir",
        str(rd),
        *SMALL,
        "--set",
        "judging.max_questions=2",
        cwd=root,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    cells = {p: json.loads(p.read_text()) for p in rd.glob("judgments/*/*/cell.json") if p not in before}
    assert len(cells) == 2  # gsnr@0.1 and gsnr@0.25, judged again on the sample only
    for path, cell in cells.items():
        assert {t: len(q) for t, q in cell["testsets"].items()} == {"demo-vicuna": 2, "demo-wizardlm": 2}
        judged = {(r["testset"], r["question_id"]) for r in read_jsonl(path.parent / "judgments.jsonl")}
        assert judged == {(t, q) for t, qs in cell["testsets"].items() for q in qs}
        assert cell["protocol_detail"]["max_questions"] == 2
    protocols = {json.loads(p.read_text())["protocol"] for p in before}
    assert protocols.isdisjoint(c["protocol"] for c in cells.values())  # reported as their own rows
    assert {p: p.read_bytes() for p in before} == before  # the full cells are untouched
