"""Modules stay small enough to read (docs/ARCHITECTURE.md: about 400 lines); a longer one is listed here with
the reason it is one module, so growth past the limit is a decision, never an accident."""

from __future__ import annotations

from pathlib import Path

LIMIT = 400
LONGER = {  # module -> (lines it may reach, why it is still one module)
    "judging/stage.py": (660, "one concurrent judging loop: retries, re-asks, budget and cache share its state"),
    "commands/sweep_plan.py": (540, "the dry-run plan: one item builder per stage and the table that prints them"),
    "generation/vllm.py": (510, "the vLLM engine's lifecycle: start, watch, signals, shutdown belong together"),
    "selection/grads.py": (510, "GrADS end to end: preliminary fine-tune, per-example gradients, density"),
    "cli.py": (490, "the argument parser of every command, one table of flags per command"),
    "data/demo.py": (410, "the offline demo world: pool, defects, test sets and tiny models, built together"),
}


def test_no_module_grows_past_its_limit_unnoticed():
    root = Path(__file__).resolve().parent.parent / "gsnr_bench"
    sizes = {p.relative_to(root).as_posix(): len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    over = {m: n for m, n in sizes.items() if n > LONGER.get(m, (LIMIT,))[0]}
    assert not over, f"modules over their limit (split them, or list them in LONGER with a reason): {over}"
    assert all(m in sizes for m in LONGER), "a listed module no longer exists: remove it from LONGER"
