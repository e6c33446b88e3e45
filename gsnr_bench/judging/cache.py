"""Every judge call cached by a content hash in SQLite (WAL): several processes (a sweep's cells)
can read and write one cache at once, and a SIGKILL never loses a committed answer (WAL commits
survive a process crash; synchronous=NORMAL only risks the last commits on a power loss).
Only replies and usage are stored: never keys, headers or URLs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import StoreError


def cache_key(judge: str, model: str, prompt_version: str, messages: list[dict], params: dict[str, Any],
              attempt: int = 0) -> str:
    """sha256 over what determines a reply. `attempt` numbers parse re-asks, so a re-ask after an
    unreadable reply is a new call, and a resumed run replays the same sequence from the cache."""
    blob = json.dumps({"judge": judge, "model": model, "prompt": prompt_version, "messages": messages,
                       "params": params, "attempt": attempt}, sort_keys=True, ensure_ascii=False)
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
                db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, reply TEXT NOT NULL, "
                           "created REAL NOT NULL)")
                return db
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                transient = isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))
                if not transient or time.monotonic() + delay > deadline:
                    raise StoreError(f"judge cache {self.path} is unusable: {exc}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def has(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is not None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        """First writer wins: two processes that raced on one call keep one answer."""
        blob = json.dumps(reply, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO calls (key, reply, created) VALUES (?, ?, ?)",
                             (key, blob, time.time()))

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
