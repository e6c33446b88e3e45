"""The run's inputs, resolved from the config once: the pool, the proxy and target models (each with its content
key), the test sets, the held-out records and the ground truth. The offline demo is decided here and nowhere else
in the pipeline: `DemoUse` says which inputs its world provides, and every other module asks it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsnr_bench.core.config import Config
from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.core.fileio import read_json, write_json
from gsnr_bench.data.pool import load_pool, pool_fingerprint
from gsnr_bench.data.testsets import load_testset
from gsnr_bench.domain.records import Example, Question
from gsnr_bench.modeling.catalog import resolve_model
from gsnr_bench.pipeline.runner import StageRunner
from gsnr_bench.run.store import RunStore, StageDir, content_hash

DEMO = "demo"  # the config value that names the offline demo world's pool, model or held-out records
DEMO_TESTSETS = ("demo-wizardlm", "demo-vicuna")


def is_demo_testset(spec: str) -> bool:
    return spec.startswith("demo-")


@dataclass(frozen=True)
class DemoUse:
    """Which inputs the demo world provides (data/demo.py builds it as a stage of the run)."""

    pool: bool
    proxy: bool
    target: bool
    testsets: tuple[str, ...]  # the demo test sets named in data.testsets
    heldout: bool
    only_demo_testsets: bool  # every test set is a demo one (true for none)

    @classmethod
    def of(cls, cfg: Config) -> DemoUse:
        demo_sets = tuple(t for t in cfg.data.testsets if is_demo_testset(t))
        return cls(
            pool=cfg.data.train == DEMO,
            proxy=cfg.proxy.model == DEMO,
            target=cfg.finetune.model == DEMO,
            testsets=demo_sets,
            heldout=cfg.heldout.data == DEMO,
            only_demo_testsets=len(demo_sets) == len(cfg.data.testsets),
        )

    @property
    def world(self) -> bool:
        """The run needs the demo world (a stage of its own)."""
        return self.pool or self.proxy or self.target or bool(self.testsets)

    def model(self, which: str) -> bool:
        return self.proxy if which == "proxy" else self.target


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


class Sources:
    """Resolves each input on first use and keeps it (validate() loads the real pool and test sets first)."""

    def __init__(self, cfg: Config, store: RunStore, runner: StageRunner) -> None:
        self.cfg, self.store, self.runner = cfg, store, runner
        self.demo = DemoUse.of(cfg)

    # ------------------------------------------------------------------ the demo world
    def world_stage(self) -> StageDir:
        """The demo world's stage directory, looked up without building it."""
        return self.store.stage("world", DEMO, self.cfg.demo.model_dump(mode="json"))

    @functools.cached_property
    def world(self) -> Any:
        from gsnr_bench.data.demo import build_world

        sd = self.world_stage()

        def work() -> dict[str, Any]:
            with self.runner.progress("demo world") as prog:
                build_world(self.cfg.demo, sd.path / "world", progress=prog)
            return {}

        self.runner.run(sd, work)
        return build_world(self.cfg.demo, sd.path / "world")  # idempotent: only reads back

    @functools.cached_property
    def _world_key(self) -> str:
        return self.world_stage().key

    # ------------------------------------------------------------------ pool and models
    @functools.cached_property
    def inputs(self) -> Inputs:
        """Pool and models; test sets load lazily (selection needs none)."""
        c = self.cfg
        world = self.world if self.demo.world else None
        if not c.data.train:
            raise ConfigError("no training pool: pass --train-data FILE_OR_DATASET (data.train)")
        if self.demo.pool:
            pool, pool_name = load_pool(world.pool, max_examples=c.data.max_examples), DEMO
        else:
            pool, pool_name = self.real_pool, Path(c.data.train).stem
        proxy, proxy_key = self._model(c.proxy.model, "proxy", world)
        target, target_key = self._model(c.finetune.model, "target", world) if c.finetune.model else ("", "")
        truth = Path(world.truth) if self.demo.pool and not c.data.truth else None
        return Inputs(pool, pool_name, pool_fingerprint(pool)[:16], proxy, proxy_key, target, target_key, truth)

    def _model(self, spec: str | None, which: str, world: Any) -> tuple[str, str]:
        """(path, content key) of the proxy or the target."""
        if self.demo.model(which):
            return str(getattr(world, which)), f"demo-{which}-{self._world_key}"
        if not spec:  # validate() names what is missing before any stage; this is a backstop
            raise ConfigError(f"no {which} model: pass --{which} DIR_OR_HUB_NAME")
        path = resolve_model(spec, which)  # a catalogue name -> its fetched directory (modeling/catalog.py)
        return path, self.fingerprint(path)

    def fingerprint(self, spec: str) -> str:
        """Content key of a model (run/fingerprint.py); file digests are remembered in RUN/cache/file-hashes.json."""
        from gsnr_bench.run.fingerprint import StatCache, model_fingerprint

        cache = StatCache(self.store.root / "cache" / "file-hashes.json" if self.store.exists else None)
        try:
            return model_fingerprint(spec, cache)
        finally:
            if not self.runner.peek:  # a plan (dry run) reads the remembered digests but writes nothing
                cache.save()

    @functools.cached_property
    def real_pool(self) -> list[Example]:
        """The pool from a file or dataset name (not the demo's): loaded once, by validate() first."""
        return load_pool(self.cfg.data.train, max_examples=self.cfg.data.max_examples)

    def pool_size(self) -> int:
        c = self.cfg
        if self.demo.pool:  # known from the world's config, before the world is built
            return min(c.demo.pool_size, c.data.max_examples or c.demo.pool_size)
        return len(self.real_pool)

    def target_label(self) -> str:
        """The target as the leaderboard names it: a directory's name, a hub name, or demo-target."""
        spec = self.cfg.finetune.model
        if self.demo.target:
            return "demo-target"
        if not spec:
            return ""
        return Path(spec).name if Path(spec).exists() else spec

    # ------------------------------------------------------------------ ground truth
    @property
    def has_truth(self) -> bool:
        """Known before any stage: a --truth file, or the demo world's own truth."""
        return bool(self.cfg.data.truth) or self.demo.pool

    @functools.cached_property
    def truth_labels(self) -> dict[str, str] | None:
        """id -> "clean" | defect label (domain/truth.py), or None for a run without ground truth."""
        from gsnr_bench.domain.truth import labels_of, parse_truth

        if self.cfg.data.truth:
            return parse_truth(self.cfg.data.truth)
        if self.demo.pool:
            return labels_of(read_json(self.world.truth))
        return None

    @functools.cached_property
    def truth_key(self) -> str | None:
        return content_hash(self.truth_labels, 16) if self.truth_labels is not None else None

    def truth_file(self) -> Path | None:
        """The truth the report reads: the demo world's truth.json, or the run's own copy of --truth (keyed by
        content, so an edited truth file is a new copy and new control stages)."""
        from gsnr_bench.domain.truth import check_against_pool, truth_record

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

    # ------------------------------------------------------------------ test sets and held-out records
    @functools.cached_property
    def real_testsets(self) -> dict[str, list[Question]]:
        return {
            spec: load_testset(spec, max_questions=self.cfg.data.max_questions)
            for spec in self.cfg.data.testsets
            if not is_demo_testset(spec)
        }

    def local_testsets(self) -> dict[str, list[Question]]:
        """The real test sets that are on this machine (files, cached copies); never a download."""
        from gsnr_bench.data.testsets import local_copy

        out = {}
        for spec in self.cfg.data.testsets:
            if not is_demo_testset(spec) and (path := local_copy(spec)) is not None:
                out[spec] = load_testset(path, max_questions=self.cfg.data.max_questions)
        return out

    @functools.cached_property
    def testsets(self) -> dict[str, list[Question]]:
        testsets: dict[str, list[Question]] = {}
        for spec in self.cfg.data.testsets:
            qs = self._demo_testset(spec) if is_demo_testset(spec) else self.real_testsets[spec]
            name = qs[0].testset
            if name in testsets:
                raise DataError(f"two test sets are both named {name!r}; name them with NAME=PATH")
            testsets[name] = qs
        return testsets

    def judged_testsets(self) -> dict[str, list[Question]]:
        """The questions each cell is judged on: every generated one, or the first judging.max_questions."""
        k = self.cfg.judging.max_questions
        return {t: qs[:k] if k else qs for t, qs in self.testsets.items()}

    def _demo_testset(self, spec: str) -> list[Question]:
        world = self.world
        if spec not in world.testsets:
            raise DataError(f"unknown demo test set {spec!r} (have: {', '.join(world.testsets)})")
        return load_testset(f"{spec}={world.testsets[spec]}", max_questions=self.cfg.data.max_questions)

    @property
    def references(self) -> dict[str, str]:
        return {q.text: q.reference for qs in self.testsets.values() for q in qs if q.reference}

    @functools.cached_property
    def heldout_examples(self) -> list[Example]:
        """The held-out records (heldout.data): a file's records not in the pool, or the demo's test questions
        with their reference answers; a seeded sample of heldout.max_records."""
        from gsnr_bench.generation.heldout import heldout_records, records_from_questions

        h = self.cfg.heldout
        if self.demo.heldout:
            source = records_from_questions([q for qs in self.testsets.values() for q in qs])
        else:
            source = load_pool(h.data)
        return heldout_records(source, self.inputs.pool, max_records=h.max_records, seed=h.seed)

    def heldout_source(self) -> str:
        """What heldout.json names as the records' source: demo, or the file's name."""
        return DEMO if self.demo.heldout else Path(self.cfg.heldout.data).name
