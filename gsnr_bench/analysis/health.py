"""Selector health: did a selector run in the regime its method assumes? Pure numpy over the rows of a
scores file (selection/ranking.py: score_rows) and the selector's notes; docs/selectors.md explains each number.

- G-SNR family (columns G_s, G_t, V_t, utility): share of scored examples whose ensemble-mean norm drops from
  epoch s to t, share of negative utilities, Spearman(utility, V_t), Spearman(utility, G_s). The method
  assumes norms *fall* as an example is learnt; when they rise for most examples the drop term is negative
  almost everywhere, and dividing by V_t then puts the most unstable examples first (a warning).
- IFD (column ifd): share of scored examples with IFD >= 1 (the prompt does not help predict the answer).
- GrADS (columns log_density, norm_*): Spearman of the density with the loss and with each gradient norm,
  whether the KDE was degenerate.
- Every selector: eligible / ineligible counts and why (the selector's `skipped_*` / `filtered_*` notes)."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rank correlation (average ranks for ties); None when undefined (< 3 pairs or a constant)."""
    from scipy.stats import rankdata

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rx, ry = rankdata(x), rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def _col(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([float(r[name]) if r.get(name) is not None else math.nan for r in rows], dtype=float)


def _share(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


GRADS_NORMS = ("norm_wte", "norm_lm_head", "norm_tied")  # GrADS's optional norm columns, in display order


def family(columns: Sequence[str]) -> str:
    cols = set(columns)
    if {"G_s", "G_t", "V_t", "utility"} <= cols:
        return "gsnr"
    if "ifd" in cols:
        return "ifd"
    if "log_density" in cols:
        return "grads"
    return "other"


def health_of(selector: str, rows: Sequence[Mapping[str, Any]], notes: Mapping[str, Any] | None = None) -> dict:
    """Health statistics of one scoring (a flat dict; `warnings` lists one-line texts)."""
    notes = dict(notes or {})
    rows = list(rows)
    eligible = np.array([bool(r.get("eligible", True)) for r in rows], dtype=bool)
    why = {
        k: int(v)
        for k, v in sorted(notes.items())
        if re.match(r"^(skipped|filtered)_", k) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    unexplained = int((~eligible).sum()) - sum(why.values())
    if unexplained > 0:  # every ineligible record gets a reason; one the selector did not give is shown as such
        why["unexplained"] = unexplained
    out: dict[str, Any] = {
        "selector": selector,
        "family": family(rows[0].keys() if rows else []),
        "n": len(rows),
        "eligible": int(eligible.sum()),
        "ineligible": int((~eligible).sum()),
        "ineligible_why": why,
    }
    warnings: list[str] = []
    fam = out["family"]
    if fam == "gsnr":
        G_s, G_t, V_t, u = (_col(rows, k) for k in ("G_s", "G_t", "V_t", "utility"))
        ok = eligible & np.isfinite(G_s) & np.isfinite(G_t) & np.isfinite(u)
        s, t = notes.get("s"), notes.get("t")
        if s is None or t is None:  # older scores files: the two recorded epochs named in the columns
            epochs = sorted(
                {int(m.group(1)) for k in (rows[0] if rows else {}) if (m := re.match(r"norm_m\d+_e(\d+)$", k))}
            )
            s, t = (epochs[0], epochs[-1]) if len(epochs) >= 2 else (None, None)
        drop = _share(G_s[ok] > G_t[ok])
        out.update(
            s=s,
            t=t,
            variant=notes.get("variant"),
            share_norm_drop=_r(drop),
            share_negative_utility=_r(_share(u[ok] < 0)),
            spearman_utility_Vt=_r(spearman(u[ok], V_t[ok])),
            spearman_utility_Gs=_r(spearman(u[ok], G_s[ok])),
        )
        if drop is not None and drop < 0.5:
            variant = notes.get("variant") or ("gsnr" if selector == "gsnr" else selector.replace("gsnr-", ""))
            tail = (
                "; the drop term is negative for most examples and 1/V then favours unstable examples"
                if variant in ("gsnr", "alt3")
                else "; the drop term is negative for most examples and the ranking favours the least-rising norms"
            )
            warnings.append(
                f"{selector}: norms rose for {100 * (1 - drop):.0f}% of examples between epochs {s} and "
                f"{t}{tail}; see docs/selectors.md (later epochs s/t, a higher lr, norms: snapshot)"
            )
    elif fam == "ifd":
        ifd = _col(rows, "ifd")
        scored = np.isfinite(ifd)
        share = _share(ifd[scored] >= 1.0)
        out.update(share_ifd_ge_1=_r(share), scored=int(scored.sum()))
        if share is not None and share > 0.5:
            warnings.append(
                f"{selector}: {100 * share:.0f}% of examples have IFD >= 1 (the prompt does not help the "
                "proxy predict the answer); the filter leaves few eligible examples; see docs/selectors.md"
            )
    elif fam == "grads":
        ld, loss = _col(rows, "log_density"), _col(rows, "loss")
        ok = eligible & np.isfinite(ld)
        out["spearman_density_loss"] = _r(spearman(ld[ok], loss[ok]))
        for k in GRADS_NORMS:
            if rows and k in rows[0]:
                out[f"spearman_density_{k}"] = _r(spearman(ld[ok], _col(rows, k)[ok]))
        if notes.get("kde_degenerate"):
            out["kde_degenerate"] = str(notes["kde_degenerate"])
            warnings.append(
                f"{selector}: the density estimate is degenerate ({notes['kde_degenerate']}); every "
                "eligible example has the same score and the ranking is the tie order"
            )
    if rows and out["eligible"] == 0:
        warnings.append(f"{selector}: no example is eligible; the subsets are filled in tie order")
    out["warnings"] = warnings
    return out


def warning_lines(health: Mapping[str, Any]) -> list[str]:
    return list(health.get("warnings") or [])


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _rho(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def signal_text(h: Mapping[str, Any]) -> str:
    """The family's health numbers in one short cell (screen, HTML, Markdown)."""
    fam = h.get("family")
    if fam == "gsnr":
        return (
            f"norm drop e{h.get('s')}->e{h.get('t')}: {_pct(h.get('share_norm_drop'))}; utility < 0: "
            f"{_pct(h.get('share_negative_utility'))}; rho(u, V_t) {_rho(h.get('spearman_utility_Vt'))}; "
            f"rho(u, G_s) {_rho(h.get('spearman_utility_Gs'))}"
        )
    if fam == "ifd":
        return f"IFD >= 1: {_pct(h.get('share_ifd_ge_1'))} of {h.get('scored')} scored"
    if fam == "grads":
        parts = [f"rho(density, loss) {_rho(h.get('spearman_density_loss'))}"]
        parts += [
            f"rho(density, {k}) {_rho(h[f'spearman_density_{k}'])}" for k in GRADS_NORMS if f"spearman_density_{k}" in h
        ]
        if h.get("kde_degenerate"):
            parts.append(f"KDE degenerate: {h['kde_degenerate']}")
        return "; ".join(parts)
    return ""


def display_row(h: Mapping[str, Any]) -> dict[str, Any]:
    """A flat row for tables: selector, eligible, ineligible (why), signal, warning."""
    why = ", ".join(f"{k} {v}" for k, v in (h.get("ineligible_why") or {}).items())
    return {
        "selector": h["selector"],
        "eligible": h["eligible"],
        "ineligible": h["ineligible"],
        "why ineligible": why or ("–" if not h["ineligible"] else "selector's filter"),
        "signal": signal_text(h),
        "warning": " | ".join(h.get("warnings") or []) or "–",
    }


# ------------------------------------------------------------------ stability over seeds
def rank_positions(ranked_ids: Sequence[str]) -> dict[str, int]:
    return {i: k for k, i in enumerate(ranked_ids)}


def topk_overlap(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|top-k(a) & top-k(b)| / k."""
    return len(set(a[:k]) & set(b[:k])) / k if k else math.nan


def stability(rankings: Sequence[Sequence[str]], ratios: Sequence[float]) -> dict[str, Any]:
    """Agreement of the rankings of one selector scored with different seeds: over every pair of seeds, the
    Spearman correlation of the rank positions and the top-k overlap at each ratio (k = round(ratio * N)).
    Identical rankings give 1 everywhere; fewer than two rankings give None."""
    if len(rankings) < 2:
        return {"seeds": len(rankings), "spearman_min": None, "spearman_mean": None, "overlap": {}}
    ids = list(rankings[0])
    pos = [rank_positions(r) for r in rankings]
    rhos, overlaps = [], {float(r): [] for r in ratios}
    for x in range(len(rankings)):
        for y in range(x + 1, len(rankings)):
            rhos.append(spearman([pos[x][i] for i in ids], [pos[y][i] for i in ids]))
            for r in overlaps:
                overlaps[r].append(topk_overlap(rankings[x], rankings[y], max(1, int(round(r * len(ids))))))
    finite = [v for v in rhos if v is not None]
    return {
        "seeds": len(rankings),
        "spearman_min": _r(min(finite)) if finite else None,
        "spearman_mean": _r(float(np.mean(finite))) if finite else None,
        "overlap": {f"{r:g}": {"min": _r(min(v)), "mean": _r(float(np.mean(v)))} for r, v in overlaps.items()},
    }


def mean_rank_order(rankings: Sequence[Sequence[str]]) -> list[str]:
    """One ranking from several: ids by their mean rank position (ties by the first ranking's order)."""
    pos = [rank_positions(r) for r in rankings]
    first = pos[0]
    return sorted(rankings[0], key=lambda i: (sum(p[i] for p in pos) / len(pos), first[i]))
