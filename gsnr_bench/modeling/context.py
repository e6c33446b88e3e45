"""Lengths against the model's context, checked before any work.

`finetune.max_length` and `proxy.max_length` larger than the model's position table (`n_positions`, or
`max_position_embeddings`) are capped to it with a one-line notice on stderr: sequences are cut at the model's
limit (as they would have to be anyway) instead of failing deep inside the forward pass with an IndexError.
Generation checks its own budget (`generation.max_new_tokens` must leave room for a prompt; longer questions
follow `generation.long_prompts`)."""

from __future__ import annotations

from typing import Any

_NOTICED: set[tuple] = set()


def model_positions(config: Any) -> int | None:
    """The number of positions of a transformers config (None when the architecture has no fixed table)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "max_sequence_length"):
        v = getattr(config, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def cap_length(wanted: int, positions: int | None, *, key: str, model: str = "the model") -> int:
    """min(wanted, positions); prints `note: KEY=WANTED exceeds the N positions of MODEL; using N` once per
    process and setting."""
    if not positions or wanted <= positions:
        return wanted
    note = (key, wanted, positions, model)
    if note not in _NOTICED:
        _NOTICED.add(note)
        from gsnr_bench.core.progress import console

        console.print(
            f"note: {key}={wanted} exceeds the {positions} positions of {model}; using {positions}",
            markup=False,
            soft_wrap=True,
        )
    return positions
