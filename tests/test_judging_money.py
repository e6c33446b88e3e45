"""Money is never wrong, and verdicts are read by label, through the judging stage and the reference server:
missing or invalid usage is estimated and marked (never $0, never negative), a revoked key stops the stage at
once, a finished stage needs no endpoint, a judge writing labelled scores in reverse order gives the same
outcomes and PWS as one writing them in order, and two processes sharing a cache pay once per request."""

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from test_judging_stage import fast_cfg, make_items, spec_for

from gsnr_bench.core.errors import EndpointError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.judging.cache import JudgeCache
from gsnr_bench.judging.client import AuthRejected
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.cost import CHARS_RULE, valid_count
from gsnr_bench.judging.spec import parse_judge
from gsnr_bench.judging.stage import judge
from gsnr_bench.reporting.metrics import pws

from judge_faults import Faults, FaultyJudgeServer

PRICED = {"price_input_per_1m": 1.0, "price_output_per_1m": 2.0}


@pytest.mark.parametrize(
    "value, expected",
    [(12, 12), (0, 0), (12.0, 12), (-5, None), (None, None), ("12", None), (True, None), (1.5, None)]
    + [(float("nan"), None), (float("inf"), None)],
)
def test_usage_counts_are_validated(value, expected):
    assert valid_count(value) == expected


def test_missing_or_invalid_usage_is_estimated_marked_and_never_negative(tmp_path):
    items, refs = make_items(24)
    faults = Faults(rate_no_usage=0.3, rate_bad_usage=0.3, seed=11)
    with FaultyJudgeServer(refs, faults=faults) as srv:
        s = judge(items, spec_for(srv, **PRICED), fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    calls = [c for r in read_jsonl(tmp_path / "j.jsonl") for c in r["calls"]]
    est = [c for c in calls if c.get("usage_estimated")]
    assert 0 < len(est) < len(calls) and s.usage_estimated == len(est) and s.usage_rule == CHARS_RULE
    assert all(c["usage_estimated"] == CHARS_RULE for c in est)
    # an estimated call costs what its chars/4 tokens cost: never $0 (missing usage) nor negative (bad usage)
    assert all(c["prompt_tokens"] > 0 and c["completion_tokens"] > 0 and c["cost"] > 0 for c in est)
    assert all(c["cost"] > 0 for c in calls) and s.cost > 0
    with JudgeCache(tmp_path / "c.sqlite") as c:
        assert c.estimated_calls() == len(est) and c.total_cost() == pytest.approx(s.cost)


def test_spend_never_goes_down_over_commands(tmp_path):
    items, refs = make_items(16)
    faults = Faults(rate_bad_usage=0.5, rate_garbage=0.3, seed=2)
    spent = []
    with FaultyJudgeServer(refs, faults=faults) as srv:
        spec = spec_for(srv, **PRICED)
        for i in range(3):  # garbage replies are re-asked on each command: more spend, never less
            judge(items, spec, fast_cfg(max_parse_retries=0), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
            with JudgeCache(tmp_path / "c.sqlite") as c:
                spent.append(c.total_cost())
    assert spent[0] > 0 and spent == sorted(spent) and spent[-1] > spent[0]


def test_a_key_revoked_mid_run_stops_the_stage_at_once_with_one_line(tmp_path):
    items, refs = make_items(60)
    conc = 4
    with FaultyJudgeServer(refs, revoke_after=10, latency=0.01) as srv:
        with pytest.raises(AuthRejected) as exc:
            judge(items, spec_for(srv), fast_cfg(concurrency=conc), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        refused = srv.log.refused
    msg = str(exc.value)
    assert isinstance(exc.value, EndpointError) and "\n" not in msg and "HTTP 401" in msg and "stopped" in msg
    assert 1 <= refused <= conc  # only the calls already in flight meet the 401; none is sent after it
    recs = read_jsonl(tmp_path / "j.jsonl")
    assert 0 < len(recs) <= 10 and all(r["outcome"] != "failed" for r in recs)  # nothing recorded as failed
    with FaultyJudgeServer(refs) as srv:  # a fixed key: the next command finishes the rest
        s = judge(items, spec_for(srv), fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    assert s.complete and s.resumed == len(recs) and len(read_jsonl(tmp_path / "j.jsonl")) == len(items)


def test_a_finished_stage_needs_no_endpoint(tmp_path, monkeypatch):
    items, refs = make_items(12)
    with FaultyJudgeServer(refs) as srv:
        s1 = judge(items, spec_for(srv), fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
        model = srv.model
    monkeypatch.delenv("GSNR_GONE_KEY", raising=False)
    gone = parse_judge(
        {
            "name": "local",
            "provider": "openai-compatible",
            "model": model,
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "GSNR_GONE_KEY",
        }
    )
    s2 = judge(items, gone, fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")  # all judged: nothing to send
    s3 = judge(items, gone, fast_cfg(), tmp_path / "k.jsonl", tmp_path / "c.sqlite")  # all cached: nothing to send
    assert s2.complete and s3.complete and s2.requests == s3.requests == 0
    assert (s3.win, s3.lose) == (s1.win, s1.lose)
    with pytest.raises(EndpointError):  # the same judge with work left does need it
        judge(items, gone, fast_cfg(), tmp_path / "m.jsonl", tmp_path / "other.sqlite")


def test_labelled_scores_in_reverse_order_give_the_same_leaderboard(tmp_path):
    """Issue 19: a judge wrote "Assistant 2: 6/10, Assistant 1: 9/10" and all 124 verdicts were flipped."""
    items, refs = make_items(12)
    order = "both"  # each question in both presentation orders: a positional reading flips one of the two
    # three systems against one baseline, each copying the baseline's answer on a different share of questions
    # (a tie there), so their PWS differ and a flipped reading would show
    systems = {
        name: [
            replace(c, system=name, system_answer=c.baseline_answer)
            if int(c.question_id) % k == 0
            else replace(c, system=name)
            for c in items
        ]
        for name, k in (("a@0.05", 2), ("b@0.1", 3), ("c@0.15", 5))
    }
    boards, texts = {}, {}
    for style in ("pair", "labelled", "labelled-reversed"):
        with FaultyJudgeServer(refs, style=style) as srv:
            board = {}
            for name, its in systems.items():
                s = judge(
                    its,
                    spec_for(srv),
                    fast_cfg(order=order),
                    tmp_path / f"{style}-{name}.jsonl",
                    tmp_path / f"{style}.sqlite",
                )
                recs = read_jsonl(tmp_path / f"{style}-{name}.jsonl")
                board[name] = (
                    pws(s.win, s.tie, s.lose),
                    {(r["testset"], r["question_id"]): r["outcome"] for r in recs},
                )
                assert s.complete and s.failed_total == 0
            boards[style] = board
        with JudgeCache(tmp_path / f"{style}.sqlite") as c:
            texts[style] = c._db.execute("SELECT reply FROM calls LIMIT 1").fetchone()[0]
    assert json.loads(texts["labelled-reversed"])["text"].startswith("Assistant 2:")
    assert boards["labelled-reversed"] == boards["labelled"] == boards["pair"]
    pws_values = {name: v[0] for name, v in boards["pair"].items()}
    assert len(set(pws_values.values())) > 1  # the systems differ, so a flip would show


WORKER = """
import sys, json
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.spec import parse_judge
from gsnr_bench.judging.stage import Comparison, judge
spec = parse_judge(json.loads(sys.argv[1]))
cfg = JudgingConfig(**json.loads(sys.argv[2]))
items = [Comparison(**c) for c in json.loads(open(sys.argv[3]).read())]
s = judge(items, spec, cfg, sys.argv[4], sys.argv[5])
print(json.dumps({"requests": s.requests, "cache_hits": s.cache_hits, "complete": s.complete}))
"""


def test_two_processes_with_different_settings_pay_once_for_shared_requests(tmp_path):
    """Issue 19: two processes (shuffle and both orders, other concurrency) on one run paid twice for 124 of
    225 calls. They share the request-keyed cache, and a request one is sending is waited for by the other."""
    items, refs = make_items(20)
    (tmp_path / "items.json").write_text(json.dumps([c.__dict__ for c in items]))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with FaultyJudgeServer(refs, latency=0.05) as srv:
        spec = {
            "name": "local",
            "provider": "openai-compatible",
            "model": srv.model,
            "base_url": srv.base_url,
            **PRICED,
        }
        cfgs = [
            {"order": "shuffle", "concurrency": 3, "timeout": 10},
            {"order": "both", "concurrency": 7, "timeout": 10},
        ]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    json.dumps(spec),
                    json.dumps(cfg),
                    str(tmp_path / "items.json"),
                    str(tmp_path / f"j{i}.jsonl"),
                    str(tmp_path / "judge.sqlite"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i, cfg in enumerate(cfgs)
        ]
        outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
        receipts = Counter(srv.log.receipts)
    assert all(o["complete"] for o in outs)
    assert set(receipts.values()) == {1}  # every distinct request was sent exactly once
    assert len(receipts) == 2 * len(items)  # "both" needs both orders; shuffle's are a subset
    assert sum(o["requests"] for o in outs) == len(receipts) and sum(o["cache_hits"] for o in outs) >= len(items)
    with JudgeCache(tmp_path / "judge.sqlite") as c:
        assert c._db.execute("SELECT COUNT(*) FROM spend").fetchone()[0] == len(receipts)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_max_cost_must_be_a_positive_finite_number(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        JudgingConfig(max_cost=bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5])
def test_prices_must_be_finite_and_not_negative(bad):
    from gsnr_bench.core.errors import RegistryError

    with pytest.raises(RegistryError) as exc:
        parse_judge({"name": "x", "provider": "reference", "model": "m", "price_input_per_1m": bad})
    msg = str(exc.value)
    assert "\n" not in msg and "price_input_per_1m" in msg and ("finite" in msg or "greater than or equal" in msg)


def test_runs_sharing_one_cache_pay_once_and_keep_their_own_accounts(tmp_path):
    """judging.cache: several runs point at one cache; a request one run paid for is free to the others, and
    each run's spend (and so its --max-cost) counts only what it paid."""
    items, refs = make_items(16)
    shared = tmp_path / "shared.sqlite"
    with FaultyJudgeServer(refs) as srv:
        spec = spec_for(srv, **PRICED)
        a = judge(items, spec, fast_cfg(order="shuffle"), tmp_path / "a.jsonl", shared, run_id="/runs/a")
        sent_a = srv.log.chat_requests
        b = judge(items, spec, fast_cfg(order="both", max_cost=1e6), tmp_path / "b.jsonl", shared, run_id="/runs/b")
        receipts = Counter(srv.log.receipts)
    assert set(receipts.values()) == {1} and b.requests == 2 * len(items) - sent_a and b.cache_hits >= sent_a
    with JudgeCache(shared) as c:
        assert c.total_cost("/runs/a") == pytest.approx(a.cost_spent) and a.spent_total == pytest.approx(a.cost_spent)
        assert c.total_cost("/runs/b") == pytest.approx(b.cost_spent) and b.spent_total == pytest.approx(b.cost_spent)
        assert c.total_cost() == pytest.approx(a.cost_spent + b.cost_spent)
    assert 0 < b.cost_spent < b.cost  # b's records hold calls a paid for, b's account only its own


def test_the_judges_tokenizer_counts_what_usage_lacks_when_it_is_known(tmp_path):
    from transformers import AutoTokenizer

    from gsnr_bench.judging.cost import TokenCounter

    from tiny_models import build_tokenizer

    tok_dir = build_tokenizer(tmp_path / "tok")
    items, refs = make_items(6)
    with FaultyJudgeServer(refs, faults=Faults(rate_no_usage=1.0)) as srv:
        s = judge(items, spec_for(srv, tokenizer=str(tok_dir)), fast_cfg(), tmp_path / "j.jsonl", tmp_path / "c.sqlite")
    rule = f"tokenizer {tok_dir}"
    assert s.usage_rule == rule and s.usage_estimated == len(items)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    with JudgeCache(tmp_path / "c.sqlite") as c:
        replies = [json.loads(r[0]) for r in c._db.execute("SELECT reply FROM calls")]
    for r in replies:  # the reply's own tokens by the judge's tokenizer, not chars / 4
        assert r["usage_estimated"] and r["completion_tokens"] == len(
            tok(r["text"], add_special_tokens=False)["input_ids"]
        )
    # a tokenizer that cannot be loaded offline falls back to the documented rule
    assert (
        TokenCounter(parse_judge({"name": "x", "provider": "reference", "model": "m", "tokenizer": "no/such"})).rule
        == CHARS_RULE
    )
