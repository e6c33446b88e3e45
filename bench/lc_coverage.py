"""LC-PWS against known truth: a simulation study (gsnr_bench/reporting/lc_simulation.py, docs/length.md).

    .venv/bin/python bench/lc_coverage.py [--sims 500] [--rounds 1000]

Per scenario, over --sims simulated cells of 120 comparisons: the share of 95% intervals that contain the truth
(among cells where LC-PWS is defined), the share n/a (lengths do not cover zero difference), the mean LC-PWS and
raw PWS against the truth, and the mean interval width. Goals: a judge that ignores length -> coverage >= 0.90;
a judge that favours length -> LC-PWS recovers the truth (coverage >= 0.90) while raw PWS does not; every answer
longer than the baseline's -> n/a, never a number. Writes bench/out/lc_coverage.json."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from gsnr_bench.reporting.lc_simulation import ALL_LONGER, BLIND, LENGTH_LOVING, coverage

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1000)
    a = ap.parse_args()
    scenarios = [
        BLIND,
        LENGTH_LOVING,
        replace(BLIND, name="judge ignores length, mostly longer (shift 150)", shift=150.0),
        replace(LENGTH_LOVING, name="judge favours length, mostly longer (shift 150)", shift=150.0),
        ALL_LONGER,
    ]
    t0 = time.perf_counter()
    rows = [coverage(sc, a.sims, rounds=a.rounds, seed=1000) for sc in scenarios]
    seconds = time.perf_counter() - t0
    print(f"LC-PWS simulation: {a.sims} cells of 120 comparisons per scenario, {a.rounds} bootstrap rounds")
    print(f"  {'scenario':50s} {'truth':>6s} {'coverage':>9s} {'n/a':>6s} {'LC-PWS':>7s} {'raw PWS':>8s} {'width':>6s}")
    for r in rows:
        f = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        print(
            f"  {r['scenario']:50s} {r['truth']:6.3f} {f(r['coverage']):>9s} {r['share_na']:6.3f} "
            f"{f(r['mean_lc_pws']):>7s} {r['mean_raw_pws']:8.3f} {f(r['mean_width']):>6s}"
        )
    goals = {
        "blind coverage >= 0.90": rows[0]["coverage"] >= 0.90,
        "length-loving coverage >= 0.90": rows[1]["coverage"] >= 0.90,
        "all longer: always n/a": rows[4]["share_na"] == 1.0,
    }
    for k, ok in goals.items():
        print(f"  {k}: {'ok' if ok else 'MISSED'}")
    print(f"  {seconds:.1f} s")
    OUT.mkdir(exist_ok=True)
    (OUT / "lc_coverage.json").write_text(
        json.dumps({"sims": a.sims, "rounds": a.rounds, "rows": rows, "goals": goals}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
