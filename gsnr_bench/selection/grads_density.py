"""GrADS's density step: features standardized, then the log density of each example under a Gaussian KDE
(scipy or sklearn) fit on a seeded subsample; never NaN (selection/grads.py lists the choices)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gsnr_bench.core.errors import ConfigError


def log_density(
    X: np.ndarray, *, kde: str = "scipy", bandwidth: Any = "scott", max_points: int | None = 20000, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Log density of each row of X [N, d] under a Gaussian KDE fit on (a seeded subsample of) X.
    Constant columns are dropped (they carry no density information); with fewer than 3 rows or no varying
    column every row gets 0. Never NaN."""
    X = np.asarray(X, dtype=np.float64)
    notes: dict[str, Any] = {}
    N = X.shape[0]
    if N == 0:
        return np.zeros(0), notes
    keep = np.ptp(X, axis=0) > 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0))
    if N < 3 or not keep.any():
        notes["kde_degenerate"] = "fewer than 3 eligible examples" if N < 3 else "constant features"
        return np.zeros(N), notes
    if not keep.all():
        notes["kde_dropped_constant_dims"] = int((~keep).sum())
    X = X[:, keep]
    fit = X
    if max_points is not None and N > max_points:
        fit = X[np.sort(np.random.default_rng(seed).choice(N, size=max_points, replace=False))]
        notes["kde_fit_points"] = int(max_points)
    ld = _kde_logpdf(fit, X, kde, bandwidth, notes)
    ld = np.asarray(ld, dtype=np.float64)
    lo = np.min(ld[np.isfinite(ld)]) if np.isfinite(ld).any() else 0.0
    return np.where(np.isfinite(ld), ld, lo), notes  # -inf (underflow far out) -> the lowest finite value


def _kde_logpdf(fit: np.ndarray, X: np.ndarray, kde: str, bandwidth: Any, notes: dict[str, Any]) -> Any:
    """Log density at the rows of X of the KDE fit on `fit`, its bandwidth noted."""
    if kde == "scipy":
        from scipy.stats import gaussian_kde

        try:
            est = gaussian_kde(fit.T, bw_method=bandwidth)
            ld = est.logpdf(X.T)
        except np.linalg.LinAlgError:  # collinear features: fall back to the first varying one
            est = gaussian_kde(fit[:, 0], bw_method=bandwidth)
            ld = est.logpdf(X[:, 0])
            notes["kde_singular_covariance"] = True
        notes["kde_bandwidth_factor"] = float(est.factor)
    elif kde == "sklearn":
        from sklearn.neighbors import KernelDensity

        est = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(fit)
        ld = est.score_samples(X)
        notes["kde_bandwidth"] = float(est.bandwidth_)
    else:
        raise ConfigError(f"grads: kde must be 'scipy' or 'sklearn', not {kde!r}")
    return ld


def standardize_features(F: np.ndarray, how: str) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if how == "none" or F.shape[0] == 0:
        return F
    if how == "zscore":
        c, s = F.mean(0), F.std(0)
    elif how == "robust":
        q1, med, q3 = np.percentile(F, [25, 50, 75], axis=0)
        c, s = med, (q3 - q1) / 1.349
    else:
        raise ConfigError(f"grads: standardize must be 'zscore', 'robust' or 'none', not {how!r}")
    return (F - c) / np.where(s > 0, s, 1.0)
