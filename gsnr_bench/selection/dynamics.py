"""Training-dynamics diagnostic: the paper's Figure 1.

Each point is one member's relative-drop profile between consecutive recorded epochs,
r^(m,e)_i = (n_i^(m,e-1) - n_i^(m,e)) / (n_i^(m,e-1) + eps) over the examples i (gsnr_utility.relative_drops).
Points are reduced by PCA (to at most 50 dims) then t-SNE to 2-D (scikit-learn); one polyline per member
through its epochs. Well-separated polylines mean the members really diverge. With fewer than
gsnr_utility.TSNE_MIN_POINTS (30) points t-SNE is not meaningful, so PCA's first two components are drawn
instead (said in the title).
Record norms at every epoch (record_all_epochs: true, epochs >= 3) to get lines rather than single points."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gsnr_bench.analysis.gsnr_utility import draw_member_profiles


def draw_figure1(
    norms_by_epoch: dict[int, np.ndarray], path: str | Path, mask: np.ndarray | None = None, seed: int = 0
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gsnr_bench.core.fileio import atomic_path

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    method = draw_member_profiles(ax, norms_by_epoch, mask, seed)
    ax.set_title(f"Relative gradient-drop profiles per member ({method})", fontsize=9)
    ax.set_xlabel("dim 1")
    ax.set_ylabel("dim 2")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
