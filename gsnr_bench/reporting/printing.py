"""The report on screen: the PWS leaderboard, enrichment, judge bias and human agreement tables."""

from __future__ import annotations

import math
from typing import Any

from gsnr_bench.reporting.collect import ControlRow, RunResults
from gsnr_bench.reporting.length_stats import LengthRow


def print_report(rr: RunResults, console: Any, *, judge_free: bool = True) -> None:
    """The leaderboard and the tables beside it, as the end of `run` and `report` print them (judge_free=False:
    without enrichment, health and stability, which `run` printed right after scoring)."""

    from gsnr_bench.reporting.build import judge_cost
    from gsnr_bench.reporting.results import label_protocols

    jc = judge_cost(rr.records)
    if jc["usage_estimated_calls"]:
        console.print(
            f"judge cost ${jc['cost_usd']:.4f} is estimated for {jc['usage_estimated_calls']} of {jc['calls']} calls "
            f"(the judge sent no valid usage; counted by {', '.join(jc['estimate_rules'])})"
        )
    df = label_protocols(rr.results)
    print_measurability(rr, console)
    if df.empty:
        console.print("no judged comparisons yet")
    else:
        _print_leaderboard(rr, df, console)
    if judge_free:
        print_judge_free({"enrichment": rr.enrichment, "health": rr.health, "stability": rr.stability}, console)
    _print_rest(rr, console)


def _print_leaderboard(rr: RunResults, df: Any, console: Any) -> None:
    from gsnr_bench.reporting.results import MEAN_JUDGE, POOLED

    main = df[df["judge"] == MEAN_JUDGE]
    console.print(_leaderboard_table(main))
    for r in main[(main["testset"] == POOLED) & (main["lc_note"] != "")].itertuples(index=False):
        console.print(f"LC-PWS n/a for {r.selector}@{r.ratio:g}: {r.lc_note}", soft_wrap=True)
    if rr.sensitivity:
        _print_controls(rr.sensitivity, console)


LEADERBOARD_COLUMNS = ("selector", "ratio", "95% CI", "W/T/L", "failed", "LC-PWS", "LC 95% CI", "len sys/base")


def _leaderboard_table(main: Any) -> Any:
    """PWS per system (mean over judges), a column per test set and pooled; dataset, target and regime shown
    only where the systems differ in them."""
    from rich.table import Table

    from gsnr_bench.reporting.results import POOLED

    testsets = sorted(t for t in main["testset"].unique() if t != POOLED) + [POOLED]
    t = Table(title="PWS vs the 100% model (1 = as good; mean over judges; 95% CI pooled)")
    where = ["dataset", "target_model", "regime"]
    shown = [c for c in where if main[c].nunique() > 1]  # columns only where cells differ in them
    for col in (*shown, *LEADERBOARD_COLUMNS[:2], *testsets, *LEADERBOARD_COLUMNS[2:]):
        t.add_column(col, justify="left" if col in (*shown, "selector") else "right")
    for key, g in main.groupby([*where, "selector", "ratio"], sort=True):
        info = dict(zip([*where, "selector", "ratio"], key))
        by_ts = g.set_index("testset")
        pooled = by_ts.loc[POOLED]
        cells = [_fmt(by_ts.loc[ts, "pws"]) if ts in by_ts.index else "–" for ts in testsets]
        t.add_row(
            *[str(info[c]) for c in shown],
            info["selector"],
            f"{info['ratio']:g}",
            *cells,
            f"[{_fmt(pooled['ci_low'])}, {_fmt(pooled['ci_high'])}]",
            f"{int(pooled['wins'])}/{int(pooled['ties'])}/{int(pooled['losses'])}",
            str(int(pooled["failed"])),
            "n/a" if pooled["lc_note"] else _fmt(pooled["lc_pws"]),
            f"[{_fmt(pooled['lc_ci_low'])}, {_fmt(pooled['lc_ci_high'])}]",
            f"{_len(pooled['sys_len'])}/{_len(pooled['base_len'])}",
        )
    return t


def _print_controls(rows: list[ControlRow], console: Any) -> None:
    """The controls (collect.sensitivity) as a table and in words."""
    from rich.table import Table

    from gsnr_bench.reporting.collect import sensitivity_sentences

    s = Table(title="Controls: can the chain see data quality? (pooled, paired bootstrap 95% CI by question)")
    for col in ("comparison", "ratio", "PWS diff", "95% CI", "separates"):
        s.add_column(col, justify="left" if col == "comparison" else "right")
    for r in rows:
        s.add_row(
            r.comparison,
            f"{r.ratio:g}",
            _fmt(r.diff),
            f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
            "yes" if r.separates else "[bold red]no[/]",
        )
    console.print(s)
    for line in sensitivity_sentences(rows):
        console.print(line, soft_wrap=True)


def print_judge_free(jf: dict, console: Any) -> None:
    """Enrichment, selector health (with its warnings) and ranking stability: what scores alone tell
    (collect.judge_free), printed by `score`, by `run` right after scoring, and by `report`."""
    if jf.get("enrichment"):
        console.print(_enrichment_table(jf["enrichment"]))
    if jf.get("health"):
        console.print(_health_table(jf["health"]))
        for r in jf["health"]:
            for w in r.get("warnings") or []:
                console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    if jf.get("stability"):
        console.print(_stability_table(jf["stability"]))


ENRICHMENT_COLUMNS = (
    "selector",
    "ratio",
    "n",
    "clean rate",
    "base rate",
    "lift",
    "ROC-AUC",
    "unscorable",
    "lift (scorable)",
    "AUC (scorable)",
    "defects in subset",
)


def _enrichment_table(rows: list[dict]) -> Any:
    from rich.table import Table

    e = Table(
        title="Enrichment of clean examples (judge-free; lift > 1 = cleaner than the pool). All records: the "
        "subsets the leaderboard uses (unscorable ones ranked last); scorable: the selector's score alone"
    )
    for col in ENRICHMENT_COLUMNS:
        e.add_column(col, justify="left" if col in ("selector", "defects in subset") else "right")
    for r in rows:
        e.add_row(
            r["selector"],
            f"{r['ratio']:g}",
            str(r["n"]),
            f"{r['clean_rate']:.3f}",
            f"{r['base_rate']:.3f}",
            _fmt(r["lift"]),
            _fmt(r["auc"]),
            str(r.get("unscorable", "–")),
            _fmt(r.get("lift_scorable")),
            _fmt(r.get("auc_scorable")),
            r.get("defects", ""),
        )
    return e


def _health_table(rows: list[dict]) -> Any:
    from rich.table import Table

    from gsnr_bench.analysis.health import display_row

    h = Table(title="Selector health (docs/selectors.md)")
    for col in ("selector", "eligible", "ineligible", "why ineligible", "signal"):
        h.add_column(col, justify="right" if col in ("eligible", "ineligible") else "left")
    for row in map(display_row, rows):
        h.add_row(row["selector"], str(row["eligible"]), str(row["ineligible"]), row["why ineligible"], row["signal"])
    return h


def _stability_table(rows: list[dict]) -> Any:
    from rich.table import Table

    st = Table(title="Ranking stability over seeds (Spearman; top-k overlap min / mean)")
    keys = list(rows[0])
    for k in keys:
        st.add_column(k, justify="left" if k in ("selector", "combine") else "right")
    for r in rows:
        st.add_row(*[_fmt(r.get(k)) if isinstance(r.get(k), float) else str(r.get(k)) for k in keys])
    return st


def _print_rest(rr: RunResults, console: Any) -> None:
    if rr.lengths:
        console.print(_lengths_table(rr.lengths))
    if rr.bias:
        console.print(_bias_table(rr.bias))
    if rr.human:
        console.print(_rows_table("Human PWS (majority label per question; 95% CI)", rr.human))
    if rr.inter_annotator:
        console.print(
            "annotators: "
            + ", ".join(f"{k} {_fmt(v) if isinstance(v, float) else v}" for k, v in rr.inter_annotator.items())
        )
    if rr.agreement:
        console.print(_rows_table("Judge agreement with human labels", rr.agreement))
    if rr.judge_pairs:
        console.print(_rows_table("Judge agreement with each other (same comparisons; Cohen's kappa)", rr.judge_pairs))
    _print_notes(rr, console)
    console.print(f"report: {rr.run / 'report' / 'index.html'}")


def _lengths_table(lens: list[LengthRow]) -> Any:
    from rich.table import Table

    ln = Table(
        title=f"Response length ({lens[0].unit}): selected subsets vs the pool "
        f"({_fmt(lens[0].pool_len)}), Spearman of score vs length"
    )
    for col in ("selector", "Spearman", "subset mean length by budget"):
        ln.add_column(col, justify="left" if col != "Spearman" else "right")
    for r in lens:
        ln.add_row(r.selector, _fmt(r.spearman_score_vs_length), r.subset_len)
    return ln


BIAS_COLUMNS = ("judge", "first-position win rate", "swap flip rate", "longer answer wins", "null-pair tie rate")


def _bias_table(rows: list[dict]) -> Any:
    from rich.table import Table

    b = Table(title="Judge bias diagnostics")
    for col in (*BIAS_COLUMNS, "failed"):
        b.add_column(col, justify="left" if col == "judge" else "right")
    for r in rows:
        b.add_row(
            r["judge"],
            _fmt(r["first_position_win_rate"]),
            _fmt(r["swap_flip_rate"]),
            _fmt(r["longer_answer_win_rate"]),
            _fmt(r["null_tie_rate"]),
            str(r["failed"]),
        )
    return b


def _print_notes(rr: RunResults, console: Any) -> None:
    """Protocols kept apart, questions skipped as too long, failed comparisons."""
    if len(rr.info.get("protocols", {})) > 1:
        console.print(
            f"note: this run holds cells judged under {len(rr.info['protocols'])} protocols (other baseline "
            "answers or judging prompt/order); they are kept apart, the regime label names the protocol "
            "(report/summary.json: protocols)"
        )
    if rr.skipped:
        console.print(
            "note: questions too long for the target were left out of every comparison "
            "(generation.long_prompts=skip): " + ", ".join(f"{t} {n}" for t, n in rr.skipped.items())
        )
    if rr.failed:
        console.print(f"[yellow]{rr.failed} failed comparison(s) are counted apart and not scored[/]")


def print_pws_by_judge(df: Any, console: Any, groups: set | None = None) -> None:
    """PWS per judge (not their mean): one row per system and judge, a column per test set and pooled, with
    the pooled 95% CI and W/T/L. `groups`: (dataset, target_model, regime, protocol, selector, ratio) keys to
    show (default: all)."""
    from rich.table import Table

    from gsnr_bench.reporting.results import MEAN_JUDGE, POOLED

    sub = df[df["judge"] != MEAN_JUDGE]
    key = ["dataset", "target_model", "regime", "protocol", "selector", "ratio"]
    if groups is not None:
        sub = sub[[tuple(r) in groups for r in sub[key].itertuples(index=False)]]
    if sub.empty:
        return
    testsets = sorted(t for t in sub["testset"].unique() if t != POOLED) + [POOLED]
    t = Table(title="PWS per judge (1 = as good as the baseline; 95% CI and W/T/L pooled)")
    for col in ("system", "judge", *testsets, "95% CI", "W/T/L", "failed"):
        t.add_column(col, justify="left" if col in ("system", "judge") else "right")
    for k, g in sub.groupby([*key, "judge"], sort=True):
        by_ts = g.set_index("testset")
        pooled = by_ts.loc[POOLED]
        t.add_row(
            f"{k[4]}@{k[5]:g}",
            k[6],
            *[_fmt(by_ts.loc[ts, "pws"]) if ts in by_ts.index else "–" for ts in testsets],
            f"[{_fmt(pooled['ci_low'])}, {_fmt(pooled['ci_high'])}]",
            f"{int(pooled['wins'])}/{int(pooled['ties'])}/{int(pooled['losses'])}",
            str(int(pooled["failed"])),
        )
    console.print(t)


def print_measurability(rr: RunResults, console: Any) -> None:
    """Judge-free: did each cell train (steps, tokens, loss, answers identical to the 100% model's), and the
    held-out log-likelihood per system with its paired difference against the 100% model."""
    if rr.heldout:
        console.print(_rows_table(HELDOUT_TITLE, [heldout_display(r) for r in rr.heldout]))
    if rr.heldout_controls:
        console.print(_rows_table(HELDOUT_CONTROLS_TITLE, rr.heldout_controls))
    if rr.training:
        console.print(
            _rows_table(TRAINING_TITLE, [{k: v for k, v in r.items() if k != "warnings"} for r in rr.training])
        )
    for r in rr.training:
        for w in r.get("warnings") or []:
            console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)


def heldout_display(r: dict) -> dict:
    """One held-out row for the screen: the intervals in brackets, log-likelihoods to 4 decimals."""
    f = lambda x: "–" if x is None else f"{x:+.4f}"  # noqa: E731
    out = {k: r[k] for k in ("group", "system", "records", "not_scored") if k in r}
    out["mean log-lik / token [95% CI]"] = f"{f(r['heldout_ll'])} [{f(r['ci_low'])}, {f(r['ci_high'])}]"
    out["diff vs 100% [paired 95% CI]"] = (
        "–" if r["diff_vs_100"] is None else f"{f(r['diff_vs_100'])} [{f(r['diff_ci_low'])}, {f(r['diff_ci_high'])}]"
    )
    out["differs"] = "–" if r["differs"] is None else ("yes" if r["differs"] else "no")
    return out


TRAINING_TITLE = "Did each cell train? (steps, tokens, loss first/last, share of answers identical to the 100% model's)"
HELDOUT_CONTROLS_TITLE = "Controls on the held-out score (paired bootstrap 95% CI by record; separates = CI excludes 0)"
HELDOUT_TITLE = (
    "Held-out score (judge-free): mean per-token log-likelihood of held-out reference answers; "
    "diff vs the 100% model, paired bootstrap 95% CI by record"
)


def _rows_table(title: str, rows: list[dict]) -> Any:
    """A table of flat dicts, columns in the first row's order, floats to 3 decimals."""
    from rich.table import Table

    t = Table(title=title)
    keys = list(rows[0])
    for k in keys:
        t.add_column(k)
    for r in rows:
        t.add_row(*[_fmt(r.get(k)) if isinstance(r.get(k), float) or r.get(k) is None else str(r[k]) for k in keys])
    return t


def _len(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.0f}"


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):.3f}"
