"""Judging plans: `gsnr-bench judge --dry-run` (calls and estimated cost, nothing sent) and the judging
section of the manifest (which judges, models, endpoints and prices; never a key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gsnr_bench.core.progress import stdout_console

if TYPE_CHECKING:
    from gsnr_bench.core.config import Config
    from gsnr_bench.pipeline import Pipeline


def _placeholder(n_tokens: int) -> str:
    # ~4 characters per token (judging/cost.py's estimate): a stand-in for answers not generated yet
    return "x" * (4 * n_tokens)


def plan(pipe: Pipeline, selectors: list[str]) -> list[dict[str, Any]]:
    """One row per (judge, system): comparisons, calls, cached calls, tokens and cost. Real answers are used
    where their stage is done; otherwise each answer is costed at generation.max_new_tokens tokens.
    Nothing runs and nothing is sent (Pipeline.plan only looks stages up)."""
    from gsnr_bench.judging.cache import judge_cache_path, judge_run_id
    from gsnr_bench.judging.spec import load_judge
    from gsnr_bench.judging.stage import dry_run
    from gsnr_bench.pipeline import BASELINE

    cfg, root = pipe.cfg, pipe.store.root
    layout = pipe.plan(selectors)
    answers = _generated(pipe, layout.answers())
    rows = []
    for judge in cfg.judging.judges:
        spec = load_judge(judge)
        for system, cell in layout.cells.items():
            jsd = cell.judgments.get(judge)
            out = jsd.path / "judgments.jsonl" if jsd is not None else None
            items = _comparisons(pipe, system, answers)
            dr = dry_run(
                items,
                spec,
                cfg.judging,
                out,
                judge_cache_path(root, cfg.judging),
                run_id=judge_run_id(root, cfg.judging),
            )
            generated = system in answers and BASELINE in answers
            row = {"judge": spec.name, "model": spec.model, "system": system}
            rows.append({**row, "answers": "generated" if generated else "estimated", **dr.to_dict()})
    return rows


def _generated(pipe: Pipeline, dirs: dict[str, Any]) -> dict[str, dict[tuple[str, str], str]]:
    """system -> {(testset, question id): answer} for each system whose answers stage is done."""
    from gsnr_bench.core.fileio import read_jsonl

    return {
        name: {
            (r["testset"], r["question_id"]): r["answer"]
            for t in pipe.testsets
            for r in read_jsonl(sd.path / f"{t}.jsonl", tolerant=True)
        }
        for name, sd in dirs.items()
        if sd is not None and sd.done
    }


def _comparisons(pipe: Pipeline, system: str, answers: dict[str, dict[tuple[str, str], str]]) -> list[Any]:
    """Every comparison of `system`, a stand-in of generation.max_new_tokens tokens for an answer not made yet."""
    from gsnr_bench.judging.stage import Comparison
    from gsnr_bench.pipeline import BASELINE

    stand_in = _placeholder(pipe.cfg.generation.max_new_tokens)
    sys_ans, base_ans = answers.get(system, {}), answers.get(BASELINE, {})
    return [
        Comparison(
            q.testset,
            q.question_id,
            q.text,
            system,
            sys_ans.get((q.testset, q.question_id), stand_in),
            BASELINE,
            base_ans.get((q.testset, q.question_id), stand_in),
        )
        for qs in pipe.judged_testsets().values()
        for q in qs
    ]


def print_dry_run(pipe: Pipeline, selectors: list[str]) -> list[dict[str, Any]]:
    from rich.table import Table

    rows = plan(pipe, selectors)
    out = stdout_console()
    t = Table(title="judging plan (dry run: nothing is sent)")
    for col in (
        "judge",
        "model",
        "system",
        "answers",
        "comparisons",
        "calls",
        "cached",
        "est. tokens in/out",
        "est. cost (USD)",
    ):
        t.add_column(col, justify="left" if col in ("judge", "model", "system", "answers") else "right")
    for r in rows:
        t.add_row(
            r["judge"],
            r["model"],
            r["system"],
            r["answers"],
            str(r["comparisons"]),
            str(r["calls"]),
            str(r["cached_calls"]),
            f"{r['est_prompt_tokens']}/{r['est_completion_tokens']}",
            f"{r['est_cost']:.4f}",
        )
    out.print(t)
    total = sum(r["est_cost"] for r in rows)
    calls = sum(r["calls"] - r["cached_calls"] for r in rows)
    out.print(
        f"total: {calls} calls to send, estimated ${total:.4f}"
        + (
            ""
            if all(r["answers"] == "generated" for r in rows)
            else f" (answers not generated yet are costed at {pipe.cfg.generation.max_new_tokens} tokens each)"
        )
    )
    return rows


def judging_manifest(cfg: Config, root: Any, spent: float) -> dict[str, Any]:
    """The judges of this run as the manifest records them: names, models, endpoints, prices (never a key),
    and what judging has cost: this command (`spent`), and the whole run over all its commands (from the judge
    cache)."""
    from gsnr_bench.judging.cache import judge_cache_path, run_estimated_calls, run_spend
    from gsnr_bench.judging.spec import load_judge

    judges = []
    for j in cfg.judging.judges:
        spec = load_judge(j)
        judges.append(
            {
                "name": spec.name,
                "provider": spec.provider,
                "model": spec.model,
                "base_url": spec.base_url,
                "base_url_env": spec.base_url_env,
                "api_key_env": spec.api_key_env,  # the variable's name, never its value
                "price_input_per_1m": spec.price_input_per_1m,
                "price_output_per_1m": spec.price_output_per_1m,
            }
        )
    return {
        "judging": {
            "judges": judges,
            "prompt": cfg.judging.prompt,
            "order": cfg.judging.order,
            "combine": cfg.judging.combine,
            "spent_usd_this_command": round(spent, 6),
            "spent_usd_run": round(run_spend(root, cfg.judging), 6),
            "cache": str(judge_cache_path(root, cfg.judging)),
            # "estimated" when any paid call's usage was missing or invalid (judging/cost.py), with how many
            "spend_usage": "estimated" if (n_est := run_estimated_calls(root, cfg.judging)) else "reported",
            "spend_usage_estimated_calls": n_est,
            "max_cost": cfg.judging.max_cost,
        }
    }
