"""The sweep plan, `gsnr-bench run --dry-run [--json FILE] [--hardware NAME]`: what a run would do and cost,
stage by stage, before any of it is paid for. Runs nothing, sends nothing, writes nothing (but --json), needs
no endpoint, no GPU, no weights and no hub: inputs that are not on this machine (hub datasets and models) are
sized from plan_data.yaml and listed as `needs`.

Rows (one per stage): scoring passes (ensemble members x epochs for G-SNR, GrADS' preliminary fine-tune and
gradient pass, IFD's two forward passes), fine-tunes (examples, optimizer steps, tokens), generations (prompts x
max_new_tokens), judge calls (every order, input/output tokens, dollars from the judge YAML's prices). Each has
what is cached in the run directory and what is left, GPU-hours from the throughput table (FLOPs / effective
FLOP/s of the chosen hardware) and, for judging, dollars checked against judging.max_cost. How the estimates
are made: docs/plan.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsnr_bench.commands.plan_items import Item, finetune_item, generate_item, judge_items, mark_cached, score_items
from gsnr_bench.commands.plan_sizes import Sizes, plan_data, plan_sizes
from gsnr_bench.commands.plan_table import print_plan, work_left
from gsnr_bench.core.errors import ConfigError

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline

# the plan's public face, wherever each piece lives (plan_sizes.py, plan_items.py, plan_table.py)
__all__ = ["STAGES", "build_plan", "cmd_plan", "default_hardware", "plan_data", "plan_sizes", "print_plan"]

# ------------------------------------------------------------------ the plan
STAGES = ("score", "finetune", "generate", "judge")


def default_hardware(cfg: Any) -> str:
    """The demo runs on this machine's CPU; anything else is planned for a GPU until told otherwise."""
    return "cpu" if cfg.finetune.model == "demo" else "a100-80gb"


def cmd_plan(pipe: Pipeline, selectors: list[str], hardware: str | None, json_out: Path | None) -> dict[str, Any]:
    """Validate as the run would (hub inputs sized from the table instead of loaded), plan, print, and write
    --json; nothing else is written."""
    from gsnr_bench.core.fileio import write_json

    hardware = hardware or default_hardware(pipe.cfg)
    if hardware not in plan_data()["hardware"]:
        raise ConfigError(
            f"unknown --hardware {hardware!r} (have: {', '.join(plan_data()['hardware'])}; plan_data.yaml)"
        )
    if json_out is not None and json_out.is_dir():
        raise ConfigError(f"--json {json_out} is a directory; give a file name")
    sizes = plan_sizes(pipe)
    pipe.validate(selectors, "judge", check_endpoints=False, pool_size=sizes.pool)  # sends nothing: no endpoint
    plan = build_plan(pipe, selectors, hardware, sizes)
    print_plan(plan)
    if json_out is not None:
        write_json(json_out, plan)
    return plan


def build_plan(pipe: Pipeline, selectors: list[str], hardware: str, sizes: Sizes) -> dict[str, Any]:
    rates = plan_data()["hardware"][hardware]
    items = _items(pipe, selectors, sizes)
    lookup = mark_cached(pipe, selectors, items)
    for it in items:
        it.detail["gpu_hours"] = it.flops / float(rates[it.kind]) / 3600 if it.kind in rates else 0.0
    rows = [_stage_row(stage, [it for it in items if it.stage == stage]) for stage in STAGES]
    usd_left = sum(r["usd_left"] for r in rows)
    spent = _spent(pipe)
    limit = pipe.cfg.judging.max_cost
    return {
        "hardware": hardware,
        "hardware_description": rates.get("description", ""),
        "rates_source": rates.get("source", ""),
        "run_dir": str(pipe.store.root),
        "new_run": not pipe.store.exists,
        "cache_lookup": lookup or "ok",
        "inputs": _inputs(sizes),
        "needs": sizes.needs,
        "stages": rows,
        "items": [
            {
                "stage": it.stage,
                "name": it.name,
                "kind": it.kind,
                "cached": it.cached,
                "flops": it.flops,
                "usd": it.usd,
                **it.detail,
            }
            for it in items
        ],
        "totals": {
            "gpu_hours_left": sum(r["gpu_hours_left"] for r in rows),
            "usd_left": usd_left,
            "usd_spent": spent,
            "max_cost": limit,
            "within_max_cost": None if limit is None else spent + usd_left <= limit,
        },
    }


def _items(pipe: Pipeline, selectors: list[str], sizes: Sizes) -> list[Item]:
    """Every stage's work, in stage order: scorings, fine-tunes (the 100% model first), generations, judging."""
    from gsnr_bench.domain.budgets import Size, budget, budget_n
    from gsnr_bench.pipeline import BASELINE, system_name

    cells = pipe.cells(selectors)
    items = score_items(pipe, selectors, sizes)
    items.append(finetune_item(BASELINE, sizes.pool, pipe, sizes))
    for s, r in cells:
        n = budget_n(r.n, sizes.pool) if isinstance(r, Size) else budget(r, sizes.pool, pipe.cfg.selection.budget_base)
        items.append(finetune_item(system_name(s, r), n, pipe, sizes))
    names = [system_name(s, r) for s, r in cells]
    items += [generate_item(name, pipe, sizes) for name in [BASELINE, *names]]
    items += judge_items(pipe, names, sizes)
    return items


def _stage_row(stage: str, group: list[Item]) -> dict[str, Any]:
    left = [it for it in group if not it.cached]
    return {
        "stage": stage,
        "items": len(group),
        "cached": sum(1 for it in group if it.cached),
        "unknown": sum(1 for it in group if it.cached is None),
        "left": len(left),
        "work_left": work_left(stage, left),
        "gpu_hours_left": sum(it.detail["gpu_hours"] for it in left),
        "gpu_hours_total": sum(it.detail["gpu_hours"] for it in group),
        "usd_left": sum(it.usd for it in left),
        "usd_total": sum(it.usd for it in group),
    }


def _inputs(sizes: Sizes) -> dict[str, Any]:
    return {
        "pool_examples": sizes.pool,
        "mean_example_tokens": round(sizes.prompt_tokens + sizes.response_tokens, 1),
        "testsets": {k: v[0] for k, v in sizes.testsets.items()},
        "proxy_params": sizes.proxy_params,
        "target_params": sizes.target_params,
        "sources": sizes.sources,
    }


def _spent(pipe: Pipeline) -> float:
    from gsnr_bench.judging.cache import run_spend

    return run_spend(pipe.store.root, pipe.cfg.judging) if pipe.store.exists else 0.0
