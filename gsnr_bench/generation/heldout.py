"""The judge-free held-out score: how likely a fine-tuned model finds held-out reference answers.

For each held-out record (instruction, input, reference output) the model reads the prompt exactly as it was
trained (the Alpaca template, templates.encode_example: prompt tokens masked, answer + EOS scored) and we take
the mean log-probability per answer token. A record's value is that mean; a model's score is the mean over
records. Higher = the model puts more probability on good answers to questions it never trained on. The report
compares each subset model with the 100% model record by record (reporting/heldout.py).

out_dir/scores.jsonl holds one row per record {id, tokens, logprob_sum, mean_logprob, truncated}, appended in
chunks, so a killed stage resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import append_jsonl, read_jsonl
from gsnr_bench.domain.records import Example, Question

ProgressFn = Callable[[str, int, int], None]
SCORES = "scores.jsonl"


def heldout_records(
    source: Sequence[Example], pool: Sequence[Example], *, max_records: int, seed: int
) -> list[Example]:
    """Records not in the pool (by instruction + input), with a non-empty answer, each question once; a seeded
    sample of max_records of them, in source order."""
    import numpy as np

    in_pool = {(e.instruction.strip(), e.input.strip()) for e in pool}
    seen: set[tuple[str, str]] = set()
    keep = []
    for e in source:
        k = (e.instruction.strip(), e.input.strip())
        if k in in_pool or k in seen or not e.output.strip():
            continue
        seen.add(k)
        keep.append(e)
    if not keep:
        raise DataError("no held-out record is left once the pool's questions and empty answers are removed")
    if len(keep) > max_records:
        idx = sorted(np.random.default_rng(seed).choice(len(keep), size=max_records, replace=False).tolist())
        keep = [keep[i] for i in idx]
    return keep


def records_from_questions(questions: Sequence[Question]) -> list[Example]:
    """Test questions with reference answers as held-out records (the demo: disjoint from the pool)."""
    out = [Example(f"{q.testset}-{q.question_id}", q.text, "", q.reference or "") for q in questions if q.reference]
    if not out:
        raise DataError("heldout.data=demo needs test questions with reference answers")
    return out


def score_heldout(
    model_dir: Path,
    records: Sequence[Example],
    out_dir: Path,
    *,
    max_length: int,
    batch_size: int,
    progress: ProgressFn | None = None,
) -> Path:
    """Score every record under the fine-tuned model in model_dir (what finetune wrote); resumes."""
    out = Path(out_dir) / SCORES
    done = {r["id"] for r in read_jsonl(out, tolerant=True)} if out.is_file() else set()
    todo = [e for e in records if e.id not in done]
    if progress:
        progress("held-out", len(records) - len(todo), len(records))
    if not todo:
        return out
    from gsnr_bench.domain.templates import encode_example, prepare_tokenizer
    from gsnr_bench.modeling.artifacts import load_for_inference
    from gsnr_bench.modeling.loading import resolve_device

    device = resolve_device("auto")
    model, tok, _ = load_for_inference(model_dir, device=device, dtype="float32")
    tok = prepare_tokenizer(tok)
    finished = len(records) - len(todo)
    todo = sorted(todo, key=lambda e: len(e.instruction) + len(e.input) + len(e.output))  # less padding per batch
    for i in range(0, len(todo), batch_size):
        chunk = todo[i : i + batch_size]
        feats = [encode_example(tok, e, max_length) for e in chunk]
        rows = []
        fit = [(e, f, cut) for e, (f, cut) in zip(chunk, feats) if f is not None]
        for e, (f, _) in zip(chunk, feats):
            if f is None:  # the prompt alone fills max_length: nothing to score, recorded, never guessed
                rows.append({"id": e.id, "tokens": 0, "logprob_sum": None, "mean_logprob": None, "truncated": True})
        sums = _logprobs(model, [f for _, f, _ in fit], tok.pad_token_id, device) if fit else []
        for (e, f, cut), (n, s) in zip(fit, sums):
            rows.append({"id": e.id, "tokens": n, "logprob_sum": s, "mean_logprob": s / n, "truncated": bool(cut)})
        append_jsonl(out, rows)
        finished += len(chunk)
        if progress:
            progress("held-out", finished, len(records))
    return out


def _logprobs(model, feats: list[dict], pad: int, device: str) -> list[tuple[int, float]]:
    """(answer tokens, sum of their log-probabilities) per example, one right-padded batch."""
    import torch

    width = max(len(f["input_ids"]) for f in feats)
    ids = torch.full((len(feats), width), pad, dtype=torch.long)
    labels = torch.full((len(feats), width), -100, dtype=torch.long)
    mask = torch.zeros((len(feats), width), dtype=torch.long)
    for k, f in enumerate(feats):
        n = len(f["input_ids"])
        ids[k, :n] = torch.tensor(f["input_ids"])
        labels[k, :n] = torch.tensor(f["labels"])
        mask[k, :n] = 1
    target = labels[:, 1:].to(device)
    scored = target != -100
    with torch.inference_mode():
        # the LM head only at the scored positions: [tokens, vocab] logits for the answers, not the whole batch
        hidden = model.base_model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        logits = model.get_output_embeddings()(hidden[:, :-1][scored]).float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, target[scored].unsqueeze(-1)).squeeze(-1)
    per_row = torch.zeros(len(feats), dtype=torch.float64).index_add_(
        0, scored.nonzero()[:, 0].cpu(), logp.double().cpu()
    )
    return [(int(n), float(s)) for n, s in zip(scored.sum(-1).tolist(), per_row.tolist())]
