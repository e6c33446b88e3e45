"""Every judge call cached in SQLite (WAL), keyed by the request itself, shared by every process that
opens it: a sweep's cells, two commands with different judging settings, or several runs pointed at one
cache (`judging.cache`). A SIGKILL never loses a committed answer (WAL commits survive a process crash;
synchronous=NORMAL only risks the last commits on a power loss). Only replies, usage and what each call
cost are stored: never keys, headers or URLs.

The key is a hash of what is sent (model, messages, sampling params) plus the parse re-ask number, so any
two stages or processes that send the same request share its answer, whatever their judge alias, prompt
label, order, null pairs, concurrency or budget. Three tables:
  calls  - one reply per key, and whether it was `final` (held readable scores): a non-final reply is
           replaced by the next one sent for that key, a final one never is (first writer wins);
  spend  - an append-only ledger, one row per reply paid for (cost >= 0, the run that paid, whether its
           token counts were estimated): spend can only go up, and a run's spend is the sum of its rows;
  claims - who is sending a key right now, so a second process waits for that reply instead of paying
           for it again; a claim whose owner died (same host, pid gone) or that outlived its deadline
           is taken over.
A cache written by another schema version is refused with one line (no migration)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import StoreError

SCHEMA_VERSION = "2"
_HOST = socket.gethostname()


def cache_key(model: str, messages: list[dict], params: dict[str, Any], attempt: int = 0) -> str:
    """sha256 over the request as sent. `attempt` numbers parse re-asks, so a re-ask after an
    unreadable reply is a new call, and a resumed run replays the same sequence from the cache."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params, "attempt": attempt}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _owner_alive(owner: str) -> bool:
    """A claim's owner is `host:pid:nonce`; on this host a pid that is gone means a dead owner."""
    host, _, rest = owner.partition(":")
    if host != _HOST:
        return True  # another machine: only its deadline can end the claim
    try:
        os.kill(int(rest.partition(":")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class JudgeCache:
    def __init__(self, path: str | Path, run: str = "") -> None:
        self.path = Path(path)
        self.run = run  # what spend rows of this process are recorded under
        self.owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"judge cache {self.path}: cannot create its directory: {exc.strerror}") from None
        self._lock = threading.Lock()  # one connection, shared by the event loop and writer threads
        self._db = self._open(timeout=60.0)

    def _open(self, timeout: float) -> sqlite3.Connection:
        """Connect and set up the schema. SQLite answers "database is locked" at once, without
        waiting on the busy timeout, when two processes switch a fresh file to WAL or create the
        tables at the same moment (it refuses a lock upgrade that could deadlock); so setup is
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
                self._setup(db)
                return db
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                transient = isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))
                if not transient or time.monotonic() + delay > deadline:
                    raise StoreError(f"judge cache {self.path} is unusable: {exc}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _setup(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" in tables:
                row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                found = row[0] if row else "none"
            else:
                found = "1" if "calls" in tables else None  # calls without meta: the first schema
            if found is not None and found != SCHEMA_VERSION:
                raise StoreError(
                    f"judge cache {self.path} has schema version {found}, this gsnr-bench reads version "
                    f"{SCHEMA_VERSION}; move the file aside to start a new cache (it is not migrated)"
                )
            if found is None:
                db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                db.execute(
                    "CREATE TABLE calls (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL NOT NULL, "
                    "final INTEGER NOT NULL)"
                )
                db.execute(
                    "CREATE TABLE spend (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, run TEXT NOT NULL, "
                    "cost REAL NOT NULL CHECK (cost >= 0), estimated INTEGER NOT NULL, created REAL NOT NULL)"
                )
                db.execute("CREATE INDEX spend_run ON spend (run)")
                db.execute("CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _execute(self, sql: str, args: tuple) -> sqlite3.Cursor:
        """One autocommitted statement; a full disk is one line."""
        with self._lock:
            try:
                return self._db.execute(sql, args)
            except sqlite3.OperationalError as exc:
                raise self._error(exc) from None

    def _error(self, exc: sqlite3.OperationalError) -> StoreError:
        if "full" in str(exc):
            return StoreError(
                f"no space left on device writing the judge cache {self.path}; nothing was half-written (free "
                "space and run the same command again: what is cached is kept)"
            )
        return StoreError(f"judge cache {self.path}: {exc}")

    def _write(self, sql_calls: list[tuple[str, tuple]]) -> None:
        """Statements in one transaction; a full disk is one line, and the transaction leaves nothing."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, args in sql_calls:
                        self._db.execute(sql, args)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise self._error(exc) from None

    # ------------------------------------------------------------------ replies
    def lookup(self, key: str) -> tuple[dict[str, Any], bool, float] | None:
        """(reply, final, created) or None."""
        with self._lock:
            row = self._db.execute("SELECT reply, final, created FROM calls WHERE key = ?", (key,)).fetchone()
        return (json.loads(row[0]), bool(row[1]), float(row[2])) if row else None

    def get(self, key: str) -> dict[str, Any] | None:
        hit = self.lookup(key)
        return hit[0] if hit else None

    def has(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is not None

    def put(
        self, key: str, reply: dict[str, Any], cost: float = 0.0, final: bool = True, estimated: bool = False
    ) -> None:
        """Store a reply that was just sent and paid for, its cost in the ledger and this process's claim
        released, in one transaction. A final reply is never replaced (first writer wins), a non-final one
        is replaced by any later reply; every payment is a ledger row. A cost that is negative or not
        finite is a bug upstream (usage is validated before it gets here), never recorded."""
        if not (isinstance(cost, (int, float)) and math.isfinite(cost) and cost >= 0):
            raise ValueError(f"judge call cost must be finite and >= 0, got {cost!r}")
        blob = json.dumps(reply, sort_keys=True, ensure_ascii=False)
        now = time.time()
        self._write(
            [
                (
                    "INSERT INTO calls (key, reply, created, final) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                    "reply = CASE WHEN calls.final THEN calls.reply ELSE excluded.reply END, "
                    "created = CASE WHEN calls.final THEN calls.created ELSE excluded.created END, "
                    "final = MAX(calls.final, excluded.final)",
                    (key, blob, now, int(bool(final))),
                ),
                (
                    "INSERT INTO spend (key, run, cost, estimated, created) VALUES (?, ?, ?, ?, ?)",
                    (key, self.run, float(cost), int(bool(estimated)), now),
                ),
                ("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner)),
            ]
        )

    # ------------------------------------------------------------------ claims (one sender per request)
    def claim(self, key: str, ttl: float) -> bool:
        """Take the right to send `key` for `ttl` seconds. False while another live owner holds it; a
        claim past its deadline or of a dead process on this host is taken over."""
        now = time.time()
        with self._lock:
            row = self._db.execute("SELECT owner, expires FROM claims WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] != self.owner and row[1] > now and _owner_alive(row[0]):
            return False
        stale_owner = row[0] if row is not None else None
        # only replace what we saw: two processes taking over one stale claim, one wins
        cur = self._execute(
            "INSERT INTO claims (key, owner, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "owner = excluded.owner, expires = excluded.expires WHERE claims.owner IS ?",
            (key, self.owner, now + ttl, stale_owner),
        )
        return cur.rowcount == 1

    def release(self, key: str) -> None:
        """Give up a claim without a reply (the call failed or was not sent)."""
        self._execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def claimed_by_other(self, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT owner, expires FROM claims WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] != self.owner and row[1] > time.time() and _owner_alive(row[0])

    # ------------------------------------------------------------------ money
    def total_cost(self, run: str | None = None) -> float:
        """USD ever paid through this cache (every reply, re-sent ones included), or by one run."""
        sql, args = "SELECT COALESCE(SUM(cost), 0) FROM spend", ()
        if run is not None:
            sql, args = sql + " WHERE run = ?", (run,)
        with self._lock:
            return float(self._db.execute(sql, args).fetchone()[0])

    def spend_after(self, run: str, after_id: int) -> tuple[float, int]:
        """(USD, last ledger id) of the run's payments recorded after ledger id `after_id`: the run's spend
        kept up to date cheaply (the index on run walks only the new rows)."""
        with self._lock:
            total, last = self._db.execute(
                "SELECT COALESCE(SUM(cost), 0), MAX(id) FROM spend WHERE run = ? AND id > ?", (run, after_id)
            ).fetchone()
        return float(total), int(last) if last is not None else after_id

    def estimated_calls(self, run: str | None = None) -> int:
        """Paid replies whose token counts were estimated (usage missing or invalid)."""
        sql, args = "SELECT COUNT(*) FROM spend WHERE estimated", ()
        if run is not None:
            sql, args = sql + " AND run = ?", (run,)
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])

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


def judge_cache_path(root: str | Path, jcfg: Any) -> Path:
    """The judge cache a run uses: its own, or one shared by several runs (judging.cache)."""
    return Path(jcfg.cache).expanduser() if jcfg.cache else Path(root) / "cache" / "judge.sqlite"


def judge_run_id(root: str | Path, jcfg: Any) -> str:
    """Whose spend a judge call is in the cache's ledger: "" in a run's own cache; in a shared one the run
    directory's absolute path (a run moved elsewhere starts a new account there)."""
    return str(Path(root).resolve()) if jcfg.cache else ""


def run_spend(root: str | Path, jcfg: Any) -> float:
    """USD sent to judges by every command on this run (the judge cache's ledger records each call's cost)."""
    path = judge_cache_path(root, jcfg)
    if not path.is_file():
        return 0.0
    with JudgeCache(path) as cache:
        return float(cache.total_cost(judge_run_id(root, jcfg)))


def run_estimated_calls(root: str | Path, jcfg: Any) -> int:
    """Paid judge calls of this run whose token counts were estimated (usage missing or invalid)."""
    path = judge_cache_path(root, jcfg)
    if not path.is_file():
        return 0
    with JudgeCache(path) as cache:
        return cache.estimated_calls(judge_run_id(root, jcfg))
