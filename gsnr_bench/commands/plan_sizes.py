"""What the sweep plan knows about a run's inputs (`Sizes`): the pool, the test sets and the models' parameter
counts, from local files where they are, else from plan_data.yaml's table (listed as `needs`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsnr_bench.core.errors import DataError

if TYPE_CHECKING:
    from gsnr_bench.pipeline import Pipeline

CHARS_PER_TOKEN = 4  # judging/cost.py's estimate, used for every token count of the plan


@lru_cache(maxsize=1)
def plan_data() -> dict[str, Any]:
    from gsnr_bench.core import yaml12

    return yaml12.load((Path(__file__).with_name("plan_data.yaml")).read_text(encoding="utf-8"))


def tokens_of(chars: float) -> float:
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


def is_hub_name(spec: str) -> bool:
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
    c = pipe.cfg
    needs: list[str] = []
    sources: dict[str, str] = {}
    n, prompt, response, with_input = _pool_size(pipe, needs, sources)
    testsets: dict[str, tuple[int, float]] = {}
    for spec in c.data.testsets:
        name, count, chars = _testset_size(pipe, spec, needs, sources)
        if c.data.max_questions:
            count = min(count, c.data.max_questions)
        testsets[name] = (count, tokens_of(chars))
    proxy = model_params(c.proxy.model, "proxy", c.demo, needs, sources) if c.proxy.model else 0
    target = model_params(c.finetune.model, "target", c.demo, needs, sources) if c.finetune.model else 0
    return Sizes(
        pool=n,
        prompt_tokens=tokens_of(prompt + _template_chars(with_input)),
        response_tokens=tokens_of(response),
        testsets=testsets,
        proxy_params=proxy,
        target_params=target,
        sources=sources,
        needs=needs,
    )


def _pool_size(pipe: Pipeline, needs: list[str], sources: dict[str, str]) -> tuple[int, float, float, float]:
    """(examples, mean prompt chars, mean response chars, share with an input) of the training pool."""
    c, data = pipe.cfg, plan_data()
    if c.data.train == "demo":
        d = data["datasets"]["demo"]
        sources["pool"] = f"demo config (lengths: plan_data.yaml, {d['source']})"
        n = min(c.demo.pool_size, c.data.max_examples or c.demo.pool_size)
        return n, d["prompt_chars"], d["response_chars"], d["with_input"]
    if not is_hub_name(c.data.train):
        pool = pipe.sources.real_pool
        n = len(pool)
        sources["pool"] = c.data.train
        return (
            n,
            sum(len(e.instruction) + len(e.input) for e in pool) / n,
            sum(len(e.output) for e in pool) / n,
            sum(1 for e in pool if e.input) / n,
        )
    d = data["datasets"].get(c.data.train)
    if d is None:
        raise DataError(
            f"the plan needs the size of training pool {c.data.train!r}: download it and pass the file, "
            "or add it to the datasets of gsnr_bench/commands/plan_data.yaml"
        )
    n = min(int(d["examples"]), c.data.max_examples or int(d["examples"]))
    sources["pool"] = f"plan_data.yaml ({d['source']})"
    needs.append(f"training pool {c.data.train} (hub; not loaded, {n} examples from the table)")
    return n, d["prompt_chars"], d["response_chars"], d["with_input"]


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
