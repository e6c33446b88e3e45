"""The report's figures, built once with matplotlib (plots.py) and used twice: inline SVG on the page and
standalone files in figures/ (PDF for LaTeX, PNG for slides). One colour per selector over every figure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from gsnr_bench.reporting.plot_kit import save_figure, selector_colors
from gsnr_bench.reporting.plots import (
    enrichment_fig,
    health_fig,
    loss_fig,
    pws_by_ratio_fig,
    wtl_fig,
)

FIGURES_DIR = "figures"


def build_figures(df: pd.DataFrame, extras: Any) -> list[tuple[str, str, Any]]:
    """(file name, title, matplotlib Figure) of every figure the results and extras allow, in page order."""
    names = list(df["selector"].unique()) if not df.empty else []
    names += list(extras.train_logs) + [h["selector"] for h in extras.health]
    names += [r["selector"] for r in extras.enrichment]
    colors = selector_colors(names)
    figs = [
        ("pws_by_ratio", "PWS by ratio (95% CI)", pws_by_ratio_fig(df, colors=colors) if not df.empty else None),
        ("wtl", "Win / tie / lose per test set (all judges)", wtl_fig(df) if not df.empty else None),
        ("training_loss", "Training loss (smoothed)", loss_fig(extras.train_logs, colors=colors)),
        ("selector_health", "Selector health", health_fig(list(extras.health_stats), colors=colors)),
        ("enrichment", "Enrichment of clean examples (judge-free)", enrichment_fig(list(extras.enrichment), colors)),
    ]
    for label, fig in extras.dynamics:
        figs.append((f"dynamics_{_slug(label)}", f"Training dynamics: {label}", fig))
    return [(name, title, fig) for name, title, fig in figs if fig is not None]


def write_figures(figs: list[tuple[str, str, Any]], out_dir: str | Path) -> list[Path]:
    """Each figure as <name>.pdf and <name>.png under out_dir/figures/."""
    paths: list[Path] = []
    for name, _, fig in figs:
        if not isinstance(fig, str):  # an SVG string from an older caller has no file form
            paths += save_figure(fig, Path(out_dir) / FIGURES_DIR, name)
    return paths


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"
