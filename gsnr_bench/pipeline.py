"""Chains the stages for a sweep of selectors x ratios. Every stage is addressed by a hash of its
inputs; a finished stage is read back, never recomputed."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .budgets import budget_label, budget_ratio
from .config import Config
from .data.pool import load_pool, pool_fingerprint
from .data.testsets import load_testset
from .errors import BudgetExceeded, ConfigError, DataError, GsnrError
from .fileio import read_json, read_jsonl, write_json, write_jsonl
from .judging.cache import judge_cache_path, judge_run_id
from .modeling.catalog import resolve_model
from .progress import console, progress_bar
from .records import Example, Question
from .store import CELL, CELL_VERSION, RunStore, StageDir, Timer, content_hash

BASELINE = "full"
# the target is keyed by its content (Inputs.target_key); report_to only logs the training elsewhere
FINETUNE_LOGGING = {"model", "report_to"}
# judging settings that change how calls are sent, not what a verdict means: not part of a stage's key
JUDGING_TRANSPORT = {
    "judges",
    "concurrency",
    "max_cost",
    "timeout",
    "max_retries",
    "backoff_base",
    "backoff_max",
    "cache",
}
DEMO_TESTSETS = ("demo-wizardlm", "demo-vicuna")


@dataclass
class StageEvent:
    stage: str
    label: str
    seconds: float
    cached: bool
    status: str = ""  # "" = done (or cached); "incomplete: why" for a stage left to finish later


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


def system_name(selector: str, ratio: Any) -> str:
    """`gsnr@0.1` for a ratio budget, `longest@n1000` for an absolute one (selection/budgets.py)."""
    return f"{selector}@{budget_label(ratio)}"


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else float("nan")


class Pipeline:
    def __init__(self, cfg: Config, store: RunStore, *, quiet: bool = False) -> None:
        self.cfg = cfg
        self.store = store
        self.quiet = quiet
        self.events: list[StageEvent] = []
        self.spent = 0.0  # USD this command sent to judges (cache hits are free)
        self.failed_comparisons = 0  # failed comparisons left in the judging stages this command ran
        self.budget_stop: BudgetExceeded | None = None  # set when --max-cost stopped a judging stage
        self.left_unjudged = 0  # comparisons left without a verdict after a budget stop (whole command)
        self.judge_summaries: dict[tuple[str, str], Any] = {}
        self.incomplete: list[StageDir] = []
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
        if not self._peek and not any(
            (e.stage, e.label) == (sd.stage, sd.label) for e in self.events
        ):  # list each stage once
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
            try:
                meta = work() or {}
            except StageIncomplete as exc:
                self.incomplete.append(sd)
                self.events.append(StageEvent(sd.stage, sd.label, timer.seconds, False, status=f"incomplete: {exc}"))
                return sd
            sd.mark_done(timer.seconds, **meta)
            self.events.append(StageEvent(sd.stage, sd.label, timer.seconds, False))
        return sd

    def _progress(self, what: str):
        return progress_bar(what, quiet=self.quiet)

    # ------------------------------------------------------------------ inputs
    def _needs_world(self) -> bool:
        c = self.cfg
        return "demo" in (c.data.train, c.proxy.model, c.finetune.model) or any(
            t.startswith("demo-") for t in c.data.testsets
        )

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
        if not c.data.train:
            raise ConfigError("no training pool: pass --train-data FILE_OR_DATASET (data.train)")
        if c.data.train == "demo":
            pool, pool_name = load_pool(world.pool, max_examples=c.data.max_examples), "demo"
        else:
            pool, pool_name = self.real_pool, Path(c.data.train).stem

        def model(spec: str | None, which: str) -> tuple[str, str]:
            if spec == "demo":
                return str(getattr(world, which)), f"demo-{which}-{self._world_key}"
            if not spec:  # validate() names what is missing before any stage; this is a backstop
                raise ConfigError(f"no {which} model: pass --{which} DIR_OR_HUB_NAME")
            path = resolve_model(spec, which)  # a catalogue name -> its fetched directory (modeling/catalog.py)
            return path, self.fingerprint(path)

        proxy, proxy_key = model(c.proxy.model, "proxy")
        target, target_key = model(c.finetune.model, "target") if c.finetune.model else ("", "")
        return Inputs(
            pool,
            pool_name,
            pool_fingerprint(pool)[:16],
            proxy,
            proxy_key,
            target,
            target_key,
            truth=Path(world.truth) if c.data.train == "demo" and not c.data.truth else None,
        )

    # ------------------------------------------------------------------ ground truth
    @property
    def has_truth(self) -> bool:
        """Known before any stage: a --truth file, or the demo world's own truth."""
        return bool(self.cfg.data.truth) or self.cfg.data.train == "demo"

    @functools.cached_property
    def truth_labels(self) -> dict[str, str] | None:
        """id -> "clean" | defect label (truth.py), or None for a run without ground truth."""
        from .truth import labels_of, parse_truth

        c = self.cfg
        if c.data.truth:
            return parse_truth(c.data.truth)
        if c.data.train == "demo":
            return labels_of(read_json(self.world.truth))
        return None

    @functools.cached_property
    def truth_key(self) -> str | None:
        return content_hash(self.truth_labels, 16) if self.truth_labels is not None else None

    def truth_file(self) -> Path | None:
        """The truth the report reads: the demo world's truth.json, or the run's own copy of --truth (keyed by
        content, so an edited truth file is a new copy and new control stages)."""
        from .truth import check_against_pool, truth_record

        labels = self.truth_labels
        if labels is None:
            return None
        if self.inputs.truth is not None:
            return self.inputs.truth
        check_against_pool(labels, [e.id for e in self.inputs.pool], self.cfg.data.truth)
        path = self.store.root / "truth" / f"truth-{self.truth_key}.json"
        if not path.is_file():
            write_json(path, truth_record(labels))
        return path

    def fingerprint(self, spec: str) -> str:
        """Content key of a model (fingerprint.py); file digests are remembered in RUN/cache/file-hashes.json."""
        from .fingerprint import StatCache, model_fingerprint

        cache = StatCache(self.store.root / "cache" / "file-hashes.json" if self.store.exists else None)
        try:
            return model_fingerprint(spec, cache)
        finally:
            if not self._peek:  # a plan (dry run) reads the remembered digests but writes nothing
                cache.save()

    @functools.cached_property
    def real_pool(self) -> list[Example]:
        """The pool from a file or dataset name (not the demo's): loaded once, by validate() first."""
        return load_pool(self.cfg.data.train, max_examples=self.cfg.data.max_examples)

    def _pool_size(self) -> int:
        c = self.cfg
        if c.data.train == "demo":  # known from the world's config, before the world is built
            return min(c.demo.pool_size, c.data.max_examples or c.demo.pool_size)
        return len(self.real_pool)

    @functools.cached_property
    def _real_testsets(self) -> dict[str, list[Question]]:
        return {
            spec: load_testset(spec, max_questions=self.cfg.data.max_questions)
            for spec in self.cfg.data.testsets
            if not spec.startswith("demo-")
        }

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
                qs = self._real_testsets[spec]
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
        """The scores the subsets are cut from: one scoring, or with selection.seeds = N > 1 one scoring per
        seed (seed, seed+1, ...) and a stage that records their stability and the ranking used (the first
        seed's, or the mean rank with seed_combine: mean_rank)."""
        n = self.cfg.selection.seeds
        if n == 1:
            return self._scores_one(selector, self.cfg.seed)
        runs = [self._scores_one(selector, self.cfg.seed + k) for k in range(n)]
        if self._peek and not all(r.done for r in runs):
            return runs[0]
        combine = self.cfg.selection.seed_combine
        sd = self.store.stage(
            "scores", f"{runs[0].label}-seeds{n}", {"seeds": [r.key for r in runs], "combine": combine}
        )

        def work() -> dict[str, Any]:
            from .health import mean_rank_order, stability

            tables = [read_jsonl(r.path / "scores.jsonl") for r in runs]
            rankings = [[row["id"] for row in t] for t in tables]
            stab = stability(rankings, self.cfg.selection.ratios)
            rows = tables[0]
            if combine == "mean_rank":
                by_id = {row["id"]: row for row in rows}
                pos = [{i: k for k, i in enumerate(r)} for r in rankings]
                rows = [
                    {**by_id[i], "rank": k, "mean_rank": sum(p[i] + 1 for p in pos) / n}
                    for k, i in enumerate(mean_rank_order(rankings), start=1)
                ]
            write_jsonl(sd.path / "scores.jsonl", rows)
            first = runs[0].meta()
            return {
                **{k: first.get(k) for k in ("selector", "n", "notes", "pool", "truth", "health")},
                "stability": stab,
                "combine": combine,
                "seeds": [self.cfg.seed + k for k in range(n)],
                "seed_scores": [self._rel(r.path / "scores.jsonl") for r in runs],
            }

        return self._run_stage(sd, work)

    def _scores_one(self, selector: str, seed: int) -> StageDir:
        from . import registry
        from .selection.base import SelectionContext
        from .selection.ranking import rank_order, score_rows, validate_result

        reg = registry.selectors()
        spec = reg.get(selector)
        overrides = self.cfg.selection.params.get(selector, {})
        inp = self.inputs
        sel = reg.build(selector, overrides)
        needs_truth = bool(getattr(sel, "needs_truth", False))
        # keyed by content: the pool's records and the proxy's files, never their paths
        key = {
            "selector": spec.name,
            "target": spec.target,
            "params": {**spec.params, **overrides},
            "pool": inp.pool_key,
            "proxy": inp.proxy_key,
            "proxy_cfg": self.cfg.proxy.model_dump(mode="json", exclude={"model"}),
            "seed": seed,
        }
        if needs_truth:  # the controls read the truth: it is one of their inputs (by content)
            key["truth"] = self.truth_key
        sd = self.store.stage("scores", spec.name if seed == self.cfg.seed else f"{spec.name}-seed{seed}", key)

        def work() -> dict[str, Any]:
            from .health import health_of, warning_lines

            with self._progress(f"score {spec.name}") as prog:
                ctx = SelectionContext(
                    pool=inp.pool,
                    params={**spec.params, **overrides},
                    seed=seed,
                    workdir=sd.path / "work",
                    proxy=inp.proxy,
                    device=self.cfg.proxy.device,
                    max_length=self.cfg.proxy.max_length,
                    progress=prog,
                    shared_cache=self.store.root / "cache" / "selection",
                    proxy_key=inp.proxy_key,
                    truth=self.truth_labels if needs_truth else None,
                )
                ctx.workdir.mkdir(parents=True, exist_ok=True)
                result = sel.score(ctx)
            validate_result(result, [e.id for e in inp.pool], spec.name)
            order = rank_order(result, seed)
            rows = score_rows(result, order)
            write_jsonl(sd.path / "scores.jsonl", rows)
            health = health_of(spec.name, rows, result.notes)
            for line in warning_lines(health):  # one line each, also in the report (selector health)
                print(f"gsnr-bench: warning: {line}", file=sys.stderr)
            truth = self.truth_file()
            return {
                "selector": spec.name,
                "n": len(order),
                "notes": result.notes,
                "pool": inp.pool_key,
                "truth": self._rel(truth) if truth else None,
                "health": health,
            }

        return self._run_stage(sd, work)

    def subset(self, selector: str, ratio: Any) -> StageDir:
        from .budgets import Size, budget, budget_n

        scores_sd = self.scores(selector)
        n_pool = len(self.inputs.pool)
        if isinstance(ratio, Size):  # an absolute budget (--n): exactly n examples
            n = budget_n(ratio.n, n_pool)
            key: dict[str, Any] = {"scores": scores_sd.key, "size": n, "n": n}
        else:
            n = budget(ratio, n_pool, self.cfg.selection.budget_base)
            key = {"scores": scores_sd.key, "ratio": ratio, "n": n}
        sd = self.store.stage("subsets", system_name(scores_sd.label, ratio), key)

        def work() -> dict[str, Any]:
            rows = read_jsonl(scores_sd.path / "scores.jsonl")
            chosen = [{"id": r["id"], "rank": r["rank"], "score": r["score"]} for r in rows[:n]]
            short = sum(1 for r in rows[:n] if not r["eligible"])
            write_jsonl(sd.path / "selection.jsonl", chosen)
            return {
                "selector": scores_sd.label,
                "ratio": None if isinstance(ratio, Size) else ratio,
                "n": n,
                "ineligible_filled": short,
                "pool": self.inputs.pool_key,
            }  # export checks the pool by it

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
        sd = self.store.stage(
            "models",
            name,
            {
                "data": data_key,
                "target": self.inputs.target_key,
                "finetune": self.cfg.finetune.model_dump(mode="json", exclude=FINETUNE_LOGGING),
            },
        )

        def work() -> dict[str, Any]:
            from .artifacts import TRAINED

            with self._progress(f"finetune {name}") as prog:
                finetune(examples, self.cfg.finetune, self.inputs.target, sd.path, progress=prog)
            t = read_json(sd.path / TRAINED) if (sd.path / TRAINED).is_file() else {}
            if t.get("batch_capped") and not self.quiet:
                console.print(
                    f"note: {name}: {t['examples']} examples; effective batch {t['effective_batch_size']} instead of "
                    f"{t['configured_batch_size']} so it gets {t['global_step']} optimizer steps "
                    f"(finetune.min_steps={t['min_steps']}; 0 turns this off)",
                    soft_wrap=True,
                )
            return {"system": name, "examples": len(examples)}

        return self._run_stage(sd, work)

    def answers(self, model_sd: StageDir, name: str) -> StageDir:
        from .generation.stage import generate

        qkey = {t: content_hash([q.to_dict() for q in qs]) for t, qs in self.testsets.items()}
        sd = self.store.stage(
            "answers", name, {"model": model_sd.key, "questions": qkey, "generation": self.cfg.generation.stage_key()}
        )

        def work() -> dict[str, Any]:
            questions = [q for qs in self.testsets.values() for q in qs]
            with self._progress(f"generate {name}") as prog:
                generate(model_dir(model_sd), questions, self.cfg.generation, sd.path, progress=prog)
            return {"system": name}

        return self._run_stage(sd, work)

    # ------------------------------------------------------------------ held-out score (judge-free)
    @functools.cached_property
    def heldout_examples(self) -> list[Example]:
        """The held-out records (heldout.data): a file's records not in the pool, or the demo's test questions
        with their reference answers; a seeded sample of heldout.max_records."""
        from .generation.heldout import heldout_records, records_from_questions

        h = self.cfg.heldout
        if h.data == "demo":
            source = records_from_questions([q for qs in self.testsets.values() for q in qs])
        else:
            source = load_pool(h.data)
        return heldout_records(source, self.inputs.pool, max_records=h.max_records, seed=h.seed)

    def heldout(
        self,
        model_sd: StageDir,
        name: str,
        baseline: StageDir | None = None,
        cell: Any = None,
        baseline_model: StageDir | None = None,
    ) -> StageDir:
        """Score held-out reference answers under one fine-tuned model; heldout.json says which system it is
        and where its 100% model's scores are (reporting/heldout.py pairs them by record)."""
        from .generation.heldout import score_heldout

        h = self.cfg.heldout
        recs = self.heldout_examples
        max_length = h.max_length or self.cfg.finetune.max_length
        key = {
            "model": model_sd.key,
            "records": content_hash([e.to_dict() for e in recs]),
            "max_length": max_length,
            "version": 1,
        }
        sd = self.store.stage("heldout", name, key)

        def work() -> dict[str, Any]:
            with self._progress(f"held-out score {name}") as prog:
                score_heldout(
                    model_dir(model_sd), recs, sd.path, max_length=max_length, batch_size=h.batch_size, progress=prog
                )
            record = {
                "version": 1,
                "system": name,
                "selector": cell[0] if cell else BASELINE,
                "ratio": budget_ratio(cell[1], len(self.inputs.pool)) if cell else 1.0,
                "baseline": BASELINE,
                "baseline_scores": self._rel(baseline.path / "scores.jsonl") if baseline is not None else None,
                "model": self._rel(model_sd.path),
                "baseline_model": self._rel(baseline_model.path) if baseline_model is not None else None,
                "source": "demo" if h.data == "demo" else Path(h.data).name,
                "records": len(recs),
                "max_length": max_length,
            }
            write_json(sd.path / "heldout.json", record)
            return {"system": name}

        return self._run_stage(sd, work)

    # ------------------------------------------------------------------ judge
    def judgments(self, judge: str, cell: "Cell", sys_sd: StageDir, base_sd: StageDir) -> StageDir:
        """Judge one cell against the baseline. The stage is complete (DONE) only when every comparison
        has a verdict: failed comparisons stay in judgments.jsonl, are counted and reported, and the next
        command on this run judges exactly those again (judging/stage.py)."""
        from .judging.spec import load_judge
        from .judging.stage import judge as run_judge

        spec = load_judge(judge)
        jcfg = self.cfg.judging
        key = {
            "judge": spec.model_dump(mode="json"),
            "system": sys_sd.key,
            "baseline": base_sd.key,
            # an unset max_questions stays out of the key, so runs made before the setting existed keep theirs
            "judging": jcfg.model_dump(
                mode="json", exclude=JUDGING_TRANSPORT | ({"max_questions"} if jcfg.max_questions is None else set())
            ),
        }
        sd = self.store.stage(f"judgments/{spec.name}", f"{cell.system}-vs-{BASELINE}", key)
        if self.budget_stop is not None and not sd.done and not self._peek:
            # the run's --max-cost is spent: later cells are left for the next command, and counted
            self.left_unjudged += len(self._comparisons(cell.system, sys_sd, base_sd))
            return sd

        def work() -> dict[str, Any]:
            items = self._comparisons(cell.system, sys_sd, base_sd)
            # written first, so the report finds this cell even while it has failed comparisons
            write_json(sd.path / CELL, self._cell_record(cell, spec, sys_sd, base_sd))
            with self._judge_endpoint(spec) as live_spec, self._progress(f"judge {cell.system} ({spec.name})") as prog:
                try:
                    summary = run_judge(
                        items,
                        live_spec,
                        jcfg,
                        sd.path / "judgments.jsonl",
                        judge_cache_path(self.store.root, jcfg),
                        progress=prog,
                        run_id=judge_run_id(self.store.root, jcfg),
                    )
                except BudgetExceeded as exc:
                    self.budget_stop = exc
                    summary = getattr(exc, "summary", None)
                    if summary is not None:
                        self.spent += summary.cost_spent
                        self.left_unjudged += summary.failed_total + summary.pending
                    raise StageIncomplete("stopped at --max-cost") from None
            self.spent += summary.cost_spent
            self.judge_summaries[(spec.name, cell.system)] = summary
            if summary.retries and not self.quiet:
                console.print(transport_line(spec.name, summary))
            if summary.usage_estimated:  # shown even with --quiet: it is about money
                console.print(
                    f"warning: judge {spec.name!r} sent no valid usage for {summary.usage_estimated} call(s); their "
                    f"tokens were estimated by {summary.usage_rule} and their cost is marked estimated"
                )
            if not summary.complete:
                self.failed_comparisons += summary.failed_total
                raise StageIncomplete(f"{summary.failed_total} failed comparison(s)")
            return {"system": cell.system, "baseline": BASELINE, "judge": spec.name, "summary": summary.to_dict()}

        return self._run_stage(sd, work)

    def _cell_record(self, cell: "Cell", spec: Any, sys_sd: StageDir, base_sd: StageDir) -> dict[str, Any]:
        """What the report needs to know about a judged cell, with run-relative paths (reporting/collect.py)."""
        c = self.cfg
        skipped = self._skipped(sys_sd, base_sd)
        protocol = {
            "baseline_answers": base_sd.key,
            "prompt": c.judging.prompt,
            "order": c.judging.order,
            "combine": c.judging.combine if c.judging.order == "both" else None,
        }
        if c.judging.max_questions:  # a sampled cell is its own protocol (its own row), never mixed with a full one
            protocol["max_questions"] = c.judging.max_questions
        logs = {
            cell.system: cell.model.path / "train_log.jsonl",
            BASELINE: cell.baseline_model.path / "train_log.jsonl",
        }
        return {
            "version": CELL_VERSION,
            "system": cell.system,
            "baseline": BASELINE,
            "judge": spec.name,
            "judge_model": spec.model,
            "selector": cell.selector,
            "ratio": budget_ratio(cell.ratio, len(self.inputs.pool)),
            "budget": budget_label(cell.ratio),
            "dataset": self.inputs.pool_name,
            "target_model": _short_model(c.finetune.model),
            "regime": c.finetune.regime,
            "protocol": "p-" + content_hash(protocol, 8),
            "protocol_detail": {
                **protocol,
                "pool": self.inputs.pool_key,
                "target": self.inputs.target_key,
                "finetune": c.finetune.model_dump(mode="json", exclude=FINETUNE_LOGGING),
                "generation": c.generation.model_dump(mode="json"),
            },
            "scores": self._rel(cell.scores.path / "scores.jsonl"),
            "subset": self._rel(cell.subset.path),
            "train_logs": {k: self._rel(v) for k, v in logs.items()},
            "truth": self._rel(truth) if (truth := self.truth_file()) else None,
            "testsets": {
                t: [q.question_id for q in qs if str(q.question_id) not in skipped[t]]
                for t, qs in self.judged_testsets().items()
            },
            "skipped": {t: sorted(ids) for t, ids in skipped.items() if ids},
            "prompt_version": c.judging.prompt,
            "run_name": c.name,
            "lengths": self._lengths_record(cell, sys_sd, base_sd),
        }

    def _lengths_record(self, cell: "Cell", sys_sd: StageDir, base_sd: StageDir) -> dict[str, Any]:
        """Length where a user decides (reporting/length_stats.py): the answers to join token counts from, the
        training subset's and the pool's mean response length, and where the pool's lengths are kept."""
        lengths, unit, path = self.pool_lengths()
        ids = [r["id"] for r in read_jsonl(cell.subset.path / "selection.jsonl")]
        return {
            "unit": unit,
            "pool_len": round(_mean(list(lengths.values())), 4),
            "train_len": round(_mean([lengths[i] for i in ids if i in lengths]), 4),
            "pool_lengths": self._rel(path),
            "answers": {cell.system: self._rel(sys_sd.path), BASELINE: self._rel(base_sd.path)},
        }

    def pool_lengths(self) -> tuple[dict[str, int], str, Path]:
        """Response length of every pool example in proxy tokens (what `longest` ranks by), or characters when
        the proxy's tokenizer cannot be loaded; cached in RUN/cache/lengths/ by pool and proxy content."""
        from .errors import GsnrError
        from .selection.longest import response_lengths

        inp = self.inputs
        path = self.store.root / "cache" / "lengths" / f"{content_hash([inp.pool_key, inp.proxy_key], 16)}.json"
        if path.is_file():
            data = read_json(path)
            return data["lengths"], data["unit"], path
        try:
            lengths, unit = response_lengths(inp.pool, "tokens", inp.proxy), "tokens"
        except (GsnrError, OSError, ValueError):
            lengths, unit = response_lengths(inp.pool, "chars"), "chars"
        table = {e.id: int(n) for e, n in zip(inp.pool, lengths)}
        write_json(path, {"lengths": table, "unit": unit})
        return table, unit, path

    def _rel(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.store.root.resolve()).as_posix()

    def _judge_endpoint(self, spec: Any):
        """The demo's reference judge is a local server this run starts and stops."""
        from .judging.reference_server import serve_reference_for

        return serve_reference_for(spec, self.references)

    def _comparisons(self, system: str, sys_sd: StageDir, base_sd: StageDir) -> list[Any]:
        from .judging.stage import Comparison

        items = []
        skipped = self._skipped(sys_sd, base_sd)
        for testset, qs in self.judged_testsets().items():
            a = {r["question_id"]: r for r in read_jsonl(sys_sd.path / f"{testset}.jsonl")}
            b = {r["question_id"]: r for r in read_jsonl(base_sd.path / f"{testset}.jsonl")}
            for q in qs:
                if q.question_id in skipped[testset]:
                    continue  # too long for the target (generation.long_prompts=skip): left out of every system alike
                if q.question_id not in a or q.question_id not in b:
                    raise DataError(f"answers for {testset} question {q.question_id} are missing")
                items.append(
                    Comparison(
                        testset=testset,
                        question_id=q.question_id,
                        question=q.text,
                        system=system,
                        system_answer=a[q.question_id]["answer"],
                        baseline=BASELINE,
                        baseline_answer=b[q.question_id]["answer"],
                    )
                )
        return items

    def judged_testsets(self) -> dict[str, list[Question]]:
        """The questions each cell is judged on: every generated one, or the first judging.max_questions."""
        k = self.cfg.judging.max_questions
        return {t: qs[:k] if k else qs for t, qs in self.testsets.items()}

    def _skipped(self, sys_sd: StageDir, base_sd: StageDir) -> dict[str, set[str]]:
        """Per test set, the questions either side skipped as too long (generation/long_prompts.py)."""
        from .generation.long_prompts import excluded_questions

        return {
            t: {str(q) for q in excluded_questions(sys_sd.path / f"{t}.jsonl", base_sd.path / f"{t}.jsonl")}
            for t in self.testsets
        }

    # ------------------------------------------------------------------ the whole sweep
    def validate(
        self, selectors: list[str], upto: str, *, check_endpoints: bool = True, pool_size: int | None = None
    ) -> None:
        """Everything a command needs, checked before any stage runs and before config.yaml is written:
        names (selectors, judges, test sets), parameter types, files, budgets, judge endpoints. The demo
        world is itself a stage, so its synthetic inputs are checked when it exists.

        `pool_size` (the sweep plan, `run --dry-run`): the pool's size is given, and hub inputs (pool, models,
        test sets not cached) are neither loaded nor looked up: the plan sizes them from its table and says so."""
        from . import registry
        from .budgets import budget

        c = self.cfg
        offline = pool_size is not None
        if not selectors:
            raise ConfigError("no selector given: use --selector NAME")
        reg = registry.selectors()
        uses_proxy = False
        for s in selectors:
            sel = reg.build(s, c.selection.params.get(s, {}))  # names, parameter types, the constructor's checks
            uses_proxy |= bool(getattr(sel, "uses_proxy", False))
            if getattr(sel, "needs_truth", False) and not self.has_truth:
                raise ConfigError(
                    f"selector {s!r} is a control that needs the pool's ground truth: pass --truth FILE "
                    "(JSON/JSONL/CSV id -> clean | defect label; docs/selectors.md)"
                )
        unknown = sorted(set(c.selection.params) - {reg.get(s).name for s in selectors} - set(reg.specs()))
        if unknown:
            raise ConfigError(f"selection.params names unknown selector(s): {', '.join(unknown)}")
        if not c.data.train:
            raise ConfigError("no training pool: pass --train-data FILE_OR_DATASET (or data.train in a --config)")
        if c.data.truth:  # parsed and checked before any work: a bad row is one line naming it
            from .truth import check_against_pool

            labels = self.truth_labels
            if c.data.train != "demo" and not (offline and not Path(c.data.train).exists()):
                check_against_pool(labels, [e.id for e in self.real_pool], c.data.truth)
        needs_target = upto not in ("score", "select")
        if needs_target and not c.finetune.model:
            raise ConfigError("no target model: pass --target DIR_OR_HUB_NAME (or finetune.model in a --config)")
        for spec, which in (
            (c.proxy.model if uses_proxy else None, "proxy"),
            (c.finetune.model if needs_target else None, "target"),
        ):
            if spec and spec != "demo" and not (offline and not Path(spec).expanduser().exists()):
                check_model_source(spec, which)
        from .data.testsets import check_testset_spec
        from .judging.spec import load_judge

        specs = [load_judge(j) for j in c.judging.judges]  # every name, even for commands that stop earlier
        for t in c.data.testsets:
            if not t.startswith("demo-"):
                check_testset_spec(t)
        judging = upto in ("judge", "report")
        if judging and check_endpoints:  # judges first: cheap, and a bad one should not wait for the world
            from .judging.stage import check_endpoint

            for name, spec in zip(c.judging.judges, specs):
                if spec.provider != "reference":  # the run starts the reference judge itself
                    try:
                        check_endpoint(spec, c.judging)
                    except GsnrError:
                        if not self._all_judged(selectors, name, spec.name):
                            raise
                        # a finished run sends nothing: it needs no endpoint, key or network
        n_pool = pool_size if offline else self._pool_size()
        if upto != "score":
            from .budgets import check_sizes

            ns = [budget(r, n_pool, c.selection.budget_base) for r in c.selection.ratios]
            check_sizes(c.selection.sizes, n_pool, dict(zip(c.selection.ratios, ns)))
        if upto in ("generate", "judge", "report"):
            bad = [t for t in c.data.testsets if t.startswith("demo-") and t not in DEMO_TESTSETS]
            if bad:
                raise DataError(f"unknown demo test set {bad[0]!r} (have: {', '.join(DEMO_TESTSETS)})")
            real = self._local_testsets() if offline else self._real_testsets
            names = [qs[0].testset for qs in real.values()] + [t for t in c.data.testsets if t.startswith("demo-")]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise DataError(f"two test sets are both named {dup[0]!r}; name them with NAME=PATH")
        if judging:
            self._check_reference_judge(offline)
        if c.heldout.data and needs_target:
            self._check_heldout(offline)
        # last: these read the target's config and tokenizer (seconds), after every check of names and files;
        # a sweep plan reads only a target that is on this machine (never the hub)
        if needs_target and c.finetune.model != "demo":  # the demo's target is built to fit its own world
            target = resolve_model(c.finetune.model, "target")
        if needs_target and c.finetune.model != "demo" and (not offline or Path(target).is_dir()):
            if c.finetune.regime == "lora":  # from the config alone, on the meta device: no weights read
                from .training.lora_targets import check_lora_targets

                check_lora_targets(target, c.finetune.lora.targets)
            if upto in ("generate", "judge", "report"):
                self._check_target_context(target)

    def _check_target_context(self, target: str) -> None:
        """Every test prompt, as the generation stage will build it, plus generation.max_new_tokens against the
        target's positions (its config's table, else its tokenizer's limit): a max_new_tokens that leaves no
        room for the template, or (long_prompts=error) a question that does not fit, fails now in one line
        instead of after fine-tuning; prompts that will be truncated or skipped are counted in a note."""
        from transformers import AutoConfig

        from .context import model_positions
        from .generation.long_prompts import check_questions_fit
        from .models import load_tokenizer

        g = self.cfg.generation
        try:
            positions = model_positions(AutoConfig.from_pretrained(target))
        except Exception as exc:  # OSError / ValueError from transformers
            raise DataError(f"cannot read the config of target {target}: {str(exc).splitlines()[0]}") from None
        tok = load_tokenizer(target)
        limit = getattr(tok, "model_max_length", None)
        positions = positions or (limit if isinstance(limit, int) and 0 < limit < 10**7 else None)
        if not positions:
            return  # no fixed context (the generation stage cannot fit prompts either)
        texts = [(f"{q.testset} question {q.question_id}", q.text) for qs in self._real_testsets.values() for q in qs]
        counts = check_questions_fit(
            texts,
            count=lambda t: len(tok(t, add_special_tokens=True)["input_ids"]),
            positions=positions,
            max_new_tokens=g.max_new_tokens,
            policy=g.long_prompts,
        )
        cut = counts["truncated"] + counts["skipped"]
        if cut and not self.quiet:
            console.print(
                f"note: {cut} of {len(texts)} test prompts plus generation.max_new_tokens={g.max_new_tokens} exceed "
                f"the target's {positions} positions: {counts['truncated']} will be truncated, {counts['skipped']} "
                f"skipped (generation.long_prompts={g.long_prompts})",
                markup=False,
                soft_wrap=True,
            )

    def _check_heldout(self, offline: bool = False) -> None:
        """heldout.data is readable and leaves records once the pool's questions are removed (before any work)."""
        h = self.cfg.heldout
        if h.data == "demo":
            if not all(t.startswith("demo-") for t in self.cfg.data.testsets):
                raise ConfigError(
                    "heldout.data=demo scores the demo test sets' reference answers; with other test sets give "
                    "heldout.data=FILE (Alpaca JSON/JSONL of records not in the pool)"
                )
            return  # the demo world's test questions are disjoint from its pool by construction
        from .generation.heldout import heldout_records

        # the demo's pool is made by its world stage; a sweep plan loads no pool it would have to download
        local_pool = self.cfg.data.train != "demo" and (not offline or Path(self.cfg.data.train).exists())
        pool = self.real_pool if local_pool else []
        heldout_records(load_pool(h.data), pool, max_records=h.max_records, seed=h.seed)

    def _local_testsets(self) -> dict[str, list[Question]]:
        """The real test sets that are on this machine (files, cached copies); never a download."""
        from .data.testsets import local_copy

        out = {}
        for spec in self.cfg.data.testsets:
            if not spec.startswith("demo-") and (path := local_copy(spec)) is not None:
                out[spec] = load_testset(path, max_questions=self.cfg.data.max_questions)
        return out

    def _all_judged(self, selectors: list[str], judge: str, judge_name: str) -> bool:
        """Every cell's judging stage for `judge` is done (a finished run), read without running anything."""
        if not (self.store.root / "judgments" / judge_name).is_dir():
            return False  # a new run, or one never judged by it: the plan would build the world to find out
        try:
            cells = self.plan(selectors)["cells"]
        except Exception:  # anything not there yet: not finished
            return False
        return all(
            c["judgments"].get(judge) is not None and c["judgments"][judge].done for c in cells.values()
        ) and bool(cells)

    def _check_reference_judge(self, offline: bool = False) -> None:
        """The reference judge scores answers against reference answers: without them it can only tie."""
        from .judging.spec import load_judge

        if not any(load_judge(j).provider == "reference" for j in self.cfg.judging.judges):
            return  # demo test sets carry references by construction; real ones are checked here
        real = self._local_testsets() if offline else self._real_testsets
        bare = [qs[0].testset for qs in real.values() if not all(q.reference for q in qs)]
        if bare:
            raise ConfigError(
                f"the reference judge needs reference answers, which test set(s) {', '.join(bare)} "
                "lack; judge them with a model judge (--judge gpt / qwen)"
            )

    def cells(self, selectors: list[str]) -> list[tuple[str, Any]]:
        """selector x budget: the ratios, then the absolute sizes (--n; selection/budgets.py)."""
        from .budgets import budget_list

        return [(s, b) for s in selectors for b in budget_list(self.cfg.selection)]

    def plan(self, selectors: list[str]) -> dict[str, Any]:
        """Where every stage of the sweep lives, without running any (judge --dry-run, scripts/cell-paths.py).
        Subsets not scored yet have no model/answers directories (None): their key depends on the scores."""
        with self.peeking():
            base_model = self.model(BASELINE, self.inputs.pool)
            out: dict[str, Any] = {
                "baseline": {"model": base_model, "answers": self.answers(base_model, BASELINE)},
                "cells": {},
            }
            for s, r in self.cells(selectors):
                name, sub = system_name(s, r), self.subset(s, r)
                model = self.model(name, self.subset_examples(sub)) if sub.done else None
                answers = self.answers(model, name) if model is not None else None
                judgments = {}
                if answers is not None:
                    for j in self.cfg.judging.judges:
                        cell = Cell(s, r, name, self.scores(s), sub, model, base_model)
                        judgments[j] = self.judgments(j, cell, answers, out["baseline"]["answers"])
                out["cells"][name] = {
                    "selector": s,
                    "ratio": r,
                    "subset": sub,
                    "model": model,
                    "answers": answers,
                    "judgments": judgments,
                }
        return out

    def run(
        self, selectors: list[str], *, upto: str = "judge", on_scored: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Every stage up to `upto` for selectors x ratios. Judging stages that end with failed comparisons
        (or stop at --max-cost) are left incomplete and counted (self.failed_comparisons, self.budget_stop);
        the caller reports and sets the exit code. The report is the command layer's (reporting/);
        `on_scored` is called once every selector's scores exist (judge-free results come first)."""
        scores = {s: self.scores(s) for s in selectors}
        if on_scored is not None:
            on_scored()
        if upto == "score":
            return {"scores": scores}
        cells = {(s, r): self.subset(s, r) for s, r in self.cells(selectors)}
        out: dict[str, Any] = {"cells": cells}
        if upto == "select":
            return out
        base_model = self.model(BASELINE, self.inputs.pool)
        models = {
            system_name(s, r): self.model(system_name(s, r), self.subset_examples(sd)) for (s, r), sd in cells.items()
        }
        out["models"] = models
        if self.cfg.heldout.data:  # judge-free: seen before any answer is generated or judged
            base_ho = self.heldout(base_model, BASELINE)
            out["heldout"] = {
                system_name(s, r): self.heldout(
                    models[system_name(s, r)], system_name(s, r), base_ho, (s, r), base_model
                )
                for s, r in cells
            }
        if upto == "finetune":
            return out
        from .generation.stage import release_engines

        try:  # adapters of one base share one vLLM engine across these stages
            base_ans = self.answers(base_model, BASELINE)
            answers = {name: self.answers(msd, name) for name, msd in models.items()}
        finally:  # and it is shut down before judging (or whatever comes next), error or not
            release_engines()
        out["answers"] = answers
        if upto == "generate":
            return out
        judgments = {}
        for j in self.cfg.judging.judges:
            for (s, r), sub in cells.items():
                name = system_name(s, r)
                cell = Cell(s, r, name, self.scores(s), sub, models[name], base_model)
                judgments[(j, name)] = self.judgments(j, cell, answers[name], base_ans)
        out["judgments"] = judgments
        return out


@dataclass
class Cell:
    """One selector x ratio of a sweep and the stages it was made from."""

    selector: str
    ratio: Any  # a ratio (float) or an absolute budget (selection.budgets.Size)
    system: str
    scores: StageDir
    subset: StageDir
    model: StageDir
    baseline_model: StageDir


class StageIncomplete(Exception):
    """A stage that ran but did not finish its work (failed comparisons, budget): not marked DONE."""


def transport_line(judge: str, s: Any) -> str:
    """What the transport retries were for, in one line (rate limits, 5xx, timeouts, refused connections)."""
    why = [
        f"{n} {what}"
        for n, what in (
            (s.rate_limited, "rate-limited"),
            (s.server_errors, "server errors"),
            (s.timeouts, "timeouts"),
            (s.connection_errors, "connection errors"),
        )
        if n
    ]
    waited = f", {s.retry_after_s:g} s waited on Retry-After" if s.retry_after_s else ""
    gave_up = f"; gave up on {s.gave_up} call(s)" if s.gave_up else ""
    causes = ", ".join(why) or "no cause recorded"
    return f"judge {judge}: {s.requests} requests, {s.retries} retried ({causes}{waited}){gave_up}"


def check_model_source(spec: str, which: str) -> None:
    """A model given as a path must be a model directory; a hub name must be reachable (cached when offline); a
    catalogue name (gsnr-bench models ls) must have been fetched."""
    import os

    spec = resolve_model(spec, which)
    p = Path(spec).expanduser()
    if p.exists():
        if not p.is_dir():
            raise DataError(f"{which} model {spec} is a file; pass a model directory or a hub name")
        if not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file():
            raise DataError(f"{which} model {spec} is not a model directory (no config.json)")
        return
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise DataError(f"{which} model not found: {spec}")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        from .fingerprint import hub_snapshot

        if hub_snapshot(spec) is None:
            raise DataError(
                f"{which} model {spec!r} is not a local directory and the Hugging Face hub is offline "
                "(HF_HUB_OFFLINE=1) with no cached copy; download it first or pass a local path"
            )


def _short_model(spec: str | None) -> str:
    if spec == "demo":
        return "demo-target"
    if not spec:
        return ""
    return Path(spec).name if Path(spec).exists() else spec


def _dist() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (accelerate launch, torchrun, Slurm via either)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _wait_done(sd: StageDir, poll: float = 0.5, timeout: float | None = None) -> None:
    """A non-zero rank waits for rank 0 to finish a stage it does not run; it gives up with a one-line
    error after GSNR_BENCH_RANK_WAIT_TIMEOUT seconds (default 48 h) instead of hanging forever."""
    if timeout is None:
        timeout = float(os.environ.get("GSNR_BENCH_RANK_WAIT_TIMEOUT", 48 * 3600))
    deadline = time.monotonic() + timeout
    while not sd.done:
        if time.monotonic() > deadline:
            from .errors import StoreError

            raise StoreError(
                f"rank {_dist()[0]}: gave up after {timeout:g} s waiting for rank 0 to finish stage "
                f"{sd.stage} {sd.label} ({sd.path}); did rank 0 fail? see its output"
            )
        time.sleep(poll)


def model_dir(model_sd: StageDir) -> Path:
    return model_sd.path
