"""What every stage function is given: the config, the run's store, the stage runner, the resolved inputs and
the command's judging tally."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..store import RunStore
from .inputs import Sources
from .outcome import JudgeTally
from .runner import StageRunner


@dataclass
class StageDeps:
    cfg: Config
    store: RunStore
    runner: StageRunner
    sources: Sources
    tally: JudgeTally

    @property
    def quiet(self) -> bool:
        return self.runner.quiet

    def rel(self, path: Path) -> str:
        """A path as the run's records write it: relative to the run directory."""
        return Path(path).resolve().relative_to(self.store.root.resolve()).as_posix()
