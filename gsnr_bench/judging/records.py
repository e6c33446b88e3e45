"""Reading and compacting judgments.jsonl (the judgment record contract in docs/ARCHITECTURE.md).

The file is an append-only log while a judging run is going: a comparison that failed in one run is
judged again by a later one, and its new record is appended, so one comparison key may appear more than
once. The LAST record of a key is the one that counts. At the end of each run the stage rewrites the
file atomically to one record per key; readers must still use `read_judgments`, since a killed run
leaves the file uncompacted. Pure helpers: no network, no heavy imports."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..fileio import read_jsonl, write_jsonl
from ..records import judgment_key as record_key  # (testset, question_id, system, baseline, null_pair)


def last_per_key(records: Iterable[dict]) -> dict[tuple, dict]:
    """Key -> last record, keyed in order of each key's first appearance."""
    out: dict[tuple, dict] = {}
    for r in records:
        out[record_key(r)] = r
    return out


def read_judgments(path: str | Path) -> list[dict]:
    """The records of one judgments file, one per comparison key, the last one written winning
    (a retried comparison supersedes its earlier failed record). Tolerates a torn final line left by a
    crash; a missing file reads as no records."""
    path = Path(path)
    if not path.exists():
        return []
    return list(last_per_key(read_jsonl(path, tolerant=True)).values())


def is_judged(r: dict) -> bool:
    """A record with a verdict (win / tie / lose); `failed` records are retried by the next run."""
    return r.get("outcome") in ("win", "tie", "lose")


def compact_judgments(path: str | Path, order: list[tuple] | None = None) -> list[dict]:
    """Rewrite `path` atomically to one record per key (the last), keys in `order` first (the plan's order),
    any others after them sorted by key; returns the records written. Rewrites only when that changes the
    file's content, so a run that appended nothing leaves the file untouched."""
    path = Path(path)
    if not path.exists():
        return []
    raw = read_jsonl(path, tolerant=True)
    latest = last_per_key(raw)
    rank = {k: i for i, k in enumerate(order or [])}
    keys = sorted(latest, key=lambda k: (0, rank[k], ()) if k in rank else (1, 0, tuple(str(x) for x in k)))
    rows = [latest[k] for k in keys]
    if rows != raw:
        write_jsonl(path, rows)
    return rows
