"""The judge-free held-out score in the report: per system, the mean per-token log-likelihood of held-out
reference answers (generation/heldout.py) with a bootstrap CI by record, and its paired difference against the
100% model trained under the same protocol (same records, record by record); the oracle / anti-oracle / random
controls on the same measure. Read from RUN/heldout/*/heldout.json and scores.jsonl only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.reporting.metrics import bootstrap_mean_ci
from gsnr_bench.run.store import DONE

RECORD = "heldout.json"
CONTROL_PAIRS = (("oracle", "anti-oracle"), ("oracle", "random"))


def _values(path: Path) -> dict[str, float]:
    """id -> mean log-probability per answer token (records with nothing scored are left out, counted apart)."""
    return {r["id"]: float(r["mean_logprob"]) for r in read_jsonl(path, tolerant=True) if r["mean_logprob"] is not None}


def scan(run: Path) -> list[tuple[Path, dict]]:
    return [
        (f.parent, read_json(f)) for f in sorted(Path(run).glob(f"heldout/*/{RECORD}")) if (f.parent / DONE).is_file()
    ]


def heldout_rows(run: Path, rcfg: Any) -> tuple[list[dict], list[dict]]:
    """(rows per system, control rows). A system's diff is paired with the 100% model its record names."""
    stages = scan(run)
    if not stages:
        return [], []
    boot = {"rounds": rcfg.bootstrap_rounds, "ci": rcfg.ci, "seed": rcfg.seed}
    groups = sorted(
        {rec.get("baseline_scores") or (d / "scores.jsonl").relative_to(run).as_posix() for d, rec in stages}
    )
    many = len(groups) > 1
    rows, controls = [], []
    for g, group in enumerate(groups):
        base = _values(run / group)
        members = [
            (d, rec)
            for d, rec in stages
            if (rec.get("baseline_scores") or (d / "scores.jsonl").relative_to(run).as_posix()) == group
        ]
        by_cell: dict[tuple[str, float], dict[str, float]] = {}
        for d, rec in sorted(members, key=lambda x: (x[1]["selector"] != "full", x[1]["selector"], x[1]["ratio"])):
            vals = _values(d / "scores.jsonl")
            mean, lo, hi = bootstrap_mean_ci(list(vals.values()), **boot)
            row = {
                **({"group": g + 1} if many else {}),
                "system": rec["system"],
                "selector": rec["selector"],
                "ratio": rec["ratio"],
                "records": len(vals),
                "not_scored": rec["records"] - len(vals),
                "heldout_ll": _r(mean),
                "ci_low": _r(lo),
                "ci_high": _r(hi),
            }
            if rec.get("baseline_scores"):
                common = sorted(set(vals) & set(base))
                dm, dlo, dhi = bootstrap_mean_ci([vals[i] - base[i] for i in common], **boot)
                row.update(
                    diff_vs_100=_r(dm),
                    diff_ci_low=_r(dlo),
                    diff_ci_high=_r(dhi),
                    differs=bool(common) and (dlo > 0 or dhi < 0),
                )
                by_cell[(rec["selector"], float(rec["ratio"]))] = vals
            else:
                row.update(diff_vs_100=None, diff_ci_low=None, diff_ci_high=None, differs=None)
            rows.append(row)
        for (sel, ratio), vals in sorted(by_cell.items()):
            for a, b in CONTROL_PAIRS:
                if sel != a or (b, ratio) not in by_cell:
                    continue
                other = by_cell[(b, ratio)]
                common = sorted(set(vals) & set(other))
                dm, dlo, dhi = bootstrap_mean_ci([vals[i] - other[i] for i in common], **boot)
                controls.append(
                    {
                        **({"group": g + 1} if many else {}),
                        "comparison": f"{a} - {b}",
                        "ratio": ratio,
                        "records": len(common),
                        "diff": _r(dm),
                        "ci_low": _r(dlo),
                        "ci_high": _r(dhi),
                        "separates": bool(common) and (dlo > 0 or dhi < 0),
                    }
                )
    return rows, controls


def _r(x: float) -> float | None:
    import math

    return None if x is None or math.isnan(x) else round(float(x), 6)
