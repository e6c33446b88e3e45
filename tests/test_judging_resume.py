"""Crash safety: a judge SIGKILLed mid-run re-sends only what never reached the cache, and two
processes can share one cache."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from gsnr_bench.core.errors import StoreError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.judging.cache import JudgeCache
from gsnr_bench.judging.config import JudgingConfig
from gsnr_bench.judging.spec import load_judge
from gsnr_bench.judging.stage import Comparison, judge

from judge_faults import FaultyJudgeServer

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 4

CHILD = textwrap.dedent("""
    import json, sys
    from gsnr_bench.judging.config import JudgingConfig
    from gsnr_bench.judging.spec import load_judge
    from gsnr_bench.judging.stage import Comparison, judge
    d = sys.argv[1]
    items = [Comparison(**c) for c in json.load(open(d + "/items.json"))]
    judge(items, load_judge(d + "/judge.yaml"), JudgingConfig(**json.load(open(d + "/cfg.json"))),
          d + "/judgments.jsonl", d + "/cache.sqlite")
""")


@pytest.mark.slow  # a killed subprocess: seconds
def test_sigkill_mid_judging_resends_only_what_was_missing(tmp_path):
    items = [
        Comparison("vicuna", str(i), f"Question {i}?", "sys", f"answer {i}", "full", f"other {i}") for i in range(60)
    ]
    refs = {c.question: f"answer {c.question_id}" for c in items}
    cfg = {"concurrency": CONCURRENCY, "order": "both", "timeout": 10.0}
    (tmp_path / "items.json").write_text(json.dumps([asdict(c) for c in items]))
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    with FaultyJudgeServer(refs, latency=0.03) as srv:
        (tmp_path / "judge.yaml").write_text(
            json.dumps({"name": "local", "provider": "openai-compatible", "model": srv.model, "base_url": srv.base_url})
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env)
        deadline = time.monotonic() + 30
        while srv.log.chat_requests < 40 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        before = srv.log.chat_requests
        partial = (
            read_jsonl(tmp_path / "judgments.jsonl", tolerant=True) if (tmp_path / "judgments.jsonl").exists() else []
        )
        assert 40 <= before < 2 * len(items) and len(partial) < len(items)

        s = judge(
            items,
            load_judge(str(tmp_path / "judge.yaml")),
            JudgingConfig(**cfg),
            tmp_path / "judgments.jsonl",
            tmp_path / "cache.sqlite",
        )
        recs = read_jsonl(tmp_path / "judgments.jsonl")
        assert len(recs) == len({r["question_id"] for r in recs}) == len(items)
        assert all(r["outcome"] == "win" for r in recs)
        assert s.resumed == len(partial)
        # every call of the unrecorded comparisons came from the cache (finished before the kill) or was sent
        assert s.calls == 2 * (len(items) - len(partial))
        assert s.cache_hits == s.calls - (srv.log.chat_requests - before)
        print(f"killed after {before} requests, {len(partial)} records; re-run hit the cache {s.cache_hits} times")
        # Only calls in flight at the kill (at most `concurrency`) may have been sent twice.
        receipts = srv.log.receipts
        assert len(receipts) == 2 * len(items)
        assert max(receipts.values()) <= 2
        assert sum(receipts.values()) - len(receipts) <= CONCURRENCY
        # and a third run sends nothing at all
        judge(
            items,
            load_judge(str(tmp_path / "judge.yaml")),
            JudgingConfig(**cfg),
            tmp_path / "again.jsonl",
            tmp_path / "cache.sqlite",
        )
        assert srv.log.chat_requests == sum(receipts.values())


WRITER = textwrap.dedent("""
    import sys
    from gsnr_bench.judging.cache import JudgeCache
    c = JudgeCache(sys.argv[1])
    start = int(sys.argv[2])
    for i in range(start, start + 300):
        c.put(f"k{i}", {"text": f"8 7 from {start}", "prompt_tokens": i, "completion_tokens": 1, "model": "m"})
    c.close()
""")


def test_two_processes_write_one_cache(tmp_path):
    path = tmp_path / "judge.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(start)], env=env) for start in (0, 150)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with JudgeCache(path) as c:
        assert len(c) == 450
        assert c.get("k10")["prompt_tokens"] == 10 and c.get("k449")["prompt_tokens"] == 449
        assert c._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class _FlakyConnect:
    """sqlite3.connect whose connections fail the WAL switch `fails` times with `message`."""

    def __init__(self, fails: int, message: str) -> None:
        self.fails, self.message, self.opened = fails, message, 0
        self._real = sqlite3.connect

    def __call__(self, *args, **kwargs):
        self.opened += 1
        real, outer = self._real(*args, **kwargs), self

        class Conn:
            def execute(self, sql, *a):
                if sql.startswith("PRAGMA journal_mode") and outer.fails > 0:
                    outer.fails -= 1
                    raise sqlite3.OperationalError(outer.message)
                return real.execute(sql, *a)

            def __getattr__(self, name):
                return getattr(real, name)

        return Conn()


def test_cache_setup_retries_a_lock_race(tmp_path, monkeypatch):
    # SQLite refuses a racing WAL switch at once, without the busy timeout: setup must retry.
    flaky = _FlakyConnect(fails=3, message="database is locked")
    monkeypatch.setattr(sqlite3, "connect", flaky)
    with JudgeCache(tmp_path / "j.sqlite") as c:
        c.put("k", {"text": "1 2"})
        assert c.get("k") == {"text": "1 2"}
    assert flaky.opened == 4


def test_cache_setup_does_not_retry_a_broken_file(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database, just some bytes" * 200)
    with pytest.raises(StoreError, match="is unusable: file is not a database"):
        JudgeCache(path)
    flaky = _FlakyConnect(fails=1, message="disk I/O error")
    monkeypatch.setattr(sqlite3, "connect", flaky)
    with pytest.raises(StoreError, match="disk I/O error"):
        JudgeCache(tmp_path / "other.sqlite")
    assert flaky.opened == 1
