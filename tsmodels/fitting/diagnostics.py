"""MCMC convergence diagnostics, vectorised over objects (NumPy, on the host).

Draws are arrays ``[..., C, S]`` (any leading axes, e.g. objects; ``C`` chains of ``S`` draws).
Definitions follow Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC", Bayesian
Analysis 16, 667:

* chains are split in halves (so one chain still gives an R-hat);
* :func:`rhat`: the maximum of the split R-hat of the rank-normalized draws and of the
  rank-normalized folded draws ``|x - median|`` (of the split chains);
* :func:`ess_bulk`: effective sample size of the rank-normalized split chains;
* :func:`ess_tail`: the minimum of the ESS of the indicators ``x <= q5%`` and ``x <= q95%``;
* the ESS uses Geyer's initial monotone sequence on the FFT autocovariance, as Stan does.

These agree with ``arviz.rhat(method="rank")`` and ``arviz.ess(method="bulk"|"tail")`` (tested).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

__all__ = ["split_chains", "rank_normalize", "rhat", "ess", "ess_bulk", "ess_tail"]


def split_chains(x: np.ndarray) -> np.ndarray:
    """``[..., C, S]`` -> ``[..., 2C, S // 2]`` (the middle draw dropped when S is odd)."""
    x = np.asarray(x, dtype=np.float64)
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., x.shape[-1] - half:]], axis=-2)


def rank_normalize(x: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks (average ranks for ties), Blom's offset 3/8."""
    shape = x.shape
    flat = x.reshape(shape[:-2] + (-1,))
    r = rankdata(flat, axis=-1, method="average")
    n = flat.shape[-1]
    return ndtri((r - 0.375) / (n + 0.25)).reshape(shape)


def _rhat_basic(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    chain_mean = x.mean(-1)
    between = n * chain_mean.var(-1, ddof=1)
    within = x.var(-1, ddof=1).mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def rhat(x: np.ndarray) -> np.ndarray:
    """Rank-normalized split R-hat of draws ``[..., C, S]`` -> ``[...]``."""
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.all(np.isfinite(x), axis=(-2, -1))
    x = np.where(bad[..., None, None], 0.0, x)
    s = split_chains(x)
    bulk = _rhat_basic(rank_normalize(s))
    folded = np.abs(s - np.median(s, axis=(-2, -1), keepdims=True))
    tail = _rhat_basic(rank_normalize(folded))
    out = np.maximum(bulk, tail)
    return np.where(bad, np.nan, out)


def _autocov(x: np.ndarray) -> np.ndarray:
    """Biased autocovariance along the last axis (FFT, zero padded)."""
    n = x.shape[-1]
    xc = x - x.mean(-1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(xc, n=size, axis=-1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=-1)[..., :n] / n


def ess(x: np.ndarray) -> np.ndarray:
    """Effective sample size of draws ``[..., C, S]`` (no splitting, no rank-normalization)."""
    x = np.asarray(x, dtype=np.float64)
    C, S = x.shape[-2:]
    acov = _autocov(x)  # [..., C, S]
    chain_mean = x.mean(-1)
    mean_var = acov[..., 0].mean(-1) * S / (S - 1.0)
    var_plus = mean_var * (S - 1.0) / S
    if C > 1:
        var_plus = var_plus + chain_mean.var(-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[..., None] - acov.mean(-2)) / var_plus[..., None]  # [..., S]
    rho[..., 0] = 1.0
    # Pair sums P_k = rho[2k] + rho[2k+1] (k < K) are kept while non-negative (Geyer's initial
    # positive sequence) and made non-increasing (initial monotone sequence); the next even
    # autocorrelation is added once when positive. The pair range is Stan's.
    n_p = max((S - 1) // 2, 1)
    pairs = rho[..., 0 : 2 * n_p : 2] + rho[..., 1 : 2 * n_p : 2]
    ok = pairs >= 0
    ok[..., 0] = True
    alive = np.cumprod(ok, axis=-1).astype(bool)
    n_doubled = np.where(alive[..., -1], n_p - 1, alive.sum(-1))
    monotone = np.minimum.accumulate(np.where(alive, pairs, np.inf), axis=-1)
    kept = np.where(np.arange(n_p) < n_doubled[..., None], monotone, 0.0)
    nxt = np.take_along_axis(rho, np.minimum(2 * n_doubled, S - 1)[..., None], axis=-1)[..., 0]
    tau = -1.0 + 2.0 * kept.sum(-1) + np.where(nxt > 0, nxt, 0.0)
    n = C * S
    tau = np.maximum(tau, 1.0 / np.log10(n))
    out = n / tau
    return np.where(np.isfinite(var_plus) & (var_plus > 0), out, np.nan)


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk ESS: ESS of the rank-normalized split chains."""
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.all(np.isfinite(x), axis=(-2, -1))
    x = np.where(bad[..., None, None], 0.0, x)
    return np.where(bad, np.nan, ess(rank_normalize(split_chains(x))))


def ess_tail(x: np.ndarray) -> np.ndarray:
    """Tail ESS: minimum ESS of the 5% and 95% quantile indicators (split chains)."""
    x = np.asarray(x, dtype=np.float64)
    bad = ~np.all(np.isfinite(x), axis=(-2, -1))
    x = np.where(bad[..., None, None], 0.0, x)
    out = None
    for p in (0.05, 0.95):
        q = np.quantile(x, p, axis=(-2, -1), keepdims=True)
        e = ess(split_chains((x <= q).astype(np.float64)))
        out = e if out is None else np.minimum(out, e)
    return np.where(bad, np.nan, out)
