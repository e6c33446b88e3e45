"""Figures (plots.py, plot_kit.py, figures.py): one distinct, stable colour per selector; the loss plot smoothed
with its legend outside the data; health and enrichment figures; the same Figure saved as PDF and PNG."""

import itertools

import pytest

from gsnr_bench.core.fileio import write_jsonl
from gsnr_bench.reporting.plot_kit import KNOWN_SELECTORS, save_figure, selector_colors
from gsnr_bench.reporting.plots import enrichment_fig, health_fig, loss_fig, smooth


def _rgb(hex_colour):
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def test_sixteen_selectors_get_sixteen_distinct_colours_that_do_not_move():
    names = list(KNOWN_SELECTORS) + [f"mine-{i}" for i in range(5)]
    colours = selector_colors(names)
    assert len(names) == 16 and len(set(colours.values())) == 16
    for a, b in itertools.combinations(colours.values(), 2):  # far apart in RGB, not two shades of one
        assert sum((x - y) ** 2 for x, y in zip(_rgb(a), _rgb(b))) ** 0.5 > 60, (a, b)
    assert colours["anti-oracle"] != colours["random"]
    # a shipped selector keeps its colour whatever else is on the page; labels take their selector's colour
    alone = selector_colors(["random", "gsnr@0.1", "run2:anti-oracle@0.05"])
    assert alone["random"] == colours["random"] and alone["gsnr"] == colours["gsnr"]
    assert alone["anti-oracle"] == colours["anti-oracle"]


def test_smoothing_is_a_debiased_moving_average():
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0 at the start
    noisy = [1.0 if i % 2 else 3.0 for i in range(100)]
    sm = smooth(noisy)
    assert max(sm[50:]) - min(sm[50:]) < 0.5 < max(noisy) - min(noisy)


def test_loss_legend_sits_outside_the_axes_and_files_are_written(tmp_path):
    logs = {}
    for i, name in enumerate(["full", "gsnr@0.05", "gsnr@0.1", "random@0.05", "random@0.1"]):
        write_jsonl(tmp_path / f"{i}.jsonl", [{"step": s, "loss": 3 / (1 + s / 9) + 0.05 * i} for s in range(60)])
        logs[name] = tmp_path / f"{i}.jsonl"
    fig = loss_fig(logs)
    ax = fig.axes[0]
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the plotting area: it covers no curve
    smoothed = [ln for ln in ax.get_lines() if ln.get_label() in logs]
    assert len(smoothed) == 5 and len(ax.get_lines()) == 10  # raw (faint) + smoothed per curve
    assert (
        smoothed[1].get_color() == smoothed[2].get_color()
        and smoothed[1].get_linestyle() != smoothed[2].get_linestyle()
    )
    paths = save_figure(fig, tmp_path / "figures", "training_loss")
    assert [p.name for p in paths] == ["training_loss.pdf", "training_loss.png"]
    assert paths[0].read_bytes()[:5] == b"%PDF-" and paths[1].stat().st_size > 5000


def test_health_and_enrichment_figures():
    health = [
        {"selector": "gsnr", "family": "gsnr", "n": 100, "eligible": 96, "share_norm_drop": 0.3},
        {"selector": "ifd-cherry", "family": "ifd", "n": 100, "eligible": 60, "share_ifd_ge_1": 0.2},
        {"selector": "random", "family": "", "n": 100, "eligible": 100},
    ]
    fig = health_fig(health)
    widths = [p.get_width() for p in fig.axes[1].patches]
    assert widths == pytest.approx([0.3, 0.8, 0.0])  # share in the method's regime; n/a for random
    assert [p.get_width() for p in fig.axes[0].patches] == pytest.approx([0.96, 0.6, 1.0])
    rows = [
        {"selector": s, "ratio": r, "clean_rate": c, "base_rate": 0.6, "auc": a}
        for s, a, cs in (("oracle", 1.0, (1.0, 1.0)), ("random", 0.5, (0.55, 0.62)))
        for r, c in zip((0.05, 0.1), cs)
    ]
    fig = enrichment_fig(rows)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert labels == ["oracle (AUC 1.00)", "random (AUC 0.50)"]
    assert enrichment_fig([]) is None and health_fig([]) is None


def test_no_tsne_under_thirty_points():
    import numpy as np

    from gsnr_bench.analysis.gsnr_utility import TSNE_MIN_POINTS, embed_profiles

    rng = np.random.default_rng(0)
    few = {e: rng.random((5, 40)) + 1 for e in (1, 2)}  # 5 members x 1 drop = 5 points
    _, Y, method = embed_profiles(few)
    assert Y.shape == (5, 2) and method.startswith("PCA") and "t-SNE" in method and TSNE_MIN_POINTS == 30
    many = {e: rng.random((6, 40)) + 1 for e in range(1, 7)}  # 6 members x 5 drops = 30 points
    assert embed_profiles(many)[2] == "PCA + t-SNE"
