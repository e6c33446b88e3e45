"""What a run's scores files say before any judge has (judge-free): per scores file, the enrichment of clean
examples where ground truth is known, selector health and ranking stability over seeds. Every finished scoring
counts, judged or not (collect.judge_free writes them right after scoring)."""

from __future__ import annotations

import math
from pathlib import Path

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_json, read_jsonl
from gsnr_bench.run.store import DONE


def scores_files(run: Path, cells: list[dict]) -> dict[str, dict]:
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


def scores_label(by_scores: dict[str, dict], path: str, selector: str) -> str:
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
    by_scores = {k: v for k, v in scores_files(run, cells).items() if v["truth"] and (run / v["truth"]).is_file()}
    rows = []
    for path, e in sorted(by_scores.items()):
        label = scores_label(by_scores, path, e["selector"])
        rows += [{"selector": label, **r} for r in _enrichment_rows(run, path, e)]
    return rows


def _enrichment_rows(run: Path, path: str, e: dict) -> list[dict]:
    """enrichment()'s rows of one scores file, one per ratio (without the selector's label)."""
    from gsnr_bench.domain.truth import labels_of
    from gsnr_bench.reporting.metrics import defect_counts, precision_lift, ranking_auc

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
    rows = []
    for lift, lift_e in zip(precision_lift(ranked, clean, ratios), lifts_e):
        counts = defect_counts(ranked[: lift["n"]], labels)
        rows.append(
            {
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
    """Selector health per scores file (analysis/health.py): the one its scoring stage stored (DONE meta), else
    (older runs) computed from the scores file and the stage's notes."""
    out = []
    by_scores = scores_files(run, cells)
    for path, e in sorted(by_scores.items()):
        h = stored_health(run / path) or _computed_health(run / path, e["selector"])
        out.append({**h, "selector": scores_label(by_scores, path, e["selector"]), "scores": path})
    return out


def stored_health(scores: Path) -> dict | None:
    """The health a scoring stage stored with its DONE, when it describes this scores file: a seeds stage
    combined by mean rank stores its first seed's health beside a reordered table, so it is computed again."""
    done = scores.parent / DONE
    meta = read_json(done) if done.is_file() else {}
    return meta.get("health") if meta.get("combine") != "mean_rank" else None


def _computed_health(scores: Path, selector: str) -> dict:
    from gsnr_bench.analysis.health import health_of

    done = scores.parent / DONE
    notes = read_json(done).get("notes", {}) if done.is_file() else {}
    return health_of(selector, read_jsonl(scores), notes)


def stability(run: Path, cells: list[dict]) -> list[dict]:
    """Per scores file scored with several seeds: Spearman and top-k overlap between the seeds' rankings."""
    out = []
    by_scores = scores_files(run, cells)
    for path, e in sorted(by_scores.items()):
        done = (run / path).parent / DONE
        st = read_json(done).get("stability") if done.is_file() else None
        if not st:
            continue
        row = {
            "selector": scores_label(by_scores, path, e["selector"]),
            "seeds": st["seeds"],
            "combine": read_json(done).get("combine", "first"),
            "spearman_min": st["spearman_min"],
            "spearman_mean": st["spearman_mean"],
        }
        for r, v in st.get("overlap", {}).items():
            row[f"top-{r} overlap (min / mean)"] = f"{v['min']:.3f} / {v['mean']:.3f}"
        out.append(row)
    return out


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)
