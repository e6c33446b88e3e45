"""`Pipeline`: the stages of a sweep of selectors x budgets, put in order. `plan()` says where every stage lives
without running any; `run()` runs them up to a stage and returns a `SweepOutcome`; `validate()` checks everything
first (validate.py). The stages themselves are in stages/, the inputs in inputs.py."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from gsnr_bench.core.config import Config
from gsnr_bench.domain.records import Example, Question
from gsnr_bench.pipeline.cell import Cell
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.inputs import Inputs, Sources
from gsnr_bench.pipeline.layout import PlannedCell, SweepLayout
from gsnr_bench.pipeline.names import BASELINE, system_name
from gsnr_bench.pipeline.outcome import JudgeTally, SweepOutcome
from gsnr_bench.pipeline.runner import StageRunner
from gsnr_bench.pipeline.stages import finetune, generate, heldout, judge, score, subsets
from gsnr_bench.run.store import RunStore, StageDir


class Pipeline:
    def __init__(self, cfg: Config, store: RunStore, *, quiet: bool = False) -> None:
        self.cfg = cfg
        self.store = store
        self.quiet = quiet
        self.runner = StageRunner(quiet=quiet)
        self.sources = Sources(cfg, store, self.runner)
        self.deps = StageDeps(cfg, store, self.runner, self.sources, JudgeTally())

    @contextlib.contextmanager
    def peeking(self) -> Iterator[Pipeline]:
        """Within this block stage methods only resolve their directories: nothing runs (judge --dry-run)."""
        with self.runner.peeking():
            yield self

    @property
    def inputs(self) -> Inputs:
        return self.sources.inputs

    @property
    def testsets(self) -> dict[str, list[Question]]:
        return self.sources.testsets

    def judged_testsets(self) -> dict[str, list[Question]]:
        return self.sources.judged_testsets()

    # ------------------------------------------------------------------ one stage each (stages/)
    def scores(self, selector: str) -> StageDir:
        return score.scores(self.deps, selector)

    def subset(self, selector: str, ratio: Any) -> StageDir:
        return subsets.subset(self.deps, self.scores(selector), ratio)

    def subset_examples(self, sd: StageDir) -> list[Example]:
        return subsets.subset_examples(self.inputs.pool, sd)

    def model(self, name: str, examples: list[Example]) -> StageDir:
        return finetune.model(self.deps, name, examples)

    def answers(self, model_sd: StageDir, name: str) -> StageDir:
        return generate.answers(self.deps, model_sd, name)

    def heldout(
        self,
        model_sd: StageDir,
        name: str,
        baseline: StageDir | None = None,
        cell: tuple[str, Any] | None = None,
        baseline_model: StageDir | None = None,
    ) -> StageDir:
        return heldout.heldout(self.deps, model_sd, name, baseline, cell, baseline_model)

    def judgments(self, judge_name: str, cell: Cell, sys_sd: StageDir, base_sd: StageDir) -> StageDir:
        return judge.judgments(self.deps, judge_name, cell, sys_sd, base_sd)

    # ------------------------------------------------------------------ the whole sweep
    def validate(
        self, selectors: list[str], upto: str, *, check_endpoints: bool = True, pool_size: int | None = None
    ) -> None:
        """Everything a command needs, before any stage runs (validate.py)."""
        from gsnr_bench.pipeline.validate import Checks

        Checks(self.deps, self._all_judged, pool_size).all(selectors, upto, check_endpoints=check_endpoints)

    def _all_judged(self, selectors: list[str], judge_name: str, stage_name: str) -> bool:
        """Every cell's judging stage for `judge_name` is done (a finished run), read without running anything."""
        if not (self.store.root / "judgments" / stage_name).is_dir():
            return False  # a new run, or one never judged by it: the plan would build the world to find out
        try:
            cells = self.plan(selectors).cells
        except Exception:  # anything not there yet: not finished
            return False
        done = [c.judgments.get(judge_name) for c in cells.values()]
        return all(j is not None and j.done for j in done) and bool(cells)

    def cells(self, selectors: list[str]) -> list[tuple[str, Any]]:
        """selector x budget: the ratios, then the absolute sizes (--n; domain/budgets.py)."""
        from gsnr_bench.domain.budgets import budget_list

        return [(s, b) for s in selectors for b in budget_list(self.cfg.selection)]

    def plan(self, selectors: list[str]) -> SweepLayout:
        """Where every stage of the sweep lives, without running any (judge --dry-run, scripts/cell-paths.py).
        Subsets not scored yet have no model/answers directories (None): their key depends on the scores."""
        with self.peeking():
            base_model = self.model(BASELINE, self.inputs.pool)
            base_answers = self.answers(base_model, BASELINE)
            cells = {system_name(s, r): self._planned(s, r, base_model, base_answers) for s, r in self.cells(selectors)}
        return SweepLayout(base_model, base_answers, cells)

    def _planned(self, s: str, r: Any, base_model: StageDir, base_answers: StageDir) -> PlannedCell:
        name, sub = system_name(s, r), self.subset(s, r)
        model = self.model(name, self.subset_examples(sub)) if sub.done else None
        answers = self.answers(model, name) if model is not None else None
        judgments = {}
        if answers is not None:
            for j in self.cfg.judging.judges:
                cell = Cell(s, r, name, self.scores(s), sub, model, base_model)
                judgments[j] = self.judgments(j, cell, answers, base_answers)
        return PlannedCell(s, r, sub, model, answers, judgments)

    def outcome(self, **stages: Any) -> SweepOutcome:
        """What this command has done so far (the stages it ran or reused, its judging)."""
        r, t = self.runner, self.deps.tally
        tally = JudgeTally(t.spent, t.failed_comparisons, t.budget_stop, t.left_unjudged, dict(t.summaries))
        return SweepOutcome(list(r.events), list(r.incomplete), tally, **stages)

    def run(
        self, selectors: list[str], *, upto: str = "judge", on_scored: Callable[[], None] | None = None
    ) -> SweepOutcome:
        """Every stage up to `upto` for selectors x budgets. Judging stages that end with failed comparisons
        (or stop at --max-cost) are left incomplete and counted in the outcome; the caller reports and sets the
        exit code. The report is the command layer's (reporting/); `on_scored` is called once every selector's
        scores exist (judge-free results come first)."""
        done: dict[str, Any] = {"scores": {s: self.scores(s) for s in selectors}}
        if on_scored is not None:
            on_scored()
        if upto == "score":
            return self.outcome(**done)
        cells = {(s, r): self.subset(s, r) for s, r in self.cells(selectors)}
        done["subsets"] = cells
        if upto == "select":
            return self.outcome(**done)
        base_model = self.model(BASELINE, self.inputs.pool)
        done["models"] = models = self._train(cells)
        if self.cfg.heldout.data:  # judge-free: seen before any answer is generated or judged
            done["heldout"] = self._heldout(cells, models, base_model)
        if upto == "finetune":
            return self.outcome(**done)
        base_answers, done["answers"] = self._generate(base_model, models)
        if upto == "generate":
            return self.outcome(**done)
        done["judgments"] = self._judge(cells, models, base_model, done["answers"], base_answers)
        return self.outcome(**done)

    def _train(self, cells: dict[tuple[str, Any], StageDir]) -> dict[str, StageDir]:
        names = {cell: system_name(*cell) for cell in cells}
        return {names[cell]: self.model(names[cell], self.subset_examples(sd)) for cell, sd in cells.items()}

    def _heldout(self, cells: dict, models: dict[str, StageDir], base_model: StageDir) -> dict[str, StageDir]:
        base_ho = self.heldout(base_model, BASELINE)
        return {
            system_name(s, r): self.heldout(models[system_name(s, r)], system_name(s, r), base_ho, (s, r), base_model)
            for s, r in cells
        }

    def _generate(self, base_model: StageDir, models: dict[str, StageDir]) -> tuple[StageDir, dict[str, StageDir]]:
        from gsnr_bench.generation.stage import release_engines

        try:  # adapters of one base share one vLLM engine across these stages
            base_answers = self.answers(base_model, BASELINE)
            return base_answers, {name: self.answers(msd, name) for name, msd in models.items()}
        finally:  # and it is shut down before judging (or whatever comes next), error or not
            release_engines()

    def _judge(
        self, cells: dict, models: dict[str, StageDir], base_model: StageDir, answers: dict, base_answers: StageDir
    ) -> dict[tuple[str, str], StageDir]:
        out = {}
        for j in self.cfg.judging.judges:
            for (s, r), sub in cells.items():
                name = system_name(s, r)
                cell = Cell(s, r, name, self.scores(s), sub, models[name], base_model)
                out[(j, name)] = self.judgments(j, cell, answers[name], base_answers)
        return out
