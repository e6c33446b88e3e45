"""Length where a user decides: per cell the answer lengths of the system and of the baseline and the response
length of the training subset vs the pool; per selector the Spearman correlation of its scores with response
length. See docs/length.md.

Units: answer lengths are tokens as the generation stage recorded them (`completion_tokens` of the answers
files, the EOS included), joined to the judgment records by (system, test set, question); training-response
lengths are tokens of the proxy's tokenizer (what `longest` ranks by), or characters when that tokenizer cannot
be loaded (`unit` in each cell.json's `lengths` says which)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from gsnr_bench.analysis.health import spearman
from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.reporting.length_control import cell_rows, lc_pws

LENGTH_COLUMNS = ["lc_pws", "lc_ci_low", "lc_ci_high", "sys_len", "base_len", "train_len", "pool_len"]


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


def length_columns(sel: Sequence[dict], meta: Any, *, rounds: int, ci: float, seed: int) -> dict[str, Any]:
    """The length columns of one results cell (records already restricted to the cell): LC-PWS from the
    cell's own comparisons only, with `lc_note` saying why it is n/a where it is."""
    lc = lc_pws(cell_rows(sel), rounds=rounds, ci=ci, seed=seed)
    scored = [r for r in sel if r.get("outcome") in ("win", "tie", "lose")]
    tok = all(r.get("system_tokens") is not None and r.get("baseline_tokens") is not None for r in scored)
    sys_len = _mean([float(r["system_tokens"]) for r in scored]) if tok else math.nan
    base_len = _mean([float(r["baseline_tokens"]) for r in scored]) if tok else math.nan
    return {
        "lc_pws": lc.value,
        "lc_ci_low": lc.low,
        "lc_ci_high": lc.high,
        "sys_len": sys_len,
        "base_len": base_len,
        "train_len": _opt(getattr(meta, "train_len", None)),
        "pool_len": _opt(getattr(meta, "pool_len", None)),
        "lc_note": lc.note if scored else "",
    }


def _opt(v: Any) -> float:
    return math.nan if v is None else float(v)


# ------------------------------------------------------------------ joining token counts to judgments
def attach_answer_tokens(records: list[dict], run: Path, answers: Mapping[str, str], baseline: str) -> list[dict]:
    """Copies of the records with `system_tokens` / `baseline_tokens` from the answers files
    (answers: system name -> run-relative answers dir). Records whose answers are not known keep none."""
    tokens: dict[str, dict[tuple[str, str], int]] = {}
    for name, rel in answers.items():
        d = Path(run) / rel
        table: dict[tuple[str, str], int] = {}
        for f in sorted(d.glob("*.jsonl")):
            for a in read_jsonl(f, tolerant=True):
                if a.get("completion_tokens") is not None:
                    table[(str(a["testset"]), str(a["question_id"]))] = int(a["completion_tokens"])
        tokens[name] = table
    base = tokens.get(baseline, {})
    out = []
    for r in records:
        key = (str(r.get("testset")), str(r.get("question_id")))
        s = tokens.get(r.get("system"), {}).get(key)
        b = base.get(key) if r.get("baseline") == baseline else None
        if r.get("null_pair"):
            b = s
        out.append({**r, "system_tokens": s, "baseline_tokens": b} if s is not None and b is not None else r)
    return out


def score_length_spearman(score_rows: Sequence[dict], lengths: Mapping[str, int]) -> float:
    """Spearman rank correlation of a selector's scores (eligible, finite) with response length (health.spearman:
    the one Spearman of the project); NaN when undefined."""
    pairs = [
        (float(r["score"]), float(lengths[r["id"]]))
        for r in score_rows
        if r.get("eligible", True) and r.get("score") is not None and r["id"] in lengths
    ]
    rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
    return math.nan if rho is None else rho


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


@dataclass(frozen=True)
class LengthRow:
    """One scores file (selector): Spearman(score, response length), the length unit, the pool's mean length and
    each subset's ("0.05: 312.4, 0.1: 298.0"). Written as to_dict() gives it."""

    selector: str
    spearman_score_vs_length: float | None
    unit: str
    pool_len: float
    subset_len: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def selector_length_rows(run: Path, cells: Sequence[Mapping[str, Any]]) -> list[LengthRow]:
    """Per scores file (selector): Spearman(score, response length) and its subsets' mean response length vs
    the pool's, from the cells' `lengths` records (written by the pipeline into cell.json)."""
    by_scores: dict[str, dict[str, Any]] = {}
    for c in cells:
        lens = c.get("lengths")
        if not lens:
            continue
        e = by_scores.setdefault(c["scores"], {"selector": c["selector"], "lens": lens, "subsets": {}})
        e["subsets"][c["system"].rpartition("@")[2]] = (float(c["ratio"]), lens["train_len"])
    rows = []
    for path, e in sorted(by_scores.items(), key=lambda kv: kv[1]["selector"]):
        lens = e["lens"]
        table = (
            read_json(Path(run) / lens["pool_lengths"])["lengths"]
            if (Path(run) / lens["pool_lengths"]).is_file()
            else {}
        )
        rho = score_length_spearman(read_jsonl(Path(run) / path), table) if (Path(run) / path).is_file() else math.nan
        subs = sorted(e["subsets"].items(), key=lambda kv: kv[1][0])
        subset_len = ", ".join(f"{label}: {v[1]:.1f}" for label, v in subs)
        rows.append(LengthRow(e["selector"], _r(rho), lens["unit"], lens["pool_len"], subset_len))
    return rows
