"""Progress of a judging run: comparisons done, failures, tokens and cost so far.

Accepts what callers have: None (a rich Progress of our own on stderr, only on a terminal), a
rich `Progress` (we add a task to it), or the pipeline's `update(task, done, total)` callable."""

from __future__ import annotations

import sys
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _stats_text(failed: int, tokens: int, cost: float) -> str:
    return f"failed {failed} · {tokens:,} tok · ${cost:.4f}"


class JudgeProgress:
    def __init__(self, progress: Any, label: str, total: int) -> None:
        self.label, self.total = label, total
        self._own: Progress | None = None
        self._fn: Callable[[str, int, int], None] | None = None
        self._rich: Progress | None = None
        if progress is None:
            console = Console(stderr=True, highlight=False)
            self._own = self._rich = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=console,
                transient=True, disable=not sys.stderr.isatty())
            self._own.start()
        elif isinstance(progress, Progress):
            self._rich = progress
        elif callable(progress):
            self._fn = progress
        if self._rich is not None:
            self._task = self._rich.add_task(label, total=total, stats=_stats_text(0, 0, 0.0))
        self.update(0, 0, 0, 0.0)

    def update(self, done: int, failed: int, tokens: int, cost: float) -> None:
        if self._rich is not None:
            self._rich.update(self._task, completed=done, stats=_stats_text(failed, tokens, cost))
        elif self._fn is not None:
            self._fn(self.label, done, self.total)  # a fixed task name: one bar, not one per update

    def close(self) -> None:
        if self._own is not None:
            self._own.stop()
