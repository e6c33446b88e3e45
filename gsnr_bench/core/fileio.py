"""Crash-safe file IO: whole files are written temp-then-rename, logs are append-only JSONL
read by a tolerant reader that drops a torn last line. Nothing is ever half-written."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from gsnr_bench.core.errors import DataError, StoreError

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def _full(path: Path, what: str) -> StoreError:
    return StoreError(
        f"no space left on device writing {path}; {what} (free space, or use a --run-dir elsewhere, and run the "
        "same command again)"
    )


def read_text(path: str | os.PathLike) -> str:
    """A text file that must be UTF-8 (a BOM is allowed): otherwise a one-line DataError naming the file,
    the byte offset and line of the first byte that is not UTF-8."""
    path = Path(path)
    data = path.read_bytes()
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start
        line = data.count(b"\n", 0, at) + 1
        raise DataError(
            f"{path}: not UTF-8 text: byte 0x{data[at]:02x} at byte offset {at} (line {line}); save the file as UTF-8"
        ) from None


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if disk_full(exc):
            raise _full(path, "nothing was written") from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except OSError as exc:
        if disk_full(exc):  # the temp file goes; the file at `path`, if any, is as it was
            raise _full(path, "nothing was half-written, the previous file is unchanged") from None
        raise
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
        return json.loads(read_text(path))
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
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if not disk_full(exc):
            raise
        with contextlib.suppress(OSError):  # cut what part of the rows did land: whole rows or none
            os.truncate(path, size)
        raise _full(path, "the rows being added were not written, the file holds what it held") from None


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
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
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
