"""rich progress bars behind a tiny callable interface, so stages never depend on rich directly."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

ProgressFn = Callable[[str, int, int], None]

console = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, *, quiet: bool = False) -> Iterator[ProgressFn]:
    """Yield `update(task, done, total, detail="")`; each distinct task name gets its own bar, `detail` is
    shown after the counts (the judging stage puts failures, tokens and cost there)."""
    if quiet or not sys.stderr.isatty() and not _force():
        yield _plain(description, quiet)
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as prog:
        tasks: dict[str, int] = {}

        def update(task: str, done: int, total: int, detail: str = "") -> None:
            if task not in tasks:
                tasks[task] = prog.add_task(f"{description}: {task}", total=total, detail=detail)
            prog.update(tasks[task], completed=done, total=total, detail=detail)

        yield update


def _force() -> bool:
    import os

    return os.environ.get("GSNR_BENCH_PROGRESS") == "1"


def _plain(description: str, quiet: bool, every: float | None = None, clock: Callable[[], float] | None = None):
    """Without a terminal (a log file, CI, nohup): a line when a task starts, then at most one line every
    `every` seconds (GSNR_BENCH_PROGRESS_SECONDS, default 30) with steps done of the total, the time spent and an
    ETA, and a line when it completes. The ETA extrapolates the rate of this command only: steps a resumed stage
    found already done do not count as fast progress."""
    import time

    every = _every() if every is None else every
    clock = clock or time.monotonic
    seen: dict[str, list[float]] = {}  # task -> [started, last line, steps done when first seen]

    def update(task: str, done: int, total: int, detail: str = "") -> None:
        if quiet:
            return
        now = clock()
        if task not in seen:
            seen[task] = [now, now, float(done)]
            console.print(f"  {description}: {task} ... {done}/{total}", markup=False, highlight=False)
            return
        state = seen[task]
        if state[1] < 0:  # completed and reported
            return
        finished = bool(total) and done >= total
        if finished or now - state[1] >= every:
            state[1] = -1.0 if finished else now
            line = progress_line(done, total, now - state[0], done - int(state[2]))
            tail = f" {detail}" if detail else ""
            console.print(f"  {description}: {task} {line}{tail}", markup=False, highlight=False)

    return update


def _every() -> float:
    import os

    raw = os.environ.get("GSNR_BENCH_PROGRESS_SECONDS", "")
    try:
        return max(0.0, float(raw)) if raw else 30.0
    except ValueError:
        return 30.0


def progress_line(done: int, total: int, elapsed: float, advanced: int) -> str:
    """`12/40 (30%), 1m10s elapsed, ETA 2m43s`: steps done of the total, time spent, and the time left at the rate
    of the `advanced` steps done in `elapsed` seconds (no ETA before a first step)."""
    pct = f" ({100 * done / total:.0f}%)" if total else ""
    out = f"{done}/{total}{pct}, {duration(elapsed)} elapsed"
    if total and done >= total:
        return out + ", done"
    if advanced > 0 and total:
        return out + f", ETA {duration(elapsed / advanced * (total - done))}"
    return out + ", ETA unknown"


def duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def stdout_console() -> Console:
    """Where results (tables, listings) go: stdout, wide enough for the tables when piped to a file."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)
