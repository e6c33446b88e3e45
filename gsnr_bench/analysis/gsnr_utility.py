"""G-SNR utility math (Eqs. 3-5 and the Table 2 ablations; docs/selectors.md). Pure numpy, float64.

norms has shape [M, N]: member m's per-example LoRA-gradient L2 norm at one epoch."""

from __future__ import annotations

import numpy as np

from gsnr_bench.core.errors import ConfigError

VARIANTS = ("gsnr", "alt1", "alt2", "alt3")


def ensemble_mean(norms: np.ndarray) -> np.ndarray:
    """Eq. 3: G_i = (1/M) sum_m n_i^(m)."""
    return np.asarray(norms, dtype=np.float64).mean(axis=0)


def ensemble_var(norms: np.ndarray) -> np.ndarray:
    """Eq. 4: V_i = (1/M) sum_m (n_i^(m))^2 - G_i^2 (the population variance over members, as written)."""
    n = np.asarray(norms, dtype=np.float64)
    return (n * n).mean(axis=0) - n.mean(axis=0) ** 2


def utility(G_s: np.ndarray, G_t: np.ndarray, V_t: np.ndarray, eps: float = 1e-8, variant: str = "gsnr"):
    """Eq. 5 and ablations. gsnr: (G_s-G_t)/(G_s+eps) / (V_t+eps); alt1: G_s-G_t; alt2: (G_s-G_t)/(G_s+eps);
    alt3: (G_s-G_t)/(V_t+eps). Negative utilities are kept: only the order matters."""
    G_s, G_t, V_t = (np.asarray(a, dtype=np.float64) for a in (G_s, G_t, V_t))
    drop = G_s - G_t
    if variant == "gsnr":
        return drop / (G_s + eps) / (V_t + eps)
    if variant == "alt1":
        return drop
    if variant == "alt2":
        return drop / (G_s + eps)
    if variant == "alt3":
        return drop / (V_t + eps)
    raise ConfigError(f"unknown G-SNR variant {variant!r}; use one of {VARIANTS}")


def gsnr_table(norms_s: np.ndarray, norms_t: np.ndarray, eps: float = 1e-8, variant: str = "gsnr") -> dict:
    """All statistics of one selection: G_s, G_t, V_s, V_t and the utility, each [N]."""
    G_s, G_t = ensemble_mean(norms_s), ensemble_mean(norms_t)
    V_s, V_t = ensemble_var(norms_s), ensemble_var(norms_t)
    return {"G_s": G_s, "G_t": G_t, "V_s": V_s, "V_t": V_t, "utility": utility(G_s, G_t, V_t, eps, variant)}


def relative_drops(norms_by_epoch: dict[int, np.ndarray], eps: float = 1e-8) -> dict[tuple[int, int], np.ndarray]:
    """Per-member relative drop profiles (n^(e-1) - n^(e)) / (n^(e-1) + eps) for consecutive recorded epochs:
    {(member, epoch): [N]} (the points of the paper's Figure 1)."""
    epochs = sorted(norms_by_epoch)
    out = {}
    for a, b in zip(epochs, epochs[1:]):
        na, nb = np.asarray(norms_by_epoch[a], np.float64), np.asarray(norms_by_epoch[b], np.float64)
        for m in range(na.shape[0]):
            out[(m, b)] = (na[m] - nb[m]) / (na[m] + eps)
    return out


# Below this many points a t-SNE layout is mostly its own noise (perplexity needs several neighbours per point,
# and 5 members x 1 drop is 5 points): PCA's first two components are drawn instead, and the title says so.
TSNE_MIN_POINTS = 30


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
    if P >= TSNE_MIN_POINTS:
        perplexity = float(max(1.0, min(30.0, (P - 1) / 3)))
        Y = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(Z)
        method = "PCA + t-SNE"
    else:
        Y = np.pad(Z[:, :2], ((0, 0), (0, max(0, 2 - Z.shape[1]))))
        method = f"PCA: {P} points, too few for t-SNE (< {TSNE_MIN_POINTS})"
    return keys, Y, method


def draw_member_profiles(
    ax, norms_by_epoch: dict[int, np.ndarray], mask: np.ndarray | None = None, seed: int = 0, *, colors=None, **style
) -> str:
    """The paper's Figure 1 on a matplotlib Axes (the selector's figure1.png and the report's dynamics panel):
    each member's relative-drop profiles, embedded in 2-D, joined through its epochs and labelled e<epoch>.
    `colors` (one per member, cycled) and `style` (plot keywords) are the caller's; returns the embedding method."""
    keys, Y, method = embed_profiles(norms_by_epoch, mask, seed)
    for m in sorted({k[0] for k in keys}):
        rows = [j for j, k in enumerate(keys) if k[0] == m]
        colour = {"color": colors[m % len(colors)]} if colors else {}
        ax.plot(Y[rows, 0], Y[rows, 1], "-o", **colour, label=f"member {m + 1}", **style)
        for j in rows:
            ax.annotate(f"e{keys[j][1]}", (Y[j, 0], Y[j, 1]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    return method
