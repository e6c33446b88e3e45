"""The subsets stage: the first n examples of a scores stage's ranking, n from a ratio of the pool or an absolute
budget (domain/budgets.py); and the pool's examples a selection.jsonl lists (also used by commands/launch.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_jsonl, write_jsonl
from gsnr_bench.domain.records import Example
from gsnr_bench.pipeline.deps import StageDeps
from gsnr_bench.pipeline.names import system_name
from gsnr_bench.run.store import StageDir


def subset(deps: StageDeps, scores_sd: StageDir, ratio: Any) -> StageDir:
    from gsnr_bench.domain.budgets import Size, budget, budget_n

    n_pool = len(deps.sources.inputs.pool)
    if isinstance(ratio, Size):  # an absolute budget (--n): exactly n examples
        n = budget_n(ratio.n, n_pool)
        key: dict[str, Any] = {"scores": scores_sd.key, "size": n, "n": n}
    else:
        n = budget(ratio, n_pool, deps.cfg.selection.budget_base)
        key = {"scores": scores_sd.key, "ratio": ratio, "n": n}
    sd = deps.store.stage("subsets", system_name(scores_sd.label, ratio), key)

    def work() -> dict[str, Any]:
        rows = read_jsonl(scores_sd.path / "scores.jsonl")
        chosen = [{"id": r["id"], "rank": r["rank"], "score": r["score"]} for r in rows[:n]]
        short = sum(1 for r in rows[:n] if not r["eligible"])
        write_jsonl(sd.path / "selection.jsonl", chosen)
        return {
            "selector": scores_sd.label,
            "ratio": None if isinstance(ratio, Size) else ratio,
            "n": n,
            "ineligible_filled": short,
            "pool": deps.sources.inputs.pool_key,
        }  # export checks the pool by it

    return deps.runner.run(sd, work)


def examples_in(pool: list[Example], selection: Path, subset_name: str) -> list[Example]:
    """The pool's examples that `selection` (a selection.jsonl) lists, in its order; an id not in the pool is a
    one-line error naming `subset_name`."""
    by_id = {e.id: e for e in pool}
    ids = [str(r["id"]) for r in read_jsonl(selection)]
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise DataError(f"{subset_name} names {len(unknown)} ids not in the pool (first: {unknown[0]!r})")
    return [by_id[i] for i in ids]


def subset_examples(pool: list[Example], sd: StageDir) -> list[Example]:
    """The examples of a subsets stage."""
    return examples_in(pool, sd.path / "selection.jsonl", f"subset {sd.path}")
