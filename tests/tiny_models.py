"""Tiny offline models for the tests and benches: targets for training/generation (a byte-level BPE trained on a
few strings and a random-init 2-layer GPT-2 or Llama) and proxies for the selectors (`build_tiny_proxy`, a GPT-2
with dropout, and `tiny_pool`). Nothing is downloaded. Import the fixtures into a test module to use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsnr_bench.domain.records import Example, Question

TEXT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request. ### Instruction: ### Input: ### Response: "
    "the a of to and in is what how why write explain list name colour red green blue one two three four five"
)


def build_tokenizer(path: Path, *, eos: bool = True, pad: bool = True) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator([TEXT, TEXT.lower(), "0123456789 .,:!?\n"] * 3, trainer)
    kw = {}
    if eos:
        kw["eos_token"] = "<|endoftext|>"
    if pad:
        kw["pad_token"] = "<pad>"
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, **kw)
    tok.save_pretrained(path)
    return path


def build_tiny_gpt2(
    path: Path,
    *,
    eos: bool = True,
    pad: bool = True,
    n_positions: int = 256,
    n_embd: int = 64,
    n_layer: int = 2,
    seed: int = 0,
) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(path, eos=eos, pad=pad)
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=2,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


def build_tiny_llama(
    path: Path, *, hidden: int = 64, n_layer: int = 2, max_positions: int = 256, seed: int = 0
) -> Path:
    """A random-init 2-layer Llama (the paper's targets' architecture) with the same local tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(path)
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=n_layer,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def examples(n: int = 24) -> list[Example]:
    """A learnable toy task: name the colour for a number (deterministic mapping)."""
    colours = ["red", "green", "blue"]
    out = []
    for i in range(n):
        inp = "" if i % 2 else f"number {i % 5}"
        out.append(
            Example(
                id=f"ex{i}",
                instruction=f"What is colour {i % 3}?",
                input=inp,
                output=f"The colour is {colours[i % 3]}.",
            )
        )
    return out


def questions(testset: str = "toy", n: int = 5) -> list[Question]:
    return [Question(testset=testset, question_id=str(i), text=f"What is colour {i % 3}?") for i in range(n)]


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny") / "gpt2")


@pytest.fixture(scope="session")
def tiny_gpt2_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A different base (wider): an adapter of tiny_gpt2 must not load on it."""
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny") / "gpt2-wide", n_embd=96)


# ------------------------------------------------------------------ selector proxies and pools
PROXY_WORDS = (
    "the a an of to and in is was for on with as by at from that this it be are or not but what how why "
    "write explain list give name describe summarize translate answer question story poem code number "
    "water fire earth air light dark quick brown fox jumps over lazy dog one two three four five six seven"
)


def build_tiny_proxy(
    path: str | Path,
    *,
    n_layer: int = 2,
    n_embd: int = 32,
    n_head: int = 2,
    vocab_size: int = 300,
    n_positions: int = 256,
    seed: int = 0,
    activation: str = "gelu_new",
) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    corpus = [PROXY_WORDS, PROXY_WORDS.upper(), "0123456789 .,;:!?\n### Response: Instruction: Input: Below"] * 4
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(corpus, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tok.save_pretrained(path)
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        activation_function=activation,
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


def tiny_pool(n: int = 16, seed: int = 0, max_words: int = 40):
    """Random Examples of varied lengths from PROXY_WORDS (some with input, some without)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = PROXY_WORDS.split()
    say = lambda k: " ".join(rng.choice(words, size=max(1, k)))  # noqa: E731
    pool = []
    for i in range(n):
        inp = say(int(rng.integers(1, 8))) if rng.random() < 0.5 else ""
        pool.append(Example(f"ex{i}", say(int(rng.integers(2, 10))), inp, say(int(rng.integers(1, max_words)))))
    return pool
