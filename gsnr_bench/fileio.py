"""Crash-safe file IO: whole files are written temp-then-rename, logs are append-only JSONL
read by a tolerant reader that drops a torn last line. Nothing is ever half-written."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import DataError


def _umask() -> int:
    """The process umask (read by setting and restoring it: the only portable way)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file: 0666 less the umask."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is fsynced and renamed over `path`.
    mkstemp creates the temp file 0600 whatever the umask; the final file gets the mode a plain
    write would give it (0666 less the umask), so a group or a web server can read published files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys) so re-generated files are byte-identical."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, dumps(obj))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append rows and fsync: after a crash the file holds whole rows plus at most one torn line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    if not payload:
        return
    _drop_torn_tail(path)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def _drop_torn_tail(path: Path) -> None:
    """A crash mid-append leaves a last line without newline; cut it before appending again."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        data = fh.seek(0) or fh.read()
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def jsonl_lines(path: str | os.PathLike) -> list[tuple[int, dict | None, str | None]]:
    """(line number, object, None) or (line number, None, problem) per non-blank line, so a caller can
    stop at the first bad line or list them all."""
    out: list[tuple[int, dict | None, str | None]] = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append((lineno, None, f"malformed JSON ({exc.msg})"))
            continue
        out.append((lineno, row, None) if isinstance(row, dict) else (lineno, None, "not a JSON object"))
    return out


def read_jsonl(path: str | os.PathLike, *, tolerant: bool = False) -> list[dict]:
    """Read JSONL. Strict mode names the bad line; tolerant mode (for our own append-only logs)
    drops a torn final line left by a crash but still refuses corruption in the middle."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    entries = jsonl_lines(path)
    rows: list[dict] = []
    for k, (lineno, row, problem) in enumerate(entries):
        if problem is not None:
            if tolerant and k == len(entries) - 1 and problem.startswith("malformed"):
                break
            raise DataError(f"{path}: line {lineno}: {problem}")
        rows.append(row)
    return rows
