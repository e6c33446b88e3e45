"""Compacting judgments.jsonl (the record and its rules, reading included: gsnr_bench/domain/judgment.py).

The file is an append-only log while a judging run is going: a comparison that failed in one run is
judged again by a later one, and its new record is appended, so one comparison key may appear more than
once. The LAST record of a key is the one that counts. At the end of each run the stage rewrites the
file atomically to one record per key; readers must still use `read_judgments`, since a killed run
leaves the file uncompacted. Pure helpers: no network, no heavy imports."""

from __future__ import annotations

from pathlib import Path

from gsnr_bench.core.fileio import read_jsonl, write_jsonl
from gsnr_bench.domain.judgment import latest


def compact_judgments(path: str | Path, order: list[tuple] | None = None) -> list[dict]:
    """Rewrite `path` atomically to one record per key (the last), keys in `order` first (the plan's order),
    any others after them sorted by key; returns the records written. Rewrites only when that changes the
    file's content, so a run that appended nothing leaves the file untouched."""
    path = Path(path)
    if not path.exists():
        return []
    raw = read_jsonl(path, tolerant=True)
    latest_by_key = latest(raw)
    rank = {k: i for i, k in enumerate(order or [])}
    keys = sorted(latest_by_key, key=lambda k: (0, rank[k], ()) if k in rank else (1, 0, tuple(str(x) for x in k)))
    rows = [latest_by_key[k] for k in keys]
    if rows != raw:
        write_jsonl(path, rows)
    return rows
