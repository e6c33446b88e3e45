"""The generation stage: answers for every test question, appended in chunks so an interrupted run resumes.

out_dir/<testset>.jsonl holds one `Answer` per line (plus `truncated`/`skipped` and `reason` for a question
longer than the model's context: see long_prompts.py). On restart, questions already answered are skipped; rows
written under other generation parameters are refused rather than mixed into one answer file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from gsnr_bench.core.errors import ConfigError, DataError
from gsnr_bench.core.fileio import append_jsonl, read_jsonl
from gsnr_bench.domain.records import Answer, Question
from gsnr_bench.generation.base import Generator, gen_params, question_prompt
from gsnr_bench.generation.config import GenerationConfig
from gsnr_bench.generation.long_prompts import Fitted, fit_question

ProgressFn = Callable[[str, int, int], None]


def choose_backend(name: str) -> str:
    """`auto`: vLLM when it is importable and CUDA is up, else Hugging Face."""
    if name != "auto":
        return name
    if importlib.util.find_spec("vllm") is None:
        return "hf"
    import torch

    return "vllm" if torch.cuda.is_available() else "hf"


def release_engines() -> None:
    """Shut down a generation engine this process still holds (vLLM's), so judging or the next stage gets its
    memory back. A no-op when the vLLM backend was never loaded (it is not imported here for nothing)."""
    mod = sys.modules.get("gsnr_bench.generation.vllm_engine")
    if mod is not None:
        mod.close_engines()


def build_generator(backend: str, model_dir: Path, cfg: GenerationConfig) -> Generator:
    from gsnr_bench.core.registry import generators, import_target

    spec = generators().get(backend)
    return import_target(spec.target)(model_dir, cfg)


def group_by_testset(questions: list[Question]) -> dict[str, list[Question]]:
    groups: dict[str, list[Question]] = {}
    for q in questions:
        groups.setdefault(q.testset, []).append(q)
    for name, qs in groups.items():
        ids = [q.question_id for q in qs]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"test set {name!r} has question id {dup!r} more than once")
    return groups


def _answered(path: Path, params: dict[str, Any]) -> set[str]:
    if not path.exists():
        return set()
    rows = read_jsonl(path, tolerant=True)
    for r in rows:
        if r.get("gen_params") != params:
            raise DataError(
                f"{path} holds answers generated with {r.get('gen_params')}, not {params}; delete it to regenerate"
            )
    return {str(r["question_id"]) for r in rows}


def _fit(generator: Generator, chunk: list[Question], cfg: GenerationConfig) -> list[Fitted]:
    """Each question's prompt under generation.long_prompts. A backend that exposes `max_positions` and
    `count_tokens(text)` gets prompts that fit; one that does not gets the full prompts (it checks itself)."""
    positions = getattr(generator, "max_positions", None)
    count = getattr(generator, "count_tokens", None)
    if not positions or count is None:
        return [Fitted(question_prompt(q), "ok") for q in chunk]
    if cfg.max_new_tokens >= positions:
        raise ConfigError(
            f"generation.max_new_tokens={cfg.max_new_tokens} leaves no room for a prompt in the "
            f"model's {positions} positions; lower generation.max_new_tokens"
        )
    return [
        fit_question(
            q.text,
            count=count,
            positions=positions,
            max_new_tokens=cfg.max_new_tokens,
            policy=cfg.long_prompts,
            where=f"{q.testset} question {q.question_id}",
        )
        for q in chunk
    ]


def _generate_in_steps(generator: Generator, prompts: list[str], step: int, done: Callable[[int], None]) -> list:
    """generator.generate over `prompts`, `step` prompts per call, calling done(prompts answered) after each."""
    out: list = []
    for i in range(0, len(prompts), step):
        out.extend(generator.generate(prompts[i : i + step]))
        if i + step < len(prompts):  # the chunk's own progress line follows its last step
            done(len(out))
    return out


def generate(
    model_dir: Path,
    questions: list[Question],
    cfg: GenerationConfig,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    generator: Generator | None = None,
) -> dict[str, Path]:
    """Answer `questions` with the model in `model_dir` (what finetune wrote); returns {testset: answers path}.
    `generator` injects a ready backend (tests, or one engine reused across calls)."""
    out_dir = Path(out_dir)
    backend = generator.name if generator is not None else choose_backend(cfg.backend)
    params = gen_params(cfg, backend)
    paths: dict[str, Path] = {}
    for testset, qs in group_by_testset(questions).items():
        path = paths[testset] = out_dir / f"{testset}.jsonl"
        done = _answered(path, params)
        todo = [q for q in qs if q.question_id not in done]
        finished = len(qs) - len(todo)
        if progress:
            progress(testset, finished, len(qs))
        for i in range(0, len(todo), cfg.chunk_size):
            if generator is None:  # loaded only when something is left to answer
                generator = build_generator(backend, model_dir, cfg)
            chunk = todo[i : i + cfg.chunk_size]
            fitted = _fit(generator, chunk, cfg)
            run = [(q, f) for q, f in zip(chunk, fitted) if f.prompt is not None]
            comps = _generate_in_steps(
                generator,
                [f.prompt for _, f in run],
                # HF batches prompts itself, so feeding it one batch at a time changes no answer and lets the
                # screen move per batch; vLLM schedules a whole chunk at once and is given it whole
                cfg.batch_size if backend == "hf" else max(1, len(run)),
                lambda k, base=finished: progress(testset, base + k, len(qs)) if progress else None,
            )
            if len(comps) != len(run):
                raise DataError(f"backend {backend!r} returned {len(comps)} answers for {len(run)} prompts")
            by_id = {q.question_id: c for (q, _), c in zip(run, comps)}
            rows = []
            for q, f in zip(chunk, fitted):  # question order kept; a skipped question gets a marker record
                if f.prompt is None:
                    rows.append(
                        {
                            **Answer(
                                testset=q.testset,
                                question_id=q.question_id,
                                prompt=question_prompt(q),
                                answer="",
                                prompt_tokens=0,
                                completion_tokens=0,
                                gen_params=params,
                            ).to_dict(),
                            "skipped": True,
                            "reason": f.reason,
                        }
                    )
                    continue
                c = by_id[q.question_id]
                row = Answer(
                    testset=q.testset,
                    question_id=q.question_id,
                    prompt=f.prompt,
                    answer=c.text,
                    prompt_tokens=c.prompt_tokens,
                    completion_tokens=c.completion_tokens,
                    gen_params=params,
                ).to_dict()
                if f.status == "truncated":
                    row.update(truncated=True, reason=f.reason)
                rows.append(row)
            append_jsonl(path, rows)
            finished += len(chunk)
            if progress:
                progress(testset, finished, len(qs))
    return paths
