"""The paper's tables, ready to paste: LaTeX (booktabs) and the same tables in Markdown.

Layout (the paper's Table 1; Table 2 is the same for length-controlled PWS): one table per trained group
(dataset / target model / regime / protocol) and judge; ratios are column groups; rows are blocks per test
set (WizardLM, Vicuna, ..., pooled), the selectors in each, then a separate block of the controls (oracle,
anti-oracle) that is never ranked and never bold. Each value is the PWS with its 95% bootstrap interval by
question (in brackets below it, or as asymmetric +/- offsets), and on request W/T/L. Only cells that exist
are shown: a merged leaderboard of two runs gives one table per group, never a cross product, and there is no
made-up 100% column. Bold marks a lead only when the paired interval of leader minus runner-up excludes 0
(leads.py); a note under each table says so.

Width: a table wider than one column of a two-column page goes to `table*`, and ratio groups are split over
several tables before they would pass a single-column page (estimated in points below; tests compile the
output with pdflatex in one- and two-column articles and assert that no box is overfull)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from gsnr_bench.reporting.leads import COLUMN, is_control, significant_leaders
from gsnr_bench.reporting.results import MEAN_JUDGE, POOLED
from gsnr_bench.reporting.tables import MISSING_MD, MISSING_TEX, NA, ratio_label, tex_escape

TESTSET_NAMES = {"wizardlm": "WizardLM", "vicuna": "Vicuna", POOLED: "Pooled"}
INTERVALS = ("brackets", "pm")
# Estimated widths (pt) at \small with \tabcolsep 4pt: digits are 0.5 em (4.5 pt at 9 pt, 3.5 pt at 7 pt).
_SMALL, _SCRIPT, _SEP = 4.6, 3.6, 8.0
ONE_COLUMN_PT = 220.0  # a column of a two-column page (article: 229 pt; ACL: 219 pt)
PAGE_PT = 330.0  # the text width of a single-column page (article 10 pt: 345 pt; most venues wider)


@dataclass(frozen=True)
class TableOptions:
    judge_mean: bool = False  # add a table of the judges' mean PWS
    wtl: bool = False  # a W/T/L column beside each ratio's PWS
    interval: str = "brackets"  # "brackets": [lo, hi] on a line below; "pm": PWS^{+hi-p}_{-(p-lo)}


@dataclass
class PaperTable:
    value: str  # "pws" or "lc_pws"
    group: tuple[str, str, str, str]  # dataset, target model, regime, protocol
    judge: str
    ratios: list[float]
    blocks: list[tuple[str, list[str]]]  # (test set, selectors) in row order; controls in their own blocks
    controls: list[tuple[str, list[str]]]
    cells: dict[tuple[str, str, float], dict] = field(default_factory=dict)  # (testset, selector, ratio) -> cell
    part: str = ""  # "(1/2)" when the ratios are split over several tables
    show_protocol: bool = False


def _pretty(ts: str) -> str:
    """wizardlm -> WizardLM; the demo's demo-vicuna -> demo-Vicuna; other names as they are."""
    head, _, last = ts.rpartition("-")
    return f"{head}-{TESTSET_NAMES[last]}" if head and last in TESTSET_NAMES else TESTSET_NAMES.get(ts, ts)


def _testset_order(testsets: Iterable[str]) -> list[str]:
    rank = {"wizardlm": 0, "vicuna": 1}
    key = lambda t: (rank.get(t.rpartition("-")[2], 2), t)  # noqa: E731  (demo-wizardlm sorts as wizardlm)
    return sorted((t for t in set(testsets) if t != POOLED), key=key) + [POOLED]


def build_tables(
    df: pd.DataFrame, leads: Sequence[Mapping[str, Any]] = (), opts: TableOptions | None = None, value: str = "pws"
) -> list[PaperTable]:
    """The tables of one value column (pws or lc_pws) from the long results (raw regimes, not labelled)."""
    opts = opts or TableOptions()
    if opts.interval not in INTERVALS:
        from gsnr_bench.core.errors import ConfigError

        raise ConfigError(f"table interval {opts.interval!r} is not one of {', '.join(INTERVALS)}")
    if df.empty:
        return []
    lo_col, hi_col = ("lc_ci_low", "lc_ci_high") if value == "lc_pws" else ("ci_low", "ci_high")
    bold = significant_leaders(leads) if value == "pws" else {}
    groups = df.groupby(["dataset", "target_model", "regime", "protocol"], sort=True)
    regimes_protocols = df.groupby(["dataset", "target_model", "regime"])["protocol"].nunique()
    out: list[PaperTable] = []
    for key, g in groups:
        judges = sorted(j for j in g["judge"].unique() if j != MEAN_JUDGE)
        if opts.judge_mean and len(judges) > 1:
            judges.append(MEAN_JUDGE)
        elif not judges:
            judges = [MEAN_JUDGE]
        for judge in judges:
            part = g[g["judge"] == judge]
            na = _na(part, value)
            if (part[value].notna() | na).sum() == 0:
                continue
            ratios = sorted(part["ratio"].unique())
            testsets = _testset_order(part["testset"].unique())
            pooled = part[part["testset"] == POOLED].groupby("selector")[value].mean()
            sels = sorted(part["selector"].unique(), key=lambda s: (-_finite(pooled.get(s)), s))
            normal = [s for s in sels if not is_control(s)]
            controls = [s for s in sels if is_control(s)]
            t = PaperTable(
                value,
                key,
                judge,
                ratios,
                [(ts, normal) for ts in testsets if normal],
                [(ts, controls) for ts in testsets if controls],
                show_protocol=bool(regimes_protocols.get(key[:3], 1) > 1),
            )
            for r, is_na in zip(part.itertuples(index=False), na):
                col = tuple(getattr(r, k) for k in COLUMN[:4]) + (float(r.ratio), judge, r.testset)
                t.cells[(r.testset, r.selector, float(r.ratio))] = {
                    "na": bool(is_na),  # LC-PWS the data cannot support: "n/a", its reason listed apart
                    "p": getattr(r, value),
                    "lo": getattr(r, lo_col),
                    "hi": getattr(r, hi_col),
                    "wtl": (int(r.wins), int(r.ties), int(r.losses)),
                    "bold": not is_control(r.selector) and bold.get(col) == r.selector,
                    "signed": value == "delta",
                }
            out += _split(t, opts)
    return out


def _na(part: pd.DataFrame, value: str) -> pd.Series:
    """Cells whose LC-PWS is n/a (a reason in lc_note; reporting/length_control.py)."""
    if value != "lc_pws" or "lc_note" not in part:
        return pd.Series(False, index=part.index)
    return part["lc_note"].fillna("") != ""


def ablation_df(df: pd.DataFrame, reference: str = "gsnr") -> pd.DataFrame:
    """Rows of the ablations (`<reference>-alt*`) with `delta` = PWS(ablation) - PWS(reference) of the same
    group / ratio / judge / test set (no interval: the two are not paired here); empty without both."""
    key = ["dataset", "target_model", "regime", "protocol", "ratio", "judge", "testset"]
    ref = df[df["selector"] == reference].set_index(key)["pws"]
    abl = df[df["selector"].astype(str).str.startswith(f"{reference}-alt")].copy()
    if abl.empty or ref.empty:
        return abl.iloc[0:0]
    abl["delta"] = [ref.get(tuple(r[k] for k in key), math.nan) for _, r in abl.iterrows()]
    abl["delta"] = abl["pws"] - abl["delta"]
    abl["ci_low"] = abl["ci_high"] = math.nan
    return abl[abl["delta"].notna()]


def _finite(v: Any) -> float:
    return float(v) if v is not None and v == v else -math.inf


def _ratio_width(opts: TableOptions) -> float:
    pws_w = 14 * _SCRIPT if opts.interval == "brackets" else 5 * _SMALL + 6 * _SCRIPT
    return pws_w + _SEP + ((11 * _SCRIPT + _SEP) if opts.wtl else 0.0)


def _label_width(t: PaperTable) -> float:
    names = [s for _, sels in t.blocks + t.controls for s in sels]
    return max([len(s) for s in names] + [8]) * _SMALL + 2 * _SEP


def estimated_width(t: PaperTable, opts: TableOptions) -> float:
    return _label_width(t) + len(t.ratios) * _ratio_width(opts)


def _split(t: PaperTable, opts: TableOptions) -> list[PaperTable]:
    """Split the ratio groups over several tables when they would not fit a single-column page."""
    per = max(1, int((PAGE_PT - _label_width(t)) // _ratio_width(opts)))
    if len(t.ratios) <= per:
        return [t]
    chunks = [t.ratios[i : i + per] for i in range(0, len(t.ratios), per)]
    return [
        PaperTable(
            t.value,
            t.group,
            t.judge,
            c,
            t.blocks,
            t.controls,
            {k: v for k, v in t.cells.items() if k[2] in c},
            f"({i}/{len(chunks)})",
            t.show_protocol,
        )
        for i, c in enumerate(chunks, start=1)
    ]


# ---------------------------------------------------------------- LaTeX


def _what(t: PaperTable) -> str:
    ds, tm, regime, protocol = t.group
    where = f"{ds} / {tm} / {regime}" + (f" [{protocol}]" if t.show_protocol else "")
    judge = "mean of the judges" if t.judge == MEAN_JUDGE else f"judge {t.judge}"
    return where, judge


def _caption(t: PaperTable, opts: TableOptions) -> str:
    where, judge = _what(t)
    part = f" {t.part}" if t.part else ""
    if t.value == "delta":
        return f"Ablations: PWS minus G-SNR's PWS in the same cell ({where}; {judge}){part}."
    name = "PWS" if t.value == "pws" else "Length-controlled PWS"
    how = "below it" if opts.interval == "brackets" else "as offsets"
    text = f"{name} against the model trained on 100% of the data ({where}; {judge}){part}. "
    text += f"95% bootstrap interval by question {how}."
    if opts.wtl:
        text += " W/T/L: wins / ties / losses" + (" summed over judges." if t.judge == MEAN_JUDGE else ".")
    return text


def _note(t: PaperTable) -> str:
    if t.value == "delta":
        return "Positive: the ablation scores above G-SNR. -- : not run."
    if t.value != "pws":
        return "Not bold: leads are tested on PWS only."
    return (
        "Bold: a selector that leads its column with the paired 95% bootstrap interval of its PWS minus the "
        "runner-up's excluding 0. Controls are not ranked. -- : not run."
    )


def _slug(*parts: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-").lower()


def _tex_value(c: dict | None, opts: TableOptions) -> tuple[str, str]:
    """(PWS cell, interval cell) in LaTeX; the interval cell is '' in pm mode."""
    if c is not None and c.get("na"):
        return NA, ""
    if c is None or c["p"] != c["p"]:
        return MISSING_TEX, ""
    p = f"{c['p']:+.3f}" if c.get("signed") else f"{c['p']:.3f}"
    p = f"\\textbf{{{p}}}" if c["bold"] else p
    have = c["lo"] == c["lo"] and c["hi"] == c["hi"]
    if opts.interval == "pm":
        if not have:
            return p, ""
        return f"{p}$^{{+{c['hi'] - c['p']:.3f}}}_{{-{c['p'] - c['lo']:.3f}}}$", ""
    return p, (f"\\scriptsize[{c['lo']:.3f}, {c['hi']:.3f}]" if have else "")


def render_latex_table(t: PaperTable, opts: TableOptions) -> str:
    width = estimated_width(t, opts)
    env = "table" if width <= ONE_COLUMN_PT else "table*"
    per = 2 if opts.wtl else 1
    ncols = 1 + per * len(t.ratios)
    label = "tab:" + _slug(t.value, *t.group[:3], t.judge, t.part)
    out = [
        f"\\begin{{{env}}}[t]",
        "\\centering",
        "\\small",
        "\\setlength{\\tabcolsep}{4pt}",
        f"\\caption{{{tex_escape(_caption(t, opts))}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{l" + ("rr" if opts.wtl else "r") * len(t.ratios) + "}",
        "\\toprule",
    ]
    if opts.wtl:
        spans = [f"\\multicolumn{{2}}{{c}}{{{tex_escape(ratio_label(r))}}}" for r in t.ratios]
        rules = [f"\\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(t.ratios))]
        out += ["Selector & " + " & ".join(spans) + " \\\\", " ".join(rules)]
        out.append(" & " + " & ".join(["PWS & \\scriptsize W/T/L"] * len(t.ratios)) + " \\\\")
    else:
        out.append("Selector & " + " & ".join(tex_escape(ratio_label(r)) for r in t.ratios) + " \\\\")
    out.append("\\midrule")

    def block(title: str, ts: str, sels: list[str], italic: bool) -> None:
        out.append(f"\\multicolumn{{{ncols}}}{{l}}{{\\textit{{{tex_escape(title)}}}}} \\\\")
        for s in sels:
            name = tex_escape(s)
            cells, below = [], []
            for r in t.ratios:
                c = t.cells.get((ts, s, float(r)))
                if italic and c is not None:
                    c = {**c, "bold": False}  # controls are never bold
                v, ci = _tex_value(c, opts)
                cells.append(v)
                below.append(ci)
                if opts.wtl:
                    cells.append("\\scriptsize " + "/".join(map(str, c["wtl"])) if c and c["p"] == c["p"] else "")
                    below.append("")
            shown = f"\\textit{{{name}}}" if italic else name
            out.append(f"\\quad {shown} & " + " & ".join(cells) + " \\\\")
            if any(below):
                out.append(" & " + " & ".join(below) + " \\\\")

    for i, (ts, sels) in enumerate(t.blocks):
        if i:
            out.append("\\addlinespace")
        block(_pretty(ts), ts, sels, False)
    if t.controls:
        out.append("\\midrule")
        for i, (ts, sels) in enumerate(t.controls):
            if i:
                out.append("\\addlinespace")
            block(f"Controls (not ranked): {_pretty(ts)}", ts, sels, True)
    out += [
        "\\bottomrule",
        "\\end{tabular}",
        "",
        "\\smallskip\\footnotesize " + tex_escape(_note(t)),
        f"\\end{{{env}}}",
    ]
    return "\n".join(out) + "\n"


def render_latex(tables: Sequence[PaperTable], opts: TableOptions) -> str:
    head = [
        "% Generated by gsnr-bench from leaderboard.csv: the paper's tables (PWS and length-controlled PWS).",
        "% Needs \\usepackage{booktabs}. Each table fits a single-column page; wide ones are table* so they",
        "% span both columns of a two-column page.",
        "",
    ]
    if not tables:
        return "\n".join(head) + "% no results\n"
    return "\n".join(head) + "\n".join(render_latex_table(t, opts) for t in tables)


# ---------------------------------------------------------------- Markdown


def _md_value(c: dict | None, opts: TableOptions, control: bool) -> str:
    if c is not None and c.get("na"):
        return NA
    if c is None or c["p"] != c["p"]:
        return MISSING_MD
    p = f"{c['p']:+.3f}" if c.get("signed") else f"{c['p']:.3f}"
    if c["bold"] and not control:
        p = f"**{p}**"
    if c["lo"] == c["lo"] and c["hi"] == c["hi"]:
        p += f" [{c['lo']:.3f}, {c['hi']:.3f}]"
    if opts.wtl:
        p += " (" + "/".join(map(str, c["wtl"])) + ")"
    return p


def render_markdown_table(t: PaperTable, opts: TableOptions) -> str:
    where, judge = _what(t)
    name = {"pws": "PWS", "lc_pws": "LC-PWS", "delta": "Ablations, PWS minus G-SNR"}[t.value]
    lines = [
        f"### {name}: {where}, {judge} {t.part}".rstrip(),
        "",
        "| Test set | Selector | " + " | ".join(ratio_label(r) for r in t.ratios) + " |",
        "|---|---|" + "---:|" * len(t.ratios),
    ]
    for blocks, control in ((t.blocks, False), (t.controls, True)):
        for ts, sels in blocks:
            for s in sels:
                label = f"_{s} (control)_" if control else s
                vals = [_md_value(t.cells.get((ts, s, float(r))), opts, control) for r in t.ratios]
                lines.append(f"| {_pretty(ts)} | {label} | " + " | ".join(vals) + " |")
    return "\n".join(lines + ["", _note(t).replace("-- :", "– :"), ""])


def render_markdown(tables: Sequence[PaperTable], opts: TableOptions) -> str:
    if not tables:
        return "_no results_\n"
    return "\n".join(render_markdown_table(t, opts) for t in tables)
