"""Continuous-time autoregressive moving-average processes, CARMA(p, q), and the DHO = CARMA(2, 1).

A CARMA(p, q) process ``x(t)`` solves the linear stochastic differential equation

    x^(p) + a_1 x^(p-1) + ... + a_p x = b_0 eps + b_1 eps^(1) + ... + b_q eps^(q),      q < p,

driven by unit white noise ``eps`` (``E[eps(t) eps(s)] = delta(t - s)``), with AR polynomial
``alpha(s) = s^p + a_1 s^(p-1) + ... + a_p`` and MA polynomial ``beta(s) = b_0 + b_1 s + ... +
b_q s^q`` (Brockwell 2001; Kelly et al. 2014, ApJ 788, 33). ``ar = (a_1, ..., a_p)`` and
``ma = (b_0, ..., b_q)`` follow EzTao's ``CARMA_term`` ordering (Yu et al. 2022, AJ 163, 73), with
a_k, b_k in day^-k-type units for ``t`` in days. Its power spectrum is

    P(f) = 2 |beta(2 pi i f)|^2 / |alpha(2 pi i f)|^2        (one-sided, f in cycles/day),

and it is stationary iff every root of ``alpha`` has a negative real part (all a_k > 0 is then
necessary; the models enforce stationarity through their parameterisation, the kernels assume it).

Parameterisations:

* :func:`carma_loglike` takes ``sigma``, the rms of the process; ``ma`` then only sets the *shape*
  of the spectrum (the kernel rescales ``beta`` so that ``Var x = sigma^2``; only the ratios
  ``b_j / b_0`` matter). This matches :func:`drw_loglike`'s ``sigma`` and keeps the amplitude one
  well-behaved parameter.
* :func:`dho_loglike` takes EzTao's ``DHO_term(log a1, log a2, log b0, log b1)`` values directly
  (amplitude in ``b0``, ``b1``): ``x'' + a1 x' + a2 x = b0 eps + b1 eps'``, whose variance is
  ``(b0^2 + a2 b1^2) / (2 a1 a2)`` (:func:`carma_rms` for any p, q). In EzTao's terms the natural
  frequency is ``sqrt(a2)``, the damping ratio ``xi = a1 / (2 sqrt(a2))`` (xi < 1: complex roots,
  quasi-periodic; xi = 1: repeated root; xi > 1: two real roots).

State space (Kelly et al. 2014): the state is ``(x, x', ..., x^(p-1))`` with the
companion drift matrix, observed through ``(b_0, ..., b_q, 0, ...)``. Kelly et al. diagonalise the
drift by its eigenvectors (the AR roots), which breaks down for repeated roots; here instead
nothing needs the roots:

* the state is balanced by the time scale ``s_c = a_p^(1/p)`` (the geometric mean of the root
  moduli): ``z_j = x^(j) / s_c^j``, whose drift is ``s_c`` times the companion matrix of
  ``a_k / s_c^k``, with O(1) entries;
* the transition ``F = exp(A dt)`` is closed-form for p = 1, 2 (the 2x2 formula is written in the
  discriminant ``Delta = a1^2/4 - a2``: hyperbolic for Delta > 0, trigonometric for Delta < 0, a
  Taylor series around Delta = 0 (repeated root), so there is no square root of a negative number
  and values and gradients are smooth through every regime), and a Pade scaling-and-squaring
  matrix exponential for p = 3..5;
* the stationary covariance solves the Lyapunov equation ``A P + P A^T + e_p e_p^T = 0``
  (closed form for p <= 2, a p^2 x p^2 linear solve otherwise), and ``Q = P - F P F^T``.

Everything is exact (no truncation), O(n p^3), masked points contribute nothing, and a serial
``lax.scan`` or parallel ``lax.associative_scan`` filter is chosen by the static ``parallel`` flag.
Real (unmasked) points must be sorted by time.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from tsmodels.kernels import linalg
from tsmodels.kernels.gp import _statespace as ss
from tsmodels.kernels.gp.drw import _dtype, _mask
from tsmodels.kernels._precision import float64_by_default

__all__ = [
    "carma_loglike",
    "carma_predict",
    "carma_sample",
    "carma_autocovariance",
    "carma_psd",
    "carma_structure_function",
    "carma_rms",
    "dho_loglike",
    "MAX_P",
]

MAX_P = 5
_EXPM_MAX_SQUARINGS = 40  # exp(A dt) for |A dt|_1 up to ~5e11 (balanced units: dt up to ~5e11/rate)


# ------------------------------------------------------------------------------------------------
# the balanced companion-form system
# ------------------------------------------------------------------------------------------------
def _check_orders(ar, ma):
    if ar.ndim != 1 or ma.ndim != 1:
        raise ValueError(f"ar and ma must be 1-d, got shapes {ar.shape} and {ma.shape}")
    p, q = ar.shape[0], ma.shape[0] - 1
    if not 1 <= p <= MAX_P:
        raise ValueError(f"CARMA order p = len(ar) must be in 1..{MAX_P}, got {p}")
    if not 0 <= q < p:
        raise ValueError(f"CARMA order q = len(ma) - 1 must satisfy 0 <= q < p = {p}, got {q}")
    return p, q


def _system(ar, ma):
    """Balanced companion system: ``(A_t, s_c, P_t, g)``.

    The process is ``x = c * g . z`` for the balanced state z with drift ``s_c A_t`` and stationary
    covariance ``P_t`` under the noise ``e_p``; ``g_j = b_j s_c^j``; the unit-noise scale factor is
    ``c = s_c^(-(p - 1/2))``.
    """
    p = ar.shape[0]
    q = ma.shape[0] - 1
    s_c = ar[-1] ** (1.0 / p)
    k = jnp.arange(1, p + 1, dtype=ar.dtype)
    a_t = ar / s_c**k  # balanced AR coefficients, a_t[-1] == 1
    A_t = jnp.zeros((p, p), ar.dtype)
    if p > 1:
        A_t = A_t.at[jnp.arange(p - 1), jnp.arange(1, p)].set(1.0)
    A_t = A_t.at[p - 1, :].set(-a_t[::-1])
    g = jnp.zeros((p,), ar.dtype).at[: q + 1].set(ma * s_c ** jnp.arange(q + 1, dtype=ar.dtype))
    if p == 1:
        P_t = jnp.full((1, 1), 0.5, ar.dtype)
    elif p == 2:
        P_t = jnp.eye(2, dtype=ar.dtype) / (2.0 * a_t[0])
    else:
        eye = jnp.eye(p, dtype=ar.dtype)
        L = jnp.kron(A_t, eye) + jnp.kron(eye, A_t)
        rhs = jnp.zeros((p * p,), ar.dtype).at[p * p - 1].set(-1.0)
        P_t = linalg.solve(L, rhs).reshape(p, p)
        P_t = 0.5 * (P_t + P_t.T)
    return A_t, s_c, P_t, g


def _expm2(a1, u):
    """``exp(u A)`` for ``A = [[0, 1], [-1, -a1]]`` (balanced DHO), u >= 0, all regimes.

    With ``T = -a1 u`` (trace) and ``D = u^2 (a1^2/4 - 1)`` (discriminant, times u^2):
    ``exp(uA) = C I + S (uA - T/2 I)`` with ``C = e^(T/2) cosh sqrt(D)``,
    ``S = e^(T/2) sinh(sqrt D)/sqrt D`` (cos/sin of sqrt(-D) when D < 0, a series near D = 0).
    """
    T = -a1 * u
    D = u * u * (0.25 * a1 * a1 - 1.0)
    small = jnp.abs(D) < 1e-2
    # series branch (repeated root and its neighbourhood), exact to ~1e-17
    Ds = jnp.where(small, D, 0.0)
    C_ser = 1.0 + Ds * (1 / 2 + Ds * (1 / 24 + Ds * (1 / 720 + Ds / 40320)))
    S_ser = 1.0 + Ds * (1 / 6 + Ds * (1 / 120 + Ds * (1 / 5040 + Ds / 362880)))
    e_half = jnp.exp(0.5 * T)
    # away from D = 0: w = sqrt|D| on a guarded input
    w = jnp.sqrt(jnp.where(small, 1.0, jnp.abs(D)))
    # D > 0 (two real roots): factor out exp(T/2 + w) <= 1 so nothing overflows; each branch
    # sees a harmless w where it is not selected (finite values and gradients everywhere)
    wh = jnp.where(D > 0, w, 1.0)
    e_lead = jnp.exp(jnp.where(D > 0, 0.5 * T + wh, 0.0))
    C_hyp = 0.5 * e_lead * (1.0 + jnp.exp(-2.0 * wh))
    S_hyp = e_lead * (-jnp.expm1(-2.0 * wh)) / (2.0 * wh)
    # D < 0 (complex pair)
    wt = jnp.where(D < 0, w, 1.0)
    C_trig = e_half * jnp.cos(wt)
    S_trig = e_half * jnp.sin(wt) / wt
    C = jnp.where(small, e_half * C_ser, jnp.where(D > 0, C_hyp, C_trig))
    S = jnp.where(small, e_half * S_ser, jnp.where(D > 0, S_hyp, S_trig))
    # C I + S (uA - T/2 I), uA = [[0, u], [-u, -a1 u]]
    f00 = C + S * (0.5 * a1 * u)
    f01 = S * u
    f10 = -S * u
    f11 = C - S * (0.5 * a1 * u)
    return jnp.stack([jnp.stack([f00, f01], -1), jnp.stack([f10, f11], -1)], -2)


def _expm(M):
    """Matrix exponential of a small matrix by scaling and squaring.

    ``exp(M) = (T_16(M / 2^s))^(2^s)`` with ``T_16`` the degree-16 Taylor polynomial and s the
    smallest integer with ``|M|_1 / 2^s <= 1/2`` (truncation error < 1e-19 relative); Horner's
    rule and the squarings run as fixed-length loops (a per-matrix squaring count), so the
    function vmaps, has reverse-mode derivatives and compiles to a few small ops.
    """
    p = M.shape[-1]
    eye = jnp.eye(p, dtype=M.dtype)
    norm = jnp.max(jnp.sum(jnp.abs(M), axis=-2))
    s = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-30) / 0.5)), 0, _EXPM_MAX_SQUARINGS)
    X = M * jnp.exp2(-s)

    def horner(E, k):  # I + X (I + X/2 (I + X/3 (...)))
        return eye + (X @ E) / k, None

    E, _ = lax.scan(horner, eye, jnp.arange(16, 0, -1, dtype=M.dtype))

    def square(E, i):
        return jnp.where(i < s, E @ E, E), None

    E, _ = lax.scan(square, E, jnp.arange(_EXPM_MAX_SQUARINGS, dtype=M.dtype))
    return E


def _transition(A_t, a_t1, u):
    """``exp(u A_t)`` for each u (n,) -> (n, p, p)."""
    p = A_t.shape[0]
    if p == 1:
        return jnp.exp(-u)[:, None, None]
    if p == 2:
        return _expm2(a_t1, u)
    return jax.vmap(lambda x: _expm(x * A_t))(u)


def _carma_ssm(dt, first, active, A_t, s_c, P_t):
    """Per-point (F, Q) in the balanced coordinates; first real point (0, P), inactive (I, 0)."""
    p = A_t.shape[0]
    u = s_c * dt
    F = _transition(A_t, -A_t[p - 1, p - 1], u)
    Q = P_t - F @ P_t @ jnp.swapaxes(F, -1, -2)
    Q = 0.5 * (Q + jnp.swapaxes(Q, -1, -2))
    eye = jnp.eye(p, dtype=dt.dtype)
    f3 = first[:, None, None]
    a3 = active[:, None, None]
    F = jnp.where(f3, 0.0, F)
    Q = jnp.where(f3, P_t, Q)
    F = jnp.where(a3, F, eye)
    Q = jnp.where(a3, Q, 0.0)
    return F, Q


def _observation(P_t, g, s_c, sigma):
    """Observation vector: rms ``sigma`` if given, else EzTao's unit driving noise."""
    p = g.shape[0]
    if sigma is None:
        return g * s_c ** (-(p - 0.5))
    return g * (sigma / jnp.sqrt(g @ P_t @ g))


def _prepare(ar, ma, dtype):
    ar = jnp.asarray(ar, dtype)
    ma = jnp.asarray(ma, dtype)
    _check_orders(ar, ma)
    return ar, ma


def _loglike(t, y, yerr, mask, ar, ma, sigma, mean, marginalize_mean, parallel):
    dtype = _dtype(t, y, yerr)
    t, y, yerr = (jnp.asarray(a, dtype) for a in (t, y, yerr))
    ar, ma = _prepare(ar, ma, dtype)
    mean = jnp.asarray(mean, dtype)
    sigma = None if sigma is None else jnp.asarray(sigma, dtype)
    n = t.shape[0]
    mask = _mask(mask, n)
    t = jnp.where(mask, t, 0.0)
    A_t, s_c, P_t, g = _system(ar, ma)
    dt, first = ss.steps(t, mask)
    F, Q = _carma_ssm(dt, first, mask, A_t, s_c, P_t)
    h = jnp.broadcast_to(_observation(P_t, g, s_c, sigma), (n, ar.shape[0]))
    if marginalize_mean:
        y, R = ss.safe_observations(ss.centre(y, jnp.ones((n, 1), dtype), mask)[0], yerr, mask)
        Y = jnp.stack([y, mask.astype(dtype)], axis=1)
        G, logdet = ss.gram(F, Q, h, R, Y, mask, parallel=parallel)
        return ss.loglike_from_gram(G, logdet, jnp.sum(mask), marginal=True)[0]
    y, R = ss.safe_observations(y - mean, yerr, mask)
    G, logdet = ss.gram(F, Q, h, R, y[:, None], mask, parallel=parallel)
    return ss.loglike_from_gram(G, logdet, jnp.sum(mask), marginal=False)[0]


# ------------------------------------------------------------------------------------------------
# public kernels
# ------------------------------------------------------------------------------------------------
@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean", "parallel"))
def carma_loglike(t, y, yerr, mask=None, *, ar, ma, sigma, mean=0.0, marginalize_mean=False,
                  parallel=False):
    """Exact log-likelihood of a CARMA(p, q) process, O(n p^3) via a Kalman filter.

    ``y_k = mean + x(t_k) + e_k``, ``e_k ~ N(0, yerr_k^2)``, with ``x`` the CARMA process of the
    module docstring rescaled to rms ``sigma``, so that ``y ~ N(mean 1, K)`` and
    ``log L = -1/2 r^T K^-1 r - 1/2 log|K| - n/2 log 2 pi`` (``r = y - mean``), evaluated by the
    Kalman filter of Kelly et al. (2014, ApJ 788, 33) in a root-free form that is
    stable for real, complex and repeated AR roots. ``marginalize_mean=True`` integrates the mean
    out under a flat prior as in :func:`drw_loglike`.

    Args:
        t: (n,) times in days, sorted over the real points.
        y: (n,) data; yerr: (n,) 1-sigma errors (> 0 at real points).
        mask: optional (n,) bool; masked points contribute exactly nothing.
        ar: (p,) AR coefficients ``(a_1, ..., a_p)``, ``alpha(s) = s^p + a_1 s^(p-1) + ... + a_p``
            with all roots in the left half-plane; 1 <= p <= 5 (static shape).
        ma: (q+1,) MA coefficients ``(b_0, ..., b_q)``, ``beta(s) = b_0 + b_1 s + ...``, q < p;
            defined up to a scale (only ``b_j / b_0`` matter; ``sigma`` sets the amplitude).
        sigma: rms of the process (unit of ``y``).
        mean: constant mean; ignored if ``marginalize_mean``.
        marginalize_mean: static; integrate the constant mean out (flat prior).
        parallel: static; parallel associative-scan filter instead of the serial scan.

    Returns:
        Scalar log-likelihood, dtype of the inputs.

    Raises:
        ValueError: if the orders are outside 1 <= p <= 5, 0 <= q < p.
    """
    return _loglike(t, y, yerr, mask, ar, ma, sigma, mean, marginalize_mean, parallel)


@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean", "parallel"))
def dho_loglike(t, y, yerr, mask=None, *, a1, a2, b0, b1, mean=0.0, marginalize_mean=False,
                parallel=False):
    """Exact log-likelihood of a damped harmonic oscillator, CARMA(2, 1), in EzTao's parameters.

    ``x'' + a1 x' + a2 x = b0 eps + b1 eps'`` with unit white noise ``eps`` (EzTao
    ``DHO_term(log a1, log a2, log b0, log b1)``; Moreno et al. 2019, PASP 131, 063001; Yu et al.
    2022, AJ 163, 73). The amplitude is carried by ``b0, b1``: ``Var x = (b0^2 + a2 b1^2) /
    (2 a1 a2)``. All of a1, a2 > 0 (stationary); b0, b1 real. Any damping regime (under-, critically
    or over-damped) is handled exactly and smoothly. Other arguments as for
    :func:`carma_loglike`.
    """
    ar = jnp.stack([jnp.asarray(a1), jnp.asarray(a2)])
    ma = jnp.stack([jnp.asarray(b0), jnp.asarray(b1)])
    return _loglike(t, y, yerr, mask, ar, ma, None, mean, marginalize_mean, parallel)


@float64_by_default
@functools.partial(jax.jit, static_argnames=("marginalize_mean",))
def carma_predict(t, y, yerr, mask=None, *, t_new, ar, ma, sigma, mean=0.0,
                  marginalize_mean=False):
    """Conditional mean and variance of ``mean + x(t)`` at times ``t_new`` (any order), O(n + m).

    Kalman filter and Rauch-Tung-Striebel smoother on the merged times; the variance is that of
    the noiseless process (mean uncertainty included when ``marginalize_mean``). Arguments as for
    :func:`carma_loglike`. Returns ``(mu, var)``, each (m,).
    """
    dtype = _dtype(t, y, yerr)
    t, y, yerr, t_new = (jnp.asarray(a, dtype) for a in (t, y, yerr, t_new))
    ar, ma = _prepare(ar, ma, dtype)
    sigma, mean = jnp.asarray(sigma, dtype), jnp.asarray(mean, dtype)
    n, m, p = t.shape[0], t_new.shape[0], ar.shape[0]
    mask = _mask(mask, n)
    t = jnp.where(mask, t, 0.0)
    A_t, s_c, P_t, g = _system(ar, ma)
    h = _observation(P_t, g, s_c, sigma)
    build = lambda dt, first, active: _carma_ssm(dt, first, active, A_t, s_c, P_t)  # noqa: E731
    return ss.conditional(
        build, t, y, yerr, mask, t_new,
        h_obs=jnp.broadcast_to(h, (n, p)), h_new=jnp.broadcast_to(h, (m, p)),
        X_obs=jnp.ones((n, 1), dtype), X_new=jnp.ones((m, 1), dtype),
        mean_obs=mean, mean_new=mean, marginalize_mean=marginalize_mean)


@float64_by_default
@functools.partial(jax.jit, static_argnames=("shape",))
def carma_sample(key, t, *, ar, ma, sigma, mean=0.0, yerr=None, shape=()):
    """Exact draws of ``mean + x(t)`` (plus N(0, yerr^2) noise if ``yerr`` is given).

    Args:
        key: ``jax.random`` key; t: (n,) sorted times in days; shape: static leading shape.
        ar, ma, sigma, mean: as for :func:`carma_loglike`.

    Returns:
        ``shape + (n,)`` draws.
    """
    t = jnp.asarray(t)
    dtype = _dtype(t)
    t = t.astype(dtype)
    ar, ma = _prepare(ar, ma, dtype)
    sigma, mean = jnp.asarray(sigma, dtype), jnp.asarray(mean, dtype)
    n, p = t.shape[0], ar.shape[0]
    A_t, s_c, P_t, g = _system(ar, ma)
    mask = jnp.ones((n,), bool)
    dt, first = ss.steps(t, mask)
    F, Q = _carma_ssm(dt, first, mask, A_t, s_c, P_t)
    h = jnp.broadcast_to(_observation(P_t, g, s_c, sigma), (n, p))
    return ss.sample_draws(key, F, Q, h, shape=shape, mean=mean, yerr=yerr, dtype=dtype)


@float64_by_default
def carma_rms(ar, ma):
    """Rms of the CARMA process driven by unit white noise (EzTao's ``get_rms_amp``).

    ``Var x = (1/2 pi) int |beta(i w)|^2 / |alpha(i w)|^2 dw``; for the DHO
    ``(b0^2 + a2 b1^2) / (2 a1 a2)``.
    """
    ar = jnp.asarray(ar)
    dtype = _dtype(ar, ma)
    ar, ma = _prepare(ar, ma, dtype)
    A_t, s_c, P_t, g = _system(ar, ma)
    h = _observation(P_t, g, s_c, None)
    return jnp.sqrt(h @ P_t @ h)


@float64_by_default
def carma_autocovariance(dt, *, ar, ma, sigma):
    """Autocovariance ``R(dt) = Cov(x(t), x(t + dt))`` of the rms-``sigma`` CARMA process.

    Computed as ``h^T exp(A |dt|) P h`` (no roots needed). ``sigma=None`` gives EzTao's
    unit-noise amplitude. dt: any shape, days.
    """
    dt = jnp.asarray(dt)
    dtype = _dtype(dt, ar, ma)
    ar, ma = _prepare(ar, ma, dtype)
    sigma = None if sigma is None else jnp.asarray(sigma, dtype)
    A_t, s_c, P_t, g = _system(ar, ma)
    h = _observation(P_t, g, s_c, sigma)
    u = s_c * jnp.abs(jnp.asarray(dt, dtype)).reshape(-1)
    F = _transition(A_t, -A_t[-1, -1], u)
    r = jnp.einsum("p,npq,qr,r->n", h, F, P_t, h)
    return r.reshape(jnp.shape(dt))


@float64_by_default
def carma_structure_function(dt, *, ar, ma, sigma):
    """``SF(dt) = sqrt(2 (R(0) - R(dt)))``, tending to ``SF_inf = sqrt(2) sigma``."""
    r0 = carma_autocovariance(jnp.zeros((), _dtype(dt, ar, ma)), ar=ar, ma=ma, sigma=sigma)
    r = carma_autocovariance(dt, ar=ar, ma=ma, sigma=sigma)
    return jnp.sqrt(jnp.maximum(2.0 * (r0 - r), 0.0))


def _poly_abs2(coef, w):
    """``|sum_j coef_j (i w)^j|^2`` in real arithmetic (coef in increasing powers)."""
    re = jnp.zeros_like(w)
    im = jnp.zeros_like(w)
    wp = jnp.ones_like(w)
    for j in range(coef.shape[0]):
        c = coef[j] * wp
        if j % 4 == 0:
            re = re + c
        elif j % 4 == 1:
            im = im + c
        elif j % 4 == 2:
            re = re - c
        else:
            im = im - c
        wp = wp * w
    return re * re + im * im


@float64_by_default
def carma_psd(frequency, *, ar, ma, sigma):
    """One-sided power spectral density ``P(f)``, normalised so that ``int_0^inf P df = sigma^2``.

    ``P(f) = 2 |beta(2 pi i f)|^2 / |alpha(2 pi i f)|^2`` scaled to rms ``sigma`` (``sigma=None``:
    EzTao's unit-noise amplitude). Frequency in cycles/day. For CARMA(1, 0) this is
    :func:`drw_psd` with ``tau = 1/a_1``.
    """
    frequency = jnp.asarray(frequency)
    dtype = _dtype(frequency, ar, ma)
    ar, ma = _prepare(ar, ma, dtype)
    w = 2.0 * math.pi * frequency.astype(dtype)
    alpha = jnp.concatenate([ar[::-1], jnp.ones((1,), dtype)])  # increasing powers
    psd = 2.0 * _poly_abs2(ma, w) / _poly_abs2(alpha, w)
    if sigma is None:
        return psd
    unit_var = carma_rms(ar, ma) ** 2
    return psd * (jnp.asarray(sigma, dtype) ** 2 / unit_var)
