"""The work of each stage of a sweep plan, one `Item` per scoring, fine-tune, generation and judge x cell, and
whether the run directory already holds it (`mark_cached`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gsnr_bench.commands.plan_sizes import CHARS_PER_TOKEN, Sizes, is_hub_name
from gsnr_bench.core.errors import DataError, GsnrError

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline


@dataclass
class Item:
    stage: str
    name: str
    flops: float = 0.0
    kind: str = "train"  # train | forward | decode (the throughput column) or judge
    cached: bool | None = False  # None: unknown (the run's stages could not be looked up)
    detail: dict[str, Any] = field(default_factory=dict)
    usd: float = 0.0


def score_items(pipe: Pipeline, selectors: list[str], sizes: Sizes) -> list[Item]:
    """One item per distinct scoring (the G-SNR family shares one ensemble) and seed."""
    from gsnr_bench.core import registry

    c, reg = pipe.cfg, registry.selectors()
    tok = min(sizes.prompt_tokens + sizes.response_tokens, c.proxy.max_length or 1024)
    n = sizes.pool
    items, seen = [], set()
    for s in selectors:
        spec = reg.get(s)
        p = {**spec.params, **c.selection.params.get(s, {})}
        key, item = _scoring(s, spec.target.rsplit(":", 1)[-1], p, tok, sizes)
        if key in seen:
            continue
        seen.add(key)
        for k in range(c.selection.seeds):
            items.append(
                Item(
                    item.stage,
                    item.name + (f" (seed {c.seed + k})" if k else ""),
                    item.flops,
                    item.kind,
                    detail={**item.detail, "examples": n, "tokens": round(n * tok * item.detail["passes"])},
                )
            )
    return items


def _scoring(s: str, family: str, p: dict[str, Any], tok: float, sizes: Sizes) -> tuple[tuple, Item]:
    """(what makes two selectors one scoring, its work) for selector `s` of class `family` with params `p`."""
    n, N = sizes.pool, sizes.proxy_params
    if family == "GsnrSelector":
        shared = {k: v for k, v in p.items() if k not in ("variant", "eps")}
        key = ("gsnr", json.dumps(shared, sort_keys=True, default=str))  # list values (LoRA targets) included
        passes = int(p["members"]) * int(p["epochs"])
        return key, Item(
            "score",
            s,
            passes * n * tok * 4 * N,
            "train",
            detail={"passes": passes, "members": int(p["members"]), "epochs": int(p["epochs"])},
        )
    if family == "GradsSelector":
        ft = 0 if p.get("finetune") == "none" else int(p["ft_epochs"])
        factor = 6 if p.get("finetune") == "full" else 4
        flops = ft * n * tok * factor * N + n * tok * 6 * N  # preliminary fine-tune + per-example gradients
        return (s,), Item("score", s, flops, "train", detail={"passes": ft + 1, "epochs": ft})
    if family in ("SuperfilteringIfd", "CherryIfd"):
        return (s,), Item("score", s, n * (tok + sizes.response_tokens) * 2 * N, "forward", detail={"passes": 2})
    # random, longest (tokenizer only), the oracle controls: no model work
    return (s,), Item("score", s, 0.0, "forward", detail={"passes": 0})


def finetune_item(name: str, examples: int, pipe: Pipeline, sizes: Sizes) -> Item:
    f = pipe.cfg.finetune
    tok = min(sizes.prompt_tokens + sizes.response_tokens, f.max_length)
    tokens = examples * tok * f.epochs
    from gsnr_bench.training.plan import capped_accum, planned_steps

    # what the Trainer will take, finetune.min_steps's smaller batch for small subsets included (one process)
    steps = planned_steps(examples, f.micro_batch_size, capped_accum(f, examples, 1), 1, f.epochs)
    factor = 6 if f.regime == "full" else 4
    return Item(
        "finetune",
        name,
        tokens * factor * sizes.target_params,
        "train",
        detail={"examples": examples, "steps": steps, "tokens": round(tokens), "regime": f.regime},
    )


def generate_item(name: str, pipe: Pipeline, sizes: Sizes) -> Item:
    prompts = sum(n for n, _ in sizes.testsets.values())
    out = prompts * pipe.cfg.generation.max_new_tokens
    return Item(
        "generate",
        name,
        out * 2 * sizes.target_params,
        "decode",
        detail={"prompts": prompts, "max_new_tokens": pipe.cfg.generation.max_new_tokens, "tokens": out},
    )


def judge_items(pipe: Pipeline, cells: list[str], sizes: Sizes) -> list[Item]:
    """Calls, tokens and dollars per judge x cell, with stand-in answers of max_new_tokens tokens (dry_run's
    own estimate: judging/cost.py), so nothing needs to exist yet."""
    from gsnr_bench.commands.dry_run import _placeholder
    from gsnr_bench.judging.spec import load_judge
    from gsnr_bench.judging.stage import Comparison, dry_run
    from gsnr_bench.pipeline import BASELINE

    c = pipe.cfg
    answer = _placeholder(c.generation.max_new_tokens)
    items = []
    for j in c.judging.judges:
        spec = load_judge(j)
        for system in cells:
            comps = [
                Comparison(t, str(i), "q" * round(qtok * CHARS_PER_TOKEN), system, answer, BASELINE, answer)
                for t, (count, qtok) in sizes.testsets.items()
                for i in range(min(count, c.judging.max_questions or count))
            ]
            dr = dry_run(comps, spec, c.judging)
            items.append(
                Item(
                    "judge",
                    f"{system} ({spec.name})",
                    kind="judge",
                    usd=dr.est_cost,
                    detail={
                        "judge": spec.name,
                        "model": spec.model,
                        "comparisons": dr.comparisons,
                        "calls": dr.calls,
                        "tokens_in": dr.est_prompt_tokens,
                        "tokens_out": dr.est_completion_tokens,
                    },
                )
            )
    return items


# ------------------------------------------------------------------ what is cached
def mark_cached(pipe: Pipeline, selectors: list[str], items: list[Item]) -> str | None:
    """Set each item's `cached` from the run directory; returns why it could not be looked up, if so."""

    if not pipe.store.exists:
        return None  # a new run: nothing is cached
    try:
        if pipe.sources.demo.world and not pipe.sources.world_stage().done:
            return None  # nothing can be done without the world
        if not pipe.sources.demo.world and is_hub_name(pipe.cfg.data.train):
            raise DataError(f"training pool {pipe.cfg.data.train} is not on this machine")
        with pipe.peeking():
            scores = {s: pipe.scores(s).done for s in selectors}
        layout = pipe.plan(selectors)
        judged = {(j, n): sd.done for n, cell in layout.cells.items() for j, sd in cell.judgments.items()}
    except GsnrError as exc:
        for it in items:
            it.cached = None
        return f"the run's stages could not be looked up here ({exc})"
    models, answers = layout.models(), layout.answers()
    from gsnr_bench.judging.spec import load_judge

    for it in items:
        if it.stage == "score":
            it.cached = scores.get(it.name.split(" (")[0], False)
        elif it.stage == "finetune":
            it.cached = models.get(it.name) is not None and models[it.name].done
        elif it.stage == "generate":
            it.cached = answers.get(it.name) is not None and answers[it.name].done
        elif it.stage == "judge":
            system = it.name.split(" (")[0]
            it.cached = any(
                judged.get((j, system)) for j in pipe.cfg.judging.judges if load_judge(j).name == it.detail["judge"]
            )
    return None
