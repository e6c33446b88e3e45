"""The report stage and the commands built on it (leaderboard publish, import-human, import-judgments).

One code path computes a run's results, from its raw files only:
    report/inputs.json   what the report is made of: each system's cell metadata and the run-relative paths
                         of its judgment files, scores files and training logs, the ground truth (demo),
                         ratios and report config. Written by `build_report` after the pipeline ran.
    imported/*.json      judgments imported from other tools (records + their systems' metadata)
    human/labels.jsonl   human labels imported by `import-human`
`collect(run_dir)` reads those and returns the results table and the page extras; `build_report` writes
them under report/ (CSV, Markdown, LaTeX, HTML, summary.json) and `publish_runs` merges several runs into
one leaderboard directory. The same files give the same bytes: nothing reads the clock."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import DataError
from .fileio import read_json, read_jsonl, write_json

INPUTS = "report/inputs.json"
HUMAN = "human/labels.jsonl"
IMPORTED = "imported"
INPUTS_VERSION = 1


@dataclass
class RunResults:
    run: Path
    results: Any  # pandas DataFrame, reporting.results.COLUMNS
    records: list[dict]
    enrichment: list[dict] = field(default_factory=list)
    bias: list[dict] = field(default_factory=list)
    human: list[dict] = field(default_factory=list)
    agreement: list[dict] = field(default_factory=list)
    inter_annotator: dict = field(default_factory=dict)
    train_logs: dict[str, Path] = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)


# ------------------------------------------------------------------ the pipeline's report stage
def build_report(pipe: Any, selectors: list[str], cells: dict, models: dict, judgments: dict) -> "Report":
    """Record what the report is made of (run-relative paths), then compute and write it."""
    from .pipeline import BASELINE, system_name
    from .reporting.length_stats import length_inputs
    from .selection.budgets import budget_ratio

    root = pipe.store.root
    cfg = pipe.cfg
    inp = pipe.inputs
    rel = lambda p: str(Path(p).resolve().relative_to(root.resolve()))  # noqa: E731
    systems = {}
    for (sel, ratio) in cells:
        systems[system_name(sel, ratio)] = {
            "dataset": inp.pool_name, "target_model": _short_model(cfg.finetune.model, inp.target_key),
            "regime": cfg.finetune.regime, "selector": sel, "ratio": budget_ratio(ratio, len(inp.pool))}
    scores = {sel: rel(pipe.scores(sel).path / "scores.jsonl") for sel in selectors}
    lengths = length_inputs(pipe, selectors, cells, models, rel)  # answer / subset / pool lengths, Spearman
    for name, m in systems.items():
        m.update(train_len=lengths["subsets"][name]["train_len"], pool_len=lengths["pool_len"])
    logs = {name: rel(msd.path / "train_log.jsonl") for name, msd in sorted(models.items())
            if (msd.path / "train_log.jsonl").is_file()}
    inputs = {
        "version": INPUTS_VERSION, "systems": systems, "baseline": BASELINE,
        "judgments": sorted(rel(sd.path / "judgments.jsonl") for sd in judgments.values()),
        "scores": scores, "train_logs": logs, "ratios": [float(r) for r in cfg.selection.ratios],
        "truth": rel(inp.truth) if inp.truth else None,
        "report": cfg.report.model_dump(mode="json"), "prompt_version": cfg.judging.prompt,
        "title": f"gsnr-bench: {cfg.name}",
        "testsets": {t: [q.question_id for q in qs] for t, qs in pipe.testsets.items()},
        "lengths": lengths,
    }
    write_json(root / INPUTS, inputs)
    return write_report(root)


def _short_model(spec: str, key: str) -> str:
    if spec == "demo":
        return "demo-target"
    return Path(spec).name if Path(spec).exists() else spec


# ------------------------------------------------------------------ reading a run back
def load_inputs(run: Path) -> dict:
    path = Path(run) / INPUTS
    if not path.is_file():
        raise DataError(f"{run} has no {INPUTS}: finish the run first (gsnr-bench run / report)")
    inputs = read_json(path)
    if inputs.get("version") != INPUTS_VERSION:
        raise DataError(f"{path}: report inputs version {inputs.get('version')!r}, expected {INPUTS_VERSION}")
    return inputs


def collect(run: str | Path) -> RunResults:
    from .judging.diagnostics import bias_diagnostics
    from .reporting.config import ReportConfig
    from .reporting.length_stats import attach_answer_tokens
    from .reporting.results import CellMeta, load_judgment_records, results_from_judgments

    run = Path(run)
    inputs = load_inputs(run)
    rcfg = ReportConfig.model_validate(inputs["report"])
    records = load_judgment_records(run / p for p in inputs["judgments"])
    meta = {s: CellMeta(**m) for s, m in inputs["systems"].items()}
    for f in sorted((run / IMPORTED).glob("*.json")):
        imp = read_json(f)
        records += imp["records"]
        meta.update({s: CellMeta(**m) for s, m in imp["systems"].items()})
    answers = (inputs.get("lengths") or {}).get("answers", {})
    df = results_from_judgments(attach_answer_tokens(records, run, answers, inputs["baseline"]), meta, rcfg)
    out = RunResults(run, df, records, inputs=inputs,
                     train_logs={k: run / v for k, v in inputs.get("train_logs", {}).items()})
    for judge in sorted({r["judge"] for r in records}):
        out.bias.append({"judge": judge, **bias_diagnostics(r for r in records if r["judge"] == judge)})
    if inputs.get("truth"):
        out.enrichment = enrichment(run, inputs)
    if (run / HUMAN).is_file():
        from .reporting.human import HumanLabel, human_pws, inter_annotator, judge_agreement, majority

        labels = [HumanLabel(**r, line=i) for i, r in enumerate(read_jsonl(run / HUMAN), start=1)]
        maj = majority(labels)
        out.human = human_pws(maj, rounds=rcfg.bootstrap_rounds, ci=rcfg.ci, seed=rcfg.seed)
        out.agreement = judge_agreement(maj, records)
        out.inter_annotator = inter_annotator(labels)
    return out


def enrichment(run: Path, inputs: dict) -> list[dict]:
    """Judge-free check on the demo: per selector, the clean rate of its top 5/10/15% over the pool's base
    rate (precision lift) and the ROC-AUC of its score for clean vs defective examples."""
    from .reporting.metrics import precision_lift, score_auc

    truth = read_json(run / inputs["truth"])
    clean = {k: bool(v) for k, v in truth["clean"].items()}
    rows = []
    for sel, path in sorted(inputs["scores"].items()):
        scored = read_jsonl(run / path)
        ranked = [r["id"] for r in scored]
        auc = score_auc({r["id"]: r["score"] for r in scored if r.get("eligible") and r["score"] is not None},
                        clean)
        for lift in precision_lift(ranked, clean, inputs["ratios"]):
            rows.append({"selector": sel, "ratio": lift["ratio"], "n": lift["n"],
                         "clean_rate": round(lift["precision"], 4), "base_rate": round(lift["base_rate"], 4),
                         "lift": _r(lift["lift"]), "auc": _r(auc)})
    return rows


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


# ------------------------------------------------------------------ writing
def page_extras(results: Iterable[RunResults], title: str, rounds: int | None):
    from .reporting.html import PageExtras

    results = list(results)
    many = len(results) > 1
    tag = lambda rr, s: f"{rr.run.name}:{s}" if many else s  # noqa: E731
    logs = {tag(rr, k): v for rr in results for k, v in rr.train_logs.items() if Path(v).is_file()}
    bias = [{**({"run": rr.run.name} if many else {}), **b} for rr in results for b in rr.bias]
    enr = [{**({"run": rr.run.name} if many else {}), **e} for rr in results for e in rr.enrichment]
    hum = [{**({"run": rr.run.name} if many else {}), **h} for rr in results for h in rr.human]
    agr = [{**({"run": rr.run.name} if many else {}), **a} for rr in results for a in rr.agreement]
    from .reporting.length_stats import selector_length_rows

    lens = [{**({"run": rr.run.name} if many else {}), **x} for rr in results for x in selector_length_rows(rr.inputs)]
    return PageExtras(title=title, train_logs=logs, bias=bias, enrichment=enr, human=hum, agreement=agr,
                      lengths=lens, bootstrap_rounds=rounds)


def write_report(run: Path) -> "Report":
    from .reporting.publish import publish

    rr = collect(run)
    inputs = rr.inputs
    extras = page_extras([rr], inputs.get("title", "gsnr-bench report"), inputs["report"]["bootstrap_rounds"])
    publish(rr.results, run / "report", extras)
    from .reporting.length_stats import selector_length_rows

    summary = {"enrichment": rr.enrichment, "bias": rr.bias, "human": rr.human, "agreement": rr.agreement,
               "inter_annotator": rr.inter_annotator, "lengths": selector_length_rows(inputs)}
    write_json(run / "report" / "summary.json", summary)
    return Report(rr)


def publish_runs(runs: list[Path], out: Path) -> list[Path]:
    """Merge the results of several runs into one leaderboard directory (CSV, Markdown, LaTeX, HTML)."""
    from .reporting.publish import publish
    from .reporting.results import combine_results

    if not runs:
        raise DataError("leaderboard publish needs at least one run directory")
    results = [collect(r) for r in runs]
    df = combine_results(rr.results for rr in results)
    rounds = {rr.inputs["report"]["bootstrap_rounds"] for rr in results}
    title = results[0].inputs.get("title", "gsnr-bench leaderboard") if len(results) == 1 else "gsnr-bench leaderboard"
    extras = page_extras(results, title, rounds.pop() if len(rounds) == 1 else None)
    return publish(df, out, extras)


# ------------------------------------------------------------------ imports
def _run_questions(run: Path, inputs: dict) -> set[tuple[str, str]]:
    return {(t, str(q)) for t, qs in inputs.get("testsets", {}).items() for q in qs}


def import_human_into_run(file: Path, run_dir: Path) -> "Report":
    from .reporting.human import import_human_labels

    run = Path(run_dir)
    inputs = load_inputs(run)
    pairs = {(s, inputs["baseline"]) for s in inputs["systems"]}
    for f in sorted((run / IMPORTED).glob("*.json")):
        pairs |= {(s, inputs["baseline"]) for s in read_json(f)["systems"]}
    imp = import_human_labels(file, questions=_run_questions(run, inputs), pairs=pairs, out_path=run / HUMAN)
    from .progress import console

    console.print(f"imported {len(imp.labels)} human labels ({len(imp.majority)} items) into {run / HUMAN}")
    return write_report(run)


def import_judgments_into_run(args: Any) -> "Report":
    """Superfiltering/Cherry review JSON or FastChat pairwise JSONL -> imported/<name>.json, then re-report."""
    from .reporting.importers import import_fastchat, import_superfiltering
    from .selection.budgets import parse_system

    run = Path(args.run_dir)
    inputs = load_inputs(run)
    testset = args.testset
    if testset not in inputs.get("testsets", {}):
        raise DataError(f"test set {testset!r} is not in run {run} (has: {', '.join(inputs.get('testsets', {}))})")
    qids = {str(q) for q in inputs["testsets"][testset]}
    if args.format == "superfiltering":
        if not args.system:
            raise DataError("--system NAME is required for the superfiltering format")
        records = import_superfiltering(args.file, system=args.system, testset=testset, baseline=args.baseline,
                                        judge=args.judge, combine_rule=args.combine,
                                        prompt_version=inputs["prompt_version"], questions=qids)
    else:
        records = import_fastchat(args.file, testset=testset, baseline=args.baseline,
                                  prompt_version=inputs["prompt_version"], combine_rule=args.combine,
                                  judge=None if args.judge == "imported" else args.judge,
                                  systems=[args.system] if args.system else None, questions=qids)
    if not records:
        raise DataError(f"{args.file}: no judgments to import")
    if args.baseline != inputs["baseline"]:
        raise DataError(f"baseline {args.baseline!r} differs from the run's {inputs['baseline']!r}")
    any_meta = next(iter(inputs["systems"].values()), {"dataset": "", "target_model": "", "regime": ""})
    systems = {}
    for s in sorted({r["system"] for r in records}):
        sel, ratio, _size = parse_system(s)  # `sel@0.1`, or `sel@n1000` (an absolute budget: no ratio)
        ratio_f = math.nan if ratio is None else ratio
        systems[s] = {"dataset": any_meta["dataset"], "target_model": any_meta["target_model"],
                      "regime": any_meta["regime"], "selector": sel, "ratio": ratio_f}
    digest = hashlib.sha256(Path(args.file).read_bytes()).hexdigest()[:12]
    dest = run / IMPORTED / f"{Path(args.file).stem}-{digest}.json"
    # validate the merged set before writing anything (duplicates, prompt versions, unknown systems)
    from .reporting.results import check_records

    existing = collect(run).records
    check_records(existing + records)
    write_json(dest, {"source": str(args.file), "format": args.format, "systems": systems, "records": records})
    from .progress import console

    console.print(f"imported {len(records)} judgments of {', '.join(systems)} into {dest}")
    return write_report(run)


# ------------------------------------------------------------------ printing
class Report:
    def __init__(self, rr: RunResults) -> None:
        self.rr = rr

    def print(self, console: Any) -> None:
        from rich.table import Table

        from .reporting.results import MEAN_JUDGE, POOLED

        df = self.rr.results
        if df.empty:
            console.print("no judged comparisons yet")
            return
        main = df[df["judge"] == MEAN_JUDGE]
        testsets = sorted(t for t in main["testset"].unique() if t != POOLED) + [POOLED]
        t = Table(title="PWS vs the 100% model (1 = as good; mean over judges; 95% CI pooled)")
        for col in ("selector", "ratio", *testsets, "95% CI", "W/T/L", "failed", "LC-PWS", "LC 95% CI",
                    "len sys/base"):
            t.add_column(col, justify="left" if col == "selector" else "right")
        for (sel, ratio), g in main.groupby(["selector", "ratio"], sort=True):
            by_ts = g.set_index("testset")
            pooled = by_ts.loc[POOLED]
            cells = [_fmt(by_ts.loc[ts, "pws"]) if ts in by_ts.index else "–" for ts in testsets]
            t.add_row(sel, f"{ratio:g}", *cells, f"[{_fmt(pooled['ci_low'])}, {_fmt(pooled['ci_high'])}]",
                      f"{int(pooled['wins'])}/{int(pooled['ties'])}/{int(pooled['losses'])}",
                      str(int(pooled["failed"])), _fmt(pooled["lc_pws"]),
                      f"[{_fmt(pooled['lc_ci_low'])}, {_fmt(pooled['lc_ci_high'])}]",
                      f"{_len(pooled['sys_len'])}/{_len(pooled['base_len'])}")
        console.print(t)
        if self.rr.enrichment:
            e = Table(title="Enrichment of clean examples (judge-free; lift > 1 = cleaner than the pool)")
            for col in ("selector", "ratio", "n", "clean rate", "base rate", "lift", "ROC-AUC"):
                e.add_column(col, justify="left" if col == "selector" else "right")
            for r in self.rr.enrichment:
                e.add_row(r["selector"], f"{r['ratio']:g}", str(r["n"]), f"{r['clean_rate']:.3f}",
                          f"{r['base_rate']:.3f}", _fmt(r["lift"]), _fmt(r["auc"]))
            console.print(e)
        from .reporting.length_stats import selector_length_rows

        lens = selector_length_rows(self.rr.inputs)
        if lens:
            ln = Table(title=f"Response length ({lens[0]['unit']}): selected subsets vs the pool "
                             f"({_fmt(lens[0]['pool_len'])}), Spearman of score vs length")
            for col in ("selector", "Spearman", "subset mean length by budget"):
                ln.add_column(col, justify="left" if col != "Spearman" else "right")
            for r in lens:
                ln.add_row(r["selector"], _fmt(r["spearman_score_vs_length"]), r["subset_len"])
            console.print(ln)
        if self.rr.bias:
            b = Table(title="Judge bias diagnostics")
            for col in ("judge", "first-position win rate", "swap flip rate", "longer answer wins",
                        "null-pair tie rate", "failed"):
                b.add_column(col, justify="left" if col == "judge" else "right")
            for r in self.rr.bias:
                b.add_row(r["judge"], _fmt(r["first_position_win_rate"]), _fmt(r["swap_flip_rate"]),
                          _fmt(r["longer_answer_win_rate"]), _fmt(r["null_tie_rate"]), str(r["failed"]))
            console.print(b)
        if self.rr.agreement:
            a = Table(title="Judge agreement with human labels")
            keys = list(self.rr.agreement[0])
            for k in keys:
                a.add_column(k)
            for r in self.rr.agreement:
                a.add_row(*[_fmt(r[k]) if isinstance(r[k], float) else str(r[k]) for k in keys])
            console.print(a)
        console.print(f"report: {self.rr.run / 'report' / 'index.html'}")


def _len(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.0f}"


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):.3f}"
