"""Runs one stage: a DONE stage is read back, never recomputed; otherwise the stage is locked, its work runs and
DONE is written last. Every stage a command touches is listed once as a `StageEvent` (the command's summary
table). Under a distributed launcher rank 0 runs and records every stage; the other ranks join only the
fine-tuning (a collective) and wait for rank 0's DONE."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from gsnr_bench.core.progress import console, progress_bar
from gsnr_bench.run.store import StageDir, Timer


@dataclass
class StageEvent:
    stage: str
    label: str
    seconds: float
    cached: bool
    status: str = ""  # "" = done (or cached); "incomplete: why" for a stage left to finish later


class StageIncomplete(Exception):
    """A stage that ran but did not finish its work (failed comparisons, budget): not marked DONE."""


class StageRunner:
    """Runs stages and remembers what it ran; `peeking()` turns it into a lookup that runs nothing."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.events: list[StageEvent] = []
        self.incomplete: list[StageDir] = []
        self.peek = False

    @contextlib.contextmanager
    def peeking(self) -> Iterator[None]:
        """Within this block stages only resolve their directories: nothing runs (judge --dry-run)."""
        self.peek = True
        try:
            yield
        finally:
            self.peek = False

    def progress(self, what: str) -> Any:
        return progress_bar(what, quiet=self.quiet)

    def cached(self, sd: StageDir) -> StageDir:
        if not self.peek and not any((e.stage, e.label) == (sd.stage, sd.label) for e in self.events):
            self.events.append(StageEvent(sd.stage, sd.label, 0.0, True))  # list each stage once
        return sd

    def run(self, sd: StageDir, work: Callable[[], dict[str, Any]]) -> StageDir:
        """The stage in `sd`, made by `work` (which returns the DONE file's metadata) unless it is done."""
        if sd.done:
            return self.cached(sd)
        if self.peek:
            return sd
        rank, world = dist()
        if world > 1 and rank != 0:
            if sd.stage == "models":  # the fine-tuning is a collective: every rank trains, without the lock
                work()
            wait_done(sd)
            return self.cached(sd)
        with sd.lock():
            if sd.done:  # another process finished it while we waited
                return self.cached(sd)
            return self._work(sd, work)

    def _work(self, sd: StageDir, work: Callable[[], dict[str, Any]]) -> StageDir:
        timer = Timer()
        if not self.quiet:
            console.print(f"[bold cyan]{sd.stage}[/] {sd.label}")
        try:
            meta = work() or {}
        except StageIncomplete as exc:
            self.incomplete.append(sd)
            self.events.append(StageEvent(sd.stage, sd.label, timer.seconds, False, status=f"incomplete: {exc}"))
            return sd
        sd.mark_done(timer.seconds, **meta)
        self.events.append(StageEvent(sd.stage, sd.label, timer.seconds, False))
        return sd


def dist() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (accelerate launch, torchrun, Slurm via either)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def wait_done(sd: StageDir, poll: float = 0.5, timeout: float | None = None) -> None:
    """A non-zero rank waits for rank 0 to finish a stage it does not run; it gives up with a one-line
    error after GSNR_BENCH_RANK_WAIT_TIMEOUT seconds (default 48 h) instead of hanging forever."""
    if timeout is None:
        timeout = float(os.environ.get("GSNR_BENCH_RANK_WAIT_TIMEOUT", 48 * 3600))
    deadline = time.monotonic() + timeout
    while not sd.done:
        if time.monotonic() > deadline:
            from gsnr_bench.core.errors import StoreError

            raise StoreError(
                f"rank {dist()[0]}: gave up after {timeout:g} s waiting for rank 0 to finish stage "
                f"{sd.stage} {sd.label} ({sd.path}); did rank 0 fail? see its output"
            )
        time.sleep(poll)
