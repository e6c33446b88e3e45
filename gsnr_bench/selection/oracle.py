"""Positive and negative controls: the `oracle` selector ranks clean examples first by the pool's ground
truth, `anti-oracle` ranks defective ones first (ties by the stage's seeded order, like every selector).
They exist only in a run with ground truth (`--truth FILE`, or the demo's own): run through the same
fine-tune -> generate -> judge chain, PWS(oracle) - PWS(anti-oracle) measures whether that chain can see a
difference in data quality at all (the report's sensitivity table)."""

from __future__ import annotations

from gsnr_bench.core.errors import ConfigError
from gsnr_bench.selection.base import ScoreResult, SelectionContext


class OracleSelector:
    needs_truth = True

    def __init__(self, clean_first: bool = True):
        self.clean_first = clean_first
        self.name = "oracle" if clean_first else "anti-oracle"

    def score(self, ctx: SelectionContext) -> ScoreResult:
        if ctx.truth is None:
            raise ConfigError(
                f"selector {self.name!r} needs ground truth: pass --truth FILE (id -> clean | defect label)"
            )
        missing = [e.id for e in ctx.pool if e.id not in ctx.truth]
        if missing:
            raise ConfigError(
                f"selector {self.name!r}: {len(missing)} pool example(s) have no truth label (first: {missing[0]!r})"
            )
        clean = [ctx.truth[e.id] == "clean" for e in ctx.pool]
        scores = [float(c if self.clean_first else not c) for c in clean]
        return ScoreResult(
            ids=[e.id for e in ctx.pool],
            scores=scores,
            columns={"clean": clean, "label": [ctx.truth[e.id] for e in ctx.pool]},
            notes={"clean": sum(clean), "defective": len(clean) - sum(clean)},
        )
