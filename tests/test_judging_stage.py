"""The judging stage against the local reference server, with each fault injected: every comparison
ends judged or failed, exactly once; re-runs send nothing; pre-flight errors come before any call;
the budget holds; the API key lands in no file."""

import json
import socket
from collections import Counter
from pathlib import Path

import pytest
from rich.progress import Progress

from gsnr_bench.analysis.diagnostics import bias_diagnostics
from gsnr_bench.core.errors import BudgetExceeded, EndpointError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.reference_server import serve_reference_for
from gsnr_bench.judging.spec import load_judge, parse_judge
from gsnr_bench.judging.stage import Comparison, dry_run, judge

from judge_faults import Faults, FaultyJudgeServer

RECORD_KEYS = {
    "testset",
    "question_id",
    "judge",
    "judge_model",
    "system",
    "baseline",
    "prompt_version",
    "order",
    "combine",
    "null_pair",
    "calls",
    "outcome",
    "system_len",
    "baseline_len",
    "reason",
}
CALL_KEYS = {"first", "scores", "parse_failed", "prompt_tokens", "completion_tokens", "cost", "attempts"}


def make_items(n=12, testsets=("vicuna", "wizardlm")):
    items = []
    for ts in testsets:
        for i in range(n // len(testsets)):
            q = f"[{ts}] What is {i} plus {i}?"
            good, bad = f"{i} plus {i} is {2 * i}.", f"It is probably {2 * i + 1}, or maybe more than that."
            sys_ans, base_ans = (good, bad) if i % 3 else (bad, good)  # the system wins 2/3
            items.append(Comparison(ts, str(i), q, "sel@0.1", sys_ans, "full", base_ans))
    refs = {c.question: f"{c.question_id} plus {c.question_id} is {2 * int(c.question_id)}." for c in items}
    return items, refs


def spec_for(srv, **kw):
    data = {"name": "local", "provider": "openai-compatible", "model": srv.model, "base_url": srv.base_url, **kw}
    return parse_judge(data)


def fast_cfg(**kw):
    base = {"concurrency": 8, "timeout": 5.0, "backoff_base": 0.01, "backoff_max": 0.2}
    return JudgingConfig(**{**base, **kw})


def test_judges_every_comparison_once_and_rerun_sends_nothing(tmp_path):
    items, refs = make_items()
    with FaultyJudgeServer(refs) as srv:
        spec = spec_for(srv)
        s = judge(items, spec, fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        recs = read_jsonl(tmp_path / "j.jsonl")
        assert len(recs) == len(items) == s.judged and s.failed == 0
        assert srv.log.chat_requests == len(items) == s.requests
        for r in recs:
            assert set(r) == RECORD_KEYS and set(r["calls"][0]) == CALL_KEYS
            assert r["order"] == "shuffle" and r["combine"] is None and len(r["calls"]) == 1
        assert Counter(r["outcome"] for r in recs) == Counter(win=8, lose=4)  # the reference judge is exact
        assert s.win == 8 and s.lose == 4 and s.prompt_tokens > 0
        assert s.diagnostics["first_position_win_rate"] is not None

        s2 = judge(items, spec, fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")  # resume: all there
        assert s2.resumed == len(items) and s2.calls == 0
        s3 = judge(items, spec, fast_cfg(), tmp_path / "k.jsonl", tmp_path / "c.sqlite")  # fresh file, same cache
        assert s3.cache_hits == len(items) and s3.requests == 0
        assert srv.log.chat_requests == len(items) and srv.log.models_requests == 1  # no pre-flight when cached

        def canonical(rs):
            return sorted(json.dumps(r, sort_keys=True) for r in rs)

        assert canonical(read_jsonl(tmp_path / "k.jsonl")) == canonical(recs)


def test_both_orders_and_null_pairs(tmp_path):
    items, refs = make_items()
    with FaultyJudgeServer(refs) as srv:
        cfg = fast_cfg(order="both", combine="strict", null_pairs=2)
        s = judge(items, spec_for(srv), cfg, tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    recs = read_jsonl(tmp_path / "j.jsonl")
    assert len(recs) == len(items) + 2 * 2
    assert all([c["first"] for c in r["calls"]] == ["system", "baseline"] and r["combine"] == "strict" for r in recs)
    nulls = [r for r in recs if r["null_pair"]]
    assert len(nulls) == 4 and all(r["outcome"] == "tie" for r in nulls)
    d = s.diagnostics
    assert d["null_tie_rate"] == 1.0 and d["null_mean_abs_gap"] == 0.0
    assert d["swap_flip_rate"] == 0.0 and d["first_position_win_rate"] == 0.5  # the reference judge is fair


def test_429_with_retry_after_is_honoured(tmp_path):
    items, refs = make_items()
    with FaultyJudgeServer(refs, faults=Faults(rate_429=0.4, retry_after=0.3, seed=1)) as srv:
        s = judge(items, spec_for(srv), fast_cfg(max_retries=8), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        events = list(srv.log.events)
    recs = read_jsonl(tmp_path / "j.jsonl")
    assert len({(r["testset"], r["question_id"]) for r in recs}) == len(recs) == len(items)
    assert all(r["outcome"] != "failed" for r in recs)
    limited = [e for e in events if e[2] == "429"]
    assert limited and s.retries == len(limited) == s.requests - len(items)
    assert s.rate_limited == len(limited) and s.retry_after_s == pytest.approx(0.3 * len(limited))
    assert (s.server_errors, s.timeouts, s.connection_errors, s.gave_up) == (0, 0, 0, 0)
    from gsnr_bench.pipeline import transport_line

    assert transport_line("ref", s) == (
        f"judge ref: {s.requests} requests, {s.retries} retried ({len(limited)} "
        f"rate-limited, {0.3 * len(limited):g} s waited on Retry-After)"
    )
    for t, body, _ in limited:  # the same request came back no sooner than Retry-After said
        later = [e[0] for e in events if e[1] == body and e[0] > t]
        assert later and min(later) - t >= 0.3 - 0.02


def test_500s_and_hangs_are_retried(tmp_path):
    items, refs = make_items()
    faults = Faults(rate_500=0.25, rate_hang=0.15, hang_s=3.0, seed=2)
    with FaultyJudgeServer(refs, faults=faults) as srv:
        s = judge(
            items, spec_for(srv), fast_cfg(timeout=0.5, max_retries=8), tmp_path / "j.jsonl", tmp_path / "c.sqlite"
        )
        statuses = Counter(e[2] for e in srv.log.events)
    recs = read_jsonl(tmp_path / "j.jsonl")
    assert len(recs) == len(items) and all(r["outcome"] != "failed" for r in recs)
    assert statuses["500"] > 0 and statuses["hang"] > 0
    # every retry has its cause counted; a loaded machine may add timeouts of slow replies, never drop one
    assert s.requests == sum(statuses.values()) and s.retries == s.server_errors + s.timeouts
    assert s.server_errors == statuses["500"] and s.timeouts >= statuses["hang"]


def test_transport_failures_are_recorded_failed_with_reason(tmp_path):
    items, refs = make_items(4)
    with FaultyJudgeServer(refs, faults=Faults(rate_500=1.0)) as srv:
        s = judge(items, spec_for(srv), fast_cfg(max_retries=2), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        assert srv.log.chat_requests == 3 * len(items)
    recs = read_jsonl(tmp_path / "j.jsonl")
    assert [r["outcome"] for r in recs] == ["failed"] * 4 and s.failed == s.failed_total == 4
    assert all("HTTP 500" in r["reason"] and r["calls"][0]["scores"] is None for r in recs)
    assert s.win + s.tie + s.lose == 0  # failures are never scored


def test_unparseable_replies_are_reasked_then_failed(tmp_path):
    items, refs = make_items(4)
    with FaultyJudgeServer(refs, faults=Faults(rate_garbage=1.0)) as srv:
        judge(items, spec_for(srv), fast_cfg(max_parse_retries=2), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        assert set(srv.log.receipts.values()) == {3}
        # replies without scores are not final: a re-run (even into a fresh file) asks again
        judge(items, spec_for(srv), fast_cfg(max_parse_retries=2), tmp_path / "k.jsonl", tmp_path / "c.sqlite")
        assert srv.log.chat_requests == 2 * 3 * len(items)
    for r in read_jsonl(tmp_path / "j.jsonl"):
        assert r["outcome"] == "failed" and r["calls"][0]["parse_failed"] and r["calls"][0]["attempts"] == 3
        assert r["calls"][0]["prompt_tokens"] > 0  # re-asks cost tokens and are counted


def test_some_garbage_is_recovered_by_reasking(tmp_path):
    items, refs = make_items()
    with FaultyJudgeServer(refs, faults=Faults(rate_garbage=0.3, seed=3)) as srv:
        s = judge(items, spec_for(srv), fast_cfg(max_parse_retries=6), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    assert s.failed == 0 and s.judged == len(items) and s.calls > len(items)


def _free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def test_preflight_errors_are_one_line_and_send_no_call(tmp_path, monkeypatch):
    items, refs = make_items(2)
    bad_url = parse_judge(
        {"name": "x", "provider": "openai-compatible", "model": "m", "base_url": f"http://127.0.0.1:{_free_port()}/v1"}
    )
    with pytest.raises(EndpointError, match="cannot reach") as exc:
        judge(items, bad_url, fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    assert "\n" not in str(exc.value)
    with FaultyJudgeServer(refs, api_key="right-key") as srv:
        with pytest.raises(EndpointError, match="not served.*did you mean"):
            monkeypatch.setenv("GSNR_TEST_KEY", "right-key")
            judge(
                items,
                spec_for(srv, model="reference-judge-v9", api_key_env="GSNR_TEST_KEY"),
                fast_cfg(),
                tmp_path / "j.jsonl",
                tmp_path / "c.sqlite",
            )
        monkeypatch.setenv("GSNR_TEST_KEY", "wrong-key")
        with pytest.raises(EndpointError, match="rejected the API key from GSNR_TEST_KEY") as exc:
            judge(
                items,
                spec_for(srv, api_key_env="GSNR_TEST_KEY"),
                fast_cfg(),
                tmp_path / "j.jsonl",
                tmp_path / "c.sqlite",
            )
        assert "wrong-key" not in str(exc.value)
        monkeypatch.delenv("GSNR_TEST_KEY")
        with pytest.raises(EndpointError, match="GSNR_TEST_KEY"):
            judge(
                items,
                spec_for(srv, api_key_env="GSNR_TEST_KEY"),
                fast_cfg(),
                tmp_path / "j.jsonl",
                tmp_path / "c.sqlite",
            )
        assert srv.log.chat_requests == 0
    assert not (tmp_path / "j.jsonl").exists()


def test_api_key_appears_in_no_file(tmp_path, monkeypatch, capfd):
    key = "sk-PLANTED-9f8e7d6c5b4a39281706"
    monkeypatch.setenv("GSNR_PLANTED_KEY", key)
    items, refs = make_items()
    out = tmp_path / "run"
    with FaultyJudgeServer(refs, api_key=key, faults=Faults(rate_500=0.2, rate_garbage=0.2, seed=4)) as srv:
        spec = spec_for(srv, api_key_env="GSNR_PLANTED_KEY")
        s = judge(
            items,
            spec,
            fast_cfg(max_retries=1, max_parse_retries=0),
            out / "judgments.jsonl",
            out / "cache" / "judge.sqlite",
        )
        assert srv.log.chat_requests > 0
    (out / "summary.json").write_text(json.dumps(s.to_dict()))  # what the pipeline would write
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") or p.suffix == ".sqlite" for p in files)
    for p in files:
        assert key.encode() not in p.read_bytes(), p
        assert key[3:15].encode() not in p.read_bytes(), p
    captured = capfd.readouterr()
    assert key not in captured.out + captured.err
    assert key not in json.dumps(spec.model_dump())


def test_dry_run_and_budget(tmp_path):
    items, refs = make_items()
    with FaultyJudgeServer(refs) as srv:
        spec = spec_for(srv, price_input_per_1m=100.0, price_output_per_1m=100.0, max_tokens=64)
        cfg = fast_cfg(order="both")
        d = dry_run(items, spec, cfg)
        assert d.calls == 2 * len(items) and d.cached_calls == 0 and d.est_cost > 0
        assert srv.log.chat_requests == 0
        one_call = spec.cost(d.est_prompt_tokens // d.calls, 0)
        limit = round(one_call * 8, 6)
        with pytest.raises(BudgetExceeded, match="max_cost"):
            judge(items, spec, cfg.model_copy(update={"max_cost": limit}), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        partial = read_jsonl(tmp_path / "j.jsonl")
        spent = sum(c["cost"] for r in partial for c in r["calls"])
        assert 0 < len(partial) < len(items) and spent <= limit
        sent = srv.log.chat_requests
        assert sent * one_call * 0.5 <= limit  # stopped before, not after, the budget
        d2 = dry_run(items, spec, cfg, out_path=tmp_path / "j.jsonl", cache_path=tmp_path / "c.sqlite")
        assert d2.comparisons == len(items) - len(partial) and d2.est_cost < d.est_cost
        s = judge(items, spec, cfg, tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        recs = read_jsonl(tmp_path / "j.jsonl")
        assert len(recs) == len({(r["testset"], r["question_id"]) for r in recs}) == len(items)
        assert set(srv.log.receipts.values()) == {1}  # nothing sent twice across the two runs
        assert s.cost == pytest.approx(sum(c["cost"] for r in recs for c in r["calls"]))


def test_progress_objects(tmp_path):
    items, refs = make_items(4)
    seen = []
    with FaultyJudgeServer(refs) as srv:
        judge(
            items,
            spec_for(srv),
            fast_cfg(),
            tmp_path / "a.jsonl",
            tmp_path / "c.sqlite",
            progress=lambda task, done, total: seen.append((task, done, total)),
        )
        with Progress(disable=True) as prog:
            judge(items, spec_for(srv), fast_cfg(), tmp_path / "b.jsonl", tmp_path / "c.sqlite", progress=prog)
            task = prog.tasks[0]
            assert task.completed == 4 and "failed 0" in task.fields["stats"]
    assert seen[-1][1:] == (4, 4) and len({t for t, _, _ in seen}) == 1


def test_pipeline_hook_serves_reference_judge(tmp_path):
    items, refs = make_items(4)
    spec = load_judge("reference")
    with serve_reference_for(spec, refs) as live:
        assert live.base_url.startswith("http://127.0.0.1:")
        s = judge(items, live, JudgingConfig(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    assert s.judged == 4 and s.judge_model == "reference-judge-v2"


def test_diagnostics_on_a_biased_judge():
    def rec(first, scores, outcome, sl=10, bl=20, null=False, order="shuffle"):
        return {
            "order": order,
            "null_pair": null,
            "outcome": outcome,
            "system_len": sl,
            "baseline_len": bl,
            "calls": [{"first": f, "scores": s} for f, s in zip(first, scores)],
        }

    # a judge that always prefers the second slot
    recs = [rec(["system", "baseline"], [[6, 8], [6, 8]], "tie", order="both") for _ in range(4)]
    recs += [rec(["system"], [[7, 7]], "tie", null=True), rec(["system"], [[5, 8]], "lose", null=True)]
    recs += [rec(["baseline"], [[3, 9]], "win", sl=30, bl=10)]
    d = bias_diagnostics(recs)
    assert d["first_position_win_rate"] == 0.0 and d["decisive_calls"] == 9
    assert d["swap_flip_rate"] == 1.0 and d["swap_pairs"] == 4
    assert d["longer_answer_win_rate"] == 1.0 and d["length_decided"] == 1
    assert d["null_tie_rate"] == 0.5 and d["null_mean_abs_gap"] == 1.5


def test_records_survive_a_slow_disk(tmp_path, monkeypatch):
    """Cached comparisons finish at once while uncached ones (null pairs) are still in flight: the background
    append of the cached batch, slowed here to a crawl mid-write, and the final flush must not overlap (two
    appends at once tear each other's lines, and the torn-tail repair then cuts a whole batch)."""
    import time

    from gsnr_bench.judging import loop

    def slow_append(path, rows):
        payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        if not payload:
            return
        stage_fileio._drop_torn_tail(Path(path))
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(payload[: len(payload) // 2])
            fh.flush()
            time.sleep(0.3)
            fh.write(payload[len(payload) // 2 :])

    import gsnr_bench.core.fileio as stage_fileio

    items, refs = make_items(n=40)
    with FaultyJudgeServer(refs) as srv:
        spec = spec_for(srv)
        judge(items, spec, fast_cfg(), tmp_path / "a.jsonl", tmp_path / "c.sqlite")
        monkeypatch.setattr(loop, "append_jsonl", slow_append)
        srv.latency = 0.1  # the null pairs are answered while the cached batch is being written
        s = judge(items, spec, fast_cfg(null_pairs=2), tmp_path / "b.jsonl", tmp_path / "c.sqlite")
    recs = read_jsonl(tmp_path / "b.jsonl")
    assert len(recs) == len(items) + 4 == s.judged
    assert len({(r["testset"], r["question_id"], r["null_pair"]) for r in recs}) == len(recs)
