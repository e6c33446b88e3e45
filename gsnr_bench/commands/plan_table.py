"""The sweep plan printed: one row per stage (items, cached, work left, hours, dollars) and its totals."""

from __future__ import annotations

from typing import Any

from gsnr_bench.commands.plan_items import Item
from gsnr_bench.core.progress import stdout_console


def work_left(stage: str, items: list[Item]) -> str:
    def total(k: str) -> int:
        return int(sum(it.detail.get(k, 0) for it in items))

    if not items:
        return "-"
    if stage == "score":
        parts = [
            f"{it.name}: {it.detail['passes']} pass(es)"
            + (f" ({it.detail['members']} members x {it.detail['epochs']} epochs)" if "members" in it.detail else "")
            for it in items
        ]
        return "; ".join(parts) + f"; {total('tokens'):,} tokens"
    if stage == "finetune":
        return (
            f"{len(items)} fine-tune(s): {total('examples'):,} examples, {total('steps'):,} optimizer steps, "
            f"{total('tokens'):,} tokens"
        )
    if stage == "generate":
        per = items[0].detail
        return (
            f"{len(items)} system(s) x {per['prompts']} prompts x {per['max_new_tokens']} max_new_tokens = "
            f"{total('tokens'):,} tokens at most"
        )
    return (
        f"{total('calls'):,} calls ({total('comparisons'):,} comparisons), "
        f"{total('tokens_in'):,} in / {total('tokens_out'):,} out tokens"
    )


def print_plan(plan: dict[str, Any]) -> None:
    from rich.table import Table

    out = stdout_console()
    t = Table(title=f"sweep plan (dry run: nothing runs, nothing is sent) -- {plan['run_dir']}")
    hours = "CPU-h" if plan["hardware"] == "cpu" else "GPU-h"
    for col in ("stage", "items", "cached", "left", "work left", f"{hours} left ({plan['hardware']})", "USD left"):
        t.add_column(col, justify="left" if col in ("stage", "work left") else "right")
    for r in plan["stages"]:
        cached = f"{r['cached']}" + (f" (+{r['unknown']} unknown)" if r["unknown"] else "")
        t.add_row(
            r["stage"],
            str(r["items"]),
            cached,
            str(r["left"]),
            r["work_left"],
            f"{r['gpu_hours_left']:.3g}" if r["stage"] != "judge" else "-",
            f"{r['usd_left']:.2f}" if r["stage"] == "judge" else "-",
        )
    out.print(t)
    tot = plan["totals"]
    out.print(
        f"total left: {tot['gpu_hours_left']:.3g} {'CPU' if plan['hardware'] == 'cpu' else 'GPU'}-hours on "
        f"{plan['hardware']} "
        f"({plan['hardware_description']}), judges ${tot['usd_left']:.2f}"
        + (f" (already spent ${tot['usd_spent']:.2f})" if tot["usd_spent"] else "")
    )
    if tot["max_cost"] is not None:
        verdict = "within" if tot["within_max_cost"] else "EXCEEDS"
        out.print(
            f"max cost: ${tot['usd_spent'] + tot['usd_left']:.2f} planned of ${tot['max_cost']:g}: {verdict} "
            "judging.max_cost" + ("" if tot["within_max_cost"] else " (judging would stop there; raise --max-cost)")
        )
    else:
        out.print("max cost: no judging.max_cost set (judging is not bounded; set --max-cost)")
    if plan["cache_lookup"] != "ok":
        out.print(f"cached: unknown: {plan['cache_lookup']}")
    for need in plan["needs"]:
        out.print(f"needs: {need}")
    out.print("estimates: tokens = characters / 4; GPU-hours = FLOPs / effective FLOP/s (plan_data.yaml, docs/plan.md)")
