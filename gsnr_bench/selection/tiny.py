"""Tiny offline proxies (random-init GPT-2 + a byte-level BPE trained on a few strings) for tests and the bench.
Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

WORDS = (
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
    corpus = [WORDS, WORDS.upper(), "0123456789 .,;:!?\n### Response: Instruction: Input: Below"] * 4
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
    """Random Examples of varied lengths from WORDS (some with input, some without)."""
    import numpy as np

    from ..records import Example

    rng = np.random.default_rng(seed)
    words = WORDS.split()
    say = lambda k: " ".join(rng.choice(words, size=max(1, k)))  # noqa: E731
    pool = []
    for i in range(n):
        inp = say(int(rng.integers(1, 8))) if rng.random() < 0.5 else ""
        pool.append(Example(f"ex{i}", say(int(rng.integers(2, 10))), inp, say(int(rng.integers(1, max_words)))))
    return pool
