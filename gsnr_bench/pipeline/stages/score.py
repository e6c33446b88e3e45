"""The scores stage: one selector's scores of the pool (scores.jsonl, ranked), and with selection.seeds = N > 1
one scoring per seed plus a stage that records their stability and the ranking the subsets are cut from."""

from __future__ import annotations

import sys
from typing import Any

from gsnr_bench.core.fileio import read_jsonl, write_jsonl
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.run.store import StageDir


def scores(deps: StageDeps, selector: str) -> StageDir:
    """The scores the subsets are cut from: one scoring, or with selection.seeds = N > 1 one scoring per
    seed (seed, seed+1, ...) and a stage that records their stability and the ranking used (the first
    seed's, or the mean rank with seed_combine: mean_rank)."""
    n = deps.cfg.selection.seeds
    if n == 1:
        return score_once(deps, selector, deps.cfg.seed)
    runs = [score_once(deps, selector, deps.cfg.seed + k) for k in range(n)]
    if deps.runner.peek and not all(r.done for r in runs):
        return runs[0]
    combine = deps.cfg.selection.seed_combine
    sd = deps.store.stage("scores", f"{runs[0].label}-seeds{n}", {"seeds": [r.key for r in runs], "combine": combine})
    return deps.runner.run(sd, lambda: _combine_seeds(deps, sd, runs, combine))


def _combine_seeds(deps: StageDeps, sd: StageDir, runs: list[StageDir], combine: str) -> dict[str, Any]:
    from gsnr_bench.analysis.health import mean_rank_order, stability

    n = len(runs)
    tables = [read_jsonl(r.path / "scores.jsonl") for r in runs]
    rankings = [[row["id"] for row in t] for t in tables]
    stab = stability(rankings, deps.cfg.selection.ratios)
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
        "seeds": [deps.cfg.seed + k for k in range(n)],
        "seed_scores": [deps.rel(r.path / "scores.jsonl") for r in runs],
    }


def score_once(deps: StageDeps, selector: str, seed: int) -> StageDir:
    """One scoring of the pool by `selector` with `seed`."""
    from gsnr_bench.core import registry

    reg = registry.selectors()
    spec = reg.get(selector)
    overrides = deps.cfg.selection.params.get(selector, {})
    inp = deps.sources.inputs
    sel = reg.build(selector, overrides)
    needs_truth = bool(getattr(sel, "needs_truth", False))
    # keyed by content: the pool's records and the proxy's files, never their paths
    key = {
        "selector": spec.name,
        "target": spec.target,
        "params": {**spec.params, **overrides},
        "pool": inp.pool_key,
        "proxy": inp.proxy_key,
        "proxy_cfg": deps.cfg.proxy.model_dump(mode="json", exclude={"model"}),
        "seed": seed,
    }
    if needs_truth:  # the controls read the truth: it is one of their inputs (by content)
        key["truth"] = deps.sources.truth_key
    sd = deps.store.stage("scores", spec.name if seed == deps.cfg.seed else f"{spec.name}-seed{seed}", key)
    params = {**spec.params, **overrides}
    return deps.runner.run(sd, lambda: _score(deps, sd, spec.name, sel, params, seed, needs_truth))


def _score(deps: StageDeps, sd: StageDir, name: str, sel: Any, params: dict, seed: int, needs_truth: bool) -> dict:
    from gsnr_bench.analysis.health import health_of, warning_lines
    from gsnr_bench.selection.base import SelectionContext
    from gsnr_bench.selection.ranking import rank_order, score_rows, validate_result

    inp = deps.sources.inputs
    with deps.runner.progress(f"score {name}") as prog:
        ctx = SelectionContext(
            pool=inp.pool,
            params=params,
            seed=seed,
            workdir=sd.path / "work",
            proxy=inp.proxy,
            device=deps.cfg.proxy.device,
            max_length=deps.cfg.proxy.max_length,
            progress=prog,
            shared_cache=deps.store.root / "cache" / "selection",
            proxy_key=inp.proxy_key,
            truth=deps.sources.truth_labels if needs_truth else None,
        )
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        result = sel.score(ctx)
    validate_result(result, [e.id for e in inp.pool], name)
    order = rank_order(result, seed)
    rows = score_rows(result, order)
    write_jsonl(sd.path / "scores.jsonl", rows)
    health = health_of(name, rows, result.notes)
    for line in warning_lines(health):  # one line each, also in the report (selector health)
        print(f"gsnr-bench: warning: {line}", file=sys.stderr)
    truth = deps.sources.truth_file()
    return {
        "selector": name,
        "n": len(order),
        "notes": result.notes,
        "pool": inp.pool_key,
        "truth": deps.rel(truth) if truth else None,
        "health": health,
    }
