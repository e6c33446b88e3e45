"""Longest responses first: the baseline of "Long Is More for Alignment" (Zhao et al., ICML 2024, arXiv 2402.04833).

score = length of the example's response (`output`), in tokens of the proxy's tokenizer (`unit: tokens`, the
default; no special tokens, never truncated) or in characters (`unit: chars`, needs no tokenizer). Equal lengths
are ordered by the selection stage's seeded tie-break, like every selector. Every example is eligible (an empty
response simply scores 0). The paper's setting is the top 1,000 of the pool: `--selector longest --n 1000`.
"""

from __future__ import annotations

from typing import Sequence

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.domain.records import Example
from gsnr_bench.selection.base import ScoreResult, SelectionContext
from gsnr_bench.selection.common import check_pool, report

UNITS = ("tokens", "chars")


def response_lengths(
    pool: Sequence[Example], unit: str = "tokens", tokenizer: str | None = None, progress=None, batch: int = 1024
) -> list[int]:
    """Length of each example's response: tokens of `tokenizer` (a local dir or hub name) or characters."""
    if unit not in UNITS:
        raise ConfigError(f"longest: unit {unit!r} is not one of {', '.join(UNITS)}")
    if unit == "chars":
        return [len(e.output) for e in pool]
    if tokenizer is None:
        raise ConfigError("longest: unit 'tokens' needs the proxy's tokenizer")
    from gsnr_bench.modeling.loading import load_tokenizer

    tok = load_tokenizer(tokenizer)
    out: list[int] = []
    for i in range(0, len(pool), batch):
        texts = [e.output for e in pool[i : i + batch]]
        enc = tok(texts, add_special_tokens=False)["input_ids"]
        out += [len(ids) for ids in enc]
        report(progress, "response length", len(out), len(pool))
    return out


class LongestSelector:
    """Longest responses first (Zhao et al. 2024): length in proxy tokens, or characters with unit: chars."""

    name = "longest"

    def __init__(self, unit: str = "tokens"):
        if unit not in UNITS:
            raise ConfigError(f"longest: unit {unit!r} is not one of {', '.join(UNITS)}")
        self.unit = unit

    def score(self, ctx: SelectionContext) -> ScoreResult:
        check_pool(ctx.pool)
        lengths = response_lengths(ctx.pool, self.unit, ctx.proxy, ctx.progress)
        cols = {"response_tokens" if self.unit == "tokens" else "response_chars": lengths}
        return ScoreResult(
            ids=[e.id for e in ctx.pool], scores=[float(n) for n in lengths], columns=cols, notes={"unit": self.unit}
        )
