"""The answers stage: one fine-tuned model's answers to every test question (generation/stage.py), keyed by the
model stage, the questions' content and the generation settings."""

from __future__ import annotations

from typing import Any

from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.run.store import StageDir, content_hash


def answers(deps: StageDeps, model_sd: StageDir, name: str) -> StageDir:
    testsets = deps.sources.testsets
    qkey = {t: content_hash([q.to_dict() for q in qs]) for t, qs in testsets.items()}
    key = {"model": model_sd.key, "questions": qkey, "generation": deps.cfg.generation.stage_key()}
    sd = deps.store.stage("answers", name, key)

    def work() -> dict[str, Any]:
        from gsnr_bench.generation.stage import generate

        questions = [q for qs in deps.sources.testsets.values() for q in qs]
        with deps.runner.progress(f"generate {name}") as prog:
            generate(model_sd.path, questions, deps.cfg.generation, sd.path, progress=prog)
        return {"system": name}

    return deps.runner.run(sd, work)
