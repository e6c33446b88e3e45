"""Wall time of the demo with its controls, `gsnr-bench run --selector gsnr oracle anti-oracle random`, from
an empty run directory (cold: every stage computed) and the same command again (warm: every stage read back),
and whether the demo's chain can see data quality: PWS of the oracle, anti-oracle and random subsets with
their intervals, and PWS(oracle) - PWS(anti-oracle / random) with paired bootstrap intervals.

    .venv/bin/python bench/demo.py [--selector gsnr oracle anti-oracle random] [--keep DIR]

Goals (on a 2-core CPU): cold <= 120 s, warm <= 10 s, and the oracle - anti-oracle interval excludes 0.
Prints the times, the per-stage times of the cold run (from its manifest), the controls, the load average,
and writes bench/out/demo.json."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--selector", nargs="+", default=["gsnr", "oracle", "anti-oracle", "random"])
    ap.add_argument("--keep", type=Path, help="run in this directory (must not exist) and keep it")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = a.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=a.keep is None)
        cmd = [sys.executable, "-m", "gsnr_bench", "run", "--selector", *a.selector, "--quiet"]
        cold = timed(cmd, where)
        warm = timed(cmd, where)
        manifest = json.loads((where / "runs" / "demo" / "manifest.json").read_text())
        summary = json.loads((where / "runs" / "demo" / "report" / "summary.json").read_text())
        board = list(csv.DictReader((where / "runs" / "demo" / "report" / "leaderboard.csv").open()))
    stages: dict[str, float] = {}
    for s in manifest["stages"]:
        stages[s["stage"].split("/")[0]] = stages.get(s["stage"].split("/")[0], 0.0) + float(s.get("seconds") or 0)
    pws = {
        (r["selector"], float(r["ratio"])): (float(r["pws"]), float(r["ci_low"]), float(r["ci_high"]))
        for r in board
        if r["judge"] == "mean" and r["testset"] == "pooled"
    }
    result = {
        "command": "gsnr-bench run --selector " + " ".join(a.selector),
        "cold_s": round(cold, 1),
        "warm_s": round(warm, 2),
        "cold_goal_s": 120,
        "warm_goal_s": 10,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "stage_seconds": {k: round(v, 1) for k, v in stages.items()},
        "pws": {f"{s}@{r:g}": v for (s, r), v in sorted(pws.items())},
        "controls": summary.get("sensitivity", []),
    }
    print(f"{result['command']} on {os.cpu_count()} cores (load average at the end {result['load_average']})")
    print(f"  cold (empty run dir): {cold:7.1f} s   goal <= 120 s  {'ok' if cold <= 120 else 'MISSED'}")
    print(f"  warm (same command):  {warm:7.2f} s   goal <= 10 s   {'ok' if warm <= 10 else 'MISSED'}")
    print("  cold run, seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in result["stage_seconds"].items()))
    for sel in ("oracle", "anti-oracle", "random"):
        row = "  ".join(
            f"{r:g}: {p:.3f} [{lo:.3f}, {hi:.3f}]" for (s, r), (p, lo, hi) in sorted(pws.items()) if s == sel
        )
        if row:
            print(f"  PWS {sel:12s} {row}")
    for c in result["controls"]:
        print(
            f"  PWS({c['comparison'].replace(' - ', ') - PWS(')}) at {c['ratio']:g}: {c['diff']:+.3f} "
            f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]  {'separates' if c['separates'] else 'CANNOT SEPARATE'}"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "demo.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
