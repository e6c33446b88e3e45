"""Training-dynamics diagnostic: the paper's Figure 1.

Each point is one member's relative-drop profile between consecutive recorded epochs,
r^(m,e)_i = (n_i^(m,e-1) - n_i^(m,e)) / (n_i^(m,e-1) + eps) over the examples i (utility.relative_drops).
Points are reduced by PCA (to at most 50 dims) then t-SNE to 2-D (scikit-learn); one polyline per member
through its epochs. Well-separated polylines mean the members really diverge. With fewer than 4 points
t-SNE is not meaningful, so PCA's first two components are drawn instead (said in the title).
Record norms at every epoch (record_all_epochs: true, epochs >= 3) to get lines rather than single points."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .utility import relative_drops


def embed_profiles(norms_by_epoch: dict[int, np.ndarray], mask: np.ndarray | None = None, seed: int = 0):
    """-> (keys [(member, epoch)], coords [P, 2], method)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if mask is not None:
        norms_by_epoch = {e: v[:, mask] for e, v in norms_by_epoch.items()}
    drops = relative_drops(norms_by_epoch)
    keys = sorted(drops, key=lambda k: (k[0], k[1]))
    X = np.nan_to_num(np.stack([drops[k] for k in keys]))
    P = len(keys)
    k = max(1, min(50, P, X.shape[1]))
    Z = PCA(n_components=k, random_state=seed).fit_transform(X) if P > 1 else np.zeros((1, 1))
    if P >= 4:
        perplexity = float(max(1.0, min(30.0, (P - 1) / 3)))
        Y = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(Z)
        method = "PCA + t-SNE"
    else:
        Y = np.pad(Z[:, :2], ((0, 0), (0, max(0, 2 - Z.shape[1]))))
        method = "PCA (too few points for t-SNE)"
    return keys, Y, method


def draw_figure1(norms_by_epoch: dict[int, np.ndarray], path: str | Path, mask: np.ndarray | None = None,
                 seed: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic_path

    keys, Y, method = embed_profiles(norms_by_epoch, mask, seed)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    for m in sorted({k[0] for k in keys}):
        rows = [j for j, k in enumerate(keys) if k[0] == m]
        ax.plot(Y[rows, 0], Y[rows, 1], "-o", label=f"member {m + 1}")
        for j in rows:
            ax.annotate(f"e{keys[j][1]}", (Y[j, 0], Y[j, 1]), fontsize=7, xytext=(3, 3), textcoords="offset points")
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
