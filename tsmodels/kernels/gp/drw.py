"""Damped random walk (DRW; Ornstein-Uhlenbeck process; CARMA(1,0)).

The DRW is the stationary Gaussian process with covariance

    k(dt) = sigma^2 exp(-|dt| / tau),

i.e. the solution of ``dx = -x/tau dt + sigma sqrt(2/tau) dW`` (Kelly, Bechtold & Siemiginowska
2009, ApJ 698, 895; Kozlowski et al. 2010, ApJ 708, 927; MacLeod et al. 2010, ApJ 721, 1014).
``sigma`` is the rms of the process (the same unit as the data), ``tau`` the damping timescale in
days (the frame of ``t``: observed frame for observed times). Quantities astronomers quote:

* structure function ``SF(dt) = SF_inf sqrt(1 - exp(-|dt|/tau))`` with ``SF_inf = sqrt(2) sigma``;
* MacLeod et al. (2010) ``sigma_hat`` (unit per sqrt(year)): ``SF_inf = sigma_hat sqrt(tau / 1 yr)``,
  so ``sigma_hat = sigma sqrt(2 / tau_yr)`` (their catalogue uses 1 yr = 365 days);
* celerite's ``RealTerm(a=sigma^2, c=1/tau)``; EzTao's ``DRW_term(log(sigma), log(tau))``.

All functions are pure JAX functions of one light curve, traceable, compute in the dtype of ``t,
y, yerr`` and assume the real (unmasked) points are sorted by time (duplicate times allowed).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from tsmodels.kernels.gp import _statespace as ss
from tsmodels.kernels._precision import float64_by_default

__all__ = [
    "drw_loglike",
    "drw_predict",
    "drw_sample",
    "drw_autocovariance",
    "drw_psd",
    "drw_structure_function",
    "drw_sf_inf",
    "drw_sigma_from_sf_inf",
    "drw_sigmahat",
    "drw_sigma_from_sigmahat",
]

DAYS_PER_YEAR = 365.0  # the year of MacLeod et al. (2010)'s sigma_hat


def _dtype(*arrays):
    """Floating dtype of the inputs under JAX's promotion rules (float for integer inputs)."""
    dt = jnp.result_type(*(a if hasattr(a, "dtype") or isinstance(a, (int, float)) else
                           jnp.asarray(a) for a in arrays))
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.result_type(float)
    return dt


def _mask(mask, n):
    return jnp.ones((n,), bool) if mask is None else jnp.asarray(mask, bool)


def _drw_ssm(dt, first, active, *, sigma, tau):
    """Per-point (F, Q) of a DRW with rms ``sigma`` (p = 1). Inactive points -> (1, 0)."""
    x = dt / tau
    a = jnp.exp(-x)
    q = sigma * sigma * (-jnp.expm1(-2.0 * x))  # sigma^2 (1 - a^2) without cancellation
    a = jnp.where(first, 0.0, a)
    q = jnp.where(first, sigma * sigma, q)
    a = jnp.where(active, a, 1.0)
    q = jnp.where(active, q, 0.0)
    return a[:, None, None], q[:, None, None]


@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean", "parallel"))
def drw_loglike(t, y, yerr, mask=None, *, sigma, tau, mean=0.0, marginalize_mean=False,
                parallel=False):
    """Exact log-likelihood of a damped random walk, O(n) via a Kalman filter.

    The data are ``y_k = mean + x(t_k) + e_k`` with ``x`` a DRW, ``k(dt) = sigma^2 exp(-|dt|/tau)``,
    and ``e_k ~ N(0, yerr_k^2)`` independent, so ``y ~ N(mean 1, K)`` with
    ``K_ij = k(t_i - t_j) + delta_ij yerr_i^2`` and

        log L = -1/2 (y - mean)^T K^-1 (y - mean) - 1/2 log|K| - n/2 log 2 pi,

    computed exactly by the Kalman filter of the Ornstein-Uhlenbeck state space (Kelly et al.
    2009, ApJ 698, 895), equal to celerite's ``RealTerm(a=sigma^2, c=1/tau)`` likelihood.

    With ``marginalize_mean=True`` the constant mean is integrated out under a flat prior, as
    in MacLeod et al. (2010) after Rybicki & Press (1992):

        log int N(y | mu 1, K) dmu = -1/2 [y^T K^-1 y - (1^T K^-1 y)^2 / (1^T K^-1 1)]
                                     - 1/2 log|K| - 1/2 log(1^T K^-1 1) - (n - 1)/2 log 2 pi,

    still O(n): the filter runs on ``y`` and on a vector of ones with shared gains. ``mean`` is
    then ignored.

    Args:
        t: (n,) times in days (relative to any epoch), sorted over the real points.
        y: (n,) data (magnitudes or fluxes).
        yerr: (n,) 1-sigma measurement errors, > 0 at real points (same unit as ``y``).
        mask: optional (n,) bool, True for a real point. Masked points contribute exactly nothing
            (value and gradient) wherever they sit and whatever finite or non-finite values they hold.
        sigma: rms amplitude of the process (unit of ``y``), > 0.
        tau: damping timescale in days, > 0.
        mean: constant mean of the process (unit of ``y``).
        marginalize_mean: static; integrate the mean out analytically (flat prior).
        parallel: static; use the parallel ``lax.associative_scan`` filter (O(log n) depth, for
            accelerators) instead of the serial ``lax.scan`` (least work; best on CPU).

    Returns:
        Scalar log-likelihood in the dtype of the inputs. An all-masked light curve gives 0.
    """
    dtype = _dtype(t, y, yerr)
    t, y, yerr = (jnp.asarray(a, dtype) for a in (t, y, yerr))
    sigma, tau, mean = (jnp.asarray(a, dtype) for a in (sigma, tau, mean))
    n = t.shape[0]
    mask = _mask(mask, n)
    t = jnp.where(mask, t, 0.0)
    dt, first = ss.steps(t, mask)
    F, Q = _drw_ssm(dt, first, mask, sigma=sigma, tau=tau)
    h = jnp.ones((n, 1), dtype)
    if marginalize_mean:
        ones = jnp.ones((n, 1), dtype)
        y, R = ss.safe_observations(ss.centre(y, ones, mask)[0], yerr, mask)
        Y = jnp.stack([y, jnp.where(mask, 1.0, 0.0).astype(dtype)], axis=1)
        G, logdet = ss.gram(F, Q, h, R, Y, mask, parallel=parallel)
        return ss.loglike_from_gram(G, logdet, jnp.sum(mask), marginal=True)[0]
    y, R = ss.safe_observations(y - mean, yerr, mask)
    G, logdet = ss.gram(F, Q, h, R, y[:, None], mask, parallel=parallel)
    return ss.loglike_from_gram(G, logdet, jnp.sum(mask), marginal=False)[0]


@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean",))
def drw_predict(t, y, yerr, mask=None, *, t_new, sigma, tau, mean=0.0, marginalize_mean=False):
    """Conditional mean and variance of the DRW ``mean + x(t)`` at new times given the data.

    Exact, O(n + m), by a Kalman filter and Rauch-Tung-Striebel smoother on the merged, sorted
    times. The returned variance is that of the noiseless process (add ``yerr^2`` for a new
    measurement). With ``marginalize_mean=True`` the mean is the generalised-least-squares
    estimate ``mu_hat`` and its uncertainty is included (flat prior): mean
    ``mu_hat + k_*^T K^-1 (y - mu_hat 1)`` and variance
    ``k_** - k_*^T K^-1 k_* + (1 - k_*^T K^-1 1)^2 / (1^T K^-1 1)``.

    Args:
        t, y, yerr, mask: the data, as for :func:`drw_loglike`.
        t_new: (m,) times in days (any order) at which to predict.
        sigma, tau, mean, marginalize_mean: as for :func:`drw_loglike`.

    Returns:
        ``(mu, var)``, each (m,).
    """
    dtype = _dtype(t, y, yerr)
    t, y, yerr, t_new = (jnp.asarray(a, dtype) for a in (t, y, yerr, t_new))
    sigma, tau, mean = (jnp.asarray(a, dtype) for a in (sigma, tau, mean))
    n = t.shape[0]
    m = t_new.shape[0]
    mask = _mask(mask, n)
    t = jnp.where(mask, t, 0.0)
    build = lambda dt, first, active: _drw_ssm(dt, first, active, sigma=sigma, tau=tau)  # noqa: E731
    return ss.conditional(
        build, t, y, yerr, mask, t_new,
        h_obs=jnp.ones((n, 1), dtype), h_new=jnp.ones((m, 1), dtype),
        X_obs=jnp.ones((n, 1), dtype), X_new=jnp.ones((m, 1), dtype),
        mean_obs=mean, mean_new=mean, marginalize_mean=marginalize_mean)


@float64_by_default
@functools.partial(jax.jit, static_argnames=("shape",))
def drw_sample(key, t, *, sigma, tau, mean=0.0, yerr=None, shape=()):
    """Draws of a DRW at times ``t`` (exact; the Markov recursion, O(n)).

    Args:
        key: a ``jax.random`` key.
        t: (n,) sorted times in days.
        sigma, tau, mean: as for :func:`drw_loglike`.
        yerr: optional (n,) measurement errors; if given, independent Gaussian noise is added.
        shape: static tuple, leading shape of the draws.

    Returns:
        ``shape + (n,)`` draws of ``mean + x(t) (+ noise)``.
    """
    t = jnp.asarray(t)
    dtype = _dtype(t)
    t = t.astype(dtype)
    sigma, tau, mean = (jnp.asarray(a, dtype) for a in (sigma, tau, mean))
    n = t.shape[0]
    mask = jnp.ones((n,), bool)
    dt, first = ss.steps(t, mask)
    F, Q = _drw_ssm(dt, first, mask, sigma=sigma, tau=tau)
    h = jnp.ones((n, 1), dtype)
    return ss.sample_draws(key, F, Q, h, shape=shape, mean=mean, yerr=yerr, dtype=dtype)


@float64_by_default
def drw_autocovariance(dt, *, sigma, tau):
    """``k(dt) = sigma^2 exp(-|dt|/tau)``."""
    return sigma * sigma * jnp.exp(-jnp.abs(dt) / tau)


@float64_by_default
def drw_psd(frequency, *, sigma, tau):
    """One-sided power spectral density of a DRW, ``P(f) = 4 sigma^2 tau / (1 + (2 pi f tau)^2)``.

    Frequency in cycles per day; normalised so that ``int_0^inf P(f) df = sigma^2`` (unit of
    ``y``^2 per (1/day)). EzTao's ``gp_psd`` and celerite's ``get_psd(omega)`` use two-sided
    angular-frequency densities: ``P(f) = 4 pi S_celerite(2 pi f)``.
    """
    w = 2.0 * math.pi * frequency * tau
    return 4.0 * sigma * sigma * tau / (1.0 + w * w)


@float64_by_default
def drw_structure_function(dt, *, sigma, tau):
    """``SF(dt) = sqrt(2) sigma sqrt(1 - exp(-|dt|/tau))`` (rms of ``x(t + dt) - x(t)``)."""
    return math.sqrt(2.0) * sigma * jnp.sqrt(-jnp.expm1(-jnp.abs(dt) / tau))


@float64_by_default
def drw_sf_inf(sigma):
    """Asymptotic structure function ``SF_inf = sqrt(2) sigma``."""
    return math.sqrt(2.0) * sigma


@float64_by_default
def drw_sigma_from_sf_inf(sf_inf):
    """Process rms ``sigma = SF_inf / sqrt(2)``."""
    return sf_inf / math.sqrt(2.0)


@float64_by_default
def drw_sigmahat(sigma, tau, *, days_per_year=DAYS_PER_YEAR):
    """MacLeod et al. (2010) ``sigma_hat`` in unit / sqrt(yr): ``SF_inf / sqrt(tau / 1 yr)``."""
    return math.sqrt(2.0) * sigma / jnp.sqrt(tau / days_per_year)


@float64_by_default
def drw_sigma_from_sigmahat(sigmahat, tau, *, days_per_year=DAYS_PER_YEAR):
    """Inverse of :func:`drw_sigmahat`: ``sigma = sigma_hat sqrt(tau_yr / 2)``."""
    return sigmahat * jnp.sqrt(tau / days_per_year / 2.0)
