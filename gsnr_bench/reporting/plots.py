"""The report's figures (matplotlib, no pyplot, no global state), drawn with plot_kit.py's toolkit: PWS by ratio,
wins/ties/losses, training loss, selector health, enrichment and G-SNR training dynamics."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from gsnr_bench.core.errors import DataError
from gsnr_bench.core.fileio import read_jsonl
from gsnr_bench.reporting.plot_kit import PALETTE, RC, WTL_COLORS, new_figure, selector_colors, selector_of, subplots
from gsnr_bench.reporting.results import MEAN_JUDGE, POOLED
from gsnr_bench.reporting.tables import ratio_label


def pws_by_ratio_fig(df: pd.DataFrame, judge: str = MEAN_JUDGE, testset: str = POOLED, colors=None):
    """One panel per dataset / target model / regime; one line per selector with 95% CI error bars; the legend
    right of the panels."""
    import matplotlib

    sub = df[(df["judge"] == judge) & (df["testset"] == testset)].dropna(subset=["pws"])
    if sub.empty:
        return None
    panels = sorted(sub.groupby(["dataset", "target_model", "regime"]).groups)
    selectors = sorted(sub["selector"].unique())
    color = colors or selector_colors(selectors)
    ncols = min(2, len(panels))
    fig = new_figure(7.0 if ncols == 1 else 5.0 * ncols, 3.6 * math.ceil(len(panels) / ncols))
    axes = subplots(fig, len(panels), ncols)
    with matplotlib.rc_context(RC):
        for ax, key in zip(axes, panels):
            part = sub[(sub["dataset"] == key[0]) & (sub["target_model"] == key[1]) & (sub["regime"] == key[2])]
            ratios = sorted(part["ratio"].unique())
            xi = {r: i for i, r in enumerate(ratios)}
            for k, sel in enumerate(selectors):
                s = part[part["selector"] == sel].sort_values("ratio")
                if s.empty:
                    continue
                off = (k - (len(selectors) - 1) / 2) * min(0.06, 0.6 / max(1, len(selectors)))
                x = [xi[r] + off for r in s["ratio"]]
                err = [
                    (s["pws"] - s["ci_low"]).clip(lower=0).fillna(0),
                    (s["ci_high"] - s["pws"]).clip(lower=0).fillna(0),
                ]
                dashed = sel in ("oracle", "anti-oracle")  # the controls: dashed, so they read as references
                ax.errorbar(
                    x,
                    s["pws"],
                    yerr=err,
                    marker="o",
                    ms=4,
                    capsize=3,
                    lw=1.4,
                    ls="--" if dashed else "-",
                    color=color[selector_of(sel)],
                    label=sel,
                )
            ax.axhline(1.0, color="#555", lw=0.8, ls=":")
            ax.set_xticks(range(len(ratios)), [ratio_label(r) for r in ratios])
            ax.set_xlabel("selected ratio")
            ax.set_ylabel("PWS vs 100% (95% CI)")
            ax.set_title(f"{key[0]} / {key[1]} / {key[2]}")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        axes[ncols - 1].legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
    return fig


def _bar_label(r: pd.Series, multi: bool) -> str:
    base = f"{r['selector']}@{ratio_label(r['ratio'])}"
    return f"{base} ({r['dataset']}/{r['target_model']}/{r['regime']})" if multi else base


def wtl_fig(df: pd.DataFrame, judge: str = MEAN_JUDGE):
    """Win/tie/lose stacked horizontal bars, one panel per test set (and pooled), grouped by ratio."""
    import matplotlib

    sub = df[df["judge"] == judge]
    if sub.empty:
        return None
    testsets = sorted(t for t in sub["testset"].unique() if t != POOLED) + [POOLED]
    multi = sub[["dataset", "target_model", "regime"]].drop_duplicates().shape[0] > 1
    systems = sub[sub["testset"] == POOLED].sort_values(["dataset", "target_model", "regime", "ratio", "selector"])
    labels = [_bar_label(r, multi) for _, r in systems.iterrows()]
    fig = new_figure(2.4 + 2.8 * len(testsets), 0.9 + 0.28 * len(labels))
    axes = subplots(fig, len(testsets), len(testsets))
    key = ["dataset", "target_model", "regime", "selector", "ratio"]
    with matplotlib.rc_context(RC):
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
    return fig


def read_train_log(path: str | Path) -> list[tuple[float, float]]:
    rows = read_jsonl(path, tolerant=True)
    pts = [(float(r["step"]), float(r["loss"])) for r in rows if "step" in r and "loss" in r]
    if not pts:
        raise DataError(f"{path}: no rows with step and loss")
    return sorted(pts)


def smooth(values: list[float], weight: float = 0.8) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing): the first points are not pulled to 0."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


_RATIO_STYLES = ["-", "--", ":", "-."]


def loss_fig(logs: Mapping[str, str | Path], colors=None, weight: float = 0.8):
    """Training loss per step (label -> train_log.jsonl): smoothed (EMA, weight 0.8) over the raw curve drawn
    faint; colour = selector, line style = ratio; the legend right of the axes, outside the data."""
    import matplotlib

    if not logs:
        return None
    labels = sorted(logs)
    color = colors or selector_colors(labels)
    ratios = sorted({lb.split("@", 1)[1].split(" ")[0] for lb in labels if "@" in lb})
    fig = new_figure(7.0, 3.4)
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        for label in labels:
            pts = read_train_log(logs[label])
            x, y = [p[0] for p in pts], [p[1] for p in pts]
            sel = selector_of(label)
            c = color.get(sel, "#000000") if "@" in label else "#000000"  # the 100% model in black
            ratio = label.split("@", 1)[1].split(" ")[0] if "@" in label else None
            ls = _RATIO_STYLES[ratios.index(ratio) % len(_RATIO_STYLES)] if ratio in ratios else "-"
            ax.plot(x, y, lw=0.6, color=c, alpha=0.18)
            ax.plot(x, smooth(y, weight), lw=1.4, color=c, ls=ls, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel(f"training loss (EMA {weight:g}; raw faint)")
        ncol = 1 if len(labels) <= 18 else 2
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncols=ncol)
        fig.tight_layout()
    return fig


def health_fig(health: list[Mapping], colors=None):
    """Selector health: the share of eligible examples, and the share of examples in the regime the method
    assumes (G-SNR: norm drops from epoch s to t; IFD: IFD < 1), with the 50% line under which the method's
    premise fails for most examples. Families without such a share show only eligibility."""
    import matplotlib

    if not health:
        return None
    labels = [h["selector"] for h in health]
    color = colors or selector_colors(labels)
    elig = [h["eligible"] / h["n"] if h.get("n") else math.nan for h in health]

    def regime(h) -> float:
        if h.get("family") == "gsnr" and h.get("share_norm_drop") is not None:
            return float(h["share_norm_drop"])
        if h.get("family") == "ifd" and h.get("share_ifd_ge_1") is not None:
            return 1.0 - float(h["share_ifd_ge_1"])
        return math.nan

    reg = [regime(h) for h in health]
    fig = new_figure(8.0, 0.9 + 0.3 * len(labels))
    with matplotlib.rc_context(RC):
        ax1, ax2 = subplots(fig, 2, 2)
        cols = [color[selector_of(lb)] for lb in labels]
        ax1.barh(range(len(labels)), elig, color=cols, height=0.7)
        ax1.set_yticks(range(len(labels)), labels)
        ax1.set_xlim(0, 1)
        ax1.set_xlabel("share eligible")
        ax1.invert_yaxis()
        ax2.barh(range(len(labels)), [0 if v != v else v for v in reg], color=cols, height=0.7)
        for i, v in enumerate(reg):
            if v != v:
                ax2.text(0.01, i, "n/a (no regime statistic)", va="center", fontsize=7, color="#555")
        ax2.axvline(0.5, color="#555", lw=0.8, ls=":")
        ax2.set_yticks(range(len(labels)), [""] * len(labels))
        ax2.set_xlim(0, 1)
        ax2.set_xlabel("share in the method's regime (G-SNR: norm drop; IFD: IFD < 1)")
        ax2.invert_yaxis()
        fig.tight_layout()
    return fig


def enrichment_fig(rows: list[Mapping], colors=None):
    """Share of clean examples in each selector's subset by ratio, the pool's base rate dashed; AUC of the
    ranking in the legend (right of the axes)."""
    import matplotlib

    # the enrichment rows' fields (collect.enrichment); an older or other producer may name them otherwise
    clean = lambda r: r.get("clean_rate", r.get("precision"))  # noqa: E731
    rows = [r for r in rows or () if isinstance(clean(r), (int, float)) and "ratio" in r and "selector" in r]
    if not rows:
        return None
    labels = sorted({r["selector"] for r in rows})
    color = colors or selector_colors(labels)
    fig = new_figure(7.0, 3.4)
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        ratios = sorted({float(r["ratio"]) for r in rows})
        xi = {r: i for i, r in enumerate(ratios)}
        for lb in labels:
            part = sorted((r for r in rows if r["selector"] == lb), key=lambda r: r["ratio"])
            auc = part[0].get("auc")
            name = f"{lb} (AUC {auc:.2f})" if isinstance(auc, (int, float)) else lb
            ax.plot(
                [xi[float(r["ratio"])] for r in part],
                [clean(r) for r in part],
                "-o",
                ms=4,
                lw=1.4,
                color=color[selector_of(lb)],
                label=name,
            )
        base = sorted({r["base_rate"] for r in rows if isinstance(r.get("base_rate"), (int, float))})
        for b in base:
            ax.axhline(b, color="#555", lw=0.8, ls=":")
        ax.set_xticks(range(len(ratios)), [ratio_label(r) for r in ratios])
        ax.set_xlabel("selected ratio")
        ax.set_ylabel("share of clean examples (dotted: pool)")
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------- training dynamics (G-SNR family)
def norm_epochs(row_keys) -> tuple[int, list[int]]:
    """(members, recorded epochs) from a G-SNR scores file's `norm_m<m>_e<e>` columns."""
    found = [re.match(r"norm_m(\d+)_e(\d+)$", k) for k in row_keys]
    found = [m for m in found if m]
    return (1 + max(int(m.group(1)) for m in found) if found else 0), sorted({int(m.group(2)) for m in found})


def dynamics_fig(rows: list[dict], clean: Mapping[str, bool] | None, title: str, sample: int = 60, seed: int = 0):
    """Two panels from a G-SNR scores file: per-example trajectories of the ensemble-mean norm G^(e) over the
    recorded epochs (a seeded sample; clean blue, defective red when the truth is known; the median thick),
    and the paper's Figure 1 (selection/dynamics.py: each member's relative-drop profile between consecutive
    recorded epochs, PCA / t-SNE to 2-D, one line per member). None when fewer than two epochs are recorded."""
    import numpy as np

    from gsnr_bench.analysis.gsnr_utility import draw_member_profiles

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
    fig = new_figure(10.0, 3.6)
    ax1, ax2 = subplots(fig, 2, 2)
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
    method = draw_member_profiles(ax2, norms, seed=seed, colors=PALETTE, markersize=4)
    ax2.set_title(f"Figure 1: members' relative-drop profiles\n({method})", fontsize=9)
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
    return fig
