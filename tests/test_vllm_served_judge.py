"""An open judge served for real: vLLM's OpenAI-compatible server (CPU build) on 127.0.0.1 with SmolLM2-135M,
started by the project's helper (generation/vllm_server.py: `python -m vllm.entrypoints.openai.api_server`, a
small --gpu-memory-utilization on CPU), and the harness judging 16 real comparisons in both orders through an
ordinary judge YAML (judges/smollm2.yaml, base_url_env). Marker `vllm`.

The comparisons: the first 16 instructions (no input) that both the Alpaca and the Alpaca-GPT4 samples in
../shared/data hold, each with its two real answers (capped at 600 characters to keep CPU prefill cheap).

Every reply is checked independently of the harness's parser: a call with scores must come from a reply whose
scores a strict reading finds (the FastChat first line, or both "Assistant N" labels with a score) and agree with
it; a call counted as a parse failure must come from replies the strict first-line reading cannot read either.
The parse-failure and position-bias rates are recorded in the summary's diagnostics and asserted present. Both
the harness's default prompt (vicuna-pair-v1) and the shorter one for small models (small-judge-v1) are run and
measured on the same server; neither is asserted to be better (the numbers are printed and quoted in docs/gpu.md)."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import SHARED_DATA as DATA
from conftest import smollm2_dir

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (see .ci/run)"),
    pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present"),
]

ROOT = Path(__file__).resolve().parent.parent
N = 16
# the harness's default prompt, and the shorter one for small models (prompts/small-judge-v1.yaml), measured alike
PROMPTS = ("vicuna-pair-v1", "small-judge-v1")


def comparisons() -> list:
    from gsnr_bench.judging.stage import Comparison

    alpaca = {r["instruction"]: r for r in json.loads((DATA / "alpaca_sample.json").read_text())}
    gpt4 = json.loads((DATA / "alpaca_gpt4_sample.json").read_text())
    both = [g for g in gpt4 if g["instruction"] in alpaca and not g["input"] and not alpaca[g["instruction"]]["input"]]
    assert len(both) >= N
    return [
        Comparison(
            testset="alpaca-overlap",
            question_id=str(i),
            question=g["instruction"],
            system="alpaca-gpt4",
            system_answer=g["output"][:600],
            baseline="alpaca",
            baseline_answer=alpaca[g["instruction"]]["output"][:600],
        )
        for i, g in enumerate(both[:N])
    ]


def strict_reading(text: str) -> tuple[float, float] | None:
    """An independent, strict reading: the first non-empty line is exactly two numbers in [0, 10]."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return None
    toks = lines[0].replace(",", " ").split()
    if len(toks) == 2 and all(re.fullmatch(r"\d+(\.\d+)?", t) for t in toks):
        a, b = float(toks[0]), float(toks[1])
        return (a, b) if 0 <= a <= 10 and 0 <= b <= 10 else None
    return None


def labelled_reading(text: str) -> tuple[float, float] | None:
    """Both assistants named, each with the first score after its label (a second, independent rule)."""
    found = {}
    for m in re.finditer(r"assistant\s*([12])\D{0,40}?(\d+(?:\.\d+)?)", text or "", re.I):
        found.setdefault(m.group(1), float(m.group(2)))
    return (found["1"], found["2"]) if set(found) == {"1", "2"} else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_smollm2_judges_both_orders(tmp_path, monkeypatch, report):
    import psutil

    from gsnr_bench.generation.vllm_server import _group_alive, serve
    from gsnr_bench.judging.config import JudgingConfig
    from gsnr_bench.judging.spec import load_judge
    from gsnr_bench.judging.stage import judge

    base = smollm2_dir()
    t = time.perf_counter()
    server = serve(
        str(base),
        port=free_port(),
        served_name="smollm2-135m-instruct",
        log_path=tmp_path / "server.log",
        max_model_len=2048,
    )
    started = time.perf_counter() - t
    assert "vllm.entrypoints.openai.api_server" in server.argv and "--gpu-memory-utilization" in server.argv
    tree = {server.proc.pid} | {c.pid for c in psutil.Process(server.proc.pid).children(recursive=True)}
    assert len(tree) >= 2, "the engine runs in a child process of the server"
    try:
        monkeypatch.setenv("SMOLLM2_BASE_URL", server.base_url)
        spec = load_judge(str(ROOT / "judges" / "smollm2.yaml"))
        assert spec.base_url_env == "SMOLLM2_BASE_URL"
        runs = {}
        for prompt_name in PROMPTS:
            cfg = JudgingConfig(
                judges=["smollm2"], order="both", max_parse_retries=1, concurrency=8, prompt=prompt_name
            )
            t = time.perf_counter()
            out = tmp_path / prompt_name
            out.mkdir()
            summary = judge(comparisons(), spec, cfg, out / "judgments.jsonl", out / "judge.sqlite")
            runs[prompt_name] = (cfg, summary, time.perf_counter() - t)
    finally:
        server.stop()
    # no process of the server is left: not the server, not its engine
    assert not _group_alive(server.proc.pid)
    assert not [p for p in tree if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    lines = [f"served SmolLM2 judge: server up in {started:.0f} s, stopped with no process left"]
    for prompt_name, (cfg, summary, secs) in runs.items():
        lines.append(check_run(spec, cfg, summary, tmp_path / prompt_name, secs))
    report("; ".join(lines))


def check_run(spec, cfg, summary, out, secs) -> str:
    """Every reply read correctly or counted as a parse failure (after its re-ask); the rates recorded."""
    from gsnr_bench.judging.comparisons import call_key, prompt_for

    items = comparisons()
    records = [json.loads(x) for x in (out / "judgments.jsonl").read_text().splitlines()]
    assert summary.comparisons == N and len(records) == N
    db = sqlite3.connect(out / "judge.sqlite")
    replies = {k: json.loads(r) for k, r in db.execute("SELECT key, reply FROM calls")}
    db.close()
    prompt = prompt_for(spec, cfg)
    by_id = {i.question_id: i for i in items}
    calls = read = failed = decisive = first_won = 0
    samples = []
    for r in records:
        item = by_id[r["question_id"]]
        assert [c["first"] for c in r["calls"]] == ["system", "baseline"]  # both orders
        for c in r["calls"]:
            calls += 1
            slots = (
                (item.system_answer, item.baseline_answer)
                if c["first"] == "system"
                else (item.baseline_answer, item.system_answer)
            )
            msgs = prompt.messages(item.question, *slots)
            texts = [replies[call_key(spec, msgs, a)]["text"] for a in range(c["attempts"])]
            samples.append(texts[-1][:60])
            if c["scores"] is not None:
                read += 1
                # read from the last reply, and agreeing with an independent strict reading of it
                mine = strict_reading(texts[-1]) or labelled_reading(texts[-1])
                assert mine is not None and list(mine) == c["scores"], (texts[-1], c["scores"])
                assert all(strict_reading(x) is None for x in texts[:-1])  # earlier replies were unreadable
                if c["scores"][0] != c["scores"][1]:
                    decisive += 1
                    first_won += c["scores"][0] > c["scores"][1]
            else:
                failed += 1
                assert c["parse_failed"] and c["attempts"] == cfg.max_parse_retries + 1  # re-asked, then failed
                assert all(strict_reading(x) is None for x in texts), texts  # nothing readable was thrown away
        if any(c["scores"] is None for c in r["calls"]):
            assert r["outcome"] == "failed"  # a failure is never scored
    d = summary.diagnostics
    for key in ("first_position_win_rate", "decisive_calls", "swap_flip_rate", "parse_failed_calls", "failed"):
        assert key in d, key
    assert d["decisive_calls"] == decisive
    return (
        f"prompt {cfg.prompt}: {N} comparisons x 2 orders = {calls} calls in {secs:.0f} s; scores read {read}, "
        f"parse failures {failed} ({failed / calls:.0%}) after one re-ask each; first position won {first_won}/"
        f"{decisive} decisive calls (first_position_win_rate {d['first_position_win_rate']}); swap flip rate "
        f"{d['swap_flip_rate']}; win/tie/lose/failed {summary.win}/{summary.tie}/{summary.lose}/"
        f"{summary.failed_total}; replies like {samples[:2]!r}"
    )
