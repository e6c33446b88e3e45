"""Everything a command needs, checked before any stage runs and before config.yaml is written: names (selectors,
judges, test sets), parameter types, files, budgets, judge endpoints, and the target against every test prompt.
The demo world is itself a stage, so its synthetic inputs are checked when it exists.

Each check is one method of `Checks`, run by `Checks.all` in a fixed order (cheap names first, the target's
config and tokenizer last), so that the first problem a user meets is always the same one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from gsnr_bench.core.errors import ConfigError, DataError, GsnrError
from gsnr_bench.core.progress import console
from gsnr_bench.modeling.catalog import resolve_model
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.inputs import DEMO_TESTSETS

JUDGING = ("judge", "report")
ANSWERING = ("generate", "judge", "report")


class Checks:
    """The checks of one command. `pool_size` (the sweep plan, `run --dry-run`): the pool's size is given, and hub
    inputs (pool, models, test sets not cached) are neither loaded nor looked up: the plan sizes them from its
    table and says so. `all_judged(selectors, judge, judge_name)` says whether a judge's stages are all done."""

    def __init__(
        self, deps: StageDeps, all_judged: Callable[[list[str], str, str], bool], pool_size: int | None = None
    ) -> None:
        self.deps, self.cfg, self.src = deps, deps.cfg, deps.sources
        self.all_judged = all_judged
        self.pool_size = pool_size
        self.offline = pool_size is not None

    def all(self, selectors: list[str], upto: str, *, check_endpoints: bool = True) -> None:
        uses_proxy = self.selectors(selectors)
        self.pool_and_truth()
        needs_target = upto not in ("score", "select")
        self.models(uses_proxy, needs_target)
        specs = self.judges_and_testsets()
        if upto in JUDGING and check_endpoints:  # judges first: cheap, and a bad one should not wait for the world
            self.endpoints(selectors, specs)
        if upto != "score":
            self.budgets()
        if upto in ANSWERING:
            self.testset_names()
        if upto in JUDGING:
            self.reference_judge()
        if self.cfg.heldout.data and needs_target:
            self.heldout()
        if needs_target and not self.src.demo.target:  # the demo's target is built to fit its own world
            self.target(upto)

    def selectors(self, selectors: list[str]) -> bool:
        """Names, parameter types, the constructors' checks; whether any selector uses the proxy."""
        from gsnr_bench.core import registry

        c = self.cfg
        if not selectors:
            raise ConfigError("no selector given: use --selector NAME")
        reg = registry.selectors()
        uses_proxy = False
        for s in selectors:
            sel = reg.build(s, c.selection.params.get(s, {}))
            uses_proxy |= bool(getattr(sel, "uses_proxy", False))
            if getattr(sel, "needs_truth", False) and not self.src.has_truth:
                raise ConfigError(
                    f"selector {s!r} is a control that needs the pool's ground truth: pass --truth FILE "
                    "(JSON/JSONL/CSV id -> clean | defect label; docs/selectors.md)"
                )
        unknown = sorted(set(c.selection.params) - {reg.get(s).name for s in selectors} - set(reg.specs()))
        if unknown:
            raise ConfigError(f"selection.params names unknown selector(s): {', '.join(unknown)}")
        return uses_proxy

    def pool_and_truth(self) -> None:
        """A pool is named; --truth parses and names only pool ids (a bad row is one line naming it)."""
        c = self.cfg
        if not c.data.train:
            raise ConfigError("no training pool: pass --train-data FILE_OR_DATASET (or data.train in a --config)")
        if c.data.truth:
            from gsnr_bench.domain.truth import check_against_pool

            labels = self.src.truth_labels
            if not self.src.demo.pool and not (self.offline and not Path(c.data.train).exists()):
                check_against_pool(labels, [e.id for e in self.src.real_pool], c.data.truth)

    def models(self, uses_proxy: bool, needs_target: bool) -> None:
        """A target is named when a stage needs it; each model used is a model directory or a reachable name."""
        c = self.cfg
        if needs_target and not c.finetune.model:
            raise ConfigError("no target model: pass --target DIR_OR_HUB_NAME (or finetune.model in a --config)")
        for spec, which in (
            (c.proxy.model if uses_proxy else None, "proxy"),
            (c.finetune.model if needs_target else None, "target"),
        ):
            if spec and not self.src.demo.model(which) and not (self.offline and not Path(spec).expanduser().exists()):
                check_model_source(spec, which)

    def judges_and_testsets(self) -> list[Any]:
        """Every judge name (even for commands that stop earlier) and every real test set spec."""
        from gsnr_bench.data.testsets import check_testset_spec
        from gsnr_bench.judging.spec import load_judge
        from gsnr_bench.pipeline.inputs import is_demo_testset

        specs = [load_judge(j) for j in self.cfg.judging.judges]
        for t in self.cfg.data.testsets:
            if not is_demo_testset(t):
                check_testset_spec(t)
        return specs

    def endpoints(self, selectors: list[str], specs: list[Any]) -> None:
        """Each judge's endpoint answers, unless the run has judged everything with it already."""
        from gsnr_bench.judging.stage import check_endpoint

        for name, spec in zip(self.cfg.judging.judges, specs):
            if spec.provider == "reference":  # the run starts the reference judge itself
                continue
            try:
                check_endpoint(spec, self.cfg.judging)
            except GsnrError:
                if not self.all_judged(selectors, name, spec.name):
                    raise
                # a finished run sends nothing: it needs no endpoint, key or network

    def budgets(self) -> None:
        from gsnr_bench.domain.budgets import budget, check_sizes

        sel = self.cfg.selection
        n_pool = self.pool_size if self.offline else self.src.pool_size()
        ns = [budget(r, n_pool, sel.budget_base) for r in sel.ratios]
        check_sizes(sel.sizes, n_pool, dict(zip(sel.ratios, ns)))

    def _real_testsets(self) -> dict[str, Any]:
        return self.src.local_testsets() if self.offline else self.src.real_testsets

    def testset_names(self) -> None:
        """Demo test sets exist; no two test sets share a name."""
        demo = self.src.demo.testsets
        bad = [t for t in demo if t not in DEMO_TESTSETS]
        if bad:
            raise DataError(f"unknown demo test set {bad[0]!r} (have: {', '.join(DEMO_TESTSETS)})")
        names = [qs[0].testset for qs in self._real_testsets().values()] + list(demo)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DataError(f"two test sets are both named {dup[0]!r}; name them with NAME=PATH")

    def reference_judge(self) -> None:
        """The reference judge scores answers against reference answers: without them it can only tie."""
        from gsnr_bench.judging.spec import load_judge

        if not any(load_judge(j).provider == "reference" for j in self.cfg.judging.judges):
            return  # demo test sets carry references by construction; real ones are checked here
        bare = [qs[0].testset for qs in self._real_testsets().values() if not all(q.reference for q in qs)]
        if bare:
            raise ConfigError(
                f"the reference judge needs reference answers, which test set(s) {', '.join(bare)} "
                "lack; judge them with a model judge (--judge gpt / qwen)"
            )

    def heldout(self) -> None:
        """heldout.data is readable and leaves records once the pool's questions are removed (before any work)."""
        h, demo = self.cfg.heldout, self.src.demo
        if demo.heldout:
            if not demo.only_demo_testsets:
                raise ConfigError(
                    "heldout.data=demo scores the demo test sets' reference answers; with other test sets give "
                    "heldout.data=FILE (Alpaca JSON/JSONL of records not in the pool)"
                )
            return  # the demo world's test questions are disjoint from its pool by construction
        from gsnr_bench.data.pool import load_pool
        from gsnr_bench.generation.heldout import heldout_records

        # the demo's pool is made by its world stage; a sweep plan loads no pool it would have to download
        local_pool = not demo.pool and (not self.offline or Path(self.cfg.data.train).exists())
        pool = self.src.real_pool if local_pool else []
        heldout_records(load_pool(h.data), pool, max_records=h.max_records, seed=h.seed)

    def target(self, upto: str) -> None:
        """Last: these read the target's config and tokenizer (seconds), after every check of names and files; a
        sweep plan reads only a target that is on this machine (never the hub)."""
        c = self.cfg
        target = resolve_model(c.finetune.model, "target")
        if self.offline and not Path(target).is_dir():
            return
        if c.finetune.regime == "lora":  # from the config alone, on the meta device: no weights read
            from gsnr_bench.training.lora_targets import check_lora_targets

            check_lora_targets(target, c.finetune.lora.targets)
        if upto in ANSWERING:
            self.target_context(target)

    def target_context(self, target: str) -> None:
        """Every test prompt, as the generation stage will build it, plus generation.max_new_tokens against the
        target's positions (its config's table, else its tokenizer's limit): a max_new_tokens that leaves no
        room for the template, or (long_prompts=error) a question that does not fit, fails now in one line
        instead of after fine-tuning; prompts that will be truncated or skipped are counted in a note."""
        from gsnr_bench.generation.long_prompts import check_questions_fit

        g = self.cfg.generation
        positions, tok = _target_positions(target)
        if not positions:
            return  # no fixed context (the generation stage cannot fit prompts either)
        texts = [
            (f"{q.testset} question {q.question_id}", q.text) for qs in self.src.real_testsets.values() for q in qs
        ]
        counts = check_questions_fit(
            texts,
            count=lambda t: len(tok(t, add_special_tokens=True)["input_ids"]),
            positions=positions,
            max_new_tokens=g.max_new_tokens,
            policy=g.long_prompts,
        )
        cut = counts["truncated"] + counts["skipped"]
        if cut and not self.deps.quiet:
            console.print(
                f"note: {cut} of {len(texts)} test prompts plus generation.max_new_tokens={g.max_new_tokens} exceed "
                f"the target's {positions} positions: {counts['truncated']} will be truncated, {counts['skipped']} "
                f"skipped (generation.long_prompts={g.long_prompts})",
                markup=False,
                soft_wrap=True,
            )


def _target_positions(target: str) -> tuple[int | None, Any]:
    """The target's positions (its config's table, else its tokenizer's limit) and its tokenizer."""
    from transformers import AutoConfig

    from gsnr_bench.modeling.context import model_positions
    from gsnr_bench.modeling.loading import load_tokenizer

    try:
        positions = model_positions(AutoConfig.from_pretrained(target))
    except Exception as exc:  # OSError / ValueError from transformers
        raise DataError(f"cannot read the config of target {target}: {str(exc).splitlines()[0]}") from None
    tok = load_tokenizer(target)
    limit = getattr(tok, "model_max_length", None)
    return positions or (limit if isinstance(limit, int) and 0 < limit < 10**7 else None), tok


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
        from gsnr_bench.run.fingerprint import hub_snapshot

        if hub_snapshot(spec) is None:
            raise DataError(
                f"{which} model {spec!r} is not a local directory and the Hugging Face hub is offline "
                "(HF_HUB_OFFLINE=1) with no cached copy; download it first or pass a local path"
            )
