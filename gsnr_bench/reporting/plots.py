"""Plots as inline SVG strings (matplotlib, no pyplot, no global state): deterministic bytes via a fixed
hash salt, no Date metadata, text kept as text, and every SVG id prefixed so several plots can share a page."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from ..errors import DataError
from ..fileio import read_jsonl
from .results import MEAN_JUDGE, POOLED
from .tables import ratio_label

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
WTL_COLORS = {"wins": "#4caf50", "ties": "#b0b0b0", "losses": "#e57373"}
_RC = {
    "svg.hashsalt": "gsnr-bench",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def to_svg(fig, prefix: str) -> str:
    """Serialise a Figure to an <svg> element with ids namespaced by `prefix`."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    return text.replace("<svg ", f'<svg class="plot" data-plot="{prefix}" ', 1)


def _figure(w: float, h: float):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):  # rc is read when artists are created
        return Figure(figsize=(w, h), dpi=72)


def _subplots(fig, n: int, ncols: int):
    import matplotlib

    with matplotlib.rc_context(_RC):
        axes = fig.subplots(math.ceil(n / ncols), ncols, squeeze=False)
    return [a for row in axes for a in row]


def pws_by_ratio_svg(df: pd.DataFrame, judge: str = MEAN_JUDGE, testset: str = POOLED) -> str | None:
    """One panel per dataset / target model / regime; one line per selector with 95% CI error bars."""
    import matplotlib

    sub = df[(df["judge"] == judge) & (df["testset"] == testset)].dropna(subset=["pws"])
    if sub.empty:
        return None
    panels = sorted(sub.groupby(["dataset", "target_model", "regime"]).groups)
    selectors = sorted(sub["selector"].unique())
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(selectors)}
    ncols = min(2, len(panels))
    fig = _figure(7.5 if ncols == 1 else 5.2 * ncols, 3.6 * math.ceil(len(panels) / ncols))
    axes = _subplots(fig, len(panels), ncols)
    with matplotlib.rc_context(_RC):
        for ax, key in zip(axes, panels):
            part = sub[(sub["dataset"] == key[0]) & (sub["target_model"] == key[1]) & (sub["regime"] == key[2])]
            ratios = sorted(part["ratio"].unique())
            xi = {r: i for i, r in enumerate(ratios)}
            for k, sel in enumerate(selectors):
                s = part[part["selector"] == sel].sort_values("ratio")
                if s.empty:
                    continue
                off = (k - (len(selectors) - 1) / 2) * 0.06
                x = [xi[r] + off for r in s["ratio"]]
                err = [
                    (s["pws"] - s["ci_low"]).clip(lower=0).fillna(0),
                    (s["ci_high"] - s["pws"]).clip(lower=0).fillna(0),
                ]
                ax.errorbar(x, s["pws"], yerr=err, marker="o", ms=4, capsize=3, lw=1.4, color=color[sel], label=sel)
            ax.axhline(1.0, color="#555", lw=0.8, ls="--")
            ax.set_xticks(range(len(ratios)), [ratio_label(r) for r in ratios])
            ax.set_xlabel("selected ratio")
            ax.set_ylabel("PWS vs 100% (95% CI)")
            ax.set_title(f"{key[0]} / {key[1]} / {key[2]}")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        axes[ncols - 1].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
    return to_svg(fig, "pws-by-ratio")


def _bar_label(r: pd.Series, multi: bool) -> str:
    base = f"{r['selector']}@{ratio_label(r['ratio'])}"
    return f"{base} ({r['dataset']}/{r['target_model']}/{r['regime']})" if multi else base


def wtl_svg(df: pd.DataFrame, judge: str = MEAN_JUDGE) -> str | None:
    """Win/tie/lose stacked horizontal bars, one panel per test set (and pooled)."""
    import matplotlib

    sub = df[df["judge"] == judge]
    if sub.empty:
        return None
    testsets = sorted(t for t in sub["testset"].unique() if t != POOLED) + [POOLED]
    multi = sub[["dataset", "target_model", "regime"]].drop_duplicates().shape[0] > 1
    systems = sub[sub["testset"] == POOLED].sort_values(["dataset", "target_model", "regime", "selector", "ratio"])
    labels = [_bar_label(r, multi) for _, r in systems.iterrows()]
    fig = _figure(3.6 * len(testsets), 0.9 + 0.28 * len(labels))
    axes = _subplots(fig, len(testsets), len(testsets))
    key = ["dataset", "target_model", "regime", "selector", "ratio"]
    with matplotlib.rc_context(_RC):
        for ax, ts in zip(axes, testsets):
            part = systems[key].merge(sub[sub["testset"] == ts], on=key, how="left")
            left = [0.0] * len(part)
            for col, c in WTL_COLORS.items():
                vals = part[col].fillna(0).astype(float).tolist()
                bars = ax.barh(range(len(part)), vals, left=left, color=c, label=col, height=0.7)
                total = max(
                    (sum(x) for x in zip(part["wins"].fillna(0), part["ties"].fillna(0), part["losses"].fillna(0))),
                    default=0,
                )
                ax.bar_label(
                    bars,
                    labels=[f"{int(v)}" if total and v / total > 0.08 else "" for v in vals],
                    label_type="center",
                    fontsize=7,
                )
                left = [a + b for a, b in zip(left, vals)]
            ax.set_yticks(range(len(part)), labels if ax is axes[0] else [""] * len(part))
            ax.invert_yaxis()
            ax.set_title(ts)
            ax.set_xlabel("comparisons")
        fig.tight_layout(rect=(0, 0, 1, 0.94))
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=8, frameon=False, loc="upper center", ncols=3)
    return to_svg(fig, "wtl")


def read_train_log(path: str | Path) -> list[tuple[float, float]]:
    rows = read_jsonl(path, tolerant=True)
    pts = [(float(r["step"]), float(r["loss"])) for r in rows if "step" in r and "loss" in r]
    if not pts:
        raise DataError(f"{path}: no rows with step and loss")
    return sorted(pts)


def loss_curves_svg(logs: Mapping[str, str | Path]) -> str | None:
    """Training loss per step of the given selectors' models (label -> train_log.jsonl)."""
    import matplotlib

    if not logs:
        return None
    fig = _figure(6.0, 3.2)
    with matplotlib.rc_context(_RC):
        ax = fig.subplots()
        for i, label in enumerate(sorted(logs)):
            pts = read_train_log(logs[label])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.4, color=PALETTE[i % len(PALETTE)], label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
    return to_svg(fig, "loss")


# ---------------------------------------------------------------- training dynamics (G-SNR family)
def norm_epochs(row_keys) -> tuple[int, list[int]]:
    """(members, recorded epochs) from a G-SNR scores file's `norm_m<m>_e<e>` columns."""
    found = [re.match(r"norm_m(\d+)_e(\d+)$", k) for k in row_keys]
    found = [m for m in found if m]
    return (1 + max(int(m.group(1)) for m in found) if found else 0), sorted({int(m.group(2)) for m in found})


def dynamics_svg(
    rows: list[dict], clean: Mapping[str, bool] | None, title: str, prefix: str, sample: int = 60, seed: int = 0
) -> str | None:
    """Two panels from a G-SNR scores file: per-example trajectories of the ensemble-mean norm G^(e) over the
    recorded epochs (a seeded sample; clean blue, defective red when the truth is known; the median thick),
    and the paper's Figure 1 (selection/dynamics.py: each member's relative-drop profile between consecutive
    recorded epochs, PCA / t-SNE to 2-D, one line per member). None when fewer than two epochs are recorded."""
    import numpy as np

    from ..gsnr_utility import embed_profiles

    if not rows:
        return None
    M, epochs = norm_epochs(rows[0].keys())
    if M == 0 or len(epochs) < 2:
        return None
    ok = [r for r in rows if all(r.get(f"norm_m{m}_e{e}") is not None for m in range(M) for e in epochs)]
    if len(ok) < 2:
        return None
    norms = {e: np.array([[r[f"norm_m{m}_e{e}"] for r in ok] for m in range(M)], dtype=float) for e in epochs}
    G = np.stack([norms[e].mean(0) for e in epochs], axis=1)  # [N, E]
    pick = np.random.default_rng(seed).permutation(len(ok))[:sample]
    fig = _figure(10.0, 3.6)
    ax1, ax2 = _subplots(fig, 2, 2)
    for i in sorted(pick.tolist()):
        c = "#9e9e9e" if clean is None else ("#1f77b4" if clean.get(ok[i]["id"], True) else "#d62728")
        ax1.plot(epochs, G[i], color=c, alpha=0.45, linewidth=0.8)
    ax1.plot(epochs, np.median(G, axis=0), color="#000000", linewidth=2.2, label="median")
    ax1.set_xticks(epochs)
    ax1.set_xlabel("recorded epoch")
    ax1.set_ylabel("G (ensemble-mean LoRA grad norm)")
    ax1.set_title(
        f"{title}: per-example norms" + ("" if clean is None else "\n(blue clean, red defective)"), fontsize=9
    )
    ax1.legend(loc="best", frameon=False)
    keys, Y, method = embed_profiles(norms, seed=seed)
    for m in sorted({k[0] for k in keys}):
        idx = [j for j, k in enumerate(keys) if k[0] == m]
        ax2.plot(Y[idx, 0], Y[idx, 1], "-o", color=PALETTE[m % len(PALETTE)], label=f"member {m + 1}", markersize=4)
        for j in idx:
            ax2.annotate(f"e{keys[j][1]}", (Y[j, 0], Y[j, 1]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax2.set_title(f"Figure 1: members' relative-drop profiles\n({method})", fontsize=9)
    ax2.legend(loc="best", frameon=False, fontsize=7)
    return to_svg(fig, prefix)
