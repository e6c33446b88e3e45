"""Judgment records -> the long-format results table (one row per cell), the leaderboard's source.

A cell is (dataset, target_model, regime, selector, ratio, judge, testset). Per system and judge there is
one row per test set plus a "pooled" row; judge "mean" averages the judges' PWS (its counts are summed
over judges, its CI resamples questions jointly across judges).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.domain.judgment import latest
from gsnr_bench.reporting.config import ReportConfig
from gsnr_bench.reporting.length_stats import LENGTH_COLUMNS, length_columns
from gsnr_bench.reporting.metrics import bootstrap_pws_ci, count_outcomes, pws, question_matrices

COLUMNS = [
    "dataset",
    "target_model",
    "regime",
    "protocol",
    "selector",
    "ratio",
    "judge",
    "testset",
    "n",
    "wins",
    "ties",
    "losses",
    "failed",
    "pws",
    "ci_low",
    "ci_high",
    *LENGTH_COLUMNS,
    "lc_note",  # why LC-PWS is n/a in this cell (docs/length.md); empty where it is defined
]
KEY = ["dataset", "target_model", "regime", "protocol", "selector", "ratio", "judge", "testset"]
POOLED = "pooled"
MEAN_JUDGE = "mean"
_REQUIRED = ("testset", "question_id", "judge", "system", "baseline", "outcome")


@dataclass(frozen=True)
class CellMeta:
    """What a system name stands for; the caller knows it from the run's files. `protocol` names the
    conditions the cell was judged under (the baseline's answers and the judging prompt and order):
    cells of different protocols are never pooled, and tables keep them apart."""

    dataset: str
    target_model: str
    regime: str
    selector: str
    ratio: float
    protocol: str = ""
    train_len: float | None = None  # mean response length of the training subset (reporting/length_stats.py)
    pool_len: float | None = None  # ... and of the whole pool


def group_of(r: dict) -> str:
    """The results group of a record: its cell (collect() tags records with it), else its system name."""
    return r.get("cell") or r["system"]


def load_judgment_records(paths: Iterable[str | Path]) -> list[dict]:
    """Read judgments.jsonl files (tolerant of a torn last line: they are append-only logs); a comparison
    judged again after a failure keeps its last record only."""
    records: list[dict] = []
    for p in paths:
        records.extend(latest(read_jsonl(p, tolerant=True)).values())
    return records


def check_records(records: Sequence[dict], prompt_version: str | None = None) -> None:
    """One DataError listing the first offending records: missing fields, bad outcomes,
    duplicates, or more than one prompt version (scores of different prompts are not comparable)."""
    problems: list[str] = []
    seen: set[tuple] = set()
    versions: dict[str, set[str]] = {}
    for i, r in enumerate(records, start=1):
        miss = [f for f in _REQUIRED if f not in r]
        if miss:
            problems.append(f"record {i}: missing {', '.join(miss)}")
            continue
        if r["outcome"] not in ("win", "tie", "lose", "failed"):
            problems.append(f"record {i}: outcome {r['outcome']!r} is not win/tie/lose/failed")
        key = (r["judge"], group_of(r), r["baseline"], r["testset"], str(r["question_id"]), bool(r.get("null_pair")))
        if key in seen:
            problems.append(
                f"record {i}: duplicate judgment of {r['system']} vs {r['baseline']} on "
                f"{r['testset']}/{r['question_id']} by {r['judge']}"
            )
        seen.add(key)
        v = r.get("prompt_version")
        if prompt_version is not None and v != prompt_version:
            problems.append(f"record {i}: prompt version {v!r}, expected {prompt_version!r}")
        versions.setdefault(group_of(r), set()).add(str(v))
    mixed = {g: v for g, v in versions.items() if len(v) > 1}
    if prompt_version is None and mixed:
        g, v = next(iter(sorted(mixed.items())))
        problems.append(f"{g} mixes prompt versions {sorted(v)}; judge with one prompt or publish apart")
    _raise(problems, "judgment records")


def _raise(problems: list[str], what: str, show: int = 5) -> None:
    if problems:
        more = f"; and {len(problems) - show} more" if len(problems) > show else ""
        raise DataError(f"{len(problems)} problem(s) in {what}: " + "; ".join(problems[:show]) + more)


def results_from_judgments(
    records: Sequence[dict],
    meta_by_system: Mapping[str, CellMeta],
    cfg: ReportConfig | None = None,
    *,
    prompt_version: str | None = None,
) -> pd.DataFrame:
    """Long-format results (COLUMNS) from judgment records. Null-pair records (a bias diagnostic:
    the same answer in both slots) are left out. Systems without metadata are an error."""
    cfg = cfg or ReportConfig()
    check_records(records, prompt_version)
    scored = [r for r in records if not r.get("null_pair")]
    unknown = sorted({group_of(r) for r in scored} - set(meta_by_system))
    if unknown:
        raise DataError(
            f"no run metadata for system(s) {', '.join(unknown[:5])}; known: "
            f"{', '.join(sorted(meta_by_system)) or 'none'}"
        )
    by_system: dict[str, list[dict]] = {}
    for r in scored:
        by_system.setdefault(group_of(r), []).append(r)
    rows = []
    for system in sorted(by_system):
        rows.extend(_system_rows(by_system[system], meta_by_system[system], cfg))
    df = pd.DataFrame(rows, columns=COLUMNS)
    return sort_results(df)


def _system_rows(recs: list[dict], meta: CellMeta, cfg: ReportConfig) -> list[dict]:
    baselines = sorted({r["baseline"] for r in recs})
    if len(baselines) > 1:
        raise DataError(f"system {recs[0]['system']!r} is judged against several baselines {baselines}")
    judges = sorted({r["judge"] for r in recs})
    testsets = sorted({r["testset"] for r in recs})
    out = []
    for judge in judges + [MEAN_JUDGE]:
        for testset in testsets + [POOLED]:
            sel = [
                r
                for r in recs
                if (judge == MEAN_JUDGE or r["judge"] == judge) and (testset == POOLED or r["testset"] == testset)
            ]
            out.append(_cell(sel, meta, judge, testset, cfg))
    return out


def _cell(sel: list[dict], meta: CellMeta, judge: str, testset: str, cfg: ReportConfig) -> dict:
    c = count_outcomes(r["outcome"] for r in sel)
    # Question key includes the test set: ids repeat across test sets (both start at 1).
    d, n = question_matrices([(r["judge"], (r["testset"], str(r["question_id"])), r["outcome"]) for r in sel])
    point = pws(c.wins, c.ties, c.losses)
    if judge == MEAN_JUDGE:
        per_judge = [pws(*_wtl(sel, j)) for j in sorted({r["judge"] for r in sel})]
        finite = [p for p in per_judge if p == p]
        point = sum(finite) / len(finite) if finite else float("nan")
    lo, hi = bootstrap_pws_ci(d, n, rounds=cfg.bootstrap_rounds, ci=cfg.ci, seed=cfg.seed)
    return {
        "dataset": meta.dataset,
        "target_model": meta.target_model,
        "regime": meta.regime,
        "protocol": meta.protocol,
        "selector": meta.selector,
        "ratio": float(meta.ratio),
        "judge": judge,
        "testset": testset,
        "n": c.n,
        "wins": c.wins,
        "ties": c.ties,
        "losses": c.losses,
        "failed": c.failed,
        "pws": point,
        "ci_low": lo,
        "ci_high": hi,
        **length_columns(sel, meta, rounds=cfg.bootstrap_rounds, ci=cfg.ci, seed=cfg.seed),
    }


def _wtl(sel: list[dict], judge: str) -> tuple[int, int, int]:
    c = count_outcomes(r["outcome"] for r in sel if r["judge"] == judge)
    return c.wins, c.ties, c.losses


def sort_results(df: pd.DataFrame) -> pd.DataFrame:
    """Stable row order: by key, with the mean judge and the pooled test set last in their groups."""
    if df.empty:
        return df.reset_index(drop=True)
    tmp = df.assign(_j=(df["judge"] == MEAN_JUDGE).astype(int), _t=(df["testset"] == POOLED).astype(int))
    tmp = tmp.sort_values(
        ["dataset", "target_model", "regime", "protocol", "selector", "ratio", "_j", "judge", "_t", "testset"],
        kind="mergesort",
    )
    return tmp.drop(columns=["_j", "_t"]).reset_index(drop=True)


def label_protocols(df: pd.DataFrame) -> pd.DataFrame:
    """For display: where one dataset/target/regime holds cells of several protocols, the regime label
    carries the protocol ("full [p-1a2b3c4d]"), so tables never pool or collapse them into one row."""
    if df.empty or "protocol" not in df:
        return df
    n = df.groupby(["dataset", "target_model", "regime"])["protocol"].transform("nunique")
    out = df.copy()
    many = n > 1
    out.loc[many, "regime"] = out.loc[many, "regime"] + " [" + out.loc[many, "protocol"] + "]"
    return out


def combine_results(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate the results of several runs; the same cell twice is an error, not a silent pick."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.concat(frames, ignore_index=True)[COLUMNS]
    dup = df[df.duplicated(KEY, keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        raise DataError(
            f"{len(dup)} result rows appear in more than one run, e.g. " + ", ".join(f"{k}={first[k]}" for k in KEY)
        )
    return sort_results(df)


# ---------------------------------------------------------------- CSV (the source of truth)

_INT = ("n", "wins", "ties", "losses", "failed")
_FLOAT4 = ("pws", "ci_low", "ci_high", "lc_pws", "lc_ci_low", "lc_ci_high")
_FLOAT1 = ("sys_len", "base_len", "train_len", "pool_len")


def _fmt(col: str, v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""  # missing stays missing, never 0
    if col in _INT:
        return str(int(v))
    if col in _FLOAT4:
        return f"{float(v):.4f}"
    if col in _FLOAT1:
        return f"{float(v):.1f}"
    if col == "ratio":
        return f"{float(v):g}"
    return str(v)


def results_to_csv(df: pd.DataFrame) -> str:
    """Deterministic CSV text: fixed columns, sorted rows, 4-decimal PWS/CI, '\\n' line ends."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in sort_results(df[COLUMNS]).itertuples(index=False):
        w.writerow([_fmt(c, v) for c, v in zip(COLUMNS, row)])
    return buf.getvalue()


def results_from_csv(path_or_text: str | Path) -> pd.DataFrame:
    """Parse leaderboard.csv back (the tables and page are rendered from this, not from memory)."""
    import io

    src = io.StringIO(path_or_text) if isinstance(path_or_text, str) and "\n" in path_or_text else path_or_text
    try:
        df = pd.read_csv(
            src,
            dtype={
                c: str
                for c in ("dataset", "target_model", "regime", "protocol", "selector", "judge", "testset", "lc_note")
            },
            keep_default_na=False,
            na_values={c: [""] for c in _FLOAT4 + _FLOAT1 + _INT},
        )
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot read leaderboard CSV {path_or_text}: {exc}") from None
    for c in LENGTH_COLUMNS:  # a leaderboard written before the length columns existed
        if c not in df.columns:
            df[c] = float("nan")
    if "lc_note" not in df.columns:  # ... or before LC-PWS said why it is n/a
        df["lc_note"] = ""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"leaderboard CSV lacks column(s) {', '.join(missing)}")
    return df[COLUMNS]
