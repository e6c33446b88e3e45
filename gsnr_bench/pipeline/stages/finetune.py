"""The models stage: the target fine-tuned on one system's examples (training/finetune.py), keyed by the
examples' ids, the pool, the target's content and the fine-tuning recipe."""

from __future__ import annotations

from typing import Any

from gsnr_bench.core.fileio import read_json
from gsnr_bench.core.progress import console
from gsnr_bench.domain.records import Example
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.names import FINETUNE_LOGGING
from gsnr_bench.run.store import StageDir, content_hash


def model(deps: StageDeps, name: str, examples: list[Example]) -> StageDir:
    inp = deps.sources.inputs
    data_key = content_hash([e.id for e in examples]) + "-" + inp.pool_key
    key = {
        "data": data_key,
        "target": inp.target_key,
        "finetune": deps.cfg.finetune.model_dump(mode="json", exclude=FINETUNE_LOGGING),
    }
    sd = deps.store.stage("models", name, key)
    return deps.runner.run(sd, lambda: _train(deps, sd, name, examples))


def _train(deps: StageDeps, sd: StageDir, name: str, examples: list[Example]) -> dict[str, Any]:
    from gsnr_bench.modeling.artifacts import TRAINED
    from gsnr_bench.training.finetune import finetune

    with deps.runner.progress(f"finetune {name}") as prog:
        finetune(examples, deps.cfg.finetune, deps.sources.inputs.target, sd.path, progress=prog)
    t = read_json(sd.path / TRAINED) if (sd.path / TRAINED).is_file() else {}
    if t.get("batch_capped") and not deps.quiet:
        console.print(
            f"note: {name}: {t['examples']} examples; effective batch {t['effective_batch_size']} instead of "
            f"{t['configured_batch_size']} so it gets {t['global_step']} optimizer steps "
            f"(finetune.min_steps={t['min_steps']}; 0 turns this off)",
            soft_wrap=True,
        )
    return {"system": name, "examples": len(examples)}
