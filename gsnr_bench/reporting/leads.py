"""Which selector leads a column, and is the lead real? Per (dataset, target model, regime, protocol, ratio,
judge, test set): the best and second-best PWS among the selectors (the controls oracle / anti-oracle are never
ranked), and PWS(leader) - PWS(runner-up) with a paired bootstrap CI by question (metrics.bootstrap_pws_diff:
both systems were judged on the same questions against the same baseline). A lead is `significant` only when
that interval excludes 0: the tables bold exactly those, nothing else."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from gsnr_bench.reporting.metrics import bootstrap_pws_diff, count_outcomes, pws
from gsnr_bench.reporting.results import MEAN_JUDGE, POOLED

CONTROLS = ("oracle", "anti-oracle")
COLUMN = ("dataset", "target_model", "regime", "protocol", "ratio", "judge", "testset")


def is_control(selector: str) -> bool:
    return str(selector) in CONTROLS


def _point(rows: list[tuple[str, object, str]]) -> float:
    """The table's PWS of these rows: the mean over judges of each judge's PWS."""
    per = []
    for j in sorted({r[0] for r in rows}):
        c = count_outcomes(o for jj, _, o in rows if jj == j)
        p = pws(c.wins, c.ties, c.losses)
        if p == p:
            per.append(p)
    return sum(per) / len(per) if per else math.nan


def lead_rows(records: Iterable[Mapping[str, Any]], meta: Mapping[str, Any], rcfg: Any) -> list[dict]:
    """records: judgment records tagged with their group (`cell`); meta: group -> CellMeta."""
    by_group: dict[str, list[tuple[str, str, object, str]]] = {}
    for r in records:
        if r.get("null_pair"):
            continue
        g = r.get("cell") or r["system"]
        q = (r["testset"], str(r["question_id"]))
        by_group.setdefault(g, []).append((r["judge"], r["testset"], q, r["outcome"]))
    columns: dict[tuple, list[tuple[str, str]]] = {}
    for g, m in meta.items():
        if g in by_group and not is_control(m.selector):
            col = (m.dataset, m.target_model, m.regime, m.protocol, float(m.ratio))
            columns.setdefault(col, []).append((m.selector, g))
    out = []
    for col, pairs in sorted(columns.items()):
        sels = dict(pairs)
        if len(sels) < 2 or len(sels) < len(pairs):
            continue  # nothing to lead, or one name for two cells (merged runs): no lead can be named
        judges = sorted({j for g in sels.values() for j, *_ in by_group[g]})
        testsets = sorted({t for g in sels.values() for _, t, *_ in by_group[g]})
        for judge in judges + [MEAN_JUDGE]:
            for ts in testsets + [POOLED]:
                rows = {
                    s: [
                        (j, q, o)
                        for j, t, q, o in by_group[g]
                        if (judge == MEAN_JUDGE or j == judge) and (ts == POOLED or t == ts)
                    ]
                    for s, g in sels.items()
                }
                points = [(_point(r), s) for s, r in rows.items()]
                scored = sorted(((p, s) for p, s in points if p == p), key=lambda x: (-x[0], x[1]))
                if len(scored) < 2:
                    continue
                (p1, lead), (p2, second) = scored[0], scored[1]
                diff, lo, hi = bootstrap_pws_diff(
                    rows[lead], rows[second], rounds=rcfg.bootstrap_rounds, ci=rcfg.ci, seed=rcfg.seed
                )
                out.append(
                    {
                        **dict(zip(COLUMN, (*col, judge, ts))),
                        "leader": lead,
                        "runner_up": second,
                        "diff": _r(diff),
                        "ci_low": _r(lo),
                        "ci_high": _r(hi),
                        # a tie at the top is no lead, whatever the interval says
                        "significant": bool(p1 > p2 and math.isfinite(lo) and lo > 0),
                    }
                )
    return out


def _r(x: float) -> float | None:
    """4 decimals for summary.json; None (valid JSON) where undefined."""
    return round(float(x), 4) if math.isfinite(x) else None


def significant_leaders(leads: Iterable[Mapping[str, Any]]) -> dict[tuple, str]:
    """COLUMN key -> the selector that leads it significantly (only those columns)."""
    return {tuple(r[k] for k in COLUMN): r["leader"] for r in leads if r.get("significant")}
