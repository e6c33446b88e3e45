"""A run's results, read back from its files only (never from a command's flags or config).

    judgments/<judge>/<system>-vs-full-<key>/cell.json        what the cell is (selector, ratio, protocol,
                                                              run-relative paths of its scores, subset and
                                                              training logs, test-set question ids)
    judgments/<judge>/<system>-vs-full-<key>/judgments.jsonl  its judgment records (last per comparison)
    imported/*.json                                           judgments imported from other tools
    human/labels.jsonl                                        imported human labels
    config.yaml                                               the run record: title, report settings

Every judged cell of the run is included, whichever command made it, complete or with failed
comparisons (counted in `failed`). Cells are grouped by protocol (the baseline answers they were
judged against and the judging prompt/order): the same system name under two protocols is two rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.domain.judgment import latest
from gsnr_bench.run.store import CELL, CELL_VERSION, DONE, MARKER

HUMAN = "human/labels.jsonl"
IMPORTED = "imported"
IMPORTED_PROTOCOL = "imported"


@dataclass
class RunResults:
    run: Path
    results: Any  # pandas DataFrame, reporting.results.COLUMNS
    records: list[dict]
    cells: list[dict] = field(default_factory=list)  # cell.json contents + status counts
    enrichment: list[dict] = field(default_factory=list)
    health: list[dict] = field(default_factory=list)  # selector health per scores file (analysis/health.py)
    sensitivity: list[dict] = field(default_factory=list)  # oracle vs anti-oracle / random, per protocol x ratio
    stability: list[dict] = field(default_factory=list)  # rankings over seeds (selection.seeds > 1)
    dynamics: list[dict] = field(default_factory=list)  # G-SNR scores files: {selector, path, truth} for plots
    bias: list[dict] = field(default_factory=list)
    human: list[dict] = field(default_factory=list)
    agreement: list[dict] = field(default_factory=list)
    judge_pairs: list[dict] = field(default_factory=list)  # judge-vs-judge agreement (human.judge_pair_agreement)
    inter_annotator: dict = field(default_factory=dict)
    train_logs: dict[str, Path] = field(default_factory=dict)
    lengths: list[dict] = field(default_factory=list)  # per selector: Spearman(score, length), subset lengths
    training: list[dict] = field(default_factory=list)  # per system: steps, tokens, loss, identical answers
    heldout: list[dict] = field(default_factory=list)  # per system: held-out log-likelihood, diff vs 100%
    heldout_controls: list[dict] = field(default_factory=list)  # oracle - anti-oracle / random on that score
    info: dict = field(default_factory=dict)  # title, report settings, test sets, protocols
    cell_meta: dict = field(default_factory=dict)  # results group (records' `cell`) -> CellMeta

    @property
    def failed(self) -> int:
        return sum(c["failed"] for c in self.cells)

    @property
    def skipped(self) -> dict[str, int]:
        """Per test set, questions left out of every comparison as too long for the target."""
        out: dict[str, set] = {}
        for c in self.cells:
            for t, ids in (c.get("skipped") or {}).items():
                out.setdefault(t, set()).update(ids)
        return {t: len(ids) for t, ids in sorted(out.items())}


def check_run(run: Path) -> Path:
    run = Path(run)
    if run.exists() and not run.is_dir():
        raise DataError(f"{run} is a file, not a gsnr-bench run directory")
    if not (run / MARKER).is_file():
        raise DataError(f"{run} is not a gsnr-bench run directory (no {MARKER})")
    return run


def run_settings(run: Path) -> dict[str, Any]:
    """Title and report settings from the run record (defaults for a run made only of imports)."""
    from gsnr_bench.reporting.config import ReportConfig
    from gsnr_bench.run.runrecord import load_record

    record = load_record(run)
    cfg = record.config if record else {}
    report = ReportConfig.model_validate(cfg.get("report") or {})
    return {"title": f"gsnr-bench: {cfg.get('name', run.name)}", "report": report.model_dump(mode="json")}


def scan_cells(run: Path) -> list[tuple[Path, dict]]:
    """(stage dir, cell.json) for every judging stage that started, in path order."""
    out = []
    for f in sorted(Path(run).glob(f"judgments/*/*/{CELL}")):
        try:
            cell = read_json(f)
        except DataError as exc:
            raise DataError(f"{exc}; remove that stage directory to judge the cell again") from None
        if cell.get("version") != CELL_VERSION:
            raise DataError(f"{f}: cell record version {cell.get('version')!r}, expected {CELL_VERSION}")
        out.append((f.parent, cell))
    return out


def cell_group(cell: dict) -> str:
    return f"{cell['protocol']}|{cell['system']}"


def imported_group(system: str, meta: dict) -> str:
    return f"{meta.get('protocol', IMPORTED_PROTOCOL)}|{meta['target_model']}|{meta['regime']}|{system}"


def load_imports(run: Path) -> list[tuple[Path, dict]]:
    """Every imported/*.json, checked: a broken file is a one-line error naming it (and the fix)."""
    out = []
    for f in sorted((Path(run) / IMPORTED).glob("*.json")):
        data = read_json(f)
        if not (
            isinstance(data, dict) and isinstance(data.get("systems"), dict) and isinstance(data.get("records"), list)
        ):
            raise DataError(
                f"{f} is not a gsnr-bench import (needs 'systems' and 'records'); delete it and "
                "import the source file again"
            )
        for s, m in data["systems"].items():
            miss = [k for k in ("dataset", "target_model", "regime", "selector", "ratio") if k not in m]
            if miss:
                raise DataError(f"{f}: system {s!r} lacks {', '.join(miss)}; delete it and import again")
        out.append((f, data))
    return out


def collect(run: str | Path) -> RunResults:
    from gsnr_bench.analysis.diagnostics import bias_diagnostics
    from gsnr_bench.reporting.config import ReportConfig
    from gsnr_bench.reporting.length_stats import attach_answer_tokens, selector_length_rows
    from gsnr_bench.reporting.results import CellMeta, results_from_judgments

    run = check_run(Path(run))
    settings = run_settings(run)
    rcfg = ReportConfig.model_validate(settings["report"])
    records: list[dict] = []
    meta: dict[str, CellMeta] = {}
    cells: list[dict] = []
    logs: dict[str, Path] = {}
    for stage_dir, cell in scan_cells(run):
        group = cell_group(cell)
        path = stage_dir / "judgments.jsonl"
        recs = list(latest(read_jsonl(path, tolerant=True)).values()) if path.is_file() else []
        lens = cell.get("lengths") or {}
        if lens:  # token counts of both answers, from the answers files (length-controlled PWS)
            recs = attach_answer_tokens(recs, run, lens["answers"], cell["baseline"])
        records += [{**r, "cell": group} for r in recs]
        meta[group] = CellMeta(
            cell["dataset"],
            cell["target_model"],
            cell["regime"],
            cell["selector"],
            float(cell["ratio"]),
            cell["protocol"],
            lens.get("train_len"),
            lens.get("pool_len"),
        )
        planned = sum(len(q) for q in cell["testsets"].values())
        scored = [r for r in recs if not r.get("null_pair")]
        cells.append(
            {
                **cell,
                "dir": stage_dir.relative_to(run).as_posix(),
                "complete": (stage_dir / DONE).is_file(),
                "judged": sum(1 for r in scored if r.get("outcome") != "failed"),
                "failed": sum(1 for r in recs if r.get("outcome") == "failed"),
                "pending": max(0, planned - len(scored)),
                "skipped": sum(len(v) for v in (cell.get("skipped") or {}).values()),
            }
        )
        for name, rel in cell.get("train_logs", {}).items():
            if (run / rel).is_file():
                logs.setdefault(name if name == cell["baseline"] else cell["system"], run / rel)
    for f, imp in load_imports(run):
        for s, m in imp["systems"].items():
            group = imported_group(s, m)
            meta[group] = CellMeta(
                m["dataset"],
                m["target_model"],
                m["regime"],
                m["selector"],
                float(m["ratio"]),
                m.get("protocol", IMPORTED_PROTOCOL),
            )
        records += [
            {**r, "cell": imported_group(r["system"], imp["systems"][r["system"]])}
            for r in imp["records"]
            if r.get("system") in imp["systems"]
        ]
    protocols = sorted({c["protocol"] for c in cells})
    if len(protocols) > 1:  # tell apart the training logs of the same system under two protocols
        logs = {}
        for c in cells:
            for name, rel in c.get("train_logs", {}).items():
                if (run / rel).is_file():
                    logs.setdefault(f"{name} [{c['protocol']}]", run / rel)
    df = results_from_judgments(records, meta, rcfg)
    info = {
        **settings,
        "testsets": run_testsets(cells),
        "protocols": {c["protocol"]: c.get("protocol_detail", {}) for c in cells},
    }
    out = RunResults(run, df, records, cells=cells, train_logs=logs, info=info, cell_meta=meta)
    for judge in sorted({r["judge"] for r in records}):
        out.bias.append({"judge": judge, **bias_diagnostics(r for r in records if r["judge"] == judge)})
    out.enrichment = enrichment(run, cells)
    out.lengths = selector_length_rows(run, cells)
    out.health = health(run, cells)
    out.stability = stability(run, cells)
    by_scores = _scores_files(run, cells)
    out.dynamics = [
        {
            "selector": _label(by_scores, p, e["selector"]),
            "scores": run / p,
            "truth": (run / e["truth"]) if e.get("truth") else None,
        }
        for p, e in sorted(by_scores.items())
        if e["selector"].startswith("gsnr")
    ]
    out.sensitivity = sensitivity(records, cells, rcfg)
    from gsnr_bench.reporting.human import judge_pair_agreement

    out.judge_pairs = judge_pair_agreement(records)
    from gsnr_bench.reporting.training_check import training_rows

    out.training = training_rows(run, cells, rcfg)
    from gsnr_bench.reporting.heldout import heldout_rows

    out.heldout, out.heldout_controls = heldout_rows(run, rcfg)
    if (run / HUMAN).is_file():
        from gsnr_bench.reporting.human import HumanLabel, human_pws, inter_annotator, judge_agreement, majority

        labels = [HumanLabel(**r, line=i) for i, r in enumerate(read_jsonl(run / HUMAN), start=1)]
        maj = majority(labels)
        out.human = human_pws(maj, rounds=rcfg.bootstrap_rounds, ci=rcfg.ci, seed=rcfg.seed)
        out.agreement = judge_agreement(maj, records)
        out.inter_annotator = inter_annotator(labels)
    return out


def judge_free(run: str | Path) -> dict[str, list[dict]]:
    """What a run says before any judge has: enrichment (with ground truth), selector health and ranking
    stability over seeds, from its scores files alone (cheap: no bootstrap, no judgment records)."""
    run = check_run(Path(run))
    cells = [cell for _, cell in scan_cells(run)]
    return {"enrichment": enrichment(run, cells), "health": health(run, cells), "stability": stability(run, cells)}


def run_testsets(cells: list[dict]) -> dict[str, list[str]]:
    """Question ids per test set over every judged cell of the run."""
    out: dict[str, list[str]] = {}
    for c in cells:
        for t, qs in c["testsets"].items():
            have = out.setdefault(t, [])
            have += [str(q) for q in qs if str(q) not in have]
    return out


def _scores_files(run: Path, cells: list[dict]) -> dict[str, dict]:
    """Every scores file of the run: those its judged cells were selected from (with the cells' ratios), and every
    other finished scoring (judge-free results exist as soon as scores do) with the run's configured budgets.
    The per-seed scorings a seeds stage combines are left out: the combined stage stands for them."""
    by_scores: dict[str, dict] = {}
    for c in cells:
        if (run / c["scores"]).is_file():
            e = by_scores.setdefault(c["scores"], {"selector": c["selector"], "truth": c.get("truth"), "ratios": set()})
            e["ratios"].add(float(c["ratio"]))
    metas = {}
    for done in sorted(Path(run).glob(f"scores/*/{DONE}")):
        if (done.parent / "scores.jsonl").is_file():
            metas[(done.parent / "scores.jsonl").relative_to(run).as_posix()] = read_json(done)
    members = {p for m in metas.values() for p in m.get("seed_scores") or []}
    budgets = None
    for path, meta in metas.items():
        if path in by_scores or path in members or not meta.get("selector"):
            continue
        if budgets is None:
            budgets = _configured_budgets(run)
        ratios, sizes = budgets
        n = int(meta.get("n") or 0)
        fractions = set(ratios) | {size / n for size in sizes if n and size <= n}
        if fractions:
            by_scores[path] = {"selector": meta["selector"], "truth": meta.get("truth"), "ratios": fractions}
    return by_scores


def _configured_budgets(run: Path) -> tuple[list[float], list[int]]:
    """The run record's selection ratios and absolute sizes (the budgets its subsets will be cut at)."""
    from gsnr_bench.run.runrecord import load_record

    record = load_record(run)
    sel = (record.config if record else {}).get("selection") or {}
    return [float(r) for r in sel.get("ratios") or []], [int(n) for n in sel.get("sizes") or []]


def _label(by_scores: dict[str, dict], path: str, selector: str) -> str:
    many = len({e["selector"] for e in by_scores.values()}) < len(by_scores)  # one selector, several scorings
    return f"{selector} ({Path(path).parent.name})" if many else selector


def enrichment(run: Path, cells: list[dict]) -> list[dict]:
    """Judge-free check where the pool's ground truth is known (--truth, or the demo's), per scores file and
    ratio, on two populations side by side:

    - all records: the subset the selector actually chose (its top n of the whole pool, ineligible examples
      ranked last as selection ranks them): its share of clean examples, lift over the pool's base rate, the
      ROC-AUC of the whole ranking and the defects in it by label. This is what the leaderboard's subsets are.
    - the scorable (eligible) records only: the lift of the top round(ratio * n_eligible) of them over their
      own base rate, and the ROC-AUC of the score among them. A selector that cannot score, say, empty answers
      puts them last; on all records that looks like skill at finding defects, on the scorable ones it does not
      count. `unscorable` says how many records the two differ by."""
    from gsnr_bench.domain.truth import labels_of
    from gsnr_bench.reporting.metrics import defect_counts, precision_lift, ranking_auc

    by_scores = {k: v for k, v in _scores_files(run, cells).items() if v["truth"] and (run / v["truth"]).is_file()}
    rows = []
    for path, e in sorted(by_scores.items()):
        labels = labels_of(read_json(run / e["truth"]))
        table = read_jsonl(run / path)
        ranked = [r["id"] for r in table]
        missing = [i for i in ranked if i not in labels]
        if missing:
            raise DataError(f"{run / e['truth']}: {len(missing)} scored ids have no truth label (first {missing[0]!r})")
        clean = {i: labels[i] == "clean" for i in ranked}
        eligible = [r["id"] for r in table if r.get("eligible", True)]
        auc, auc_e = ranking_auc(ranked, clean), ranking_auc(eligible, clean) if eligible else math.nan
        ratios = sorted(e["ratios"])
        lifts_e = precision_lift(eligible, clean, ratios) if eligible else [{"lift": math.nan}] * len(ratios)
        for lift, lift_e in zip(precision_lift(ranked, clean, ratios), lifts_e):
            counts = defect_counts(ranked[: lift["n"]], labels)
            rows.append(
                {
                    "selector": _label(by_scores, path, e["selector"]),
                    "ratio": lift["ratio"],
                    "n": lift["n"],
                    "clean_rate": round(lift["precision"], 4),
                    "base_rate": round(lift["base_rate"], 4),
                    "lift": _r(lift["lift"]),
                    "auc": _r(auc),
                    "unscorable": len(ranked) - len(eligible),
                    "lift_scorable": _r(lift_e["lift"]),
                    "auc_scorable": _r(auc_e),
                    "defects": ", ".join(f"{k} {v}" for k, v in counts.items()) or "none",
                }
            )
    return rows


def health(run: Path, cells: list[dict]) -> list[dict]:
    """Selector health per scores file (analysis/health.py), from the scores file and its stage's notes."""
    from gsnr_bench.analysis.health import health_of

    out = []
    by_scores = _scores_files(run, cells)
    for path, e in sorted(by_scores.items()):
        done = (run / path).parent / DONE
        notes = read_json(done).get("notes", {}) if done.is_file() else {}
        h = health_of(e["selector"], read_jsonl(run / path), notes)
        out.append({**h, "selector": _label(by_scores, path, e["selector"]), "scores": path})
    return out


def stability(run: Path, cells: list[dict]) -> list[dict]:
    """Per scores file scored with several seeds: Spearman and top-k overlap between the seeds' rankings."""
    out = []
    by_scores = _scores_files(run, cells)
    for path, e in sorted(by_scores.items()):
        done = (run / path).parent / DONE
        st = read_json(done).get("stability") if done.is_file() else None
        if not st:
            continue
        row = {
            "selector": _label(by_scores, path, e["selector"]),
            "seeds": st["seeds"],
            "combine": read_json(done).get("combine", "first"),
            "spearman_min": st["spearman_min"],
            "spearman_mean": st["spearman_mean"],
        }
        for r, v in st.get("overlap", {}).items():
            row[f"top-{r} overlap (min / mean)"] = f"{v['min']:.3f} / {v['mean']:.3f}"
        out.append(row)
    return out


CONTROL_PAIRS = (("oracle", "anti-oracle"), ("oracle", "random"))


def sensitivity(records: list[dict], cells: list[dict], rcfg: Any) -> list[dict]:
    """Can the fine-tune -> generate -> judge chain see a difference in data quality? Per protocol and ratio,
    PWS(oracle) - PWS(anti-oracle) and PWS(oracle) - PWS(random) (judge means, pooled test sets) with a paired
    bootstrap CI by question. `separates` is False when the interval includes 0."""
    from gsnr_bench.reporting.metrics import bootstrap_pws_diff

    by_group: dict[str, list[tuple[str, object, str]]] = {}
    for r in records:
        if not r.get("null_pair"):
            by_group.setdefault(r["cell"], []).append((r["judge"], (r["testset"], str(r["question_id"])), r["outcome"]))
    systems: dict[tuple[str, str, float], str] = {}
    for c in cells:
        systems[(c["protocol"], c["selector"], float(c["ratio"]))] = cell_group(c)
    out = []
    for (protocol, selector, ratio), group in sorted(systems.items()):
        for a, b in CONTROL_PAIRS:
            if selector != a or (protocol, b, ratio) not in systems:
                continue
            rows_a, rows_b = by_group.get(group, []), by_group.get(systems[(protocol, b, ratio)], [])
            point, lo, hi = bootstrap_pws_diff(rows_a, rows_b, rounds=rcfg.bootstrap_rounds, ci=rcfg.ci, seed=rcfg.seed)
            ok = all(math.isfinite(x) for x in (point, lo, hi))
            out.append(
                {
                    "protocol": protocol,
                    "ratio": ratio,
                    "comparison": f"{a} - {b}",
                    "diff": _r(point),
                    "ci_low": _r(lo),
                    "ci_high": _r(hi),
                    "separates": bool(ok and (lo > 0 or hi < 0)),
                }
            )
    return out


def sensitivity_sentences(rows: list[dict]) -> list[str]:
    """The controls in words: one line per comparison."""
    out = []
    for r in rows:
        if r["diff"] is None:
            out.append(f"{r['comparison']} at {r['ratio']:g}: nothing judged yet")
            continue
        ci = f"{r['diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        if r["separates"]:
            out.append(
                f"PWS({r['comparison'].replace(' - ', ') - PWS(')}) at {r['ratio']:g} = {ci}: the chain separates them"
            )
        elif r["comparison"] == "oracle - anti-oracle":
            out.append(
                f"PWS(oracle) - PWS(anti-oracle) at {r['ratio']:g} = {ci}: the chain cannot separate a clean "
                "subset from a defective one here, so no selector comparison at this ratio means anything"
            )
        else:
            out.append(
                f"PWS({r['comparison'].replace(' - ', ') - PWS(')}) at {r['ratio']:g} = {ci}: the chain "
                "cannot separate them; a selector gap smaller than this is not detectable"
            )
    return out


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)
