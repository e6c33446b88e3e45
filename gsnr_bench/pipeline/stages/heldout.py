"""The heldout stage (judge-free): held-out reference answers scored under one fine-tuned model
(generation/heldout.py); heldout.json says which system it is and where its 100% model's scores are
(reporting/heldout.py pairs them by record)."""

from __future__ import annotations

from typing import Any

from gsnr_bench.core.fileio import write_json
from gsnr_bench.domain.budgets import budget_ratio
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.names import BASELINE
from gsnr_bench.run.store import StageDir, content_hash


def heldout(
    deps: StageDeps,
    model_sd: StageDir,
    name: str,
    baseline: StageDir | None = None,
    cell: tuple[str, Any] | None = None,
    baseline_model: StageDir | None = None,
) -> StageDir:
    """`cell` is (selector, budget) of a sweep cell, None for the 100% model (whose scores are `baseline`'s)."""
    recs = deps.sources.heldout_examples
    max_length = deps.cfg.heldout.max_length or deps.cfg.finetune.max_length
    key = {
        "model": model_sd.key,
        "records": content_hash([e.to_dict() for e in recs]),
        "max_length": max_length,
        "version": 1,
    }
    sd = deps.store.stage("heldout", name, key)

    def work() -> dict[str, Any]:
        from gsnr_bench.generation.heldout import score_heldout

        with deps.runner.progress(f"held-out score {name}") as prog:
            score_heldout(
                model_sd.path,
                recs,
                sd.path,
                max_length=max_length,
                batch_size=deps.cfg.heldout.batch_size,
                progress=prog,
            )
        write_json(sd.path / "heldout.json", _record(deps, model_sd, name, baseline, cell, baseline_model, max_length))
        return {"system": name}

    return deps.runner.run(sd, work)


def _record(
    deps: StageDeps,
    model_sd: StageDir,
    name: str,
    baseline: StageDir | None,
    cell: tuple[str, Any] | None,
    baseline_model: StageDir | None,
    max_length: int,
) -> dict[str, Any]:
    """heldout.json: which system this is, its model, and where its 100% model's scores are."""
    return {
        "version": 1,
        "system": name,
        "selector": cell[0] if cell else BASELINE,
        "ratio": budget_ratio(cell[1], len(deps.sources.inputs.pool)) if cell else 1.0,
        "baseline": BASELINE,
        "baseline_scores": deps.rel(baseline.path / "scores.jsonl") if baseline is not None else None,
        "model": deps.rel(model_sd.path),
        "baseline_model": deps.rel(baseline_model.path) if baseline_model is not None else None,
        "source": deps.sources.heldout_source(),
        "records": len(deps.sources.heldout_examples),
        "max_length": max_length,
    }
