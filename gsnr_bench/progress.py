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


def _plain(description: str, quiet: bool) -> ProgressFn:
    """Without a terminal: one log line per task at start and at completion, nothing in between."""
    started: set[str] = set()

    def update(task: str, done: int, total: int, detail: str = "") -> None:
        if quiet:
            return
        if task not in started:
            started.add(task)
            console.print(f"  {description}: {task} ...")
        if total and done >= total and task in started:
            started.discard(task)
            started.add(task + "#done")

    return update


def stdout_console() -> Console:
    """Where results (tables, listings) go: stdout, wide enough for the tables when piped to a file."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)
