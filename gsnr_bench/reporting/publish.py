"""Publish a leaderboard directory: leaderboard.csv (source of truth), leaderboard.md, leaderboard.tex,
index.html. Everything but the CSV is rendered from the CSV text parsed back, so the four files can
never disagree, and the same results give byte-identical files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gsnr_bench.core.fileio import write_text
from gsnr_bench.reporting.figures import build_figures, write_figures
from gsnr_bench.reporting.html import ENRICHMENT_TITLE, PageExtras, render_html
from gsnr_bench.reporting.results import MEAN_JUDGE, POOLED, label_protocols, results_from_csv, results_to_csv
from gsnr_bench.reporting.tables import render_results_markdown

LC_NOTE = (
    "LC-PWS: the judge's preference modelled on the system-minus-baseline answer-length difference, fitted on "
    "each cell's own comparisons and predicted at zero length difference, on the PWS scale (docs/length.md). "
    "PWS well above LC-PWS means the score rides on longer answers, or that longer answers were worse ones "
    "(then LC removes real signal). `n/a`: the cell's lengths do not cover zero difference (reasons below)."
)
CSV, MD, TEX, HTML = "leaderboard.csv", "leaderboard.md", "leaderboard.tex", "index.html"


def _md_rows(rows) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    fmt = lambda v: "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c)).replace("|", "/") for c in cols) + " |" for r in rows]
    return out + [""]


def render_extras_markdown(extras: PageExtras | None) -> list[str]:
    """Controls, selector health and enrichment (when the run has them), after the tables."""
    if extras is None:
        return []
    parts: list[str] = []
    for title, rows in (
        ("Held-out score (judge-free): mean per-token log-likelihood of held-out reference answers", extras.heldout),
        ("Controls on the held-out score, paired bootstrap CI by record", extras.heldout_controls),
        (
            "Did each cell train? (steps, tokens, loss first/last, answers identical to the 100% model's)",
            extras.training,
        ),
        ("Controls: PWS(oracle) - PWS(anti-oracle / random), paired bootstrap CI", extras.sensitivity),
        ("Selector health", extras.health),
        ("Ranking stability over seeds", extras.stability),
        (ENRICHMENT_TITLE, extras.enrichment),
        ("Judge agreement with humans", extras.agreement),
        ("Judge agreement with each other (same comparisons; Cohen's kappa, equal verdicts)", extras.judge_pairs),
    ):
        if rows:
            parts += [f"## {title}", "", *_md_rows(rows)]
    return parts


def lc_na_lines(df: pd.DataFrame) -> list[str]:
    """One line per LC-PWS cell (mean judge, pooled) that is n/a: which cell, and why. The other rows' reasons
    are in report/summary.json (lc_na)."""
    out = []
    sel = (df["lc_note"].fillna("") != "") & (df["judge"] == MEAN_JUDGE) & (df["testset"] == POOLED)
    for r in df[sel].itertuples(index=False):
        out.append(f"{r.selector}@{r.ratio:g} ({r.dataset} / {r.target_model} / {r.regime}): {r.lc_note}")
    return out


def _paper_tables(df: pd.DataFrame, extras: PageExtras | None) -> list[tuple[str, list]]:
    """(title, tables) of the paper layouts: PWS, LC-PWS and the ablations (paper.py)."""
    from gsnr_bench.reporting.paper import TableOptions, ablation_df, build_tables

    ex = extras or PageExtras()
    opts = ex.table_options or TableOptions()
    out = [
        ("Table 1: PWS against the 100% model", build_tables(df, ex.leads, opts)),
        ("Table 1-LC: length-controlled PWS", build_tables(df, (), opts, value="lc_pws")),
        ("Table 2: ablations, PWS minus G-SNR", build_tables(ablation_df(df), (), opts, value="delta")),
    ]
    return [(title, tables) for title, tables in out if tables]


def render_markdown_report(
    df: pd.DataFrame, title: str = "gsnr-bench leaderboard", extras: PageExtras | None = None
) -> str:
    from gsnr_bench.reporting.paper import TableOptions, render_markdown

    opts = (extras or PageExtras()).table_options or TableOptions()
    parts = [
        f"# {title}",
        "",
        "PWS = 1 + (W - L) / N against the model trained on 100% of the data (1 = as good); failed comparisons "
        "are counted apart and not scored. `–` = not run. Source of truth: `leaderboard.csv`.",
        "",
    ]
    for heading, tables in _paper_tables(df, extras):
        parts += [f"## {heading}", ""]
        if heading.startswith("Table 1-LC"):
            parts += [LC_NOTE, ""]
        parts.append(render_markdown(tables, opts))
        if heading.startswith("Table 1-LC"):
            parts += [*[f"- n/a: {line}" for line in lc_na_lines(df)], ""]
    if extras is not None and extras.notes:
        parts += [f"- {line}" for line in extras.notes.splitlines()] + [""]
    parts += render_extras_markdown(extras)
    parts += ["## All cells", "", render_results_markdown(label_protocols(df))]
    return "\n".join(parts)


def render_latex_report(df: pd.DataFrame, extras: PageExtras | None = None) -> str:
    from gsnr_bench.reporting.paper import TableOptions, render_latex

    opts = (extras or PageExtras()).table_options or TableOptions()
    return render_latex([t for _, tables in _paper_tables(df, extras) for t in tables], opts)


def publish(results_df: pd.DataFrame, out_dir: str | Path, extras: PageExtras | None = None) -> list[Path]:
    """Write the four files and figures/*.pdf|png atomically; returns their paths (CSV first)."""
    out = Path(out_dir)
    csv_text = results_to_csv(results_df)
    raw = results_from_csv(csv_text)  # the paper tables group by protocol themselves
    df = label_protocols(raw)
    title = (extras or PageExtras()).title
    figs = build_figures(df, extras or PageExtras())
    files = {
        CSV: csv_text,
        MD: render_markdown_report(raw, title, extras),
        TEX: render_latex_report(raw, extras),
        HTML: render_html(df, extras, figs),
    }
    paths = []
    for name, text in files.items():
        write_text(out / name, text)
        paths.append(out / name)
    return paths + write_figures(figs, out)
