"""Write a run's report (report/: CSV, Markdown, LaTeX, HTML, summary.json) and publish leaderboards of
several runs, from the runs' files only (collect.py). The same files give the same bytes: nothing reads
the clock."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import write_json
from gsnr_bench.reporting.collect import DynamicsInput, RunResults, collect


def run_leads(results: list[RunResults]) -> list[dict]:
    """leads.py over every run's records together (group names prefixed by the run's place, so two runs'
    cells never merge; a column shared by runs compares their selectors on the same questions)."""
    from gsnr_bench.reporting.config import ReportConfig
    from gsnr_bench.reporting.leads import lead_rows

    records, meta = [], {}
    for i, rr in enumerate(results):
        tag = lambda g: f"{i}:{g}"  # noqa: E731
        records += [{**r, "cell": tag(r.get("cell") or r["system"])} for r in rr.records]
        meta.update({tag(g): m for g, m in rr.cell_meta.items()})
    rcfg = ReportConfig.model_validate(results[0].info["report"]) if results else ReportConfig()
    return lead_rows(records, meta, rcfg)


def table_options(results: list[RunResults], override: dict | None = None):
    """The paper tables' options: the (first) run's `report.tables`, then the command's flags."""
    from gsnr_bench.reporting.config import TablesConfig
    from gsnr_bench.reporting.paper import TableOptions

    base = (results[0].info["report"].get("tables") or {}) if results else {}
    cfg = TablesConfig.model_validate({**base, **{k: v for k, v in (override or {}).items() if v is not None}})
    return TableOptions(**cfg.model_dump())


def page_extras(results: Iterable[RunResults], title: str, rounds: int | None, tables: dict | None = None):
    from gsnr_bench.reporting.html import PageExtras

    results = list(results)
    many = len(results) > 1
    tag = lambda rr, s: f"{rr.run.name}:{s}" if many else s  # noqa: E731
    logs = {tag(rr, k): v for rr in results for k, v in rr.train_logs.items() if Path(v).is_file()}

    def rows(attr: str) -> list[dict]:  # a typed row (collect.ControlRow, length_stats.LengthRow) as written
        return [
            {**({"run": rr.run.name} if many else {}), **(x if isinstance(x, dict) else x.to_dict())}
            for rr in results
            for x in getattr(rr, attr)
        ]

    from gsnr_bench.analysis.health import display_row
    from gsnr_bench.reporting.collect import sensitivity_sentences

    notes = []
    for rr in results:
        notes += [f"{rr.run.name}: {line}" if many else line for line in sensitivity_sentences(rr.sensitivity)]
        notes += [f"warning: {w}" for h in rr.health for w in h.get("warnings") or []]
        notes += [f"warning: {w}" for h in rr.training for w in h.get("warnings") or []]
        if len(rr.info.get("protocols", {})) > 1:
            notes.append(
                f"{rr.run.name}: cells judged under {len(rr.info['protocols'])} protocols (other baseline "
                "answers or judging prompt/order) are kept apart: the regime label names the protocol."
            )
        if rr.skipped:
            notes.append(
                f"{rr.run.name}: questions too long for the target were left out of every comparison "
                f"(generation.long_prompts=skip): " + ", ".join(f"{t} {n}" for t, n in rr.skipped.items()) + "."
            )
        if rr.failed:
            notes.append(
                f"{rr.run.name}: {rr.failed} failed comparison(s) are counted apart and not scored; "
                "run the same command again to retry them."
            )
    health = [{**({"run": rr.run.name} if many else {}), **display_row(h)} for rr in results for h in rr.health]
    dynamics = []
    seen_ensembles: set[str] = set()
    for rr in results:
        for d in rr.dynamics:
            label = tag(rr, d.selector)
            fig = _dynamics(d, label, seen_ensembles)
            if fig is not None:
                dynamics.append((label, fig))
    return PageExtras(
        title=title,
        train_logs=logs,
        bias=rows("bias"),
        enrichment=rows("enrichment"),
        sensitivity=rows("sensitivity"),
        health=health,
        health_stats=[{**({"run": rr.run.name} if many else {}), **h} for rr in results for h in rr.health],
        stability=rows("stability"),
        dynamics=dynamics,
        human=rows("human"),
        agreement=rows("agreement"),
        lengths=rows("lengths"),
        judge_pairs=rows("judge_pairs"),
        leads=run_leads(results),
        table_options=table_options(results, tables),
        training=[{k: v for k, v in r.items() if k != "warnings"} for r in rows("training")],
        heldout=rows("heldout"),
        heldout_controls=rows("heldout_controls"),
        bootstrap_rounds=rounds,
        notes="\n".join(notes),
    )


def _dynamics(d: DynamicsInput, label: str, seen: set[str]):
    """Training-dynamics panels of one G-SNR scores file (once per ensemble: the ablations share it)."""
    from gsnr_bench.core.fileio import read_json, read_jsonl
    from gsnr_bench.domain.truth import labels_of
    from gsnr_bench.reporting.plots import dynamics_fig

    rows = read_jsonl(d.scores)
    norms = [k for k in (rows[0] if rows else {}) if k.startswith("norm_m")]
    # the same ensemble gives the same norms (rows are in each variant's rank order: compare by id)
    sig = repr([[r.get(k) for k in norms] for r in sorted(rows, key=lambda r: r["id"])[:20]])
    if not norms or sig in seen:
        return None
    seen.add(sig)
    clean = None
    if d.truth and Path(d.truth).is_file():
        clean = {k: v == "clean" for k, v in labels_of(read_json(d.truth)).items()}
    return dynamics_fig(rows, clean, label)


def summary(rr: RunResults) -> dict:
    cells = [
        {k: c[k] for k in ("system", "judge", "protocol", "dir", "complete", "judged", "failed", "pending", "skipped")}
        for c in rr.cells
    ]
    return {
        "cells": cells,
        "protocols": rr.info.get("protocols", {}),
        "enrichment": rr.enrichment,
        "health": rr.health,
        "sensitivity": [r.to_dict() for r in rr.sensitivity],
        "stability": rr.stability,
        "bias": rr.bias,
        "human": rr.human,
        "agreement": rr.agreement,
        "inter_annotator": rr.inter_annotator,
        "lengths": [r.to_dict() for r in rr.lengths],
        "judge_cost": judge_cost(rr.records),
        "judge_pairs": rr.judge_pairs,
        "training": rr.training,
        "heldout": rr.heldout,
        "heldout_controls": rr.heldout_controls,
        "lc_na": lc_na(rr.results),
    }


def lc_na(df) -> list[dict]:
    """Every results row whose LC-PWS is n/a, with the reason (docs/length.md)."""
    if df.empty:
        return []
    rows = df[df["lc_note"].fillna("") != ""]
    keys = ["dataset", "target_model", "regime", "selector", "ratio", "judge", "testset"]
    return [{**{k: getattr(r, k) for k in keys}, "reason": r.lc_note} for r in rows.itertuples(index=False)]


JUDGE_FREE = "judge-free.json"


def judge_cost(records: list[dict]) -> dict:
    """What the judged records' calls cost, and whether their token counts were reported by the judge or
    estimated (usage missing or invalid: judging/cost.py); an estimated cost is marked, never passed off."""
    calls = [c for r in records for c in r.get("calls") or []]
    est = [c for c in calls if c.get("usage_estimated")]
    return {
        "calls": len(calls),
        "cost_usd": round(sum(float(c.get("cost") or 0.0) for c in calls), 6),
        "usage": "estimated" if est else "reported",
        "usage_estimated_calls": len(est),
        "estimate_rules": sorted({str(c["usage_estimated"]) for c in est}),
    }


def write_report(run: str | Path, tables: dict | None = None) -> RunResults:
    """Render RUN/report/ from the run's files; runs no stage. `tables`: the paper tables' options for this
    rendering (over the run's `report.tables`). A run with scores and no judgments yet gets its judge-free
    tables (enrichment, health, stability) and an empty leaderboard."""
    from gsnr_bench.reporting.jobs import write_jobs_csv
    from gsnr_bench.reporting.publish import publish

    rr = collect(run)
    extras = page_extras([rr], rr.info["title"], rr.info["report"]["bootstrap_rounds"], tables)
    publish(rr.results, rr.run / "report", extras)
    write_json(rr.run / "report" / "summary.json", {**summary(rr), "leads": extras.leads})
    write_jobs_csv(rr.run, rr.run / "report" / "jobs.csv")  # a Slurm sweep: which job made which cell
    write_json(
        rr.run / "report" / JUDGE_FREE, {"enrichment": rr.enrichment, "health": rr.health, "stability": rr.stability}
    )
    return rr


def write_judge_free(run: str | Path) -> dict:
    """RUN/report/judge-free.json from the scores alone (collect.judge_free): what `score` and `run` write as
    soon as scoring is done, before any fine-tuning or judging."""
    from gsnr_bench.reporting.collect import judge_free

    jf = judge_free(run)
    write_json(Path(run) / "report" / JUDGE_FREE, jf)
    return jf


def publish_runs(runs: list[Path], out: Path, tables: dict | None = None) -> list[Path]:
    """Merge the results of several runs into one leaderboard directory (CSV, Markdown, LaTeX, HTML)."""
    from gsnr_bench.reporting.publish import publish
    from gsnr_bench.reporting.results import combine_results

    if not runs:
        raise DataError("leaderboard publish needs at least one run directory")
    if Path(out).exists() and not Path(out).is_dir():
        raise DataError(f"--out {out} is a file; give a directory for the leaderboard files")
    results = [collect(r) for r in runs]
    df = combine_results(rr.results for rr in results)
    rounds = {rr.info["report"]["bootstrap_rounds"] for rr in results}
    title = results[0].info["title"] if len(results) == 1 else "gsnr-bench leaderboard"
    extras = page_extras(results, title, rounds.pop() if len(rounds) == 1 else None, tables)
    return publish(df, out, extras)
