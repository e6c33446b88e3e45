"""Load an instruction pool: Alpaca JSON (a list), JSONL, or a Hugging Face dataset name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json, read_text
from gsnr_bench.domain.records import Example

REQUIRED = ("instruction", "output")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def load_pool(source: str | Path, *, max_examples: int | None = None) -> list[Example]:
    """Read a pool; every record needs `instruction` and `output` (`input` defaults to "").
    Ids come from an `id` field when present, else from the record's 0-based position; error messages number
    records from 1 (`record 1` is the first)."""
    path = Path(source)
    if path.is_dir():
        raise DataError(f"training data {source} is a directory; pass the Alpaca JSON/JSONL file inside it")
    if path.exists():
        rows, where = _read_file(path)
    elif path.suffix.lower() in {".json", ".jsonl"} or "/" in str(source) and not _HUB_NAME.match(str(source)):
        raise DataError(f"training data file not found: {source}")
    else:
        rows, where = _read_hub(str(source)), (lambda i: f"{source} record {i + 1}")
    if max_examples is not None:
        rows = rows[:max_examples]
    pool = to_examples(rows, where)
    if not pool:
        raise DataError(f"training pool {source} is empty")
    return pool


def _read_file(path: Path) -> tuple[list[Any], Any]:
    if path.suffix.lower() == ".jsonl":  # POOL.JSONL too: the extension's case does not matter
        rows = []
        for lineno, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: malformed JSONL at line {lineno}: {exc.msg}") from None
        lines = [n for n, _ in rows]
        return [r for _, r in rows], (lambda i: f"{path} line {lines[i]}")
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of Alpaca records")
    return data, (lambda i: f"{path} record {i + 1}")  # records are numbered from 1, like lines


def _read_hub(name: str) -> list[dict]:
    try:
        from datasets import load_dataset

        ds = load_dataset(name, split="train")
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"cannot load dataset {name!r} from the Hugging Face hub ({first}); "
            "offline? download it and pass the JSON/JSONL path instead"
        ) from None
    return [dict(r) for r in ds]


def to_examples(rows: Iterable[Any], where: Any) -> list[Example]:
    out: list[Example] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{where(i)}: expected a JSON object")
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise DataError(f"{where(i)}: missing field(s) {', '.join(missing)}")
        bad = [k for k in (*REQUIRED, "input") if k in row and row[k] is not None and not isinstance(row[k], str)]
        if bad:
            raise DataError(f"{where(i)}: field(s) {', '.join(bad)} must be strings")
        ex_id = str(row["id"]) if row.get("id") is not None else str(i)
        if ex_id in seen:
            raise DataError(f"{where(i)}: duplicate id {ex_id!r} (first at {where(seen[ex_id])})")
        seen[ex_id] = i
        out.append(Example(ex_id, row["instruction"], row.get("input") or "", row["output"] or ""))
    return out


def pool_fingerprint(pool: list[Example]) -> str:
    import hashlib

    h = hashlib.sha256()
    for e in pool:
        h.update(json.dumps(e.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()
