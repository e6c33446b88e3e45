"""generation.long_prompts: a question longer than the model's context is truncated, skipped, or an error."""

from __future__ import annotations

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.domain.records import Question
from gsnr_bench.domain.templates import build_prompt, load_template
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.long_prompts import JOIN, excluded_questions, fit_question
from gsnr_bench.generation.stage import generate

WORDS = lambda text: len(text.split())  # noqa: E731  a token counter for the pure tests
LONG = "START " + " ".join(f"w{i}" for i in range(300)) + " please answer END?"


def test_fit_keeps_template_head_tail_and_question_end():
    positions, new = 120, 20
    f = fit_question(LONG, count=WORDS, positions=positions, max_new_tokens=new, policy="truncate")
    assert f.status == "truncated" and "exceeds the model's 120 positions" in f.reason
    assert WORDS(f.prompt) <= positions - new
    head, tail = load_template("noinput").split("{instruction}")
    assert f.prompt.startswith(head) and f.prompt.endswith(tail)
    assert "please answer END?" + tail in f.prompt and "START" in f.prompt and JOIN in f.prompt
    assert WORDS(f.prompt) >= positions - new - 3  # the longest cut that fits, not a short one
    short = fit_question("Hi there?", count=WORDS, positions=positions, max_new_tokens=new, policy="error")
    assert short.status == "ok" and short.prompt == build_prompt("Hi there?")


def test_skip_and_error_policies():
    f = fit_question(LONG, count=WORDS, positions=120, max_new_tokens=20, policy="skip")
    assert f.prompt is None and f.status == "skipped"
    with pytest.raises(DataError, match="generation.long_prompts=truncate .*generation.long_prompts=skip") as e:
        fit_question(LONG, count=WORDS, positions=120, max_new_tokens=20, policy="error", where="wizardlm question 7")
    assert str(e.value).startswith("wizardlm question 7: a prompt of") and "\n" not in str(e.value)
    # not even the template fits: truncation has nothing to cut, the question is skipped
    tiny = fit_question(LONG, count=WORDS, positions=25, max_new_tokens=20, policy="truncate")
    assert tiny.status == "skipped"


def test_excluded_questions_from_both_answer_files(tmp_path):
    sys_rows = [{"question_id": "1"}, {"question_id": "2", "skipped": True}]
    base_rows = [{"question_id": "1"}, {"question_id": "3", "skipped": True}]
    assert excluded_questions(sys_rows, base_rows) == {"2", "3"}
    assert excluded_questions([{"question_id": 4}], []) == set()


@pytest.mark.parametrize("policy", ["truncate", "skip", "error"])
def test_hf_generation_with_a_question_longer_than_the_model(tiny_gpt2, tmp_path, policy, shared_data_or_none):
    from gsnr_bench.generation.hf import HFGenerator
    from gsnr_bench.training.config import FinetuneConfig
    from gsnr_bench.training.finetune import finetune

    from tiny_models import examples

    model = tmp_path / "m"
    finetune(
        examples(4), FinetuneConfig(epochs=1, batch_size=4, micro_batch_size=4, max_length=64), str(tiny_gpt2), model
    )
    long_text = LONG * 3
    if shared_data_or_none is not None:  # a real WizardLM question longer than 256 positions, when present
        from gsnr_bench.data.testsets import load_testset

        long_text = max((q.text for q in load_testset(str(shared_data_or_none / "wizardlm_218.jsonl"))), key=len)
    qs = [Question("wiz", "1", "What is colour 1?"), Question("wiz", "2", long_text)]
    cfg = GenerationConfig(backend="hf", max_new_tokens=8, long_prompts=policy)
    gen = HFGenerator(model, cfg)
    assert gen.count_tokens(build_prompt(long_text)) > 256
    if policy == "error":
        with pytest.raises(DataError, match="wiz question 2: .*long_prompts=truncate"):
            generate(model, qs, cfg, tmp_path / "a", generator=gen)
        return
    rows = read_jsonl(generate(model, qs, cfg, tmp_path / "a", generator=gen)["wiz"])
    assert [r["question_id"] for r in rows] == ["1", "2"] and "skipped" not in rows[0]
    if policy == "truncate":
        assert rows[1]["truncated"] is True and rows[1]["prompt_tokens"] + 8 <= 256
        assert rows[1]["prompt"].endswith(long_text[-20:].strip() + "\n\n### Response:")
        assert excluded_questions(rows, rows) == set()
    else:
        assert rows[1]["skipped"] is True and rows[1]["answer"] == "" and "256 positions" in rows[1]["reason"]
        assert excluded_questions(rows, rows[:1]) == {"2"}
    # resume: both rows count as done, nothing is generated again
    assert generate(model, qs, cfg, tmp_path / "a", generator=None)["wiz"] == tmp_path / "a" / "wiz.jsonl"
    assert len(read_jsonl(tmp_path / "a" / "wiz.jsonl")) == 2


@pytest.fixture
def shared_data_or_none():
    from conftest import SHARED_DATA

    return SHARED_DATA if SHARED_DATA.is_dir() else None
