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

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsnr_bench.core.errors import ConfigError, DataError, GsnrError
from gsnr_bench.core.progress import stdout_console

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline

CHARS_PER_TOKEN = 4  # judging/cost.py's estimate, used for every token count of the plan


@lru_cache(maxsize=1)
def plan_data() -> dict[str, Any]:
    from gsnr_bench.core import yaml12

    return yaml12.load((Path(__file__).with_name("plan_data.yaml")).read_text(encoding="utf-8"))


def _tokens(chars: float) -> float:
    return chars / CHARS_PER_TOKEN


@dataclass
class Sizes:
    """What the plan knows about the inputs, and from where."""

    pool: int
    prompt_tokens: float  # mean per training example, the Alpaca template included
    response_tokens: float
    testsets: dict[str, tuple[int, float]]  # name -> (questions, mean question tokens)
    proxy_params: int
    target_params: int
    sources: dict[str, str] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)  # inputs not on this machine (the plan used known sizes)


# ------------------------------------------------------------------ sizes
def _template_chars(with_input: float) -> float:
    from gsnr_bench.domain.templates import build_prompt

    plain, with_in = len(build_prompt("x", "")), len(build_prompt("x", "y"))
    return (1 - with_input) * (plain - 1) + with_input * (with_in - 2)


def _is_hub_name(spec: str) -> bool:
    return not Path(spec).expanduser().exists()


def params_of_config(cfg: dict[str, Any]) -> int:
    """Parameters of a GPT-2 or LLaMA-style config.json (weights are never loaded)."""
    v = int(cfg.get("vocab_size", 0))
    if "n_layer" in cfg:  # GPT-2: per block 12 d^2 (attention 4 d^2, MLP 8 d^2), tied embeddings, positions
        d, layer_count = int(cfg["n_embd"]), int(cfg["n_layer"])
        inner = int(cfg.get("n_inner") or 4 * d)
        return layer_count * (4 * d * d + 2 * d * inner) + v * d + int(cfg.get("n_positions", 0)) * d
    if "num_hidden_layers" in cfg:  # LLaMA and kin: attention 4 d^2 (no GQA discount), gated MLP 3 d f
        d, layer_count = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
        f = int(cfg.get("intermediate_size") or 4 * d)
        heads = v * d * (1 if cfg.get("tie_word_embeddings") else 2)
        return layer_count * (4 * d * d + 3 * d * f) + heads
    raise DataError(f"cannot count the parameters of a {cfg.get('model_type', 'unknown')} config")


def model_params(spec: str, which: str, demo: Any, sizes_needs: list[str], sources: dict[str, str]) -> int:
    from gsnr_bench.core.fileio import read_json

    if spec == "demo":
        layers, embd = (
            (demo.proxy_layers, demo.proxy_embd) if which == "proxy" else (demo.target_layers, demo.target_embd)
        )
        sources[which] = "demo config"
        return params_of_config({"n_layer": layers, "n_embd": embd, "vocab_size": demo.vocab_size, "n_positions": 512})
    from gsnr_bench.modeling.catalog import resolve_model

    p = Path(resolve_model(spec, which) or spec).expanduser()  # a catalogue name: its fetched directory
    if (p / "config.json").is_file():
        sources[which] = f"{p / 'config.json'}"
        return params_of_config(read_json(p / "config.json"))
    if (p / "adapter_config.json").is_file():
        base = read_json(p / "adapter_config.json").get("base_model_name_or_path", "")
        return model_params(base, which, demo, sizes_needs, sources)
    known = plan_data()["models"].get(spec)
    if known is None:
        raise DataError(
            f"the plan needs the size of {which} model {spec!r}: give a local directory with its config.json, "
            "or add it to the models of gsnr_bench/commands/plan_data.yaml"
        )
    sources[which] = f"plan_data.yaml ({known['source']})"
    sizes_needs.append(
        f"{which} model {spec} (hub; not loaded, {known['params'] / 1e9:.2f}B parameters from the table)"
    )
    return int(known["params"])


def plan_sizes(pipe: Pipeline) -> Sizes:
    """Pool, test sets and model sizes from local files where they are, else from the known table."""
    c, data = pipe.cfg, plan_data()
    needs: list[str] = []
    sources: dict[str, str] = {}
    if c.data.train == "demo":
        d = data["datasets"]["demo"]
        n = min(c.demo.pool_size, c.data.max_examples or c.demo.pool_size)
        prompt, response, with_input = d["prompt_chars"], d["response_chars"], d["with_input"]
        sources["pool"] = f"demo config (lengths: plan_data.yaml, {d['source']})"
    elif not _is_hub_name(c.data.train):
        pool = pipe.sources.real_pool
        n = len(pool)
        prompt = sum(len(e.instruction) + len(e.input) for e in pool) / n
        response = sum(len(e.output) for e in pool) / n
        with_input = sum(1 for e in pool if e.input) / n
        sources["pool"] = c.data.train
    else:
        d = data["datasets"].get(c.data.train)
        if d is None:
            raise DataError(
                f"the plan needs the size of training pool {c.data.train!r}: download it and pass the file, "
                "or add it to the datasets of gsnr_bench/commands/plan_data.yaml"
            )
        n = min(int(d["examples"]), c.data.max_examples or int(d["examples"]))
        prompt, response, with_input = d["prompt_chars"], d["response_chars"], d["with_input"]
        sources["pool"] = f"plan_data.yaml ({d['source']})"
        needs.append(f"training pool {c.data.train} (hub; not loaded, {n} examples from the table)")
    testsets: dict[str, tuple[int, float]] = {}
    for spec in c.data.testsets:
        name, count, chars = _testset_size(pipe, spec, needs, sources)
        if c.data.max_questions:
            count = min(count, c.data.max_questions)
        testsets[name] = (count, _tokens(chars))
    proxy = model_params(c.proxy.model, "proxy", c.demo, needs, sources) if c.proxy.model else 0
    target = model_params(c.finetune.model, "target", c.demo, needs, sources) if c.finetune.model else 0
    return Sizes(
        pool=n,
        prompt_tokens=_tokens(prompt + _template_chars(with_input)),
        response_tokens=_tokens(response),
        testsets=testsets,
        proxy_params=proxy,
        target_params=target,
        sources=sources,
        needs=needs,
    )


def _testset_size(pipe: Pipeline, spec: str, needs: list[str], sources: dict[str, str]) -> tuple[str, int, float]:
    from gsnr_bench.data.testsets import load_testset, local_copy

    known = plan_data()["testsets"]
    if spec.startswith("demo-"):
        count = pipe.cfg.demo.wizardlm_questions if spec == "demo-wizardlm" else pipe.cfg.demo.vicuna_questions
        sources[spec] = "demo config"
        return spec, count, known[spec]["chars"]
    local = local_copy(spec)  # a file or a cached copy; never a download
    if local is None:
        needs.append(f"test set {spec} (not cached; {known[spec]['questions']} questions from the table)")
        sources[spec] = f"plan_data.yaml ({known[spec]['source']})"
        return spec, int(known[spec]["questions"]), known[spec]["chars"]
    qs = load_testset(local)
    sources[qs[0].testset] = local.split("=", 1)[-1]
    return qs[0].testset, len(qs), sum(len(q.text) for q in qs) / len(qs)


# ------------------------------------------------------------------ work per stage
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
    n, N = sizes.pool, sizes.proxy_params
    items, seen = [], set()
    for s in selectors:
        spec = reg.get(s)
        p = {**spec.params, **c.selection.params.get(s, {})}
        family = spec.target.rsplit(":", 1)[-1]
        if family == "GsnrSelector":
            shared = {k: v for k, v in p.items() if k not in ("variant", "eps")}
            key = ("gsnr", json.dumps(shared, sort_keys=True, default=str))  # list values (LoRA targets) included
            passes = int(p["members"]) * int(p["epochs"])
            item = Item(
                "score",
                s,
                passes * n * tok * 4 * N,
                "train",
                detail={"passes": passes, "members": int(p["members"]), "epochs": int(p["epochs"])},
            )
        elif family == "GradsSelector":
            key = (s,)
            ft = 0 if p.get("finetune") == "none" else int(p["ft_epochs"])
            factor = 6 if p.get("finetune") == "full" else 4
            flops = ft * n * tok * factor * N + n * tok * 6 * N  # preliminary fine-tune + per-example gradients
            item = Item("score", s, flops, "train", detail={"passes": ft + 1, "epochs": ft})
        elif family in ("SuperfilteringIfd", "CherryIfd"):
            key = (s,)
            item = Item("score", s, n * (tok + sizes.response_tokens) * 2 * N, "forward", detail={"passes": 2})
        else:  # random, longest (tokenizer only), the oracle controls: no model work
            key = (s,)
            item = Item("score", s, 0.0, "forward", detail={"passes": 0})
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
        if not pipe.sources.demo.world and _is_hub_name(pipe.cfg.data.train):
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
    from gsnr_bench.domain.budgets import Size, budget, budget_n
    from gsnr_bench.pipeline import BASELINE, system_name

    rates = plan_data()["hardware"][hardware]
    cells = pipe.cells(selectors)
    items = score_items(pipe, selectors, sizes)
    items.append(finetune_item(BASELINE, sizes.pool, pipe, sizes))
    for s, r in cells:
        n = budget_n(r.n, sizes.pool) if isinstance(r, Size) else budget(r, sizes.pool, pipe.cfg.selection.budget_base)
        items.append(finetune_item(system_name(s, r), n, pipe, sizes))
    names = [system_name(s, r) for s, r in cells]
    items += [generate_item(name, pipe, sizes) for name in [BASELINE, *names]]
    items += judge_items(pipe, names, sizes)
    lookup = mark_cached(pipe, selectors, items)
    for it in items:
        it.detail["gpu_hours"] = it.flops / float(rates[it.kind]) / 3600 if it.kind in rates else 0.0
    rows = []
    for stage in STAGES:
        group = [it for it in items if it.stage == stage]
        left = [it for it in group if not it.cached]
        rows.append(
            {
                "stage": stage,
                "items": len(group),
                "cached": sum(1 for it in group if it.cached),
                "unknown": sum(1 for it in group if it.cached is None),
                "left": len(left),
                "work_left": _work(stage, left),
                "gpu_hours_left": sum(it.detail["gpu_hours"] for it in left),
                "gpu_hours_total": sum(it.detail["gpu_hours"] for it in group),
                "usd_left": sum(it.usd for it in left),
                "usd_total": sum(it.usd for it in group),
            }
        )
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
        "inputs": {
            "pool_examples": sizes.pool,
            "mean_example_tokens": round(sizes.prompt_tokens + sizes.response_tokens, 1),
            "testsets": {k: v[0] for k, v in sizes.testsets.items()},
            "proxy_params": sizes.proxy_params,
            "target_params": sizes.target_params,
            "sources": sizes.sources,
        },
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


def _spent(pipe: Pipeline) -> float:
    from gsnr_bench.judging.cache import run_spend

    return run_spend(pipe.store.root, pipe.cfg.judging) if pipe.store.exists else 0.0


def _work(stage: str, items: list[Item]) -> str:
    def total(k: str) -> int:
        return int(sum(it.detail.get(k, 0) for it in items))

    if not items:
        return "-"
    if stage == "score":
        parts = [
            f"{it.name}: {it.detail['passes']} pass(es)"
            + (f" ({it.detail['members']} members x {it.detail['epochs']} epochs)" if "members" in it.detail else "")
            for it in items
        ]
        return "; ".join(parts) + f"; {total('tokens'):,} tokens"
    if stage == "finetune":
        return (
            f"{len(items)} fine-tune(s): {total('examples'):,} examples, {total('steps'):,} optimizer steps, "
            f"{total('tokens'):,} tokens"
        )
    if stage == "generate":
        per = items[0].detail
        return (
            f"{len(items)} system(s) x {per['prompts']} prompts x {per['max_new_tokens']} max_new_tokens = "
            f"{total('tokens'):,} tokens at most"
        )
    return (
        f"{total('calls'):,} calls ({total('comparisons'):,} comparisons), "
        f"{total('tokens_in'):,} in / {total('tokens_out'):,} out tokens"
    )


def print_plan(plan: dict[str, Any]) -> None:
    from rich.table import Table

    out = stdout_console()
    t = Table(title=f"sweep plan (dry run: nothing runs, nothing is sent) -- {plan['run_dir']}")
    hours = "CPU-h" if plan["hardware"] == "cpu" else "GPU-h"
    for col in ("stage", "items", "cached", "left", "work left", f"{hours} left ({plan['hardware']})", "USD left"):
        t.add_column(col, justify="left" if col in ("stage", "work left") else "right")
    for r in plan["stages"]:
        cached = f"{r['cached']}" + (f" (+{r['unknown']} unknown)" if r["unknown"] else "")
        t.add_row(
            r["stage"],
            str(r["items"]),
            cached,
            str(r["left"]),
            r["work_left"],
            f"{r['gpu_hours_left']:.3g}" if r["stage"] != "judge" else "-",
            f"{r['usd_left']:.2f}" if r["stage"] == "judge" else "-",
        )
    out.print(t)
    tot = plan["totals"]
    out.print(
        f"total left: {tot['gpu_hours_left']:.3g} {'CPU' if plan['hardware'] == 'cpu' else 'GPU'}-hours on "
        f"{plan['hardware']} "
        f"({plan['hardware_description']}), judges ${tot['usd_left']:.2f}"
        + (f" (already spent ${tot['usd_spent']:.2f})" if tot["usd_spent"] else "")
    )
    if tot["max_cost"] is not None:
        verdict = "within" if tot["within_max_cost"] else "EXCEEDS"
        out.print(
            f"max cost: ${tot['usd_spent'] + tot['usd_left']:.2f} planned of ${tot['max_cost']:g}: {verdict} "
            "judging.max_cost" + ("" if tot["within_max_cost"] else " (judging would stop there; raise --max-cost)")
        )
    else:
        out.print("max cost: no judging.max_cost set (judging is not bounded; set --max-cost)")
    if plan["cache_lookup"] != "ok":
        out.print(f"cached: unknown: {plan['cache_lookup']}")
    for need in plan["needs"]:
        out.print(f"needs: {need}")
    out.print("estimates: tokens = characters / 4; GPU-hours = FLOPs / effective FLOP/s (plan_data.yaml, docs/plan.md)")
