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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.domain.cell import CellRecord
from gsnr_bench.domain.judgment import latest
from gsnr_bench.reporting.scorings import enrichment, health, scores_files, scores_label, stability
from gsnr_bench.run.store import CELL, DONE, MARKER

if TYPE_CHECKING:  # imported where used: numpy and scipy load with it
    from gsnr_bench.reporting.length_stats import LengthRow

HUMAN = "human/labels.jsonl"
IMPORTED = "imported"
IMPORTED_PROTOCOL = "imported"


@dataclass
class RunResults:
    run: Path
    results: Any  # pandas DataFrame, reporting.results.COLUMNS
    records: list[dict]
    cells: list[dict] = field(default_factory=list)  # cell records (domain/cell.py) + status (cell_status)
    enrichment: list[dict] = field(default_factory=list)
    health: list[dict] = field(default_factory=list)  # selector health per scores file (analysis/health.py)
    sensitivity: list[ControlRow] = field(default_factory=list)  # oracle vs anti-oracle / random, protocol x ratio
    stability: list[dict] = field(default_factory=list)  # rankings over seeds (selection.seeds > 1)
    dynamics: list[DynamicsInput] = field(default_factory=list)  # G-SNR scores files for the dynamics plots
    bias: list[dict] = field(default_factory=list)
    human: list[dict] = field(default_factory=list)
    agreement: list[dict] = field(default_factory=list)
    judge_pairs: list[dict] = field(default_factory=list)  # judge-vs-judge agreement (human.judge_pair_agreement)
    inter_annotator: dict = field(default_factory=dict)
    train_logs: dict[str, Path] = field(default_factory=dict)
    lengths: list[LengthRow] = field(default_factory=list)  # per selector: Spearman(score, length), subset lengths
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
            for t, ids in (c.get("skipped_ids") or {}).items():
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


def scan_cells(run: Path) -> list[tuple[Path, CellRecord]]:
    """(stage dir, its cell record) for every judging stage that started, in path order."""
    out = []
    for f in sorted(Path(run).glob(f"judgments/*/*/{CELL}")):
        try:
            cell = CellRecord.read(f)
        except DataError as exc:
            raise DataError(f"{exc}; remove that stage directory to judge the cell again") from None
        out.append((f.parent, cell))
    return out


def cell_group(cell: CellRecord | dict) -> str:
    """The results group of a judged cell (a record, or its dict): its protocol and system."""
    if isinstance(cell, CellRecord):
        return f"{cell.protocol}|{cell.system}"
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
    """Everything the report shows, from the run's files: judged cells, imports, human labels, scores files."""
    from gsnr_bench.reporting.config import ReportConfig
    from gsnr_bench.reporting.results import results_from_judgments

    run = check_run(Path(run))
    settings = run_settings(run)
    rcfg = ReportConfig.model_validate(settings["report"])
    judged = judged_cells(run)
    add_imports(run, judged)
    cells, records = judged.cells, judged.records
    info = {
        **settings,
        "testsets": run_testsets(cells),
        "protocols": {c["protocol"]: c.get("protocol_detail", {}) for c in cells},
    }
    df = results_from_judgments(records, judged.meta, rcfg)
    out = RunResults(run, df, records, cells=cells, train_logs=train_logs(run, cells), info=info, cell_meta=judged.meta)
    _add_tables(out, rcfg)
    if (run / HUMAN).is_file():
        _add_human(out, rcfg)
    return out


@dataclass
class Judged:
    """The judgment records of a run (judged cells and imports), each tagged with its results group (`cell`),
    what each group stands for, and the judged cells with how far their judging got."""

    records: list[dict] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # results group -> results.CellMeta
    cells: list[dict] = field(default_factory=list)


def judged_cells(run: Path) -> Judged:
    """Every judging stage that started: its record (cell.json), its judgment records (last per comparison, with
    both answers' token counts joined where the cell names its answers) and its counts."""
    from gsnr_bench.reporting.length_stats import attach_answer_tokens
    from gsnr_bench.reporting.results import CellMeta

    out = Judged()
    for stage_dir, cell in scan_cells(run):
        group = cell_group(cell)
        path = stage_dir / "judgments.jsonl"
        recs = list(latest(read_jsonl(path, tolerant=True)).values()) if path.is_file() else []
        lens = cell.lengths
        if lens:  # token counts of both answers, from the answers files (length-controlled PWS)
            recs = attach_answer_tokens(recs, run, lens.answers, cell.baseline)
        out.records += [{**r, "cell": group} for r in recs]
        train_len, pool_len = (lens.train_len, lens.pool_len) if lens else (None, None)
        out.meta[group] = CellMeta(
            cell.dataset, cell.target_model, cell.regime, cell.selector, float(cell.ratio), cell.protocol,
            train_len, pool_len,
        )  # fmt: skip
        out.cells.append(cell_status(run, stage_dir, cell, recs))
    return out


def cell_status(run: Path, stage_dir: Path, cell: CellRecord, recs: list[dict]) -> dict:
    """The cell's record as a dict, with where it lives and its counts: comparisons judged, failed, not yet
    judged, and questions skipped as too long (per test set in `skipped_ids`)."""
    planned = sum(len(q) for q in cell.testsets.values())
    scored = [r for r in recs if not r.get("null_pair")]
    return {
        **cell.to_dict(),
        "dir": stage_dir.relative_to(run).as_posix(),
        "complete": (stage_dir / DONE).is_file(),
        "judged": sum(1 for r in scored if r.get("outcome") != "failed"),
        "failed": sum(1 for r in recs if r.get("outcome") == "failed"),
        "pending": max(0, planned - len(scored)),
        "skipped": sum(len(v) for v in cell.skipped.values()),
        "skipped_ids": cell.skipped,
    }


def add_imports(run: Path, judged: Judged) -> None:
    """The judgments imported from other tools (imported/*.json), one results group per imported system."""
    from gsnr_bench.reporting.results import CellMeta

    for _, imp in load_imports(run):
        for s, m in imp["systems"].items():
            judged.meta[imported_group(s, m)] = CellMeta(
                m["dataset"], m["target_model"], m["regime"], m["selector"], float(m["ratio"]),
                m.get("protocol", IMPORTED_PROTOCOL),
            )  # fmt: skip
        judged.records += [
            {**r, "cell": imported_group(r["system"], imp["systems"][r["system"]])}
            for r in imp["records"]
            if r.get("system") in imp["systems"]
        ]


def train_logs(run: Path, cells: list[dict]) -> dict[str, Path]:
    """Training log per system (the first cell naming it wins); under several protocols the same system is
    told apart by its protocol."""
    many = len({c["protocol"] for c in cells}) > 1
    logs: dict[str, Path] = {}
    for c in cells:
        for name, rel in c.get("train_logs", {}).items():
            if not (run / rel).is_file():
                continue
            key = f"{name} [{c['protocol']}]" if many else name if name == c["baseline"] else c["system"]
            logs.setdefault(key, run / rel)
    return logs


def _add_tables(out: RunResults, rcfg: Any) -> None:
    """The tables beside the leaderboard: judge bias, the judge-free ones, controls, training, held-out."""
    from gsnr_bench.analysis.diagnostics import bias_diagnostics
    from gsnr_bench.reporting.heldout import heldout_rows
    from gsnr_bench.reporting.human import judge_pair_agreement
    from gsnr_bench.reporting.length_stats import selector_length_rows
    from gsnr_bench.reporting.training_check import training_rows

    run, records, cells = out.run, out.records, out.cells
    for judge in sorted({r["judge"] for r in records}):
        out.bias.append({"judge": judge, **bias_diagnostics(r for r in records if r["judge"] == judge)})
    out.enrichment = enrichment(run, cells)
    out.lengths = selector_length_rows(run, cells)
    out.health = health(run, cells)
    out.stability = stability(run, cells)
    out.dynamics = dynamics(run, cells)
    out.sensitivity = sensitivity(records, cells, rcfg)
    out.judge_pairs = judge_pair_agreement(records)
    out.training = training_rows(run, cells, rcfg)
    out.heldout, out.heldout_controls = heldout_rows(run, rcfg)


@dataclass(frozen=True)
class DynamicsInput:
    """A G-SNR scores file to draw training dynamics from (build.py), with the truth file beside it if any."""

    selector: str  # its label (scorings.scores_label)
    scores: Path
    truth: Path | None


def dynamics(run: Path, cells: list[dict]) -> list[DynamicsInput]:
    """The G-SNR scores files, for the training-dynamics figures."""
    by_scores = scores_files(run, cells)
    return [
        DynamicsInput(
            scores_label(by_scores, p, e["selector"]), run / p, (run / e["truth"]) if e.get("truth") else None
        )
        for p, e in sorted(by_scores.items())
        if e["selector"].startswith("gsnr")
    ]


def _add_human(out: RunResults, rcfg: Any) -> None:
    """Human PWS, judge-vs-human agreement and agreement between annotators, from human/labels.jsonl."""
    from gsnr_bench.reporting.human import HumanLabel, human_pws, inter_annotator, judge_agreement, majority

    labels = [HumanLabel(**r, line=i) for i, r in enumerate(read_jsonl(out.run / HUMAN), start=1)]
    maj = majority(labels)
    out.human = human_pws(maj, rounds=rcfg.bootstrap_rounds, ci=rcfg.ci, seed=rcfg.seed)
    out.agreement = judge_agreement(maj, out.records)
    out.inter_annotator = inter_annotator(labels)


def judge_free(run: str | Path) -> dict[str, list[dict]]:
    """What a run says before any judge has: enrichment (with ground truth), selector health and ranking
    stability over seeds, from its scores files alone (cheap: no bootstrap, no judgment records)."""
    run = check_run(Path(run))
    cells = [cell.to_dict() for _, cell in scan_cells(run)]
    return {"enrichment": enrichment(run, cells), "health": health(run, cells), "stability": stability(run, cells)}


def run_testsets(cells: list[dict]) -> dict[str, list[str]]:
    """Question ids per test set over every judged cell of the run."""
    out: dict[str, list[str]] = {}
    for c in cells:
        for t, qs in c["testsets"].items():
            have = out.setdefault(t, [])
            have += [str(q) for q in qs if str(q) not in have]
    return out


CONTROL_PAIRS = (("oracle", "anti-oracle"), ("oracle", "random"))


@dataclass(frozen=True)
class ControlRow:
    """One control comparison (sensitivity()): PWS(a) - PWS(b) at one protocol and ratio, its paired bootstrap
    interval (None: nothing judged yet) and whether the interval excludes 0. Written as to_dict() gives it."""

    protocol: str
    ratio: float
    comparison: str  # "oracle - anti-oracle" or "oracle - random"
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    separates: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sensitivity(records: list[dict], cells: list[dict], rcfg: Any) -> list[ControlRow]:
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
            separates = bool(ok and (lo > 0 or hi < 0))
            out.append(ControlRow(protocol, ratio, f"{a} - {b}", _r(point), _r(lo), _r(hi), separates))
    return out


def sensitivity_sentences(rows: list[ControlRow]) -> list[str]:
    """The controls in words: one line per comparison."""
    out = []
    for r in rows:
        if r.diff is None:
            out.append(f"{r.comparison} at {r.ratio:g}: nothing judged yet")
            continue
        ci = f"{r.diff:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
        if r.separates:
            out.append(
                f"PWS({r.comparison.replace(' - ', ') - PWS(')}) at {r.ratio:g} = {ci}: the chain separates them"
            )
        elif r.comparison == "oracle - anti-oracle":
            out.append(
                f"PWS(oracle) - PWS(anti-oracle) at {r.ratio:g} = {ci}: the chain cannot separate a clean "
                "subset from a defective one here, so no selector comparison at this ratio means anything"
            )
        else:
            out.append(
                f"PWS({r.comparison.replace(' - ', ') - PWS(')}) at {r.ratio:g} = {ci}: the chain "
                "cannot separate them; a selector gap smaller than this is not detectable"
            )
    return out


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)
