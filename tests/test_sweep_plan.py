"""`gsnr-bench run --dry-run`: the sweep plan validates like the run, runs/sends/writes nothing, needs no hub, and
its counts follow from the config (fine-tune examples and steps, scoring passes, generations, judge calls)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import ROOT

SMALL = [
    "--set",
    "demo.pool_size=100",
    "--set",
    "demo.wizardlm_questions=7",
    "--set",
    "demo.vicuna_questions=5",
    "--selector",
    "gsnr",
    "random",
    "--ratio",
    "0.1",
    "0.2",
]
PAPER = sorted(p.stem for p in (ROOT / "configs" / "paper").glob("*.yaml"))


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*")}


def _stages(plan: dict) -> dict[str, dict]:
    return {r["stage"]: r for r in plan["stages"]}


def test_demo_plan_counts_follow_from_the_config_and_nothing_is_written(cli, tmp_path):
    before = _tree(tmp_path)
    out = tmp_path / "plan.json"
    res = cli("run", "--dry-run", "--run-dir", str(tmp_path / "run"), *SMALL, "--json", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "run").exists()
    assert set(_tree(tmp_path)) - set(before) == {"plan.json"}  # --json is the one file written
    for word in ("score", "finetune", "generate", "judge", "CPU-h left (cpu)"):
        assert word in res.stdout
    plan = json.loads(out.read_text())
    st = _stages(plan)
    assert plan["new_run"] and plan["hardware"] == "cpu" and plan["needs"] == []
    # fine-tunes: the 100% model + 2 selectors x (10 + 20) examples; steps = ceil(n / 4) x 3 epochs (demo.yaml)
    ft = {i["name"]: i for i in plan["items"] if i["stage"] == "finetune"}
    assert {k: v["examples"] for k, v in ft.items()} == {
        "full": 100,
        "gsnr@0.1": 10,
        "gsnr@0.2": 20,
        "random@0.1": 10,
        "random@0.2": 20,
    }
    assert all(v["steps"] == math.ceil(v["examples"] / 4) * 3 for v in ft.values())
    assert st["finetune"]["items"] == st["finetune"]["left"] == 5 and st["finetune"]["cached"] == 0
    # scoring: the G-SNR ensemble is 5 members x 2 epochs; random does no model work
    sc = {i["name"]: i for i in plan["items"] if i["stage"] == "score"}
    assert sc["gsnr"]["passes"] == 10 and sc["random"]["passes"] == 0 and sc["random"]["flops"] == 0
    # generation: 5 systems x 12 prompts x 48 new tokens (demo.yaml)
    gen = [i for i in plan["items"] if i["stage"] == "generate"]
    assert len(gen) == 5 and all(i["tokens"] == 12 * 48 for i in gen)
    # judging: 4 cells x (12 questions + 2 null pairs per test set), one order (shuffle), reference judge: free
    judge = [i for i in plan["items"] if i["stage"] == "judge"]
    assert len(judge) == 4 and all(i["calls"] == 16 and i["tokens_in"] > 0 for i in judge)
    assert plan["totals"]["usd_left"] == 0.0 and plan["totals"]["gpu_hours_left"] > 0


def test_both_orders_double_the_calls(cli, tmp_path):
    out = tmp_path / "plan.json"
    args = ["run", "--dry-run", "--run-dir", str(tmp_path / "run"), *SMALL, "--json", str(out)]
    assert cli(*args, "--set", "judging.order=both", cwd=tmp_path).returncode == 0
    judge = [i for i in json.loads(out.read_text())["items"] if i["stage"] == "judge"]
    assert all(i["calls"] == 2 * i["comparisons"] == 32 for i in judge)


def test_judging_a_sample_of_questions_plans_only_those(cli, tmp_path):
    out = tmp_path / "plan.json"
    args = ["run", "--dry-run", "--run-dir", str(tmp_path / "run"), *SMALL, "--json", str(out)]
    no_null = ["--set", "judging.null_pairs=0"]
    assert cli(*args, *no_null, "--set", "judging.max_questions=3", cwd=tmp_path).returncode == 0
    judge = [i for i in json.loads(out.read_text())["items"] if i["stage"] == "judge"]
    assert judge and all(i["calls"] == i["comparisons"] == 3 * 2 for i in judge)  # 3 questions x 2 test sets
    assert cli(*args, "--set", "judging.max_questions=0", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("preset", PAPER)
def test_every_paper_preset_plans_offline_from_known_sizes(cli, tmp_path, preset):
    out = tmp_path / "plan.json"
    res = cli(
        "run",
        "--dry-run",
        "--config",
        f"paper/{preset}",
        "--run-dir",
        str(tmp_path / "run"),
        "--json",
        str(out),
        "--max-cost",
        "1",
        cwd=tmp_path,
        env={"GSNR_BENCH_DATA_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "cache"), "OPENAI_API_KEY": ""},
    )
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
    plan = json.loads(out.read_text())
    assert plan["hardware"] == "a100-80gb" and plan["inputs"]["pool_examples"] == 52002
    assert any("hub; not loaded" in n for n in plan["needs"])  # says what it did not load
    size = 13e9 if "13b" in preset else 6.7e9
    assert plan["inputs"]["target_params"] == pytest.approx(size, rel=0.03)
    ft = {i["name"]: i for i in plan["items"] if i["stage"] == "finetune"}
    assert ft["gsnr@0.05"]["examples"] == round(0.05 * 52002)  # budget_base 52002
    judge = [i for i in plan["items"] if i["stage"] == "judge"]
    # 298 questions, both orders, for gpt (priced) and qwen (self-hosted: $0)
    assert {i["judge"] for i in judge} == {"gpt", "qwen"} and all(i["calls"] == 2 * 298 for i in judge)
    assert all((i["usd"] > 0) == (i["judge"] == "gpt") for i in judge)
    assert plan["totals"]["within_max_cost"] is (plan["totals"]["usd_left"] <= 1)
    assert ("EXCEEDS" in res.stdout) is (not plan["totals"]["within_max_cost"])


def test_full_fine_tunes_cost_more_gpu_hours_than_lora(cli, tmp_path):
    hours = {}
    for regime in ("lora", "full"):
        out = tmp_path / f"{regime}.json"
        res = cli("run", "--dry-run", "--config", f"paper/alpaca-llama2-7b-{regime}", "--json", str(out), cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        hours[regime] = _stages(json.loads(out.read_text()))["finetune"]["gpu_hours_left"]
    assert hours["full"] == pytest.approx(1.5 * hours["lora"], rel=1e-6)  # 6N vs 4N FLOPs per token


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--selector", "nope"], "unknown selector"),
        (["--judge", "nope"], "unknown judge"),
        (["--hardware", "tpu-v9"], "unknown --hardware"),
        (["--set", "selection.ratios=[2.0]"], "outside (0, 1]"),
    ],
)
def test_plan_validates_like_the_run(cli, tmp_path, extra, message):
    res = cli("run", "--dry-run", "--run-dir", str(tmp_path / "run"), *SMALL, *extra, cwd=tmp_path)
    assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_plan_flags_need_dry_run(cli, tmp_path):
    res = cli("run", "--run-dir", str(tmp_path / "run"), "--json", str(tmp_path / "p.json"), cwd=tmp_path)
    assert res.returncode == 2 and "--dry-run" in res.stderr
    assert not (tmp_path / "run").exists()


def test_parameter_counts_from_config_match_the_real_models(tmp_path):
    """The plan counts parameters from config.json alone; they match the instantiated models."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from gsnr_bench.commands.plan_sizes import params_of_config

    g = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=128)
    n = sum(p.numel() for p in GPT2LMHeadModel(g).parameters())
    assert params_of_config(g.to_dict()) == pytest.approx(n, rel=0.02)
    cfg = LlamaConfig(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=172,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=500,
    )
    n = sum(p.numel() for p in LlamaForCausalLM(cfg).parameters())
    assert params_of_config(cfg.to_dict()) == pytest.approx(n, rel=0.02)


def test_throughput_table_documents_every_entry():
    from gsnr_bench.commands.sweep_plan import plan_data

    data = plan_data()
    for name, entry in data["hardware"].items():
        assert entry["source"] and all(float(entry[k]) > 0 for k in ("train", "forward", "decode")), name
    for section in ("models", "datasets", "testsets"):
        assert all(e.get("source") for e in data[section].values()), section


def test_no_commands_import_cycle():
    """commands/dry_run.py and commands/runs.py no longer import each other (run_spend lives in judging)."""
    src = {m: (ROOT / "gsnr_bench" / "commands" / f"{m}.py").read_text() for m in ("dry_run", "runs")}

    def imports(text, mod):
        return f"from .{mod} " in text or f"from gsnr_bench.commands.{mod} " in text

    assert not imports(src["dry_run"], "runs") and imports(src["runs"], "dry_run")


def test_small_subsets_plan_the_steps_min_steps_gives_them():
    from types import SimpleNamespace

    from gsnr_bench.commands.plan_items import finetune_item
    from gsnr_bench.training.config import FinetuneConfig

    sizes = SimpleNamespace(prompt_tokens=40, response_tokens=60, target_params=1e8)
    f = dict(epochs=1, batch_size=8, micro_batch_size=2)
    capped = SimpleNamespace(cfg=SimpleNamespace(finetune=FinetuneConfig(**f, min_steps=30)))
    plain = SimpleNamespace(cfg=SimpleNamespace(finetune=FinetuneConfig(**f, min_steps=0)))
    assert finetune_item("a@0.05", 25, capped, sizes).detail["steps"] == 13  # batch 2: ceil(25 / 2)
    assert finetune_item("a@0.05", 25, plain, sizes).detail["steps"] == 4  # batch 8: ceil(25 / 8)
    assert finetune_item("full", 500, capped, sizes).detail["steps"] == 63  # large enough: batch 8 kept
