"""Every judge call cached in SQLite (WAL), keyed by the request itself: several processes (a sweep's
cells) can read and write one cache at once, and a SIGKILL never loses a committed answer (WAL commits
survive a process crash; synchronous=NORMAL only risks the last commits on a power loss).
Only replies, usage and what each call cost are stored: never keys, headers or URLs.

The key is a hash of what is sent (model, messages, sampling params) plus the parse re-ask number, so
any two stages or processes that send the same request share its answer, whatever their judge alias,
prompt label, order, null pairs, concurrency or budget. Caches written before this keying are still
read (`legacy_cache_key`, looked up after a miss). Each row also says whether its reply was `final`
(held readable scores): a non-final reply is replaced by the next one sent for that key, a final one
never is (first writer wins). `cost` sums what every reply sent for that key cost, so `total_cost()`
is everything ever spent through this cache; rows from caches made before the column count 0."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import StoreError


def cache_key(model: str, messages: list[dict], params: dict[str, Any], attempt: int = 0) -> str:
    """sha256 over the request as sent. `attempt` numbers parse re-asks, so a re-ask after an
    unreadable reply is a new call, and a resumed run replays the same sequence from the cache."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params, "attempt": attempt}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def legacy_cache_key(
    judge: str, model: str, prompt_version: str, messages: list[dict], params: dict[str, Any], attempt: int = 0
) -> str:
    """The key of caches written before keying on the request alone (judge name and prompt label included)."""
    blob = json.dumps(
        {
            "judge": judge,
            "model": model,
            "prompt": prompt_version,
            "messages": messages,
            "params": params,
            "attempt": attempt,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, shared by the event loop and writer threads
        self._db = self._open(timeout=60.0)

    def _open(self, timeout: float) -> sqlite3.Connection:
        """Connect and set up the schema. SQLite answers "database is locked" at once, without
        waiting on the busy timeout, when two processes switch a fresh file to WAL or create the
        table at the same moment (it refuses a lock upgrade that could deadlock); so setup is
        retried as a whole until `timeout`."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            db = None
            try:
                db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
                db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, reply TEXT NOT NULL, "
                    "created REAL NOT NULL, cost REAL NOT NULL DEFAULT 0, final INTEGER NOT NULL DEFAULT 1)"
                )
                self._migrate(db)
                return db
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                transient = isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))
                if not transient or time.monotonic() + delay > deadline:
                    raise StoreError(f"judge cache {self.path} is unusable: {exc}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Caches created before the cost / final columns get them (old rows: cost 0, final)."""
        cols = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
        if {"cost", "final"} <= cols:
            return
        db.execute("BEGIN IMMEDIATE")  # two processes migrating at once: the second sees the columns
        try:
            cols = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
            if "cost" not in cols:
                db.execute("ALTER TABLE calls ADD COLUMN cost REAL NOT NULL DEFAULT 0")
            if "final" not in cols:
                db.execute("ALTER TABLE calls ADD COLUMN final INTEGER NOT NULL DEFAULT 1")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def lookup(self, key: str) -> tuple[dict[str, Any], bool] | None:
        """(reply, final) or None."""
        with self._lock:
            row = self._db.execute("SELECT reply, final FROM calls WHERE key = ?", (key,)).fetchone()
        return (json.loads(row[0]), bool(row[1])) if row else None

    def get(self, key: str) -> dict[str, Any] | None:
        hit = self.lookup(key)
        return hit[0] if hit else None

    def has(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is not None

    def put(self, key: str, reply: dict[str, Any], cost: float = 0.0, final: bool = True) -> None:
        """Store a reply that was just sent and paid for. One atomic upsert, so racing processes stay
        consistent: a final reply is never replaced (first writer wins), a non-final one is replaced by
        any later reply, and every writer's cost is added to the row."""
        blob = json.dumps(reply, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT INTO calls (key, reply, created, cost, final) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET cost = calls.cost + excluded.cost, "
                "reply = CASE WHEN calls.final THEN calls.reply ELSE excluded.reply END, "
                "created = CASE WHEN calls.final THEN calls.created ELSE excluded.created END, "
                "final = MAX(calls.final, excluded.final)",
                (key, blob, time.time(), float(cost), int(bool(final))),
            )

    def total_cost(self) -> float:
        """USD ever sent through this cache (every reply paid for, re-sent ones included)."""
        with self._lock:
            return float(self._db.execute("SELECT COALESCE(SUM(cost), 0) FROM calls").fetchone()[0])

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "JudgeCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_spend(root: str | Path) -> float:
    """USD sent to judges by every command on a run (RUN/cache/judge.sqlite records each call's cost)."""
    path = Path(root) / "cache" / "judge.sqlite"
    if not path.is_file():
        return 0.0
    with JudgeCache(path) as cache:
        return float(cache.total_cost())
