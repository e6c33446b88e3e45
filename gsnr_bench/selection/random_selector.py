"""Random: a seeded permutation. The floor every selector must beat."""

from __future__ import annotations

import numpy as np

from gsnr_bench.selection.base import ScoreResult, SelectionContext


class RandomSelector:
    name = "random"

    def score(self, ctx: SelectionContext) -> ScoreResult:
        rng = np.random.default_rng(ctx.seed)
        scores = rng.permutation(len(ctx.pool)).astype(float)
        return ScoreResult(ids=[e.id for e in ctx.pool], scores=scores.tolist())
