"""Trainer callbacks: the per-step loss log (for the convergence plot) and progress reporting."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

from gsnr_bench.core.fileio import append_jsonl, read_jsonl, write_jsonl


class LossLog(TrainerCallback):
    """Appends {step, epoch, loss, lr} to train_log.jsonl at every logging step (main process only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        append_jsonl(
            self.path,
            [
                {
                    "step": state.global_step,
                    "epoch": round(float(state.epoch or 0), 6),
                    "loss": float(logs["loss"]),
                    "lr": float(logs.get("learning_rate", 0.0)),
                }
            ],
        )


def trim_log(path: Path, upto_step: int) -> None:
    """On resume, drop rows logged after the checkpoint we restart from (they are logged again)."""
    if not path.exists():
        return
    rows = read_jsonl(path, tolerant=True)
    keep = [r for r in rows if r.get("step", 0) <= upto_step]
    if len(keep) != len(rows) or path.read_bytes()[-1:] != b"\n":
        write_jsonl(path, keep)


class Progress(TrainerCallback):
    """Forwards steps to a `progress(task, done, total)` callable (the CLI's rich bar)."""

    def __init__(self, progress: Callable[[str, int, int], None] | None) -> None:
        self.progress = progress

    def _tell(self, state: Any) -> None:
        if self.progress and state.is_world_process_zero:
            self.progress("train", int(state.global_step), int(state.max_steps or 0))

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._tell(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._tell(state)
