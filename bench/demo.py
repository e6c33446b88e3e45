"""Wall time of the README's main command, `gsnr-bench run --selector gsnr`, from an empty run directory
(cold: every stage computed) and the same command again (warm: every stage read back).

    .venv/bin/python bench/demo.py [--selector gsnr ...] [--keep DIR]

Goals (issue 2, on a 2-core CPU): cold <= 300 s, warm <= 10 s. Prints both, the per-stage times of the
cold run (from its manifest), and writes bench/out/demo.json."""

from __future__ import annotations

import argparse
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
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--selector", nargs="+", default=["gsnr"])
    ap.add_argument("--keep", type=Path, help="run in this directory (must not exist) and keep it")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = a.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=a.keep is None)
        cmd = [sys.executable, "-m", "gsnr_bench", "run", "--selector", *a.selector, "--quiet"]
        cold = timed(cmd, where)
        warm = timed(cmd, where)
        manifest = json.loads((where / "runs" / "demo" / "manifest.json").read_text())
    stages: dict[str, float] = {}
    for s in manifest["stages"]:
        stages[s["stage"].split("/")[0]] = stages.get(s["stage"].split("/")[0], 0.0) + float(s.get("seconds") or 0)
    result = {"command": "gsnr-bench run --selector " + " ".join(a.selector), "cold_s": round(cold, 1),
              "warm_s": round(warm, 2), "cold_goal_s": 300, "warm_goal_s": 10, "cores": os.cpu_count(),
              "stage_seconds": {k: round(v, 1) for k, v in stages.items()}}
    print(f"{result['command']} on {os.cpu_count()} cores")
    print(f"  cold (empty run dir): {cold:7.1f} s   goal <= 300 s  {'ok' if cold <= 300 else 'MISSED'}")
    print(f"  warm (same command):  {warm:7.2f} s   goal <= 10 s   {'ok' if warm <= 10 else 'MISSED'}")
    print("  cold run, seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in result["stage_seconds"].items()))
    OUT.mkdir(exist_ok=True)
    (OUT / "demo.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
