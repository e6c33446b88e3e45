"""Length where a user decides: per cell the answer lengths of the system and of the baseline and the response
length of the training subset vs the pool; per selector the Spearman correlation of its scores with response
length. See docs/length.md.

Units: answer lengths are tokens as the generation stage recorded them (`completion_tokens` of the answers
files, the EOS included), joined to the judgment records by (system, test set, question); training-response
lengths are tokens of the proxy's tokenizer (what `longest` ranks by), or characters when that tokenizer cannot
be loaded (`unit` in report/inputs.json says which)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..fileio import read_json, read_jsonl, write_json
from .length_control import cell_rows, lc_pws

LENGTH_COLUMNS = ["lc_pws", "lc_ci_low", "lc_ci_high", "sys_len", "base_len", "train_len", "pool_len"]


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


def length_columns(sel: Sequence[dict], meta: Any, gamma: Mapping[tuple, float], *, rounds: int, ci: float,
                   seed: int) -> dict[str, float]:
    """The length columns of one results cell (records already restricted to the cell)."""
    lc, lo, hi = lc_pws(cell_rows(sel, dict(gamma)), rounds=rounds, ci=ci, seed=seed)
    scored = [r for r in sel if r.get("outcome") in ("win", "tie", "lose")]
    tok = all(r.get("system_tokens") is not None and r.get("baseline_tokens") is not None for r in scored)
    sys_len = _mean([float(r["system_tokens"]) for r in scored]) if tok else math.nan
    base_len = _mean([float(r["baseline_tokens"]) for r in scored]) if tok else math.nan
    return {"lc_pws": lc, "lc_ci_low": lo, "lc_ci_high": hi, "sys_len": sys_len, "base_len": base_len,
            "train_len": _opt(getattr(meta, "train_len", None)), "pool_len": _opt(getattr(meta, "pool_len", None))}


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


# ------------------------------------------------------------------ what the report stage records
def pool_lengths(pipe: Any) -> tuple[dict[str, int], str]:
    """Response length of every pool example in proxy tokens (cached under RUN/cache/lengths/), or characters
    when the proxy's tokenizer cannot be loaded."""
    from ..errors import GsnrError
    from ..selection.longest import response_lengths

    inp = pipe.inputs
    key = hashlib.sha256(f"{inp.pool_key}|{inp.proxy_key}".encode()).hexdigest()[:16]
    cache = pipe.store.root / "cache" / "lengths" / f"{key}.json"
    if cache.is_file():
        data = read_json(cache)
        return data["lengths"], data["unit"]
    try:
        lengths, unit = response_lengths(inp.pool, "tokens", inp.proxy), "tokens"
    except (GsnrError, OSError, ValueError):
        lengths, unit = response_lengths(inp.pool, "chars"), "chars"
    table = {e.id: int(n) for e, n in zip(inp.pool, lengths)}
    write_json(cache, {"lengths": table, "unit": unit})
    return table, unit


def length_inputs(pipe: Any, selectors: Sequence[str], cells: Mapping, models: Mapping, rel) -> dict[str, Any]:
    """For report/inputs.json: answers dirs (to join token counts), the pool's mean response length, each
    subset's, and each selector's Spearman correlation of score with response length."""
    from ..pipeline import system_name

    lengths, unit = pool_lengths(pipe)
    answers = {name: rel(pipe.answers(msd, name).path) for name, msd in sorted(models.items())}
    subsets = {}
    for (sel, ratio), sd in cells.items():
        ids = [r["id"] for r in read_jsonl(sd.path / "selection.jsonl")]
        subsets[system_name(sel, ratio)] = {"n": len(ids), "train_len": round(_mean([lengths[i] for i in ids]), 4)}
    spearman = {}
    for sel in selectors:
        rows = read_jsonl(pipe.scores(sel).path / "scores.jsonl")
        spearman[sel] = _r(score_length_spearman(rows, lengths))
    return {"unit": unit, "pool_len": round(_mean(list(lengths.values())), 4), "answers": answers,
            "subsets": subsets, "spearman": spearman}


def score_length_spearman(score_rows: Sequence[dict], lengths: Mapping[str, int]) -> float:
    """Spearman rank correlation of a selector's scores (eligible, finite) with response length."""
    from scipy.stats import spearmanr

    pairs = [(float(r["score"]), float(lengths[r["id"]])) for r in score_rows
             if r.get("eligible", True) and r.get("score") is not None and r["id"] in lengths]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return math.nan
    return float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic)


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def selector_length_rows(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per selector: Spearman(score, response length) and its subsets' mean response length vs the pool."""
    lens = inputs.get("lengths") or {}
    if not lens:
        return []
    rows = []
    systems = inputs.get("systems", {})
    for sel, rho in sorted(lens.get("spearman", {}).items()):
        subs = {s: v for s, v in lens.get("subsets", {}).items() if systems.get(s, {}).get("selector") == sel}
        rows.append({"selector": sel, "spearman_score_vs_length": rho, "unit": lens.get("unit"),
                     "pool_len": lens.get("pool_len"),
                     "subset_len": ", ".join(f"{s.rpartition('@')[2]}: {v['train_len']:.1f}"
                                             for s, v in sorted(subs.items(), key=lambda kv: systems[kv[0]]["ratio"]))})
    return rows
