"""Text pieces every report format shares (ratio labels, missing and n/a cells, LaTeX escaping) and the long
results table in Markdown. The paper's table layouts are reporting/paper.py.
Missing cells are "–" (Markdown/HTML) or "--" (LaTeX), never 0.
"""

from __future__ import annotations

import math

import pandas as pd

MISSING_MD = "–"
MISSING_TEX = "--"


def ratio_label(ratio: float) -> str:
    return f"{float(ratio) * 100:g}%"


def _cell(v: float, signed: bool, missing: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return missing
    return f"{v:+.3f}" if signed else f"{v:.3f}"


NA = "n/a"  # a value the data cannot support (LC-PWS outside the lengths' range); its reason is listed apart


def lc_text(value: float, note: str) -> str:
    """An LC-PWS value as the tables print it: 3 decimals, "n/a" where the cell has a reason, else "–"."""
    return NA if note else _cell(value, False, MISSING_MD)


def _md(s: str) -> str:
    return str(s).replace("|", "\\|")


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(s))


def render_results_markdown(df: pd.DataFrame) -> str:
    """Every cell of the long table with its interval and counts (the full record behind Table 1)."""
    if df.empty:
        return "_no results_\n"
    head = [
        "Selector",
        "Regime",
        "Dataset",
        "Target",
        "Ratio",
        "Judge",
        "Test set",
        "PWS",
        "95% CI",
        "W / T / L",
        "Failed",
        "LC-PWS",
        "LC 95% CI",
        "Answer len sys / base",
        "Train len / pool",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 7 + ["---:"] * 8) + "|"]
    for r in df.itertuples(index=False):
        ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if not (math.isnan(r.ci_low) or math.isnan(r.ci_high)) else MISSING_MD
        lines.append(
            "| "
            + " | ".join(
                [
                    _md(r.selector),
                    _md(r.regime),
                    _md(r.dataset),
                    _md(r.target_model),
                    ratio_label(r.ratio),
                    _md(r.judge),
                    _md(r.testset),
                    _cell(r.pws, False, MISSING_MD),
                    ci,
                    f"{int(r.wins)} / {int(r.ties)} / {int(r.losses)}",
                    str(int(r.failed)),
                    lc_text(r.lc_pws, r.lc_note),
                    _interval(r.lc_ci_low, r.lc_ci_high),
                    _pair(r.sys_len, r.base_len),
                    _pair(r.train_len, r.pool_len),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _interval(lo: float, hi: float) -> str:
    return MISSING_MD if math.isnan(lo) or math.isnan(hi) else f"[{lo:.3f}, {hi:.3f}]"


def _pair(a: float, b: float) -> str:
    """Two lengths as "a / b" (one decimal); missing ones as "–"."""
    f = lambda v: MISSING_MD if v is None or math.isnan(v) else f"{v:.1f}"  # noqa: E731
    return f"{f(a)} / {f(b)}"
