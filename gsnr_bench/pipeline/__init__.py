"""The sweep pipeline: selectors x budgets -> scores -> subsets -> fine-tunes (+ held-out scores) -> answers ->
judgments. Every stage is addressed by a hash of its inputs; a finished stage is read back, never recomputed.

    sweep.py     Pipeline: plan() -> SweepLayout, run() -> SweepOutcome, validate()
    inputs.py    the pool, models, test sets, truth; the only place that decides what comes from the demo world
    validate.py  the up-front checks, one method each
    runner.py    runs one stage (lock, work, DONE; ranks of a distributed launch)
    stages/      one module per stage: score, subsets, finetune, heldout, generate, judge
    cell.py      a judged cell and its typed record (cell.json)
    outcome.py   SweepOutcome: what a command did, spent and left
    layout.py    SweepLayout: where every stage of the sweep lives (plan())
    names.py     BASELINE, system_name, the config keys left out of stage keys"""

from gsnr_bench.domain.cell import CellRecord
from gsnr_bench.pipeline.cell import Cell
from gsnr_bench.pipeline.inputs import Inputs
from gsnr_bench.pipeline.layout import PlannedCell, SweepLayout
from gsnr_bench.pipeline.names import BASELINE, system_name
from gsnr_bench.pipeline.outcome import SweepOutcome
from gsnr_bench.pipeline.runner import StageEvent, StageIncomplete
from gsnr_bench.pipeline.stages.judge import transport_line
from gsnr_bench.pipeline.sweep import Pipeline
from gsnr_bench.pipeline.validate import check_model_source

__all__ = [
    "BASELINE",
    "Cell",
    "CellRecord",
    "Inputs",
    "Pipeline",
    "PlannedCell",
    "StageEvent",
    "StageIncomplete",
    "SweepLayout",
    "SweepOutcome",
    "check_model_source",
    "system_name",
    "transport_line",
]
