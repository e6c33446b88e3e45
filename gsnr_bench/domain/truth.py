"""Ground truth for a pool: which examples are clean and which carry which defect (`--truth FILE`).

Accepted files (every pool id must be labelled; a label is `clean` or any defect label string such as
`empty`, `truncated`, `off_topic`; JSON booleans mean true = clean, false = `defective`):
  - JSON mapping   {"id-1": "clean", "id-2": "empty", ...}
  - JSON list      [{"id": "id-1", "label": "clean"}, ...]
  - the demo world's truth.json: {"clean": {id: bool}, "defect": {id: label | null}, ...}
  - JSONL          one {"id": ..., "label": ...} object per line
  - CSV            a header row naming `id` and `label` columns, one example per row
A bad row is a one-line `DataError` naming the file and the line (JSONL/CSV), the record (JSON list) or the
id (JSON mapping). `normalise` gives {id: label}; `truth_record` the run's own copy (demo format)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_text

CLEAN = "clean"
DEFECTIVE = "defective"  # the label a `false` becomes


def _label(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return CLEAN if value else DEFECTIVE
    if isinstance(value, str) and value.strip():
        v = value.strip()
        return CLEAN if v.lower() == CLEAN else v
    raise DataError(f"{where}: label must be 'clean', a defect label or true/false, not {value!r}")


def _put(out: dict[str, str], rid: Any, value: Any, where: str) -> None:
    if not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
        raise DataError(f"{where}: missing or invalid id {rid!r}")
    rid = str(rid)
    if rid in out:
        raise DataError(f"{where}: id {rid!r} is labelled twice")
    out[rid] = _label(value, where)


def _row(out: dict[str, str], obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected an object with 'id' and 'label', got {type(obj).__name__}")
    if "id" not in obj:
        raise DataError(f"{where}: no 'id'")
    key = next((k for k in ("label", "truth", "clean") if k in obj), None)
    if key is None:
        raise DataError(f"{where}: no 'label' (clean or a defect label)")
    _put(out, obj["id"], obj[key], where)


def parse_truth(path: str | Path) -> dict[str, str]:
    """{id: label} from a truth file; any problem is a one-line DataError naming where it is."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"truth file not found: {path}")
    try:
        text = read_text(p)  # not UTF-8: one line with the byte offset
    except OSError as exc:
        raise DataError(f"cannot read truth file {path}: {exc.strerror or exc}") from None
    out: dict[str, str] = {}
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{p} line {lineno}: malformed JSON ({exc.msg})") from None
            _row(out, obj, f"{p} line {lineno}")
    elif suffix == ".csv":
        reader = csv.reader(io.StringIO(text))
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{p}: empty CSV (needs a header with 'id' and 'label')") from None
        if "id" not in header or "label" not in header:
            raise DataError(f"{p} line 1: the header must name 'id' and 'label' columns, got {header}")
        i_id, i_label = header.index("id"), header.index("label")
        for lineno, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) <= max(i_id, i_label):
                raise DataError(f"{p} line {lineno}: expected {len(header)} columns, got {len(row)}")
            _put(out, row[i_id].strip(), row[i_label], f"{p} line {lineno}")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}: malformed JSON at line {exc.lineno} ({exc.msg})") from None
        if isinstance(data, dict) and isinstance(data.get("clean"), dict):  # the demo world's truth.json
            defect = data.get("defect") if isinstance(data.get("defect"), dict) else {}
            for rid, ok in data["clean"].items():
                if not isinstance(ok, bool):
                    raise DataError(f"{p}: clean[{rid!r}] must be true or false, not {ok!r}")
                _put(out, rid, CLEAN if ok else (defect.get(rid) or DEFECTIVE), f"{p} id {rid!r}")
        elif isinstance(data, dict):
            for rid, value in data.items():
                _put(out, rid, value, f"{p} id {rid!r}")
        elif isinstance(data, list):
            for i, obj in enumerate(data):
                _row(out, obj, f"{p} record {i}")
        else:
            raise DataError(f"{p}: expected a JSON mapping id -> label or a list of {{id, label}} objects")
    if not out:
        raise DataError(f"{p}: no labelled examples")
    return out


def check_against_pool(truth: Mapping[str, str], pool_ids: Iterable[str], source: str) -> None:
    """Every label names a pool id and every pool id has a label."""
    ids = list(pool_ids)
    have = set(ids)
    unknown = [i for i in truth if i not in have]
    if unknown:
        raise DataError(f"truth {source}: {len(unknown)} id(s) are not in the pool (first: {unknown[0]!r})")
    missing = [i for i in ids if i not in truth]
    if missing:
        raise DataError(
            f"truth {source}: {len(missing)} pool example(s) have no label (first: {missing[0]!r}); "
            "label every example clean or with its defect"
        )


def truth_record(truth: Mapping[str, str]) -> dict[str, Any]:
    """The run's copy of a truth file, in the demo world's format (what the report reads)."""
    clean = {k: v == CLEAN for k, v in sorted(truth.items())}
    return {
        "version": 1,
        "clean": clean,
        "defect": {k: (None if v == CLEAN else v) for k, v in sorted(truth.items())},
        "base_rate": sum(clean.values()) / len(clean),
    }


def labels_of(record: Mapping[str, Any]) -> dict[str, str]:
    """{id: label} from a truth record (truth_record / demo truth.json)."""
    defect = record.get("defect") or {}
    return {k: CLEAN if ok else (defect.get(k) or DEFECTIVE) for k, ok in record["clean"].items()}
