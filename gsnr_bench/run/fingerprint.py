"""Content fingerprints of models: stage keys and selector caches are keyed by what a stage read,
never by a path, so retraining a model in place gives new keys (and new stage directories).

A local model directory is fingerprinted by the sha256 of every file in it (weights, config,
tokenizer files), in name order. Hashing a 13B checkpoint (26 GB) takes tens of seconds, so each
file's digest is remembered in a stat cache (`RUN/cache/file-hashes.json`) keyed by the file's
resolved path, size, mtime, ctime and inode, as git's index does: an unchanged file costs one
`stat`, and any rewrite (a new save, a copy over it) changes its mtime/ctime/inode and is hashed
again. `bench/fingerprint.py` measures both paths on a 13B-sized file list.

A hub name resolves to the commit of its local snapshot (the hub's own content address) when the
Hugging Face cache has one; otherwise it stays `hub:<name>` (it is downloaded by the stage that
needs it, and offline that stage fails with a one-line error)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from gsnr_bench.core.fileio import write_json

SKIP_DIRS = ("checkpoint-",)  # Trainer checkpoints inside a model dir are not the model


class StatCache:
    """file digest by (path, size, mtime_ns, ctime_ns, inode); persisted as JSON, written atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, list[Any]] = {}
        self._dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._data = data if isinstance(data, dict) else {}
            except (OSError, json.JSONDecodeError):
                self._data = {}  # a cache, not a record: a broken one is rebuilt

    def digest(self, file: Path) -> str:
        real = file.resolve()
        st = real.stat()
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        with self._lock:
            hit = self._data.get(str(real))
        if hit is not None and hit[:4] == sig:
            return str(hit[4])
        h = _sha256(real)
        with self._lock:
            self._data[str(real)] = [*sig, h]
            self._dirty = True
        return h

    def save(self) -> None:
        if self.path is not None and self._dirty:
            with self._lock:
                data, self._dirty = dict(self._data), False
            write_json(self.path, data)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def model_files(root: Path) -> list[Path]:
    """Every file of a model directory, hidden files and Trainer checkpoints left out, in path order."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.startswith(SKIP_DIRS))
        for name in sorted(filenames):
            if not name.startswith("."):
                out.append(Path(dirpath) / name)
    return out


def dir_fingerprint(root: Path, cache: StatCache | None = None) -> str:
    cache = cache or StatCache(None)
    h = hashlib.sha256()
    for f in model_files(root):
        h.update(f"{f.relative_to(root).as_posix()}\0{cache.digest(f)}\n".encode())
    return h.hexdigest()


def hub_snapshot(name: str) -> str | None:
    """The commit of the Hugging Face cache's local snapshot of `name`, or None (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(name, local_files_only=True)
    except Exception:  # not cached, not a repo name, or huggingface_hub unavailable
        return None
    return Path(path).name


def model_fingerprint(spec: str, cache: StatCache | None = None) -> str:
    """A short content key for a model given as a local directory or a hub name."""
    p = Path(spec).expanduser()
    if p.is_dir():
        return "dir:" + dir_fingerprint(p, cache)[:20]
    if p.is_file():  # a single-file model (e.g. a GGUF); loaders refuse it later if unsupported
        return "file:" + (cache or StatCache(None)).digest(p)[:20]
    commit = hub_snapshot(spec)
    return f"hub:{spec}@{commit}" if commit else f"hub:{spec}"
