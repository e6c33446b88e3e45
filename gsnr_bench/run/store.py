"""The run store: a run directory whose stage outputs are addressed by a hash of their inputs.

A stage directory is complete when its DONE file exists (written last, atomically); until then it
holds whatever partial state the stage left (checkpoints, append-only logs) so a killed stage
resumes. A file lock keeps two processes (e.g. Slurm array cells) off the same stage at once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gsnr_bench import STORE_VERSION, __version__
from gsnr_bench.core.errors import StoreError
from gsnr_bench.core.fileio import read_json, write_json

MARKER = "gsnr-run.json"
DONE = "DONE"
CELL = "cell.json"  # in a judging stage dir: what the report needs to know about the cell (domain/cell.py)


def content_hash(obj: Any, length: int = 12) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", text).strip("_") or "x"


def slurm_job() -> str | None:
    """The Slurm job this process runs in, as squeue/sacct name it: `123` or, for an array task, `120_3`."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


@dataclass(frozen=True)
class StageDir:
    stage: str
    label: str
    key: str
    path: Path

    @property
    def done(self) -> bool:
        return (self.path / DONE).is_file()

    def meta(self) -> dict[str, Any]:
        return read_json(self.path / DONE) if self.done else {}

    def mark_done(self, seconds: float, **meta: Any) -> None:
        made_by = slurm_job()
        if made_by:  # which cluster job made this stage (the report's jobs table)
            meta = {**meta, "slurm_job": made_by}
        write_json(
            self.path / DONE,
            {"stage": self.stage, "label": self.label, "key": self.key, "seconds": round(seconds, 3), **meta},
        )

    @contextlib.contextmanager
    def lock(self, timeout: float | None = None, notice_after: float = 5.0) -> Iterator[None]:
        """Keep other processes (a sweep's cells) off this stage. A process that finds it held says which
        stage it waits for, then waits up to `timeout` seconds (GSNR_BENCH_LOCK_TIMEOUT, default 48 h: a
        7B fine-tune holds its stage for hours) and fails with a one-line StoreError after that."""
        from filelock import FileLock, Timeout

        self.path.mkdir(parents=True, exist_ok=True)
        if timeout is None:
            timeout = float(os.environ.get("GSNR_BENCH_LOCK_TIMEOUT", 48 * 3600))
        lock = FileLock(str(self.path / ".lock"))
        try:
            lock.acquire(timeout=min(notice_after, timeout))
        except Timeout:
            from gsnr_bench.core.progress import console

            console.print(
                f"waiting for stage {self.stage} {self.label}: another gsnr-bench process is running it "
                f"(lock {self.path / '.lock'})"
            )
            try:
                lock.acquire(timeout=max(0.0, timeout - notice_after))
            except Timeout:
                raise StoreError(
                    f"stage {self.stage} {self.label} is still locked by another process after "
                    f"{timeout:g} s ({self.path / '.lock'}); if no gsnr-bench process is running, "
                    "run the command again"
                ) from None
        try:
            yield
        finally:
            lock.release()


class RunStore:
    """A run directory. `create=False` only checks it (an existing run must be compatible, a path must
    not be a file or a foreign directory) and writes nothing: commands validate everything first and
    call `create()` just before the first stage."""

    def __init__(self, root: str | Path, *, create: bool = True) -> None:
        self.root = Path(root)
        self.exists = self._check()
        if create:
            self.create()

    def _check(self) -> bool:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"run directory {self.root} is a file; choose a directory for --run-dir")
        marker = self.root / MARKER
        if marker.exists():
            try:
                info = json.loads(marker.read_text())
                version = int(info["store_version"])
            except Exception:
                raise StoreError(f"{marker} is corrupt; not a gsnr-bench run directory") from None
            if version != STORE_VERSION:
                raise StoreError(
                    f"run directory {self.root} was written by store version {version} "
                    f"(gsnr-bench {info.get('created_by', '?')}); this gsnr-bench uses version "
                    f"{STORE_VERSION}: choose a new --run-dir"
                )
            return True
        if self.root.exists() and any(p for p in self.root.iterdir() if not p.name.startswith(".")):
            raise StoreError(f"{self.root} exists and is not a gsnr-bench run directory; choose another --run-dir")
        return False

    def check_writable(self) -> None:
        """A read-only run directory (or parent) is a one-line error before any work, not a traceback
        later. Probed by creating a file (os.access says yes to root even on a read-only mount)."""
        probe = self.root
        while not probe.exists():
            probe = probe.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=".gsnr-write-probe-", dir=probe)
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise StoreError(f"cannot write to {probe}: {exc.strerror or exc} (choose a writable --run-dir)") from None

    def create(self) -> None:
        if not (self.root / MARKER).exists():
            self.check_writable()
            write_json(self.root / MARKER, {"store_version": STORE_VERSION, "created_by": __version__})
        self.exists = True

    def stage(self, stage: str, label: str, key: Any) -> StageDir:
        k = content_hash({"stage": stage, "key": key})
        return StageDir(stage, label, k, self.root / stage / f"{_slug(label)}-{k}")

    def finished_stages(self) -> list[dict[str, Any]]:
        out = []
        for done in sorted(self.root.glob(f"*/*/{DONE}")) + sorted(self.root.glob(f"*/*/*/{DONE}")):
            try:
                out.append(json.loads(done.read_text()))
            except json.JSONDecodeError:
                continue
        return out


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
