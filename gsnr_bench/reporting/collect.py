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

from ..errors import DataError
from ..fileio import read_json, read_jsonl
from ..records import latest_judgments
from ..store import CELL, CELL_VERSION, DONE, MARKER

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
    bias: list[dict] = field(default_factory=list)
    human: list[dict] = field(default_factory=list)
    agreement: list[dict] = field(default_factory=list)
    inter_annotator: dict = field(default_factory=dict)
    train_logs: dict[str, Path] = field(default_factory=dict)
    lengths: list[dict] = field(default_factory=list)  # per selector: Spearman(score, length), subset lengths
    info: dict = field(default_factory=dict)  # title, report settings, test sets, protocols

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
    from ..runrecord import load_record
    from .config import ReportConfig

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
        if not (isinstance(data, dict) and isinstance(data.get("systems"), dict)
                and isinstance(data.get("records"), list)):
            raise DataError(f"{f} is not a gsnr-bench import (needs 'systems' and 'records'); delete it and "
                            "import the source file again")
        for s, m in data["systems"].items():
            miss = [k for k in ("dataset", "target_model", "regime", "selector", "ratio") if k not in m]
            if miss:
                raise DataError(f"{f}: system {s!r} lacks {', '.join(miss)}; delete it and import again")
        out.append((f, data))
    return out


def collect(run: str | Path) -> RunResults:
    from ..diagnostics import bias_diagnostics
    from .config import ReportConfig
    from .length_stats import attach_answer_tokens, selector_length_rows
    from .results import CellMeta, results_from_judgments

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
        recs = latest_judgments(read_jsonl(path, tolerant=True)) if path.is_file() else []
        lens = cell.get("lengths") or {}
        if lens:  # token counts of both answers, from the answers files (length-controlled PWS)
            recs = attach_answer_tokens(recs, run, lens["answers"], cell["baseline"])
        records += [{**r, "cell": group} for r in recs]
        meta[group] = CellMeta(cell["dataset"], cell["target_model"], cell["regime"], cell["selector"],
                               float(cell["ratio"]), cell["protocol"], lens.get("train_len"), lens.get("pool_len"))
        planned = sum(len(q) for q in cell["testsets"].values())
        scored = [r for r in recs if not r.get("null_pair")]
        cells.append({**cell, "dir": stage_dir.relative_to(run).as_posix(), "complete": (stage_dir / DONE).is_file(),
                      "judged": sum(1 for r in scored if r.get("outcome") != "failed"),
                      "failed": sum(1 for r in recs if r.get("outcome") == "failed"),
                      "pending": max(0, planned - len(scored)),
                      "skipped": sum(len(v) for v in (cell.get("skipped") or {}).values())})
        for name, rel in cell.get("train_logs", {}).items():
            if (run / rel).is_file():
                logs.setdefault(name if name == cell["baseline"] else cell["system"], run / rel)
    for f, imp in load_imports(run):
        for s, m in imp["systems"].items():
            group = imported_group(s, m)
            meta[group] = CellMeta(m["dataset"], m["target_model"], m["regime"], m["selector"], float(m["ratio"]),
                                   m.get("protocol", IMPORTED_PROTOCOL))
        records += [{**r, "cell": imported_group(r["system"], imp["systems"][r["system"]])} for r in imp["records"]
                    if r.get("system") in imp["systems"]]
    protocols = sorted({c["protocol"] for c in cells})
    if len(protocols) > 1:  # tell apart the training logs of the same system under two protocols
        logs = {}
        for c in cells:
            for name, rel in c.get("train_logs", {}).items():
                if (run / rel).is_file():
                    logs.setdefault(f"{name} [{c['protocol']}]", run / rel)
    df = results_from_judgments(records, meta, rcfg)
    info = {**settings, "testsets": run_testsets(cells), "protocols": {
        c["protocol"]: c.get("protocol_detail", {}) for c in cells}}
    out = RunResults(run, df, records, cells=cells, train_logs=logs, info=info)
    for judge in sorted({r["judge"] for r in records}):
        out.bias.append({"judge": judge, **bias_diagnostics(r for r in records if r["judge"] == judge)})
    out.enrichment = enrichment(run, cells)
    out.lengths = selector_length_rows(run, cells)
    if (run / HUMAN).is_file():
        from .human import HumanLabel, human_pws, inter_annotator, judge_agreement, majority

        labels = [HumanLabel(**r, line=i) for i, r in enumerate(read_jsonl(run / HUMAN), start=1)]
        maj = majority(labels)
        out.human = human_pws(maj, rounds=rcfg.bootstrap_rounds, ci=rcfg.ci, seed=rcfg.seed)
        out.agreement = judge_agreement(maj, records)
        out.inter_annotator = inter_annotator(labels)
    return out


def run_testsets(cells: list[dict]) -> dict[str, list[str]]:
    """Question ids per test set over every judged cell of the run."""
    out: dict[str, list[str]] = {}
    for c in cells:
        for t, qs in c["testsets"].items():
            have = out.setdefault(t, [])
            have += [str(q) for q in qs if str(q) not in have]
    return out


def enrichment(run: Path, cells: list[dict]) -> list[dict]:
    """Judge-free check where the pool's ground truth is known (the demo): per scores file, the clean rate
    of its top ratios over the pool's base rate (precision lift) and the ROC-AUC of its score for clean vs
    defective examples. One row per scores file and ratio of the run's cells."""
    from .metrics import precision_lift, score_auc

    by_scores: dict[str, dict] = {}
    for c in cells:
        if c.get("truth") and (run / c["scores"]).is_file():
            e = by_scores.setdefault(c["scores"], {"selector": c["selector"], "truth": c["truth"], "ratios": set()})
            e["ratios"].add(float(c["ratio"]))
    many = len({e["selector"] for e in by_scores.values()}) < len(by_scores)  # one selector, several scorings
    rows = []
    for path, e in sorted(by_scores.items()):
        truth = read_json(run / e["truth"])
        clean = {k: bool(v) for k, v in truth["clean"].items()}
        scored = read_jsonl(run / path)
        ranked = [r["id"] for r in scored]
        auc = score_auc({r["id"]: r["score"] for r in scored if r.get("eligible") and r["score"] is not None}, clean)
        label = f"{e['selector']} ({Path(path).parent.name})" if many else e["selector"]
        for lift in precision_lift(ranked, clean, sorted(e["ratios"])):
            rows.append({"selector": label, "ratio": lift["ratio"], "n": lift["n"],
                         "clean_rate": round(lift["precision"], 4), "base_rate": round(lift["base_rate"], 4),
                         "lift": _r(lift["lift"]), "auc": _r(auc)})
    return rows


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)
