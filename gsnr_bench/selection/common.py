"""Checks and small helpers shared by the model-based selectors (no torch at import): typed parameters
(`SelectorParams`), the pool's and the proxy's content digests and the cache key and directory built on them."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.domain.records import Example


class SelectorParams(BaseModel):
    """A selector's parameters: typed, unknown names refused, frozen. The registry checks a selector's YAML and
    config params against its `Params` model before anything runs (registry.typed_params); the selector
    builds it with `parse`, which turns the first problem into a one-line ConfigError."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, who: str, values: dict[str, Any]) -> Any:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            errs = exc.errors()
            name = errs[0]["loc"][0] if errs[0]["loc"] else ""
            msgs = [e["msg"][:1].lower() + e["msg"][1:] for e in errs if (e["loc"][:1] or ("",))[0] == name]
            what = f"{name}={errs[0]['input']!r}" if name else "parameters"
            raise ConfigError(f"{who}: {what}: {', or '.join(dict.fromkeys(msgs))}") from None


def as_list(value: Any) -> Any:
    """One module name or several (LoRA targets): always a list."""
    return [value] if isinstance(value, str) else value


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
    from gsnr_bench.run.fingerprint import model_fingerprint

    return hashlib.sha256((key or model_fingerprint(proxy)).encode()).hexdigest()[:16]


def cache_key(version: int, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """What a selector's cached work depends on: its cache layout version, the parameters that change the work,
    the pool's content and the proxy's (SelectionContext `ctx`)."""
    return {
        "v": version,
        "params": params,
        "pool": pool_digest(ctx.pool),
        "proxy": proxy_digest(ctx.proxy, ctx.proxy_key),
    }


def cache_dir(root: str | Path, kind: str, key: dict[str, Any]) -> Path:
    """`<root>/<kind>/<20 hex digits of the key's sha256>`: the same key, the same directory."""
    return Path(root) / kind / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def report(progress, task: str, done: int, total: int) -> None:
    if progress is not None:
        progress(task, done, total)
