"""The CLI end to end with model judges served over HTTP (the reference judge behind openai-compatible judge
specs): a judge that writes labelled scores in reverse order gives the same leaderboard as one writing "8 9";
a finished run needs no endpoint (exit 0 with the judges down and their keys unset); usage missing from every
reply is estimated, marked in the manifest and the report, and warned about."""

from __future__ import annotations

import csv
import json

import pytest
from test_e2e_demo import SMALL

from judge_faults import Faults, FaultyJudgeServer

pytestmark = pytest.mark.slow  # a small demo run, fine-tunes included: minutes on 2 cores

JUDGE_YAML = """name: {name}
description: reference judge over HTTP writing {style} scores
provider: openai-compatible
model: ref-{env}
base_url_env: GSNR_E2E_URL_{env}
api_key_env: GSNR_E2E_KEY_{env}
max_tokens: 64
price_input_per_1m: 1.0
price_output_per_1m: 2.0
"""
STYLES = {"pair": "PAIR", "labelled-reversed": "REV"}


def _references(root, run_dir):
    from gsnr_bench.cli import build_parser
    from gsnr_bench.commands.runs import resolve_run
    from gsnr_bench.pipeline import Pipeline
    from gsnr_bench.run.store import RunStore

    args = build_parser().parse_args(["judge", "--run-dir", str(run_dir)])
    plan = resolve_run(args)
    return Pipeline(plan.cfg, RunStore(plan.root, create=False), quiet=True).sources.references


def _pooled(run_dir):
    with open(run_dir / "report" / "leaderboard.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        (r["judge"], r["selector"], r["ratio"]): (r["pws"], r["wins"], r["ties"], r["losses"])
        for r in rows
        if r["testset"] == "pooled" and r["judge"] != "mean"
    }


def test_model_judges_over_http_end_to_end(tmp_path, cli, monkeypatch):
    (tmp_path / "judges").mkdir()
    for style, env in STYLES.items():
        (tmp_path / "judges" / f"j-{style}.yaml").write_text(JUDGE_YAML.format(name=f"j-{style}", style=style, env=env))
    run_dir = tmp_path / "run"
    base = ["--selector", "random", "--run-dir", str(run_dir), *SMALL]
    res = cli("generate", *base, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    monkeypatch.chdir(tmp_path)
    refs = _references(tmp_path, run_dir)
    assert refs
    judges = ["--judge", *(f"j-{s}" for s in STYLES)]
    with (
        # two models: the judge cache is keyed by the request, so one model's replies would serve both judges
        FaultyJudgeServer(refs, model="ref-PAIR", style="pair", faults=Faults(rate_no_usage=1.0)) as pair,
        FaultyJudgeServer(refs, model="ref-REV", style="labelled-reversed") as rev,
    ):
        env = {"GSNR_E2E_URL_PAIR": pair.base_url, "GSNR_E2E_URL_REV": rev.base_url}
        env |= {"GSNR_E2E_KEY_PAIR": "k", "GSNR_E2E_KEY_REV": "k"}
        res = cli("run", *base, *judges, cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        assert rev.log.chat_requests > 0 and pair.log.chat_requests > 0
    out = res.stdout + res.stderr
    assert "warning: judge 'j-pair' sent no valid usage" in out and "estimated" in out
    board = _pooled(run_dir)
    by_judge = {}
    for (judge, sel, ratio), row in board.items():
        by_judge.setdefault(judge, {})[(sel, ratio)] = row
    assert set(by_judge) == {"j-pair", "j-labelled-reversed"}
    assert by_judge["j-pair"] == by_judge["j-labelled-reversed"]  # same verdicts, read by label
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["judging"]["spend_usage"] == "estimated" and manifest["judging"]["spend_usage_estimated_calls"] > 0
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert summary["judge_cost"]["usage"] == "estimated" and summary["judge_cost"]["cost_usd"] > 0

    # the judges are down and their variables unset: the finished run needs none of them
    env = {k: "" for k in ("GSNR_E2E_URL_PAIR", "GSNR_E2E_URL_REV", "GSNR_E2E_KEY_PAIR", "GSNR_E2E_KEY_REV")}
    res = cli("run", *base, *judges, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert _pooled(run_dir) == board
    # a new cell needs its judge: one line, exit 2
    res = cli("run", *base, "--ratio", "0.5", *judges, cwd=tmp_path, env=env)
    assert res.returncode == 2 and "GSNR_E2E_" in res.stderr and "Traceback" not in res.stderr
