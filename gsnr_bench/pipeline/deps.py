"""What every stage function is given: the config, the run's store, the stage runner, the resolved inputs and
the command's judging tally."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gsnr_bench.core.config import Config
from gsnr_bench.pipeline.inputs import Sources
from gsnr_bench.pipeline.outcome import JudgeTally
from gsnr_bench.pipeline.runner import StageRunner
from gsnr_bench.run.store import RunStore


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
