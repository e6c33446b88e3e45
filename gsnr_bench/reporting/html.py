"""A self-contained static leaderboard page rendered from Jinja2 templates shipped in the package
(templates/: page.html.j2, macros.html.j2, style.css, table_sort.js): inline CSS, a small inline JS for
sorting and filtering tables, and inline SVG plots, all from plots.py (matplotlib), the one chart source.
No network, no CDN, no timestamps: the same results give the same bytes. Values from user files are
escaped by Jinja2's autoescape; only the matplotlib SVGs are marked safe."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from gsnr_bench.reporting.plot_kit import to_svg
from gsnr_bench.reporting.results import KEY, MEAN_JUDGE, POOLED
from gsnr_bench.reporting.tables import MISSING_MD, NA, ratio_label

ENRICHMENT_TITLE = (
    "Enrichment of clean examples (judge-free): lift and auc on all records are the subsets the leaderboard "
    "uses (unscorable records ranked last); lift_scorable and auc_scorable judge the score on the records it "
    "could score"
)


@dataclass(frozen=True)
class PageExtras:
    """Optional material beside the results: loss curves (label -> train_log.jsonl), and tables given
    as lists of flat dicts (bias diagnostics, enrichment, human PWS, judge-human agreement)."""

    title: str = "gsnr-bench leaderboard"
    train_logs: Mapping[str, str | Path] = field(default_factory=dict)
    bias: Sequence[Mapping[str, Any]] = ()
    enrichment: Sequence[Mapping[str, Any]] = ()
    sensitivity: Sequence[Mapping[str, Any]] = ()  # controls: PWS(oracle) - PWS(anti-oracle / random)
    health: Sequence[Mapping[str, Any]] = ()  # selector health, one display row per scoring
    health_stats: Sequence[Mapping[str, Any]] = ()  # the same, as health.health_of gives them (for the figure)
    stability: Sequence[Mapping[str, Any]] = ()  # rankings over seeds
    dynamics: Sequence[tuple[str, Any]] = ()  # (label, Figure): G-SNR norm trajectories and Figure 1
    human: Sequence[Mapping[str, Any]] = ()
    agreement: Sequence[Mapping[str, Any]] = ()
    lengths: Sequence[Mapping[str, Any]] = ()  # per selector: Spearman(score, response length), subset lengths
    judge_pairs: Sequence[Mapping[str, Any]] = ()  # judge-vs-judge agreement on the same comparisons
    leads: Sequence[Mapping[str, Any]] = ()  # leads.py: per column, leader vs runner-up, paired CI
    table_options: Any = None  # paper.TableOptions for leaderboard.tex / .md
    training: Sequence[Mapping[str, Any]] = ()  # per system: steps, tokens, loss, answers identical to the 100%'s
    heldout: Sequence[Mapping[str, Any]] = ()  # per system: held-out log-likelihood and its diff vs the 100% model
    heldout_controls: Sequence[Mapping[str, Any]] = ()  # oracle - anti-oracle / random on the held-out score
    bootstrap_rounds: int | None = None
    notes: str = ""


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The page's Jinja2 environment: templates from the package, HTML autoescaped."""
    return Environment(
        loader=PackageLoader("gsnr_bench.reporting", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True, default=True),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# A table for the template: {"id": str, "head": [(label, numeric)], "rows": [[cell]]}; a cell is
# {"text": str, "key": str | None (sort key, data-v), "cls": str, "bar": {"pos": bool, "style": str} | None}.
Cell = dict
Table = dict


def _cell(text: Any, key: str | None = None, cls: str = "", bar: dict | None = None) -> Cell:
    return {"text": str(text), "key": key, "cls": cls, "bar": bar}


def _num(v: Any, fmt: str = "{:.3f}") -> tuple[str, str]:
    """(display text, sort key); missing is '–' with an empty key so it sorts last."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING_MD, ""
    return fmt.format(v), repr(float(v))


def _int(v: Any) -> Cell:
    return _cell(int(v), str(int(v)), "num")


def significance(lo: float, hi: float) -> str:
    """ "better" / "worse" when the 95% CI of PWS lies wholly above / below 1 (the 100% model), else "": colour
    on the page means exactly that, nothing else."""
    if lo == lo and lo > 1.0:
        return "better"
    if hi == hi and hi < 1.0:
        return "worse"
    return ""


def _bar(p: float, sig: str) -> dict:
    """A diverging mini-bar centred on PWS 1 (full scale = 0 .. 2); coloured only when significant."""
    w = min(50.0, abs(p - 1.0) * 50.0)
    style = f"left:50%;width:{w:.1f}%" if p >= 1 else f"left:{50 - w:.1f}%;width:{w:.1f}%"
    return {"pos": p >= 1, "style": style, "sig": sig}


def _ci(lo: float, hi: float) -> tuple[str, str]:
    return (f"[{lo:.3f}, {hi:.3f}]", repr(float(lo))) if lo == lo else (MISSING_MD, "")


TESTSET_LABELS = {"wizardlm": "WizardLM", "vicuna": "Vicuna", POOLED: "pooled"}


def _lc_cell(r: Any) -> Cell:
    """LC-PWS, or "n/a" where the cell's lengths do not cover zero difference (the reason in the title)."""
    note = getattr(r, "lc_note", "") or ""
    return {**_cell(NA, "", "num"), "title": note} if note else _cell(*_num(r.lc_pws), "num")


def leaderboard_table(df: pd.DataFrame) -> Table | None:
    """Judge mean, pooled test sets: one group of rows per ratio (best PWS first, the controls last and not
    ranked); per-test-set and per-judge PWS beside it. Answer and training lengths are in "All results"."""
    from gsnr_bench.reporting.leads import is_control

    main = df[(df["judge"] == MEAN_JUDGE) & (df["testset"] == POOLED)].copy()
    if main.empty:
        return None
    main["_p"] = main["pws"].fillna(-1.0)
    main["_c"] = main["selector"].map(is_control).astype(int)
    main = main.sort_values(
        ["ratio", "_c", "_p"] + KEY[:5], ascending=[True, True, False] + [True] * 5, kind="mergesort"
    )
    testsets = sorted(t for t in df["testset"].unique() if t != POOLED)
    judges = sorted(j for j in df["judge"].unique() if j != MEAN_JUDGE)
    where = [c for c in ("dataset", "target_model", "regime") if main[c].nunique() > 1]
    idx = df.set_index(KEY)["pws"]
    head = [("#", True), ("Selector", False)]
    head += [("Trained on (" + " / ".join(c.replace("_", " ") for c in where) + ")", False)] if where else []
    head += [("PWS", True), ("95% CI", True), ("Wins / ties / losses", True), ("Failed", True)]
    head += [("LC-PWS", True), ("LC-PWS 95% CI", True)]
    head += [(f"PWS {TESTSET_LABELS.get(t, t)}", True) for t in testsets]
    head += [(f"PWS by {j}", True) for j in judges]
    groups = []
    for ratio, part in main.groupby("ratio", sort=True):
        rows, rank = [], 0
        for r in part.itertuples(index=False):
            p, pk = _num(r.pws)
            sig = significance(r.ci_low, r.ci_high)
            control = is_control(r.selector)
            rank += 0 if control else 1
            cells = [
                _cell("control" if control else rank, "" if control else str(rank), "num"),
                _cell(r.selector + (" (control)" if control else "")),
            ]
            cells += [_cell(" / ".join(str(getattr(r, c)) for c in where))] if where else []
            cells += [
                _cell(p, pk, f"num pws {sig}".strip(), _bar(r.pws, sig) if pk else None),
                _cell(*_ci(r.ci_low, r.ci_high), "num"),
                _cell(f"{int(r.wins)} / {int(r.ties)} / {int(r.losses)}", str(int(r.wins)), "num"),
                _int(r.failed),
                _lc_cell(r),
                _cell(*_ci(r.lc_ci_low, r.lc_ci_high), "num"),
            ]
            base = (r.dataset, r.target_model, r.regime, r.protocol, r.selector, r.ratio)
            cells += [_cell(*_num(idx.get(base + (MEAN_JUDGE, t), math.nan)), "num") for t in testsets]
            cells += [_cell(*_num(idx.get(base + (j, POOLED), math.nan)), "num") for j in judges]
            rows.append(cells)
        groups.append({"title": f"{ratio_label(ratio)} of the pool", "rows": rows})
    return {"id": "leaderboard", "head": head, "groups": groups, "rows": [c for g in groups for c in g["rows"]]}


def all_results_table(df: pd.DataFrame) -> Table:
    head = [
        ("Selector", False),
        ("Regime", False),
        ("Dataset", False),
        ("Target model", False),
        ("Ratio", True),
        ("Judge", False),
        ("Test set", False),
        ("N", True),
        ("Win", True),
        ("Tie", True),
        ("Lose", True),
        ("Failed", True),
        ("PWS", True),
        ("CI low", True),
        ("CI high", True),
        ("LC-PWS", True),
        ("LC CI low", True),
        ("LC CI high", True),
        ("Len sys", True),
        ("Len base", True),
    ]
    rows = []
    for r in df.itertuples(index=False):
        cells = [
            _cell(r.selector),
            _cell(r.regime),
            _cell(r.dataset),
            _cell(r.target_model),
            _cell(ratio_label(r.ratio), repr(float(r.ratio)), "num"),
            _cell(r.judge),
            _cell(r.testset),
        ]
        cells += [_int(v) for v in (r.n, r.wins, r.ties, r.losses, r.failed)]
        cells += [_cell(*_num(v), "num") for v in (r.pws, r.ci_low, r.ci_high)]
        cells += [_lc_cell(r)] + [_cell(*_num(v), "num") for v in (r.lc_ci_low, r.lc_ci_high)]
        cells += [_cell(*_num(v, "{:.1f}"), "num") for v in (r.sys_len, r.base_len)]
        rows.append(cells)
    return {"id": "all-results", "head": head, "rows": rows}


def dict_table(tid: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """A sortable table from flat dicts (columns in first-seen order); floats to 3 decimals."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                cells.append(_cell("" if v is None else v))
            elif isinstance(v, float):
                cells.append(_cell(*_num(v), "num"))
            else:
                cells.append(_cell(v, str(v), "num"))
        body.append(cells)
    numeric = [all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows) for c in cols]
    return {"id": tid, "head": list(zip([header(c) for c in cols], numeric)), "rows": body}


_WORDS = {
    "pws": "PWS",
    "ci": "CI",
    "auc": "ROC-AUC",
    "n": "N",
    "kappa": "Cohen's kappa",
    "vt": "V_t",
    "gs": "G_s",
    "ifd": "IFD",
    "lc": "LC",
    "ge": ">=",
}


def header(key: str) -> str:
    """A column key as a reader would write it: `share_norm_drop` -> "Share norm drop", `ci_low` -> "CI low"."""
    if " " in key or key in ("#",):  # already written for people
        return key[:1].upper() + key[1:]
    words = [_WORDS.get(w.lower(), w) for w in str(key).split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def render_html(df: pd.DataFrame, extras: PageExtras | None = None, figures: Sequence | None = None) -> str:
    """The whole page as a string (results df as parsed back from leaderboard.csv). `figures`: the
    (name, title, Figure) list of figures.build_figures, shared with the standalone files."""
    from gsnr_bench.reporting.figures import build_figures

    ex = extras or PageExtras()
    figs = build_figures(df, ex) if figures is None else figures
    plots = [(title, to_svg(fig, name.replace("_", "-"))) for name, title, fig in figs]
    tables = (
        ("heldout", "Held-out score (judge-free): log-likelihood of held-out reference answers", ex.heldout),
        ("heldout_controls", "Controls on the held-out score (paired bootstrap CI by record)", ex.heldout_controls),
        ("training", "Did each cell train? (steps, tokens, loss, answers identical to the 100% model's)", ex.training),
        (
            "sensitivity",
            "Controls: can the chain see data quality? (PWS differences, paired bootstrap CI)",
            ex.sensitivity,
        ),
        ("health", "Selector health", ex.health),
        ("stability", "Ranking stability over seeds", ex.stability),
        ("bias", "Judge bias diagnostics", ex.bias),
        ("enrichment", ENRICHMENT_TITLE, ex.enrichment),
        ("human", "Human labels: PWS", ex.human),
        ("agreement", "Judge agreement with humans", ex.agreement),
        ("judge-pairs", "Judge agreement with each other (Cohen's kappa, share of equal verdicts)", ex.judge_pairs),
        ("lengths", "Selected data and response length (Spearman of score vs length)", ex.lengths),
    )
    return (
        environment()
        .get_template("page.html.j2")
        .render(
            title=ex.title,
            bootstrap_rounds=ex.bootstrap_rounds,
            judges=sorted(j for j in df["judge"].unique() if j != MEAN_JUDGE),
            testsets=sorted(t for t in df["testset"].unique() if t != POOLED),
            missing=MISSING_MD,
            notes=ex.notes.splitlines() if ex.notes else [],
            leaderboard=leaderboard_table(df),
            plots=[(title, Markup(svg)) for title, svg in plots if svg],  # matplotlib output, trusted
            extra_tables=[(title, dict_table(tid, rows)) for tid, title, rows in tables if rows],
            all_results=all_results_table(df),
        )
    )
