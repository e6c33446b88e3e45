"""Keep the README's demo numbers equal to what the demo prints.

The README's block between `<!-- demo-numbers -->` and `<!-- /demo-numbers -->` is rendered from a demo run's
report (report/summary.json and report/leaderboard.csv of `gsnr-bench run --selector gsnr oracle anti-oracle
random`). This script renders it again and compares:

    python scripts/readme-demo-numbers.py                  # run the demo in a temporary directory, then check
    python scripts/readme-demo-numbers.py --run-dir RUN    # check against an existing demo run (its report/)
    python scripts/readme-demo-numbers.py --run-dir RUN --write   # rewrite the README's block from RUN

Exit 0 when the README matches, 1 with a diff when it does not. The demo takes minutes on 2 cores, which is why
this is a script and not a test."""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- demo-numbers -->", "<!-- /demo-numbers -->"
SELECTORS = ["gsnr", "oracle", "anti-oracle", "random"]
CONTROLS = ["oracle", "anti-oracle", "random", "gsnr"]  # the order the README lists them in


def _f(x: float | None, signed: bool = False) -> str:
    return "–" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


def render(run: Path) -> str:
    summary = json.loads((run / "report" / "summary.json").read_text())
    with open(run / "report" / "leaderboard.csv", newline="") as fh:
        board = [r for r in csv.DictReader(fh) if r["judge"] == "mean" and r["testset"] == "pooled"]
    lines = [
        START,
        "| comparison | ratio | PWS difference | 95% CI (paired, by question) | separates |",
        "|---|---|---|---|---|",
    ]
    for c in sorted(summary["sensitivity"], key=lambda c: (c["ratio"], c["comparison"] != "oracle - anti-oracle")):
        lines.append(
            f"| {c['comparison']} | {c['ratio']:.2f} | {_f(c['diff'], True)} | "
            f"[{_f(c['ci_low'], True)}, {_f(c['ci_high'], True)}] | {'yes' if c['separates'] else 'no'} |"
        )
    pws = {(r["selector"], float(r["ratio"])): r for r in board}
    ratios = sorted({k[1] for k in pws})
    n = {r["n"] for r in board}
    per = []
    for sel in CONTROLS:
        vals = [pws[(sel, r)] for r in ratios if (sel, r) in pws]
        if vals:
            per.append(f"{sel} {' / '.join(_f(float(v['pws'])) for v in vals)}")
    at = " / ".join(f"{100 * r:g}" for r in ratios)
    lines += [
        "",
        f"PWS against the 100% model (pooled, {'/'.join(sorted(n))} questions; 95% CIs in the run's "
        f"`report/leaderboard.csv`) at {at}%: " + ", ".join(per) + ".",
        "",
        "| selector | eligible | ineligible (why) | health | ROC-AUC, all records / scorable | lift at "
        f"{at}%, all records | lift, scorable |",
        "|---|---|---|---|---|---|---|",
    ]
    health = {h["selector"]: h for h in summary["health"]}
    for sel in SELECTORS:
        rows = sorted((e for e in summary["enrichment"] if e["selector"] == sel), key=lambda e: e["ratio"])
        if not rows:
            continue
        h = health.get(sel, {})
        why = ", ".join(f"{k.replace('skipped_', '').replace('_', ' ')} {v}" for k, v in h["ineligible_why"].items())
        signal = ""
        if h.get("family") == "gsnr":
            signal = (
                f"norm drop e{h['s']}->e{h['t']}: {100 * h['share_norm_drop']:.0f}%; utility < 0: "
                f"{100 * h['share_negative_utility']:.0f}%; rho(u, V_t) {h['spearman_utility_Vt']:+.2f}; "
                f"rho(u, G_s) {h['spearman_utility_Gs']:+.2f}"
            )
        lift = lambda k: " / ".join(f"{e[k]:.2f}" if e[k] is not None else "–" for e in rows)  # noqa: E731
        lines.append(
            f"| {sel} | {h.get('eligible', '–')} | {h.get('ineligible', 0)}{f' ({why})' if why else ''} | {signal} | "
            f"{_f(rows[0]['auc'])} / {_f(rows[0]['auc_scorable'])} | {lift('lift')} | {lift('lift_scorable')} |"
        )
    lines.append(END)
    return "\n".join(lines)


def readme_block(text: str) -> str:
    if START not in text or END not in text:
        sys.exit(f"{README}: no {START} ... {END} block")
    a, b = text.index(START), text.index(END) + len(END)
    return text[a:b]


def run_demo(where: Path) -> Path:
    cmd = [sys.executable, "-m", "gsnr_bench", "run", "--selector", *SELECTORS, "--quiet"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    res = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"the demo failed ({res.returncode}): {res.stderr[-2000:]}")
    return where / "runs" / "demo"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, help="an existing demo run (default: run the demo in a temp dir)")
    ap.add_argument("--write", action="store_true", help="rewrite the README's block from the run")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = a.run_dir or run_demo(Path(tmp))
        fresh = render(run)
    text = README.read_text()
    old = readme_block(text)
    if a.write:
        README.write_text(text.replace(old, fresh))
        print(f"wrote the demo numbers of {run} into {README}")
        return 0
    if old == fresh:
        print("README demo numbers match the demo run")
        return 0
    sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), fresh.splitlines(True), "README.md", str(run)))
    print("\nREADME demo numbers differ from the demo run (rewrite with --write after checking why)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
