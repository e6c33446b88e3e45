"""Chains the stages for a sweep of selectors x ratios. Every stage is addressed by a hash of its
inputs; a finished stage is read back, never recomputed."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .config import Config
from .data.pool import load_pool, pool_fingerprint
from .data.testsets import load_testset
from .errors import BudgetExceeded, DataError
from .fileio import read_jsonl, write_jsonl
from .progress import console, progress_bar
from .records import Example, Question
from .store import RunStore, StageDir, Timer, content_hash

BASELINE = "full"


@dataclass
class StageEvent:
    stage: str
    label: str
    seconds: float
    cached: bool


@dataclass
class Inputs:
    pool: list[Example]
    pool_name: str
    pool_key: str
    proxy: str
    proxy_key: str
    target: str
    target_key: str
    truth: Path | None = None


def system_name(selector: str, ratio: float) -> str:
    return f"{selector}@{ratio:g}"


class Pipeline:
    def __init__(self, cfg: Config, store: RunStore, *, quiet: bool = False) -> None:
        self.cfg = cfg
        self.store = store
        self.quiet = quiet
        self.events: list[StageEvent] = []
        self.spent = 0.0  # USD sent to judges by this process (cache hits are free); --max-cost bounds it
        self._peek = False

    @contextlib.contextmanager
    def peeking(self):
        """Within this block stage methods only resolve their directories: nothing runs (judge --dry-run)."""
        self._peek = True
        try:
            yield self
        finally:
            self._peek = False

    # ------------------------------------------------------------------ plumbing
    def _cached(self, sd: StageDir) -> StageDir:
        if not self._peek and not any((e.stage, e.label) == (sd.stage, sd.label) for e in self.events):  # list each stage once
            self.events.append(StageEvent(sd.stage, sd.label, 0.0, True))
        return sd

    def _run_stage(self, sd: StageDir, work: Callable[[], dict[str, Any]]) -> StageDir:
        if sd.done:
            return self._cached(sd)
        if self._peek:
            return sd
        rank, world = _dist()
        if world > 1 and rank != 0:
            # under accelerate launch / torchrun: rank 0 runs and records every stage; the other ranks join
            # only the fine-tuning (a collective), without the stage lock, and wait for rank 0's DONE
            if sd.stage == "models":
                work()
            _wait_done(sd)
            return self._cached(sd)
        with sd.lock():
            if sd.done:  # another process finished it while we waited
                return self._cached(sd)
            timer = Timer()
            if not self.quiet:
                console.print(f"[bold cyan]{sd.stage}[/] {sd.label}")
            meta = work() or {}
            sd.mark_done(timer.seconds, **meta)
            self.events.append(StageEvent(sd.stage, sd.label, timer.seconds, False))
        return sd

    def _progress(self, what: str):
        return progress_bar(what, quiet=self.quiet)

    # ------------------------------------------------------------------ inputs
    def _needs_world(self) -> bool:
        c = self.cfg
        return "demo" in (c.data.train, c.proxy.model, c.finetune.model) or any(
            t.startswith("demo-") for t in c.data.testsets)

    @functools.cached_property
    def world(self) -> Any:
        from .data.demo import build_world

        sd = self.store.stage("world", "demo", self.cfg.demo.model_dump(mode="json"))

        def work() -> dict[str, Any]:
            with self._progress("demo world") as prog:
                build_world(self.cfg.demo, sd.path / "world", progress=prog)
            return {}

        self._run_stage(sd, work)
        return build_world(self.cfg.demo, sd.path / "world")  # idempotent: only reads back

    @functools.cached_property
    def _world_key(self) -> str:
        return self.store.stage("world", "demo", self.cfg.demo.model_dump(mode="json")).key

    @functools.cached_property
    def inputs(self) -> Inputs:
        """Pool and models; test sets load lazily (selection needs none)."""
        c = self.cfg
        world = self.world if self._needs_world() else None
        if c.data.train == "demo":
            pool, pool_name = load_pool(world.pool, max_examples=c.data.max_examples), "demo"
        else:
            pool, pool_name = load_pool(c.data.train, max_examples=c.data.max_examples), Path(c.data.train).stem

        def model(spec: str, which: str) -> tuple[str, str]:
            if spec == "demo":
                return str(getattr(world, which)), f"demo-{which}-{self._world_key}"
            return spec, spec

        proxy, proxy_key = model(c.proxy.model, "proxy")
        target, target_key = model(c.finetune.model, "target")
        return Inputs(pool, pool_name, pool_fingerprint(pool)[:16], proxy, proxy_key, target, target_key,
                      truth=Path(world.truth) if c.data.train == "demo" else None)

    @functools.cached_property
    def testsets(self) -> dict[str, list[Question]]:
        c = self.cfg
        testsets: dict[str, list[Question]] = {}
        for spec in c.data.testsets:
            if spec.startswith("demo-"):
                world = self.world
                if spec not in world.testsets:
                    raise DataError(f"unknown demo test set {spec!r} (have: {', '.join(world.testsets)})")
                qs = load_testset(f"{spec}={world.testsets[spec]}", max_questions=c.data.max_questions)
            else:
                qs = load_testset(spec, max_questions=c.data.max_questions)
            name = qs[0].testset
            if name in testsets:
                raise DataError(f"two test sets are both named {name!r}; name them with NAME=PATH")
            testsets[name] = qs
        return testsets

    @property
    def references(self) -> dict[str, str]:
        return {q.text: q.reference for qs in self.testsets.values() for q in qs if q.reference}

    # ------------------------------------------------------------------ select
    def scores(self, selector: str) -> StageDir:
        from . import registry
        from .selection.base import SelectionContext
        from .selection.ranking import rank_order, score_rows, validate_result

        reg = registry.selectors()
        spec = reg.get(selector)
        overrides = self.cfg.selection.params.get(selector, {})
        inp = self.inputs
        key = {"selector": spec.name, "target": spec.target, "params": {**spec.params, **overrides},
               "pool": inp.pool_key, "proxy": inp.proxy_key, "proxy_cfg": self.cfg.proxy.model_dump(mode="json"),
               "seed": self.cfg.seed}
        sd = self.store.stage("scores", spec.name, key)

        def work() -> dict[str, Any]:
            sel = reg.build(selector, overrides)
            with self._progress(f"score {spec.name}") as prog:
                ctx = SelectionContext(
                    pool=inp.pool, params={**spec.params, **overrides}, seed=self.cfg.seed,
                    workdir=sd.path / "work", proxy=inp.proxy, device=self.cfg.proxy.device,
                    max_length=self.cfg.proxy.max_length, progress=prog,
                    shared_cache=self.store.root / "cache" / "selection",
                )
                ctx.workdir.mkdir(parents=True, exist_ok=True)
                result = sel.score(ctx)
            validate_result(result, [e.id for e in inp.pool], spec.name)
            order = rank_order(result, self.cfg.seed)
            write_jsonl(sd.path / "scores.jsonl", score_rows(result, order))
            return {"selector": spec.name, "n": len(order), "notes": result.notes}

        return self._run_stage(sd, work)

    def subset(self, selector: str, ratio: float) -> StageDir:
        from .selection.ranking import budget

        scores_sd = self.scores(selector)
        n_pool = len(self.inputs.pool)
        n = budget(ratio, n_pool, self.cfg.selection.budget_base)
        sd = self.store.stage("subsets", system_name(scores_sd.label, ratio),
                              {"scores": scores_sd.key, "ratio": ratio, "n": n})

        def work() -> dict[str, Any]:
            rows = read_jsonl(scores_sd.path / "scores.jsonl")
            chosen = [{"id": r["id"], "rank": r["rank"], "score": r["score"]} for r in rows[:n]]
            short = sum(1 for r in rows[:n] if not r["eligible"])
            write_jsonl(sd.path / "selection.jsonl", chosen)
            return {"selector": scores_sd.label, "ratio": ratio, "n": n, "ineligible_filled": short}

        return self._run_stage(sd, work)

    def subset_examples(self, sd: StageDir) -> list[Example]:
        by_id = {e.id: e for e in self.inputs.pool}
        ids = [r["id"] for r in read_jsonl(sd.path / "selection.jsonl")]
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise DataError(f"subset {sd.path} names {len(unknown)} ids not in the pool (first: {unknown[0]!r})")
        return [by_id[i] for i in ids]

    # ------------------------------------------------------------------ fine-tune, generate
    def model(self, name: str, examples: list[Example]) -> StageDir:
        from .training.finetune import finetune

        data_key = content_hash([e.id for e in examples]) + "-" + self.inputs.pool_key
        sd = self.store.stage("models", name, {"data": data_key, "target": self.inputs.target_key,
                                               "finetune": self.cfg.finetune.model_dump(mode="json")})

        def work() -> dict[str, Any]:
            with self._progress(f"finetune {name}") as prog:
                finetune(examples, self.cfg.finetune, self.inputs.target, sd.path, progress=prog)
            return {"system": name, "examples": len(examples)}

        return self._run_stage(sd, work)

    def answers(self, model_sd: StageDir, name: str) -> StageDir:
        from .generation.stage import generate

        qkey = {t: content_hash([q.to_dict() for q in qs]) for t, qs in self.testsets.items()}
        sd = self.store.stage("answers", name, {"model": model_sd.key, "questions": qkey,
                                                "generation": self.cfg.generation.stage_key()})

        def work() -> dict[str, Any]:
            questions = [q for qs in self.testsets.values() for q in qs]
            with self._progress(f"generate {name}") as prog:
                generate(model_dir(model_sd), questions, self.cfg.generation, sd.path, progress=prog)
            return {"system": name}

        return self._run_stage(sd, work)

    # ------------------------------------------------------------------ judge
    def judgments(self, judge: str, system: str, sys_sd: StageDir, base_sd: StageDir) -> StageDir:
        from .judging.spec import load_judge
        from .judging.stage import judge as run_judge

        spec = load_judge(judge)
        jcfg = self.cfg.judging
        key = {"judge": spec.model_dump(mode="json"), "system": sys_sd.key, "baseline": base_sd.key,
               "judging": jcfg.model_dump(mode="json", exclude={"judges", "concurrency", "max_cost"})}
        sd = self.store.stage(f"judgments/{spec.name}", f"{system}-vs-{BASELINE}", key)

        def work() -> dict[str, Any]:
            items = self._comparisons(system, sys_sd, base_sd)
            # --max-cost bounds what this command spends over all its judging stages, not each stage
            left = None if jcfg.max_cost is None else max(0.0, jcfg.max_cost - self.spent)
            with self._judge_endpoint(spec) as live_spec, self._progress(f"judge {system} ({spec.name})") as prog:
                try:
                    summary = run_judge(items, live_spec, jcfg.model_copy(update={"max_cost": left}),
                                        sd.path / "judgments.jsonl", self.store.root / "cache" / "judge.sqlite",
                                        progress=prog)
                except BudgetExceeded:
                    self.spent = jcfg.max_cost or 0.0
                    raise
            self.spent += summary.cost_spent
            return {"system": system, "baseline": BASELINE, "judge": spec.name, "summary": _as_dict(summary)}

        return self._run_stage(sd, work)

    def _judge_endpoint(self, spec: Any):
        """The demo's reference judge is a local server this run starts and stops."""
        from .judging.reference_server import serve_reference_for

        return serve_reference_for(spec, self.references)

    def _comparisons(self, system: str, sys_sd: StageDir, base_sd: StageDir) -> list[Any]:
        from .judging.stage import Comparison

        items = []
        for testset, qs in self.testsets.items():
            a = {r["question_id"]: r for r in read_jsonl(sys_sd.path / f"{testset}.jsonl")}
            b = {r["question_id"]: r for r in read_jsonl(base_sd.path / f"{testset}.jsonl")}
            for q in qs:
                if q.question_id not in a or q.question_id not in b:
                    raise DataError(f"answers for {testset} question {q.question_id} are missing")
                items.append(Comparison(testset=testset, question_id=q.question_id, question=q.text,
                                        system=system, system_answer=a[q.question_id]["answer"],
                                        baseline=BASELINE, baseline_answer=b[q.question_id]["answer"]))
        return items

    # ------------------------------------------------------------------ the whole sweep
    def preflight(self, selectors: list[str], upto: str) -> None:
        """Fail on names and budgets before any expensive stage starts."""
        from . import registry
        from .selection.ranking import budget

        reg = registry.selectors()
        for s in selectors:
            reg.get(s)
        if upto in ("judge", "report"):  # judges first: cheap, and a bad one should not wait for the world
            from .judging.spec import load_judge
            from .judging.stage import check_endpoint

            for j in self.cfg.judging.judges:
                spec = load_judge(j)
                if spec.provider != "reference":  # the reference judge is started by the run itself
                    check_endpoint(spec, self.cfg.judging)
        if upto != "score":
            for r in self.cfg.selection.ratios:
                budget(r, len(self.inputs.pool), self.cfg.selection.budget_base)
        if upto in ("generate", "judge", "report"):
            _ = self.testsets
        if upto in ("judge", "report"):
            self._check_reference_judge()

    def _check_reference_judge(self) -> None:
        """The reference judge scores answers against reference answers: without them it can only tie."""
        from .errors import ConfigError
        from .judging.spec import load_judge

        if not any(load_judge(j).provider == "reference" for j in self.cfg.judging.judges):
            return
        bare = [t for t, qs in self.testsets.items() if not all(q.reference for q in qs)]
        if bare:
            raise ConfigError(f"the reference judge needs reference answers, which test set(s) {', '.join(bare)} "
                              "lack; judge them with a model judge (--judge gpt / qwen)")

    def run(self, selectors: list[str], *, upto: str = "report") -> dict[str, Any]:
        self.preflight(selectors, upto)
        ratios = self.cfg.selection.ratios
        cells = {(s, r): self.subset(s, r) for s in selectors for r in ratios}
        out: dict[str, Any] = {"cells": cells}
        if upto == "select":
            return out
        base_model = self.model(BASELINE, self.inputs.pool)
        models = {system_name(s, r): self.model(system_name(s, r), self.subset_examples(sd))
                  for (s, r), sd in cells.items()}
        out["models"] = models
        if upto == "finetune":
            return out
        base_ans = self.answers(base_model, BASELINE)
        answers = {name: self.answers(msd, name) for name, msd in models.items()}
        out["answers"] = answers
        if upto == "generate":
            return out
        judgments = {(j, name): self.judgments(j, name, sd, base_ans)
                     for j in self.cfg.judging.judges for name, sd in answers.items()}
        out["judgments"] = judgments
        if upto == "judge":
            return out
        from .report_stage import build_report

        out["report"] = build_report(self, selectors, cells, {BASELINE: base_model, **models}, judgments)
        return out


def _dist() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (accelerate launch, torchrun, Slurm via either)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _wait_done(sd: StageDir, poll: float = 0.5) -> None:
    while not sd.done:
        time.sleep(poll)


def model_dir(model_sd: StageDir) -> Path:
    return model_sd.path


def _as_dict(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return obj
