"""Modules stay small enough to read (docs/ARCHITECTURE.md: about 400 lines); a longer one is listed here with
the reason it is one module, so growth past the limit is a decision, never an accident."""

from __future__ import annotations

from pathlib import Path

LIMIT = 400
LONGER = {  # module -> (lines it may reach, why it is still one module)
    "data/demo.py": (410, "the offline demo world: pool, defects, test sets and tiny models, built together"),
}


def test_no_module_grows_past_its_limit_unnoticed():
    root = Path(__file__).resolve().parent.parent / "gsnr_bench"
    sizes = {p.relative_to(root).as_posix(): len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    over = {m: n for m, n in sizes.items() if n > LONGER.get(m, (LIMIT,))[0]}
    assert not over, f"modules over their limit (split them, or list them in LONGER with a reason): {over}"
    assert all(m in sizes for m in LONGER), "a listed module no longer exists: remove it from LONGER"
