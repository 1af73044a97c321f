"""Multiband damped random walk: one latent DRW seen in every band with its own amplitude and mean.

Model (the achromatic-shape choice):

    y_k = mean[b_k] + sigma[b_k] x(t_k) + e_k,     x ~ DRW with unit rms and timescale tau,

so the cross-covariance between bands b and c is

    Cov(y_b(t), y_c(t + dt)) = sigma_b sigma_c exp(-|dt| / tau)      (+ noise on the diagonal).

Inter-band correlation: the bands are *perfectly correlated at zero lag* (correlation coefficient
1, no time delay): every band shows the same fluctuation pattern, scaled by its own rms. This is
the rank-one (single latent process) limit of the multivariate damped random walk of Hu & Tak
(2020, AJ 160, 265) and EzTaoX's multiband GP with zero lags, consistent with the strongly
correlated, near-simultaneous ugriz variability of SDSS quasars (MacLeod et al. 2010, their
Fig. 13: tau is the same in every band within errors). It cannot represent inter-band lags or
partially decorrelated bands; colour variability enters only through the amplitude ratios
(``sigma_u > sigma_i``: bluer when brighter).

The likelihood is exact and O(n) over the merged time series (all bands together, sorted by
time; simultaneous points in different bands give zero time steps, handled exactly): a scalar
Kalman filter whose observation coefficient at point k is ``sigma[b_k]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from tsmodels.kernels.gp import _statespace as ss
from tsmodels.kernels.gp.drw import _drw_ssm, _dtype, _mask
from tsmodels.kernels._precision import float64_by_default

__all__ = ["drw_multiband_loglike", "drw_multiband_predict"]


def _prep(t, y, yerr, band, mask, sigma, tau, mean):
    dtype = _dtype(t, y, yerr)
    t, y, yerr = (jnp.asarray(a, dtype) for a in (t, y, yerr))
    sigma = jnp.atleast_1d(jnp.asarray(sigma, dtype))
    if sigma.ndim != 1:
        raise ValueError(f"sigma must be a 1-d array of per-band amplitudes, got shape {sigma.shape}")
    n_bands = sigma.shape[0]
    mean = jnp.broadcast_to(jnp.asarray(mean, dtype), (n_bands,))
    tau = jnp.asarray(tau, dtype)
    n = t.shape[0]
    mask = _mask(mask, n)
    band = jnp.clip(jnp.asarray(band, jnp.int32), 0, n_bands - 1)
    t = jnp.where(mask, t, 0.0)
    return dtype, t, y, yerr, band, mask, sigma, tau, mean, n_bands


@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean", "parallel"))
def drw_multiband_loglike(t, y, yerr, band, mask=None, *, sigma, tau, mean=0.0,
                          marginalize_mean=False, parallel=False):
    """Exact log-likelihood of the multiband DRW (module docstring), O(n) on the merged series.

    ``y ~ N(mean[band], K)`` with ``K_ij = sigma[b_i] sigma[b_j] exp(-|t_i - t_j|/tau) +
    delta_ij yerr_i^2``. With ``marginalize_mean=True`` every band's mean is integrated out under a
    flat prior (``log int N(y | X mu, K) d^B mu`` with ``X`` the band indicator matrix; bands
    without data drop out), computed with the same filter run on ``y`` and on the B indicator
    columns.

    Args:
        t: (n,) days, sorted over the real points (all bands merged).
        y, yerr: (n,) data and 1-sigma errors.
        band: (n,) int band index in ``0 .. B-1``.
        mask: optional (n,) bool; masked points contribute exactly nothing.
        sigma: (B,) per-band rms amplitudes (> 0; the number of bands B is its static length).
        tau: shared damping timescale, days.
        mean: (B,) per-band means, or a scalar; ignored if ``marginalize_mean``.
        marginalize_mean: static; integrate the B means out (flat priors).
        parallel: static; parallel associative-scan filter instead of the serial scan.

    Returns:
        Scalar log-likelihood, dtype of the inputs.
    """
    dtype, t, y, yerr, band, mask, sigma, tau, mean, n_bands = _prep(
        t, y, yerr, band, mask, sigma, tau, mean)
    one = jnp.ones((), dtype)
    dt, first = ss.steps(t, mask)
    F, Q = _drw_ssm(dt, first, mask, sigma=one, tau=tau)
    h = sigma[band][:, None]
    if marginalize_mean:
        X = (band[:, None] == jnp.arange(n_bands)[None, :]) & mask[:, None]
        X = X.astype(dtype)
        y, R = ss.safe_observations(ss.centre(y, X, mask)[0], yerr, mask)
        Y = jnp.concatenate([y[:, None], X], axis=1)
        G, logdet = ss.gram(F, Q, h, R, Y, mask, parallel=parallel)
        return ss.loglike_from_gram(G, logdet, jnp.sum(mask), marginal=True,
                                    present=jnp.any(X > 0, axis=0))[0]
    y, R = ss.safe_observations(y - mean[band], yerr, mask)
    G, logdet = ss.gram(F, Q, h, R, y[:, None], mask, parallel=parallel)
    return ss.loglike_from_gram(G, logdet, jnp.sum(mask), marginal=False)[0]


@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean",))
def drw_multiband_predict(t, y, yerr, band, mask=None, *, t_new, band_new, sigma, tau, mean=0.0,
                          marginalize_mean=False):
    """Conditional mean and variance of ``mean[b] + sigma[b] x(t)`` at ``(t_new, band_new)``.

    Uses every band's data (that is the point of the shared latent process). Exact, O(n + m);
    noiseless variance; per-band mean uncertainty included when ``marginalize_mean``.

    Returns:
        ``(mu, var)``, each (m,).
    """
    dtype, t, y, yerr, band, mask, sigma, tau, mean, n_bands = _prep(
        t, y, yerr, band, mask, sigma, tau, mean)
    t_new = jnp.asarray(t_new, dtype)
    band_new = jnp.clip(jnp.asarray(band_new, jnp.int32), 0, n_bands - 1)
    one = jnp.ones((), dtype)
    build = lambda dt, first, active: _drw_ssm(dt, first, active, sigma=one, tau=tau)  # noqa: E731
    onehot = lambda b: (b[:, None] == jnp.arange(n_bands)[None, :]).astype(dtype)  # noqa: E731
    return ss.conditional(
        build, t, y, yerr, mask, t_new,
        h_obs=sigma[band][:, None], h_new=sigma[band_new][:, None],
        X_obs=onehot(band) * mask[:, None], X_new=onehot(band_new),
        mean_obs=mean[band], mean_new=mean[band_new], marginalize_mean=marginalize_mean)
