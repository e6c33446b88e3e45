"""Human win/tie/lose labels: import (CSV or JSONL), validation against the run, majority vote,
inter-annotator agreement, human PWS and each judge's agreement with the humans.

Input columns: testset, question_id, system_a, system_b, label (win/tie/lose from system_a's side),
annotator. A pair may be given in either order; labels are turned to the (system, baseline) side the
judgments use. Everything is validated before anything is written: one DataError lists the first
offending rows by file line number, and nothing is partially imported.

Majority: the most frequent label per item; when no label has a strict plurality (e.g. win + lose, or
win + tie) the item is a tie: annotators who disagree are read as "no clear preference".
Inter-annotator agreement: mean pairwise Cohen's kappa over annotator pairs that share items (Fleiss'
kappa needs every item rated by the same number of annotators, which human studies rarely have).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import jsonl_lines, read_text, write_jsonl
from gsnr_bench.reporting.metrics import (
    agreement,
    bootstrap_pws_ci,
    cohen_kappa,
    count_outcomes,
    pws,
    question_matrices,
)
from gsnr_bench.reporting.results import POOLED

FIELDS = ("testset", "question_id", "system_a", "system_b", "label")
FLIP = {"win": "lose", "lose": "win", "tie": "tie"}
SHOW = 5


@dataclass(frozen=True)
class HumanLabel:
    """One annotator's label, from the system's side (against its baseline)."""

    testset: str
    question_id: str
    system: str
    baseline: str
    label: str
    annotator: str
    line: int

    @property
    def item(self) -> tuple[str, str, str, str]:
        return (self.testset, self.question_id, self.system, self.baseline)


@dataclass(frozen=True)
class HumanImport:
    labels: list[HumanLabel]
    majority: list[dict]
    inter_annotator: dict


def read_rows(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, row) from CSV or JSONL (by suffix; .json/.jsonl are JSONL). Malformed -> DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"human label file not found: {path}")
    text = read_text(path)
    rows: list[tuple[int, dict]] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        entries = jsonl_lines(path)
        bad = [lineno for lineno, _, problem in entries if problem is not None]
        rows = [(lineno, row) for lineno, row, problem in entries if problem is None]
        if bad:
            raise DataError(f"{path}: {len(bad)} line(s) are not JSON objects: lines {bad[:SHOW]}")
    else:
        reader = csv.DictReader(text.splitlines())
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if reader.fieldnames and missing:
            raise DataError(
                f"{path}: CSV header lacks column(s) {', '.join(missing)} (need {', '.join(FIELDS)}, annotator)"
            )
        for row in reader:
            rows.append((reader.line_num, dict(row)))
    if not rows:
        raise DataError(f"{path}: no human labels (empty file)")
    return rows


def validate(
    rows: Sequence[tuple[int, dict]],
    *,
    questions: set[tuple[str, str]],
    pairs: set[tuple[str, str]],
    source: str = "human labels",
) -> list[HumanLabel]:
    """Check every row against the run's (testset, question_id) set and (system, baseline) pairs."""
    testsets = {t for t, _ in questions}
    systems = {s for p in pairs for s in p}
    problems: list[str] = []
    out: list[HumanLabel] = []
    seen: dict[tuple, int] = {}
    for line, r in rows:
        miss = [f for f in FIELDS if r.get(f) in (None, "")]
        if miss:
            problems.append(f"line {line}: missing {', '.join(miss)}")
            continue
        ts, qid, a, b = (str(r[k]).strip() for k in ("testset", "question_id", "system_a", "system_b"))
        label = str(r["label"]).strip().lower()
        ann = str(r.get("annotator") or "").strip()
        errs = []
        if label not in FLIP:
            errs.append(f"label {r['label']!r} is not win/tie/lose")
        if ts not in testsets:
            errs.append(f"test set {ts!r} is not among the run's ({', '.join(sorted(testsets))})")
        elif (ts, qid) not in questions:
            errs.append(f"unknown question id {qid!r} in {ts}")
        unknown = [s for s in (a, b) if s not in systems]
        if unknown:
            errs.append(f"unknown system(s) {', '.join(map(repr, unknown))}")
        elif (a, b) not in pairs and (b, a) not in pairs:
            errs.append(f"pair {a} vs {b} was not judged in this run")
        if errs:
            problems.append(f"line {line}: " + "; ".join(errs))
            continue
        system, baseline, lab = (a, b, label) if (a, b) in pairs else (b, a, FLIP[label])
        h = HumanLabel(ts, qid, system, baseline, lab, ann, line)
        key = (ann,) + h.item
        if key in seen:
            problems.append(
                f"line {line}: duplicate of line {seen[key]} (annotator {ann or '(none)'}, "
                f"{ts}/{qid}, {system} vs {baseline})"
            )
            continue
        seen[key] = line
        out.append(h)
    if problems:
        more = f"; and {len(problems) - SHOW} more" if len(problems) > SHOW else ""
        raise DataError(f"{source}: {len(problems)} bad row(s), nothing imported: " + "; ".join(problems[:SHOW]) + more)
    return out


def majority(labels: Iterable[HumanLabel]) -> list[dict]:
    """One row per item with the plurality label (no strict plurality -> tie) and the votes."""
    votes: dict[tuple, Counter] = {}
    for h in labels:
        votes.setdefault(h.item, Counter())[h.label] += 1
    out = []
    for item in sorted(votes):
        c = votes[item]
        top = max(c.values())
        winners = [k for k, v in c.items() if v == top]
        out.append(
            {
                "testset": item[0],
                "question_id": item[1],
                "system": item[2],
                "baseline": item[3],
                "label": winners[0] if len(winners) == 1 else "tie",
                "n_annotators": sum(c.values()),
                "votes": {k: c[k] for k in ("win", "tie", "lose") if c[k]},
            }
        )
    return out


def inter_annotator(labels: Sequence[HumanLabel]) -> dict:
    """Mean pairwise Cohen's kappa and raw agreement over annotator pairs sharing items."""
    by_ann: dict[str, dict[tuple, str]] = {}
    for h in labels:
        by_ann.setdefault(h.annotator, {})[h.item] = h.label
    kappas, agrees, shared_total = [], [], 0
    for x, y in itertools.combinations(sorted(by_ann), 2):
        shared = sorted(set(by_ann[x]) & set(by_ann[y]))
        if not shared:
            continue
        a = [by_ann[x][i] for i in shared]
        b = [by_ann[y][i] for i in shared]
        shared_total += len(shared)
        agrees.append(sum(p == q for p, q in zip(a, b)) / len(shared))
        k = cohen_kappa(a, b)
        if not math.isnan(k):
            kappas.append(k)
    return {
        "annotators": len(by_ann),
        "annotator_pairs": len(agrees),
        "shared_items": shared_total,
        "mean_pairwise_kappa": sum(kappas) / len(kappas) if kappas else math.nan,
        "mean_pairwise_agreement": sum(agrees) / len(agrees) if agrees else math.nan,
    }


def import_human_labels(
    path: str | Path,
    *,
    questions: set[tuple[str, str]],
    pairs: set[tuple[str, str]],
    out_path: str | Path | None = None,
) -> HumanImport:
    """Read + validate everything, then (only then) write the normalised labels atomically as JSONL."""
    labels = validate(read_rows(path), questions=questions, pairs=pairs, source=str(path))
    if out_path is not None:
        write_jsonl(out_path, [{k: v for k, v in asdict(h).items() if k != "line"} for h in labels])
    return HumanImport(labels, majority(labels), inter_annotator(labels))


def human_pws(majority_rows: Sequence[dict], *, rounds: int = 1000, ci: float = 0.95, seed: int = 0) -> list[dict]:
    """Human PWS and win/tie/lose per (system, baseline) and test set, plus pooled."""
    out = []
    pairs = sorted({(m["system"], m["baseline"]) for m in majority_rows})
    for system, baseline in pairs:
        rows = [m for m in majority_rows if (m["system"], m["baseline"]) == (system, baseline)]
        for ts in sorted({m["testset"] for m in rows}) + [POOLED]:
            sel = [m for m in rows if ts == POOLED or m["testset"] == ts]
            c = count_outcomes(m["label"] for m in sel)
            d, n = question_matrices([("human", (m["testset"], m["question_id"]), m["label"]) for m in sel])
            lo, hi = bootstrap_pws_ci(d, n, rounds=rounds, ci=ci, seed=seed)
            out.append(
                {
                    "system": system,
                    "baseline": baseline,
                    "testset": ts,
                    "n": c.n,
                    "wins": c.wins,
                    "ties": c.ties,
                    "losses": c.losses,
                    "pws": pws(c.wins, c.ties, c.losses),
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
    return out


def judge_agreement(majority_rows: Sequence[dict], judgments: Sequence[dict]) -> list[dict]:
    """Per judge: accuracy with and without ties and Cohen's kappa against the human majority,
    over the items both labelled (failed and null-pair judgments are left out)."""
    human = {(m["testset"], m["question_id"], m["system"], m["baseline"]): m["label"] for m in majority_rows}
    by_judge: dict[str, list[tuple[str, str]]] = {}
    for r in judgments:
        if r.get("null_pair") or r.get("outcome") == "failed":
            continue
        key = (r["testset"], str(r["question_id"]), r["system"], r["baseline"])
        if key in human:
            by_judge.setdefault(r["judge"], []).append((r["outcome"], human[key]))
    out = []
    for judge in sorted(by_judge):
        j, h = zip(*by_judge[judge])
        out.append({"judge": judge, **agreement(list(j), list(h))})
    return out


def judge_pair_agreement(judgments: Sequence[dict]) -> list[dict]:
    """For every pair of judges, over the comparisons both judged (same cell, test set, question, system and
    baseline; failed and null-pair judgments left out): how many, the share of identical verdicts
    (win/tie/lose) and Cohen's kappa, the same statistics as judge-vs-human (metrics.agreement)."""
    by_judge: dict[str, dict[tuple, str]] = {}
    for r in judgments:
        if r.get("null_pair") or r.get("outcome") == "failed":
            continue
        key = (r.get("cell") or "", r["testset"], str(r["question_id"]), r["system"], r["baseline"])
        by_judge.setdefault(r["judge"], {})[key] = r["outcome"]
    out = []
    for a, b in itertools.combinations(sorted(by_judge), 2):
        shared = sorted(set(by_judge[a]) & set(by_judge[b]))
        if not shared:
            continue
        x = [by_judge[a][k] for k in shared]
        y = [by_judge[b][k] for k in shared]
        kappa = cohen_kappa(x, y)  # NaN (undefined: both judges always say the same one verdict) -> None in JSON
        out.append(
            {
                "judge_a": a,
                "judge_b": b,
                "n": len(shared),
                "agreement": sum(p == q for p, q in zip(x, y)) / len(shared),
                "kappa": None if math.isnan(kappa) else kappa,
            }
        )
    return out
