"""Alpaca prompts, masking (loss only on response tokens), length policy and tokenizer checks."""

from __future__ import annotations

import pytest

from gsnr_bench.core.errors import DataError
from gsnr_bench.domain.records import Example
from gsnr_bench.domain.templates import (
    IGNORE_INDEX,
    Collator,
    build_prompt,
    encode_example,
    encode_examples,
    prepare_tokenizer,
)

from tiny_models import build_tokenizer


@pytest.fixture(scope="module")
def tok(tiny_gpt2):
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(tiny_gpt2))


def test_prompts_match_design():
    assert build_prompt("Do X", "") == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the request."
        "\n\n### Instruction:\nDo X\n\n### Response:"
    )
    with_input = build_prompt("Do X", "the {input}")
    assert with_input.startswith("Below is an instruction that describes a task, paired with an input")
    assert with_input.endswith("### Instruction:\nDo X\n\n### Input:\nthe {input}\n\n### Response:")
    assert build_prompt("Do X", "  ") == build_prompt("Do X")


def test_labels_mask_prompt_and_end_with_eos(tok):
    ex = Example("1", "What is colour 1?", "number 3", "The colour is green.")
    feats, cut = encode_example(tok, ex, 256)
    n_prompt = len(tok(build_prompt(ex.instruction, ex.input))["input_ids"])
    assert not cut
    assert feats["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    target = feats["labels"][n_prompt:]
    assert IGNORE_INDEX not in target and target[-1] == tok.eos_token_id
    assert tok.decode(target[:-1]) == ex.output
    assert feats["input_ids"][n_prompt:] == target


def test_loss_counts_only_response_tokens(tok, tiny_gpt2):
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    exs = [
        Example("1", "What is colour 1?", "", "The colour is green."),
        Example("2", "Name two", "red blue", "one two three"),
    ]
    batch = Collator(tok.pad_token_id)(encode_examples(tok, exs, 256).features)
    with torch.no_grad():
        out = model(**batch)
    logits, labels = out.logits[:, :-1], batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    manual = F.cross_entropy(logits[keep], labels[keep])
    assert torch.allclose(out.loss, manual, atol=1e-5)
    # changing a prompt token's label contribution is impossible: prompt positions are all ignored
    n_prompt = len(tok(build_prompt(exs[0].instruction))["input_ids"])
    assert not keep[0, : n_prompt - 1].any() and keep[0, n_prompt - 1]
    assert batch["attention_mask"][0].sum() == len(encode_example(tok, exs[0], 256)[0]["input_ids"])


def test_long_prompts_are_skipped_counted_or_rejected(tok):
    exs = [Example("short", "Hi", "", "ok"), Example("long", "word " * 200, "", "ok")]
    enc = encode_examples(tok, exs, 64)
    assert enc.skipped == ["long"] and len(enc.features) == 1
    assert all(len(f["input_ids"]) <= 64 for f in enc.features)
    with pytest.raises(DataError, match="max_length=64"):
        encode_examples(tok, exs, 64, on_long_prompt="error")
    with pytest.raises(DataError, match="raise finetune.max_length"):
        encode_examples(tok, exs[1:], 64)


def test_target_truncated_to_max_length(tok):
    enc = encode_examples(tok, [Example("1", "Hi", "", "red " * 100)], 80)
    assert enc.truncated == 1 and len(enc.features[0]["input_ids"]) == 80


def test_tokenizer_without_eos_is_refused_and_pad_falls_back_to_eos(tmp_path):
    from transformers import AutoTokenizer

    no_eos = AutoTokenizer.from_pretrained(build_tokenizer(tmp_path / "a", eos=False))
    with pytest.raises(DataError, match="no EOS token"):
        prepare_tokenizer(no_eos)
    no_pad = prepare_tokenizer(AutoTokenizer.from_pretrained(build_tokenizer(tmp_path / "b", pad=False)))
    assert no_pad.pad_token_id == no_pad.eos_token_id
