"""Loading the proxy LM for scoring: eval mode (dropout off), frozen, fused tanh-GELU, a pad id."""

from __future__ import annotations

from typing import Any

from gsnr_bench.modeling.loading import load_causal_lm, load_tokenizer, resolve_device


def load_proxy(proxy: str, device: str = "auto", dtype: str = "float32") -> tuple[Any, Any, int, str]:
    """-> (tokenizer, model, pad_id, device). GPT-2 has no pad token: any id works for right padding
    (pads are never attended to by real tokens nor scored), so we use eos."""
    dev = resolve_device(device)
    tok = load_tokenizer(proxy)
    model = load_causal_lm(proxy, device=dev, dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    fuse_gelu(model)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    return tok, model, int(pad_id), dev


def fuse_gelu(model) -> None:
    """GPT-2's gelu_new is the tanh GELU; torch's fused kernel computes the same function faster."""
    from transformers.activations import ACT2FN, NewGELUActivation

    for mod in model.modules():
        act = getattr(mod, "act", None)
        if isinstance(act, NewGELUActivation):
            mod.act = ACT2FN["gelu_pytorch_tanh"]


def context_limit(model, wanted: int | None) -> int:
    """max_length capped by the proxy's position table (GPT-2: n_positions), with a one-line notice;
    None = the whole context."""
    from gsnr_bench.modeling.context import cap_length, model_positions

    positions = model_positions(model.config)
    if wanted is None:
        return int(positions) if positions else 1024
    name = getattr(model.config, "_name_or_path", "") or "the proxy"
    return cap_length(wanted, positions, key="proxy.max_length", model=name)
