"""Absolute budgets beside ratios: `--n 1000` / `selection.sizes` keep exactly n examples.

A ratio budget is a float (n = round(ratio * N), `budget`); an absolute one is a `Size`. Systems are
named `selector@ratio` (`gsnr@0.1`) and `selector@nN` (`longest@n1000`); `parse_system` reads both back."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Union

from gsnr_bench.core.errors import DataError


def budget(ratio: float, pool_size: int, budget_base: int | None = None) -> int:
    """n = round(ratio * N) of the actual pool, or of a fixed base (Superfiltering uses 52002)."""
    if not (0 < ratio <= 1):
        raise DataError(f"ratio {ratio} is outside (0, 1]")
    base = budget_base if budget_base is not None else pool_size
    n = int(round(ratio * base))
    if n < 1:
        raise DataError(f"ratio {ratio} of {base} examples selects nothing; use a larger ratio or pool")
    if n > pool_size:
        raise DataError(f"budget {n} (ratio {ratio} of base {base}) exceeds the pool of {pool_size} examples")
    return n


@dataclass(frozen=True, order=True)
class Size:
    """An absolute budget: exactly n examples of the pool."""

    n: int

    @property
    def label(self) -> str:
        return f"n{self.n}"

    def __str__(self) -> str:
        return self.label


Budget = Union[float, Size]


def budget_n(n: int, pool_size: int) -> int:
    """An absolute budget of n examples; n above the pool is refused (no silent cap to the pool)."""
    if n < 1:
        raise DataError(f"--n {n}: a budget must select at least one example")
    if n > pool_size:
        raise DataError(f"--n {n} exceeds the pool of {pool_size} examples; use a smaller --n or a larger pool")
    return int(n)


def check_sizes(sizes: list[int], pool_size: int, ratio_ns: dict[float, int]) -> None:
    """Every absolute budget fits the pool and differs from the ratio budgets' sizes (the same n twice would
    train the same subset twice and give two leaderboard cells at one ratio)."""
    for n in sizes:
        budget_n(n, pool_size)
        same = [r for r, k in ratio_ns.items() if k == n]
        if same:
            raise DataError(
                f"--n {n} is the budget of ratio {same[0]:g} ({n} of {pool_size} examples); drop one of them"
            )


def budget_list(selection: Any) -> list[Budget]:
    """The cells' budgets of a SelectionConfig: its ratios, then its absolute sizes."""
    return [float(r) for r in selection.ratios] + [Size(int(n)) for n in getattr(selection, "sizes", [])]


def budget_label(b: Budget) -> str:
    return b.label if isinstance(b, Size) else f"{float(b):g}"


def budget_ratio(b: Budget, pool_size: int) -> float:
    """The fraction of the pool a budget keeps (n / N for an absolute one): the leaderboard's ratio column."""
    return b.n / pool_size if isinstance(b, Size) else float(b)


_SIZE = re.compile(r"n(\d+)")


def parse_system(name: str) -> tuple[str, float | None, int | None]:
    """`gsnr@0.1` -> ("gsnr", 0.1, None); `longest@n1000` -> ("longest", None, 1000); no `@` or an unreadable
    budget -> (name, None, None). The budget is after the last `@` (selector names may contain `@`)."""
    sel, at, tail = name.rpartition("@")
    if not at:
        return name, None, None
    m = _SIZE.fullmatch(tail)
    if m:
        return sel, None, int(m.group(1))
    try:
        r = float(tail)
    except ValueError:
        return name, None, None
    return (sel, r, None) if math.isfinite(r) else (name, None, None)
