"""Validate before any work: a target whose context cannot hold the template plus generation.max_new_tokens,
a test question that does not fit under long_prompts=error, and LoRA target modules the architecture lacks all
fail in one line before anything is written (issue 24: a run died at generation after 12 minutes)."""

from __future__ import annotations

import json

import pytest

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.generation.long_prompts import check_questions_fit
from gsnr_bench.training.lora_targets import check_lora_targets

from tiny_models import build_tiny_gpt2, build_tiny_llama


@pytest.fixture(scope="module")
def short_target(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("short") / "gpt2", n_positions=64, n_embd=32)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "llama")


@pytest.fixture
def inputs(tmp_path):
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"instruction": f"Name colour {i}.", "input": "", "output": "red"} for i in range(40)]))
    qs = tmp_path / "qs.jsonl"
    rows = [{"question_id": 1, "category": "x", "turns": ["What is red?"]}]
    rows.append({"question_id": 2, "category": "x", "turns": [" ".join(["why is the colour red"] * 30)]})
    qs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return pool, qs


def _generate(cli, target, pool, qs, run, *extra):
    return cli(
        "generate",
        "--train-data",
        str(pool),
        "--target",
        str(target),
        "--selector",
        "random",
        "--testset",
        f"toy={qs}",
        "--run-dir",
        str(run),
        *extra,
    )


def _one_line_error(res) -> str:
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("gsnr-bench: error: "), res.stderr
    return lines[0]


def test_too_long_max_new_tokens_fails_before_any_work(cli, short_target, inputs, tmp_path):
    pool, qs = inputs
    run = tmp_path / "run"
    res = _generate(cli, short_target, pool, qs, run, "--set", "generation.max_new_tokens=512")
    line = _one_line_error(res)
    assert "generation.max_new_tokens=512" in line and "64 positions" in line and "lower" in line
    assert not (run / "config.yaml").exists() and not (run / "scores").exists()  # nothing recorded, nothing run


def test_long_question_under_error_policy_is_named_before_any_work(cli, short_target, inputs, tmp_path):
    pool, qs = inputs
    run = tmp_path / "run"
    extra = ("--set", "generation.max_new_tokens=16", "--set", "generation.long_prompts=error")
    line = _one_line_error(_generate(cli, short_target, pool, qs, run, *extra))
    assert "toy question 2" in line and "exceeds the model's 64 positions" in line
    assert not (run / "config.yaml").exists()


def test_check_questions_fit_counts_what_generation_will_do(short_target):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(short_target)

    def count(t):
        return len(tok(t)["input_ids"])

    texts = [("q1", "What is red?"), ("q2", " ".join(["why is the colour red"] * 30))]
    kw = dict(count=count, positions=64, max_new_tokens=16)
    assert check_questions_fit(texts, policy="truncate", **kw) == {"ok": 1, "truncated": 1, "skipped": 0}
    assert check_questions_fit(texts, policy="skip", **kw) == {"ok": 1, "truncated": 0, "skipped": 1}
    with pytest.raises(ConfigError, match="at most"):
        check_questions_fit(texts, policy="truncate", count=count, positions=64, max_new_tokens=60)


def test_lora_targets_checked_against_the_architecture(llama, short_target):
    assert check_lora_targets(str(llama), ["q_proj", "k_proj", "v_proj", "o_proj"]) == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
    ]
    assert check_lora_targets(str(llama), ["self_attn.q_proj"]) == ["self_attn.q_proj"]  # dotted suffix, as peft
    assert check_lora_targets(str(short_target), None) == ["c_attn"]  # peft's default for GPT-2
    with pytest.raises(ConfigError, match="'c_attn', which is no module .* q_proj"):
        check_lora_targets(str(llama), ["c_attn"])
    with pytest.raises(ConfigError, match="'self_attn', a LlamaAttention .* not a layer LoRA can adapt"):
        check_lora_targets(str(llama), ["self_attn"])
    with pytest.raises(DataError, match="cannot read the config"):
        check_lora_targets(str(llama / "nowhere"), ["q_proj"])


def test_wrong_lora_target_fails_the_command_before_any_work(cli, llama, inputs, tmp_path):
    pool, qs = inputs
    run = tmp_path / "run"
    res = cli(
        "finetune",
        "--train-data",
        str(pool),
        "--target",
        str(llama),
        "--selector",
        "random",
        "--run-dir",
        str(run),
        "--set",
        "finetune.lora.targets=[q_proj, c_attn]",
    )
    line = _one_line_error(res)
    assert "finetune.lora.targets names 'c_attn'" in line and "q_proj" in line
    assert not (run / "config.yaml").exists()
