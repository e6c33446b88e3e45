"""A judged cell and its record, cell.json: what the report needs to know about the cell, written into the judging
stage before any comparison is sent (reporting/collect.py reads it back).

`CellRecord`, the typed form of cell.json, lives in domain/cell.py: reporting reads it back through it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsnr_bench.core.fileio import read_json, read_jsonl, write_json
from gsnr_bench.domain.budgets import budget_label, budget_ratio
from gsnr_bench.domain.cell import CELL_VERSION, CellLengths, CellRecord
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.names import BASELINE, FINETUNE_LOGGING
from gsnr_bench.run.store import StageDir, content_hash


@dataclass
class Cell:
    """One selector x budget of a sweep and the stages it was made from."""

    selector: str
    ratio: Any  # a ratio (float) or an absolute budget (budgets.Size)
    system: str
    scores: StageDir
    subset: StageDir
    model: StageDir
    baseline_model: StageDir


def cell_record(deps: StageDeps, cell: Cell, spec: Any, sys_sd: StageDir, base_sd: StageDir) -> CellRecord:
    """The record of `cell` judged by `spec` (a JudgeSpec), its answers in `sys_sd`, the baseline's in `base_sd`."""
    c, src = deps.cfg, deps.sources
    skipped = skipped_questions(deps, sys_sd, base_sd)
    protocol = {
        "baseline_answers": base_sd.key,
        "prompt": c.judging.prompt,
        "order": c.judging.order,
        "combine": c.judging.combine if c.judging.order == "both" else None,
    }
    if c.judging.max_questions:  # a sampled cell is its own protocol (its own row), never mixed with a full one
        protocol["max_questions"] = c.judging.max_questions
    logs = {cell.system: cell.model.path / "train_log.jsonl", BASELINE: cell.baseline_model.path / "train_log.jsonl"}
    truth = src.truth_file()
    return CellRecord(
        version=CELL_VERSION,
        system=cell.system,
        baseline=BASELINE,
        judge=spec.name,
        judge_model=spec.model,
        selector=cell.selector,
        ratio=budget_ratio(cell.ratio, len(src.inputs.pool)),
        budget=budget_label(cell.ratio),
        dataset=src.inputs.pool_name,
        target_model=src.target_label(),
        regime=c.finetune.regime,
        protocol="p-" + content_hash(protocol, 8),
        protocol_detail={
            **protocol,
            "pool": src.inputs.pool_key,
            "target": src.inputs.target_key,
            "finetune": c.finetune.model_dump(mode="json", exclude=FINETUNE_LOGGING),
            "generation": c.generation.model_dump(mode="json"),
        },
        scores=deps.rel(cell.scores.path / "scores.jsonl"),
        subset=deps.rel(cell.subset.path),
        train_logs={k: deps.rel(v) for k, v in logs.items()},
        truth=deps.rel(truth) if truth else None,
        testsets={
            t: [q.question_id for q in qs if str(q.question_id) not in skipped[t]]
            for t, qs in src.judged_testsets().items()
        },
        skipped={t: sorted(ids) for t, ids in skipped.items() if ids},
        prompt_version=c.judging.prompt,
        run_name=c.name,
        lengths=_lengths(deps, cell, sys_sd, base_sd),
    )


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else float("nan")


def _lengths(deps: StageDeps, cell: Cell, sys_sd: StageDir, base_sd: StageDir) -> CellLengths:
    """The answers to join token counts from, the training subset's and the pool's mean response length, and
    where the pool's lengths are kept."""
    lengths, unit, path = pool_lengths(deps)
    ids = [r["id"] for r in read_jsonl(cell.subset.path / "selection.jsonl")]
    return CellLengths(
        unit=unit,
        pool_len=round(_mean(list(lengths.values())), 4),
        train_len=round(_mean([lengths[i] for i in ids if i in lengths]), 4),
        pool_lengths=deps.rel(path),
        answers={cell.system: deps.rel(sys_sd.path), BASELINE: deps.rel(base_sd.path)},
    )


def pool_lengths(deps: StageDeps) -> tuple[dict[str, int], str, Path]:
    """Response length of every pool example in proxy tokens (what `longest` ranks by), or characters when
    the proxy's tokenizer cannot be loaded; cached in RUN/cache/lengths/ by pool and proxy content."""
    from gsnr_bench.core.errors import GsnrError
    from gsnr_bench.selection.longest import response_lengths

    inp = deps.sources.inputs
    path = deps.store.root / "cache" / "lengths" / f"{content_hash([inp.pool_key, inp.proxy_key], 16)}.json"
    if path.is_file():
        data = read_json(path)
        return data["lengths"], data["unit"], path
    try:
        lengths, unit = response_lengths(inp.pool, "tokens", inp.proxy), "tokens"
    except (GsnrError, OSError, ValueError):
        lengths, unit = response_lengths(inp.pool, "chars"), "chars"
    table = {e.id: int(n) for e, n in zip(inp.pool, lengths)}
    write_json(path, {"lengths": table, "unit": unit})
    return table, unit, path


def skipped_questions(deps: StageDeps, sys_sd: StageDir, base_sd: StageDir) -> dict[str, set[str]]:
    """Per test set, the questions either side skipped as too long (generation/long_prompts.py)."""
    from gsnr_bench.generation.long_prompts import excluded_questions

    return {
        t: {str(q) for q in excluded_questions(sys_sd.path / f"{t}.jsonl", base_sd.path / f"{t}.jsonl")}
        for t in deps.sources.testsets
    }
