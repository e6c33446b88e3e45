"""Progress of a judging run: comparisons done, failures, tokens and cost so far.

Accepts what callers have: None (a rich Progress of our own on stderr, only on a terminal), a
rich `Progress` (we add a task to it), or the pipeline's `update(task, done, total[, detail])` callable.
Every form shows the same numbers: `render()` is the one text of them."""

from __future__ import annotations

import inspect
import sys
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _stats_text(failed: int, tokens: int, cost: float) -> str:
    return f"failed {failed} · {tokens:,} tok · ${cost:.4f}"


def render(label: str, done: int, total: int, failed: int, tokens: int, cost: float) -> str:
    """One line: `judge (gpt): 12/80 · failed 1 · 34,567 tok · $0.0123`."""
    return f"{label}: {done}/{total} · {_stats_text(failed, tokens, cost)}"


def _takes_detail(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "detail" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class JudgeProgress:
    def __init__(self, progress: Any, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.done = self.failed = self.tokens = 0
        self.cost = 0.0
        self._own: Progress | None = None
        self._fn: Callable[..., None] | None = None
        self._fn_detail = False
        self._rich: Progress | None = None
        if progress is None:
            console = Console(stderr=True, highlight=False)
            self._own = self._rich = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not sys.stderr.isatty(),
            )
            self._own.start()
        elif isinstance(progress, Progress):
            self._rich = progress
        elif callable(progress):
            self._fn = progress
            self._fn_detail = _takes_detail(progress)
        if self._rich is not None:
            self._task = self._rich.add_task(label, total=total, stats=_stats_text(0, 0, 0.0))
        self.update(0, 0, 0, 0.0)

    def render(self) -> str:
        return render(self.label, self.done, self.total, self.failed, self.tokens, self.cost)

    def update(self, done: int, failed: int, tokens: int, cost: float) -> None:
        self.done, self.failed, self.tokens, self.cost = done, failed, tokens, cost
        stats = _stats_text(failed, tokens, cost)
        if self._rich is not None:
            self._rich.update(self._task, completed=done, stats=stats)
        elif self._fn is not None:
            # a fixed task name: one bar, not one per update; the numbers travel as its detail text
            if self._fn_detail:
                self._fn(self.label, done, self.total, detail=stats)
            else:
                self._fn(self.label, done, self.total)

    def close(self) -> None:
        if self._own is not None:
            self._own.stop()
