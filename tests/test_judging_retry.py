"""Failure, cache and budget semantics of the judging stage: failed comparisons and unreadable replies
are retried by the next run, the cache is keyed on the request (any settings that send it share it),
the budget reserves only for calls in flight and bounds the run's whole spend across commands, and the
dry run needs no endpoint."""

import socket
import sqlite3

import pytest
from test_judging_stage import fast_cfg, make_items, spec_for

from gsnr_bench.core.errors import BudgetExceeded, StoreError
from gsnr_bench.core.fileio import append_jsonl, read_jsonl
from gsnr_bench.domain.judgment import read_judgments, record_key
from gsnr_bench.judging.cache import JudgeCache
from gsnr_bench.judging.records import compact_judgments
from gsnr_bench.judging.spec import parse_judge
from gsnr_bench.judging.stage import JudgeBudgetExceeded, dry_run, judge, plan_tasks

from judge_faults import Faults, FaultyJudgeServer


def keys_of(items, cfg):
    return [t.key for t in plan_tasks(items, cfg)]


def test_failed_comparisons_are_judged_again_when_the_endpoint_recovers(tmp_path):
    items, refs = make_items(12)
    cfg = fast_cfg(max_retries=0)
    out, cache = tmp_path / "j.jsonl", tmp_path / "c.sqlite"
    with FaultyJudgeServer(refs, faults=Faults(rate_500=0.5, seed=7)) as srv:
        s1 = judge(items, spec_for(srv), cfg, out, cache)
        failed = [r for r in read_jsonl(out) if r["outcome"] == "failed"]
        sent = srv.log.chat_requests

        srv.faults = Faults()  # the endpoint recovers
        s2 = judge(items, spec_for(srv), cfg, out, cache)
        assert srv.log.chat_requests - sent == len(failed)  # exactly the failed comparisons, nothing else
        assert 0 < len(failed) < len(items) and s1.failed == s1.failed_total == len(failed)
        assert s1.pending == 0 and s1.left == len(failed) and not s1.complete
        assert s1.to_dict()["complete"] is False
        assert s2.retried == len(failed) and s2.resumed == len(items) - len(failed)
        assert s2.complete and s2.failed_total == 0 and s2.judged == len(failed)
        assert s2.win + s2.lose == len(items)
    raw = read_jsonl(out)  # compacted: one record per comparison, in the plan's order
    assert [record_key(r) for r in raw] == keys_of(items, cfg)
    assert all(r["outcome"] != "failed" for r in raw)


def test_read_judgments_last_record_wins_and_compaction(tmp_path):
    p = tmp_path / "j.jsonl"
    rec = {"testset": "t", "question_id": "1", "system": "s", "baseline": "b", "null_pair": False}
    append_jsonl(
        p, [{**rec, "outcome": "failed"}, {**rec, "question_id": "2", "outcome": "win"}, {**rec, "outcome": "lose"}]
    )
    with open(p, "a") as fh:
        fh.write('{"torn')
    assert [(r["question_id"], r["outcome"]) for r in read_judgments(p)] == [("1", "lose"), ("2", "win")]
    assert read_judgments(tmp_path / "missing.jsonl") == []
    rows = compact_judgments(p, [record_key({**rec, "question_id": "2"})])
    assert [(r["question_id"], r["outcome"]) for r in rows] == [("2", "win"), ("1", "lose")]
    assert read_jsonl(p) == rows


def test_unreadable_replies_are_sent_again_by_a_later_run(tmp_path):
    items, refs = make_items(6)
    cfg = fast_cfg(max_parse_retries=1)
    out, cache = tmp_path / "j.jsonl", tmp_path / "c.sqlite"
    with FaultyJudgeServer(refs, faults=Faults(rate_garbage=1.0)) as srv:
        spec = spec_for(srv, price_input_per_1m=1000.0, price_output_per_1m=1000.0)
        s1 = judge(items, spec, cfg, out, cache)
        assert srv.log.chat_requests == 2 * len(items)
        srv.faults = Faults()  # the judge answers properly now
        s2 = judge(items, spec, cfg, tmp_path / "fresh.jsonl", cache)  # as if the stage had been deleted
        assert srv.log.chat_requests == 3 * len(items)  # re-asked (attempt 0 again), not replayed
        assert s1.failed_total == len(items) and not s1.complete
        spent1 = s1.cost_spent
        assert s2.complete and s2.judged == len(items) and s2.cache_hits == 0
        # the stage's own file heals too, from the cache that now holds readable replies
        s3 = judge(items, spec, cfg, out, cache)
        assert s3.complete and s3.retried == len(items) and s3.cache_hits == len(items)
        assert srv.log.chat_requests == 3 * len(items)
        with JudgeCache(cache) as c:  # a re-sent unreadable reply adds its cost, it does not replace it
            assert spent1 > 0 and c.total_cost() == pytest.approx(spent1 + s2.cost_spent)
            assert s2.spent_total == pytest.approx(c.total_cost())
    assert all(r["outcome"] != "failed" for r in read_jsonl(out))


def test_different_settings_share_the_calls_they_both_send(tmp_path):
    items, refs = make_items(12)
    cache = tmp_path / "c.sqlite"
    with FaultyJudgeServer(refs) as srv:
        a = spec_for(srv, name="alias-a")
        b = spec_for(srv, name="alias-b", description="same model, other alias")
        s1 = judge(items, a, fast_cfg(), tmp_path / "a.jsonl", cache)
        s2 = judge(
            items,
            b,
            fast_cfg(order="both", combine="strict", null_pairs=2, concurrency=3, max_cost=1e6),
            tmp_path / "b.jsonl",
            cache,
        )
        receipts = srv.log.receipts
    assert set(receipts.values()) == {1}  # no request was sent twice
    assert s1.requests == len(items) and s2.cache_hits >= len(items)
    assert s1.requests + s2.requests == len(receipts)
    assert s2.complete and len(read_jsonl(tmp_path / "b.jsonl")) == len(items) + 4


def _budget_spec(srv):
    # $1 per completion token, prompts free: a call costs its ~25 completion tokens, its worst case 32
    return spec_for(srv, price_input_per_1m=0.0, price_output_per_1m=1e6, max_tokens=32)


@pytest.mark.parametrize(
    "faults", [None, Faults(rate_429=0.1, rate_500=0.1, rate_garbage=0.1, retry_after=0.01, seed=3)]
)
def test_budget_reserves_the_expected_cost_and_stops_at_90_to_100_percent(tmp_path, faults):
    """The budget reserves prompt + the running mean of completion tokens (not max_tokens for every queued call:
    that stopped at ~59%), so it stops within one in-flight batch of the limit, on a server that also fails."""
    items, refs = make_items(160)
    conc = 4
    with FaultyJudgeServer(refs, latency=0.005, faults=faults) as srv:
        spec = _budget_spec(srv)
        probe = judge(items[:20], spec, fast_cfg(), tmp_path / "probe.jsonl", tmp_path / "probe.sqlite")
        per_call = probe.cost_spent / probe.calls
        limit = round(100 * per_call, 6)
        cfg = fast_cfg(concurrency=conc, max_cost=limit, max_parse_retries=1)
        with pytest.raises(JudgeBudgetExceeded) as exc:
            judge(items, spec, cfg, tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    with JudgeCache(tmp_path / "c.sqlite") as c:
        spent = c.total_cost()
    print(f"per call ${per_call:.2f}, limit ${limit:g}: spent ${spent:.2f} = {spent / limit:.1%}")
    # 90-100% of the limit; past it by at most one in-flight batch's deviation from the mean (here +-2 tokens)
    assert 0.90 * limit <= spent <= limit + conc * 3
    e = exc.value
    recs = read_jsonl(tmp_path / "j.jsonl")
    judged = sum(r["outcome"] != "failed" for r in recs)
    assert e.spent == pytest.approx(spent) and e.limit == limit
    assert e.left == len(items) - judged == e.summary.pending + e.summary.failed_total
    assert e.summary.budget_stopped and not e.summary.complete
    assert f"${spent:.4f}" in str(e) and f"max_cost ${limit:g}" in str(e) and f"; {e.left} comparisons left" in str(e)


def test_budget_holds_across_commands(tmp_path):
    items, refs = make_items(40)
    with FaultyJudgeServer(refs) as srv:
        spec = _budget_spec(srv)
        cfg = fast_cfg(concurrency=1, max_cost=300.0)  # about 12 calls
        with pytest.raises(BudgetExceeded):
            judge(items, spec, cfg, tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        sent = srv.log.chat_requests
        assert 5 < sent < len(items)
        # the next command with the same limit: the run has spent it already, so nothing more is sent
        with pytest.raises(JudgeBudgetExceeded) as exc:
            judge(items, spec, cfg, tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        assert srv.log.chat_requests == sent and exc.value.summary.requests == 0
        assert exc.value.left == len(items) - sent and exc.value.summary.pending == len(items) - sent
        d = dry_run(items, spec, cfg, out_path=tmp_path / "j.jsonl", cache_path=tmp_path / "c.sqlite")
        assert d.comparisons == len(items) - sent and d.run_spent == pytest.approx(exc.value.spent)
        assert d.run_spent <= 300.0
        # a later command with a higher limit carries on and finishes the work
        s = judge(items, spec, cfg.model_copy(update={"max_cost": 1e9}), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        assert s.complete and srv.log.chat_requests == len(items)
    with JudgeCache(tmp_path / "c.sqlite") as c:
        assert c.total_cost() == pytest.approx(s.cost) == pytest.approx(s.spent_total)


OLD_SCHEMA = "CREATE TABLE calls (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL NOT NULL)"


def test_a_cache_of_another_schema_is_refused_with_one_line_and_left_as_it_is(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(OLD_SCHEMA)
    db.execute("INSERT INTO calls VALUES ('k', '{}', 0)")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as exc:
        JudgeCache(path)
    msg = str(exc.value)
    assert "\n" not in msg and "schema version 1" in msg and "move the file aside" in msg
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1  # nothing migrated or dropped
    db.close()


def test_cache_ledger_keeps_every_payment_and_the_first_readable_reply(tmp_path):
    with JudgeCache(tmp_path / "c.sqlite") as c:
        c.put("k", {"text": "1 2"}, cost=0.5, final=True)
        c.put("k", {"text": "3 4"}, cost=0.25, final=True)  # first writer wins, costs add
        assert c.get("k") == {"text": "1 2"} and c.total_cost() == 0.75
        c.put("g", {"text": "no"}, cost=0.1, final=False)
        c.put("g", {"text": "5 6"}, cost=0.1, final=True)  # an unreadable reply is replaced
        c.put("g", {"text": "no again"}, cost=0.1, final=False)  # but never replaces a readable one
        assert c.lookup("g")[:2] == ({"text": "5 6"}, True) and c.total_cost() == pytest.approx(1.05)
        for bad in (-1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError):
                c.put("h", {"text": "1 1"}, cost=bad)
        assert c.total_cost() == pytest.approx(1.05) and not c.has("h")


def _dead_url():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sk.getsockname()[1]}/v1"


def test_dry_run_is_offline_and_counts_only_readable_cached_replies(tmp_path, monkeypatch):
    items, refs = make_items(12)
    cfg = fast_cfg(max_parse_retries=0)
    with FaultyJudgeServer(refs, faults=Faults(rate_garbage=0.5, seed=5)) as srv:
        s = judge(items, spec_for(srv, name="first"), cfg, tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        model = srv.model
    assert 0 < s.failed_total < len(items)
    monkeypatch.delenv("GSNR_DRY_KEY", raising=False)
    monkeypatch.delenv("GSNR_DRY_URL", raising=False)
    # another alias of the same model, its endpoint down and its key and URL variables unset
    down = parse_judge(
        {
            "name": "second",
            "provider": "openai-compatible",
            "model": model,
            "base_url": _dead_url(),
            "base_url_env": "GSNR_DRY_URL",
            "api_key_env": "GSNR_DRY_KEY",
        }
    )
    d = dry_run(items, down, cfg, cache_path=tmp_path / "c.sqlite")
    assert d.calls == len(items) and d.cached_calls == len(items) - s.failed_total
    d2 = dry_run(items, down, cfg, out_path=tmp_path / "j.jsonl", cache_path=tmp_path / "c.sqlite")
    assert d2.comparisons == s.failed_total and d2.cached_calls == 0 and d2.run_spent == 0.0


RACER = """
import sys
from gsnr_bench.judging.cache import JudgeCache
c = JudgeCache(sys.argv[1])
final = sys.argv[2] == "final"
for i in range(300):
    c.put(f"k{i}", {"text": "8 7" if final else "no scores", "prompt_tokens": 1, "completion_tokens": 1,
                    "model": "m"}, cost=2.0 if final else 1.0, final=final)
c.close()
"""


def test_racing_writers_keep_the_readable_reply_and_every_cost(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "judge.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, str(path), kind], env=env)
        for kind in ("unreadable", "final", "unreadable")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with JudgeCache(path) as c:
        assert len(c) == 300 and c.total_cost() == pytest.approx(300 * 4.0)
        assert all(
            c.lookup(f"k{i}")[:2] == ({"text": "8 7", "prompt_tokens": 1, "completion_tokens": 1, "model": "m"}, True)
            for i in range(300)
        )


def test_a_judge_that_goes_down_after_the_preflight_then_recovers(tmp_path, monkeypatch):
    from gsnr_bench.judging.client import JudgeClient

    items, refs = make_items(8)
    cfg = fast_cfg(max_retries=1)
    out, cache = tmp_path / "j.jsonl", tmp_path / "c.sqlite"
    real_preflight = JudgeClient.preflight

    async def preflight_then_down(self):
        await real_preflight(self)
        self._client.base_url = _dead_url()  # every judging call now meets a refused connection

    with FaultyJudgeServer(refs) as srv:
        spec = spec_for(srv)
        monkeypatch.setattr(JudgeClient, "preflight", preflight_then_down)
        s1 = judge(items, spec, cfg, out, cache)
        assert srv.log.models_requests == 1 and srv.log.chat_requests == 0
        monkeypatch.setattr(JudgeClient, "preflight", real_preflight)
        s2 = judge(items, spec, cfg, out, cache)  # the endpoint is back
        assert srv.log.chat_requests == len(items) and s2.complete and s2.retried == len(items)
    assert s1.failed_total == len(items) and not s1.complete and s1.requests == 2 * len(items)
    assert len(read_jsonl(out)) == len(items)


def test_two_processes_of_one_run_share_its_budget(tmp_path):
    """Two commands judging different cells of one run at once: each reads the run's spend from the cache's
    ledger, so together they stop near the limit instead of each spending it."""
    import threading

    items, refs = make_items(200)
    conc = 4
    with FaultyJudgeServer(refs, latency=0.01) as srv:
        spec = _budget_spec(srv)
        limit = 60 * 25.0  # about 60 calls in all
        cfg = fast_cfg(concurrency=conc, max_cost=limit)
        errors = []

        def one(part, name):
            try:
                judge(part, spec, cfg, tmp_path / f"{name}.jsonl", tmp_path / "c.sqlite")
            except BudgetExceeded as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(p, n)) for p, n in ((items[:100], "a"), (items[100:], "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    with JudgeCache(tmp_path / "c.sqlite") as c:
        spent = c.total_cost()
    assert len(errors) == 2  # both stopped by the one limit
    # within the two commands' in-flight batches (worst case $32 a call) of the limit, not 2x the limit
    assert 0.9 * limit <= spent <= limit + 2 * conc * 32
