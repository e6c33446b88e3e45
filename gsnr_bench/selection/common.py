"""Checks and small helpers shared by the model-based selectors (no torch at import)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Sequence

from ..errors import DataError
from ..records import Example


def check_pool(pool: Sequence[Example]) -> None:
    """Refuse pools a score file cannot represent: empty, or with duplicate ids."""
    if not pool:
        raise DataError("the pool is empty: nothing to score")
    counts = Counter(e.id for e in pool)
    dups = [i for i, c in counts.items() if c > 1]
    if dups:
        raise DataError(f"the pool has {len(dups)} duplicate ids (first: {dups[0]!r}); ids must be unique")


def pool_digest(pool: Sequence[Example]) -> str:
    """Content hash of the pool in order (the order matters for seeded data orders)."""
    h = hashlib.sha256()
    for e in pool:
        h.update(json.dumps([e.id, e.instruction, e.input, e.output], ensure_ascii=False).encode())
    return h.hexdigest()


def proxy_digest(proxy: str, key: str | None = None) -> str:
    """Identify a proxy by content: `key` when the caller already fingerprinted it (the pipeline
    passes SelectionContext.proxy_key), else the sha256 of its files (fingerprint.model_fingerprint)."""
    from ..fingerprint import model_fingerprint

    return hashlib.sha256((key or model_fingerprint(proxy)).encode()).hexdigest()[:16]


def report(progress, task: str, done: int, total: int) -> None:
    if progress is not None:
        progress(task, done, total)
