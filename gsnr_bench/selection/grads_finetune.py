"""GrADS's preliminary fine-tune of the proxy (full, LoRA, embedding and head only, or none): which parameters
train, restoring them from the cache, and the AdamW loop (selection/grads.py lists the choices)."""

from __future__ import annotations

from typing import Any, Callable

from gsnr_bench.selection.encoding import Encoded


def prepare_finetune(model, p: dict[str, Any], proxy_name: str = "proxy") -> dict[str, Any]:
    """Mark the parameters the fine-tune trains; -> {name: parameter} (LoRA: attaches one adapter)."""
    mode = p["finetune"]
    for prm in model.parameters():
        prm.requires_grad_(False)
    if mode == "none":
        return {}
    if mode == "full":
        out = dict(model.named_parameters())  # tied weights appear once
    elif mode == "embedding":
        emb, head = model.get_input_embeddings(), model.get_output_embeddings()
        out = {"input_embeddings": emb.weight}
        if head.weight is not emb.weight:
            out["output_embeddings"] = head.weight
        if getattr(head, "bias", None) is not None:
            out["output_bias"] = head.bias
    else:
        from gsnr_bench.selection.lora import attach

        layers, _ = attach(
            model,
            p["lora_target"],
            1,
            p["lora_rank"],
            p["lora_alpha"],
            seed=p["seed"],
            proxy_name=f"proxy {proxy_name!r}",
        )
        out = {f"lora{i}.{k}": getattr(l, k) for i, l in enumerate(layers) for k in ("A", "B")}
    for prm in out.values():
        prm.requires_grad_(True)
    return out


def load_trainable(model, trainable: dict[str, Any], state: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for k, prm in trainable.items():
            prm.copy_(state[k])


def preliminary_finetune(
    model,
    trainable: dict[str, Any],
    enc: Encoded,
    idx: list[int],
    *,
    pad_id: int,
    device: Any,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
    max_tokens: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """AdamW (no weight decay, constant lr) on the mean of per-example token-mean response losses, dropout
    off, seeded length-bucketed order; steps larger than max_tokens padded tokens are split into
    micro-batches (gradient accumulation). -> the per-step losses."""
    import torch

    from gsnr_bench.selection.ensemble import EngineConfig, epoch_plan
    from gsnr_bench.selection.losses import trunk_and_head

    trunk, head = trunk_and_head(model)
    params = list({id(v): v for v in trainable.values()}.values())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    lengths = [len(s) for s in enc.ids]
    cfg = EngineConfig(members=1, batch_size=batch_size, seed=seed, epochs=epochs, record_epochs=[])
    plan = [(e, step[0]) for e in range(1, epochs + 1) for step in epoch_plan(idx, lengths, cfg, e)]
    hist = []
    for k, (_, batch) in enumerate(plan):
        total = _accumulate(trunk, head, enc, batch, lengths, pad_id, device, max_tokens)
        opt.step()
        opt.zero_grad(set_to_none=True)
        hist.append(total / len(batch))
        if progress:
            progress(k + 1, len(plan))
    return hist


def _accumulate(trunk, head, enc: Encoded, batch: list[int], lengths: list[int], pad_id: int, device, max_tokens: int):
    """One optimizer step's gradients, in micro-batches of at most max_tokens padded tokens; -> the summed loss."""
    import torch

    from gsnr_bench.selection.losses import example_mean_losses, pad_right, scored_positions

    T = max(lengths[i] for i in batch)
    chunk = max(1, max_tokens // max(1, T))
    total = 0.0
    for c0 in range(0, len(batch), chunk):
        part = batch[c0 : c0 + chunk]
        seqs = [enc.ids[i] for i in part]
        ids = pad_right(seqs, pad_id, device)
        rows, pos = scored_positions(seqs, [enc.start[i] for i in part], device)
        losses = example_mean_losses(trunk(input_ids=ids)[0], head, ids, rows, pos, len(part))
        losses = torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses))
        (losses.sum() / len(batch)).backward()
        total += float(losses.detach().sum())
    return total
