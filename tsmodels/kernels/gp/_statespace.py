"""Linear-Gaussian state-space machinery shared by the DRW, CARMA and multiband kernels.

A Gaussian process with a rational power spectrum (DRW, CARMA) is the output of a linear stochastic
differential equation, so at sorted times ``t_1 <= ... <= t_n`` it is a hidden Markov chain

    x_k = F_k x_{k-1} + w_k,   w_k ~ N(0, Q_k)           (state, dimension p)
    y_k = h_k . x_k + e_k,     e_k ~ N(0, R_k)           (one scalar observation)

and its exact likelihood follows from the Kalman filter in O(n p^3) (Kalman 1960; for CARMA,
Jones 1981 and Kelly et al. 2014, ApJ 788, 33). The functions here take the per-point
arrays ``F (n, p, p)``, ``Q (n, p, p)``, ``h (n, p)``, ``R (n,)`` built by the model modules and
return the innovations ``v_k = y_k - E[y_k | y_<k]`` with their variances ``S_k``, from which

    log L = -1/2 sum_k (v_k^2 / S_k + log S_k + log 2 pi).

Conventions shared by all callers:

* ``F_k`` is the transition from the previous *real* (unmasked) point to point k. For the first
  real point ``F = 0`` and ``Q = P_inf`` (the stationary covariance): the process starts in its
  stationary distribution. :func:`steps` computes the time steps and the "first real point" flags.
* A masked point is the identity element: it neither moves the state in time nor updates it, so it
  contributes exactly nothing (innovation 0, variance 1) to the likelihood or to any gradient. Its
  ``F``/``Q``/``R``/``y`` only need to be finite (callers pass ``F = I``, ``Q = 0``, ``R = 1``,
  ``y = 0`` there).
* ``Y`` has shape ``(n, k)``: k right-hand sides filtered with the same gains (the data plus, for
  an analytically marginalised mean, the columns of the mean's design matrix).

Two interchangeable solvers, picked by a static flag: a serial ``lax.scan`` (least work, best on
CPU) and a parallel ``lax.associative_scan`` (O(log n) depth, for GPUs and long series) using the
parallel Kalman filter of Sarkka & Garcia-Fernandez (2021, IEEE TAC 66, 299).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from tsmodels.kernels import linalg

LOG_2PI = math.log(2.0 * math.pi)


# ------------------------------------------------------------------------------------------------
# time steps
# ------------------------------------------------------------------------------------------------
def steps(t, mask):
    """Time since the previous real point, and which points are the first real one.

    Args:
        t: (n,) times, non-decreasing over the real points (masked points may hold anything
            finite).
        mask: (n,) bool, True for a real point.

    Returns:
        ``(dt, first)``: ``dt`` (n,) is ``t_k - t_prev(k)`` for real points after the first and 0
        elsewhere; ``first`` (n,) is True at the first real point only.
    """
    n = t.shape[0]
    idx = jnp.arange(n)
    last_real = lax.cummax(jnp.where(mask, idx, -1))  # index of the last real point <= k
    prev = jnp.concatenate([jnp.full((1,), -1, last_real.dtype), last_real[:-1]])
    first = mask & (prev < 0)
    t_prev = t[jnp.maximum(prev, 0)]
    dt = jnp.where(mask & ~first, t - t_prev, jnp.zeros_like(t))
    return dt, first


def safe_observations(y, yerr, mask):
    """Zero the data and set unit variance at masked points (so nothing non-finite enters)."""
    y = jnp.where(mask, y, jnp.zeros_like(y))
    e = jnp.where(mask, yerr, jnp.ones_like(yerr))  # before squaring: NaN-free gradients
    return y, e * e


def centre(y, X, mask):
    """Subtract from ``y`` the masked mean of each indicator regressor's points.

    The marginal likelihood over a flat-prior mean ``X mu`` is invariant to ``y -> y - X c``;
    removing ``c`` (e.g. ~19 mag) first avoids the cancellation ``y^T K^-1 y - c^T M^-1 c`` that
    would otherwise cost digits, in float32 especially. Returns ``(y - X c, c)``.
    """
    w = jnp.where(mask[:, None], X, 0.0)
    ys = jnp.where(mask, y, 0.0)
    c = (w.T @ ys) / jnp.maximum(jnp.sum(w, axis=0), 1.0)
    return jnp.where(mask, y - X @ c, 0.0), c


# ------------------------------------------------------------------------------------------------
# filters
# ------------------------------------------------------------------------------------------------
def innovations(F, Q, h, R, Y, mask, *, parallel=False):
    """Kalman-filter innovations ``v`` (n, k) and their variances ``S`` (n,).

    Masked points return ``v = 0`` and ``S = 1``. See the module docstring for the model.
    """
    if h.shape[1] == 1:  # scalar state (DRW): the same algebra without 1x1 matrices
        args = (F[:, 0, 0], Q[:, 0, 0], h[:, 0], R, Y, mask)
        return _innovations_parallel_1d(*args) if parallel else _innovations_serial_1d(*args)
    if parallel:
        return _innovations_parallel(F, Q, h, R, Y, mask)
    return _innovations_serial(F, Q, h, R, Y, mask)


def _innovations_serial_1d(F, Q, h, R, Y, mask):
    k = Y.shape[1]
    dtype = Y.dtype

    def step(carry, xs):
        m, P = carry
        f, q, hk, r, yk, mk = xs
        m_pred = f * m
        P_pred = f * f * P + q
        hP = hk * P_pred
        S = hk * hP + r
        v = yk - hk * m_pred
        K = hP / S
        m_new = m_pred + K * v
        P_new = P_pred * r / S  # = (1 - K h) P_pred, positive by construction
        m = jnp.where(mk, m_new, m)
        P = jnp.where(mk, P_new, P)
        return (m, P), (jnp.where(mk, v, 0.0), jnp.where(mk, S, 1.0))

    init = (jnp.zeros((k,), dtype), jnp.zeros((), dtype))
    _, (v, S) = lax.scan(step, init, (F, Q, h, R, Y, mask))
    return v, S


def _combine_1d(ei, ej):
    Ai, bi, Ci, etai, Ji = ei
    Aj, bj, Cj, etaj, Jj = ej
    d = 1.0 + Ci * Jj
    X = Aj / d
    Yt = Ai / d
    return (X * Ai, X[..., None] * (bi + Ci[..., None] * etaj) + bj, X * Ci * Aj + Cj,
            Yt[..., None] * (etaj - Jj[..., None] * bi) + etai, Yt * Jj * Ai + Ji)


def _innovations_parallel_1d(F, Q, h, R, Y, mask):
    dtype = Y.dtype
    S0 = h * h * Q + R
    K = h * Q / S0
    A = jnp.where(mask, (1.0 - K * h) * F, 1.0)
    b = jnp.where(mask[:, None], K[:, None] * Y, 0.0)
    C = jnp.where(mask, Q * R / S0, 0.0)
    eta = jnp.where(mask[:, None], (F * h / S0)[:, None] * Y, 0.0)
    J = jnp.where(mask, F * F * h * h / S0, 0.0)
    _, m_f, P_f, _, _ = lax.associative_scan(_combine_1d, (A, b, C, eta, J))
    m_prev = jnp.concatenate([jnp.zeros((1, Y.shape[1]), dtype), m_f[:-1]])
    P_prev = jnp.concatenate([jnp.zeros((1,), dtype), P_f[:-1]])
    P_pred = F * F * P_prev + Q
    S = jnp.where(mask, h * h * P_pred + R, 1.0)
    v = jnp.where(mask[:, None], Y - (h * F)[:, None] * m_prev, 0.0)
    return v, S


def _update(m_pred, P_pred, h, R, y):
    """One Kalman measurement update (Joseph form, symmetric and positive in float32)."""
    Ph = P_pred @ h
    S = h @ Ph + R
    v = y - h @ m_pred
    K = Ph / S
    m = m_pred + K[:, None] * v[None, :]
    IKh = jnp.eye(P_pred.shape[0], dtype=P_pred.dtype) - K[:, None] * h[None, :]
    P = IKh @ P_pred @ IKh.T + R * (K[:, None] * K[None, :])
    return m, 0.5 * (P + P.T), v, S


def _innovations_serial(F, Q, h, R, Y, mask):
    n, p = h.shape
    k = Y.shape[1]
    dtype = Y.dtype

    def step(carry, xs):
        m, P = carry
        Fk, Qk, hk, Rk, yk, mk = xs
        m_pred = Fk @ m
        P_pred = Fk @ P @ Fk.T + Qk
        m_new, P_new, v, S = _update(m_pred, P_pred, hk, Rk, yk)
        m = jnp.where(mk, m_new, m)
        P = jnp.where(mk, P_new, P)
        v = jnp.where(mk, v, jnp.zeros_like(v))
        S = jnp.where(mk, S, jnp.ones_like(S))
        return (m, P), (v, S)

    init = (jnp.zeros((p, k), dtype), jnp.zeros((p, p), dtype))
    _, (v, S) = lax.scan(step, init, (F, Q, h, R, Y, mask))
    return v, S


def _inv_apply(M, X, p):
    """``M^{-1} X`` for a batch of small matrices (plain division when p == 1)."""
    if p == 1:
        return X / M
    if p == 2:  # adjugate formula: cheaper to compile and differentiate than an LU solve
        a, b = M[..., 0, 0], M[..., 0, 1]
        c, d = M[..., 1, 0], M[..., 1, 1]
        det = a * d - b * c
        inv = jnp.stack([jnp.stack([d, -b], -1), jnp.stack([-c, a], -1)], -2) / det[..., None, None]
        return inv @ X
    return linalg.solve(M, X)


def _mT(X):
    return jnp.swapaxes(X, -1, -2)


def _filter_elements(F, Q, h, R, Y, mask):
    """Sarkka & Garcia-Fernandez (2021) elements (A, b, C, eta, J); masked points -> identity."""
    n, p = h.shape
    dtype = Y.dtype
    eye = jnp.eye(p, dtype=dtype)
    Qh = jnp.einsum("npq,nq->np", Q, h)
    S = jnp.einsum("np,np->n", h, Qh) + R
    K = Qh / S[:, None]
    IKh = eye - K[:, :, None] * h[:, None, :]
    A = IKh @ F
    b = K[:, :, None] * Y[:, None, :]
    C = IKh @ Q @ _mT(IKh) + R[:, None, None] * (K[:, :, None] * K[:, None, :])
    Fh = jnp.einsum("nqp,nq->np", F, h)  # F^T h
    eta = Fh[:, :, None] * Y[:, None, :] / S[:, None, None]
    J = Fh[:, :, None] * Fh[:, None, :] / S[:, None, None]
    m3 = mask[:, None, None]
    A = jnp.where(m3, A, eye)
    b = jnp.where(m3, b, 0.0)
    C = jnp.where(m3, C, 0.0)
    eta = jnp.where(m3, eta, 0.0)
    J = jnp.where(m3, J, 0.0)
    return A, b, C, eta, J


def _combine(ei, ej):
    """Associative operator of the parallel Kalman filter (element i precedes element j)."""
    Ai, bi, Ci, etai, Ji = ei
    Aj, bj, Cj, etaj, Jj = ej
    p = Ai.shape[-1]
    eye = jnp.eye(p, dtype=Ai.dtype)
    Mt = eye + Ci @ Jj  # (I + C_i J_j); (I + J_j C_i) is its transpose
    # X = A_j (I + C_i J_j)^{-1}, Yt = A_i^T (I + J_j C_i)^{-1}
    X = _mT(_inv_apply(_mT(Mt), _mT(Aj), p))
    Yt = _mT(_inv_apply(Mt, Ai, p))
    A = X @ Ai
    b = X @ (bi + Ci @ etaj) + bj
    C = X @ Ci @ _mT(Aj) + Cj
    eta = Yt @ (etaj - Jj @ bi) + etai
    J = Yt @ Jj @ Ai + Ji
    return A, b, 0.5 * (C + _mT(C)), eta, 0.5 * (J + _mT(J))


def _innovations_parallel(F, Q, h, R, Y, mask):
    n, p = h.shape
    k = Y.shape[1]
    dtype = Y.dtype
    elems = _filter_elements(F, Q, h, R, Y, mask)
    _, m_f, P_f, _, _ = lax.associative_scan(_combine, elems)
    # filtered state at the previous real point (masked elements are identities, so the prefix
    # ending at k-1 is exactly that)
    m_prev = jnp.concatenate([jnp.zeros((1, p, k), dtype), m_f[:-1]])
    P_prev = jnp.concatenate([jnp.zeros((1, p, p), dtype), P_f[:-1]])
    m_pred = F @ m_prev
    P_pred = F @ P_prev @ _mT(F) + Q
    S = jnp.einsum("np,npq,nq->n", h, P_pred, h) + R
    v = Y - jnp.einsum("np,npk->nk", h, m_pred)
    v = jnp.where(mask[:, None], v, 0.0)
    S = jnp.where(mask, S, jnp.ones_like(S))
    return v, S


# ------------------------------------------------------------------------------------------------
# likelihoods
# ------------------------------------------------------------------------------------------------
def gram(F, Q, h, R, Y, mask, *, parallel=False):
    """Sufficient statistics of the likelihood: ``G = sum_k v_k v_k^T / S_k`` and ``sum log S_k``.

    ``G`` (k, k) is ``Z^T K^-1 Z`` for ``Z = Y`` (the data and any mean regressors, filtered with
    the same gains) and ``sum_k log S_k = log|K|``, both over the real points only. Every
    Gaussian or mean-marginalised log-likelihood of this module is a function of ``G``,
    ``log|K|`` and the number of real points (:func:`loglike_from_gram`).

    For a scalar state (DRW, multiband DRW) on the serial path the filter accumulates ``G`` and
    ``log|K|`` in its carry and emits nothing per point (the fastest form on CPUs); otherwise they
    are summed from the innovations of :func:`innovations`.
    """
    if h.shape[1] == 1 and not parallel:
        return _gram_serial_1d(F[:, 0, 0], Q[:, 0, 0], h[:, 0], R, Y, mask)
    v, S = innovations(F, Q, h, R, Y, mask, parallel=parallel)
    return gram_from_innovations(v, S, mask)


def gram_from_innovations(v, S, mask):
    """``(G, log|K|)`` of :func:`gram` from innovations ``v`` (n, k) and their variances ``S``."""
    w = jnp.where(mask, 1.0 / S, 0.0)
    G = jnp.einsum("n,ni,nj->ij", w, v, v)
    return G, jnp.sum(jnp.where(mask, jnp.log(S), 0.0))


def _gram_serial_1d(F, Q, h, R, Y, mask):
    """Scalar-state filter accumulating ``G`` and ``log|K|`` (see :func:`gram`).

    A masked point is made an identity by its inputs (``F = 1``, ``Q = 0``) and a zero weight on
    the gain and on every accumulated term, rather than by selecting the old carry: fewer
    operations per step, and still exactly nothing from a masked point (value and gradient).
    The carry holds the ``k`` filtered means as one vector and the upper triangle of ``G`` as
    one vector of ``k (k + 1) / 2`` pairs: the same arithmetic as scalar carries, in a program
    a fraction of the size (what the Hessians of the fits differentiate twice).
    """
    k = Y.shape[1]
    dtype = Y.dtype
    w = mask.astype(dtype)
    F = jnp.where(mask, F, 1.0)
    Q = jnp.where(mask, Q, 0.0)
    R = jnp.where(mask, R, 1.0)
    h = jnp.where(mask, h, 1.0)
    I, J = np.triu_indices(k)

    def step(carry, xs):
        m, P, G, logdet = carry
        f, q, hk, r, wk, ys = xs
        P_pred = f * f * P + q
        hP = hk * P_pred
        S = hk * hP + r
        inv_S = 1.0 / S
        gain = wk * hP * inv_S
        m_pred = f * m
        v = ys - hk * m_pred
        m = m_pred + gain * v
        # (1 - K h) P_pred = P_pred r / S at a real point (positive by construction); P_pred at
        # a masked one
        P = P_pred * (1.0 - wk + wk * r * inv_S)
        G = G + (wk * inv_S) * (v[I] * v[J])
        return (m, P, G, logdet + wk * jnp.log(S)), None

    z = jnp.zeros((), dtype)
    init = (jnp.zeros((k,), dtype), z, jnp.zeros((len(I),), dtype), z)
    (_, _, G, logdet), _ = lax.scan(step, init, (F, Q, h, R, w, Y))
    return jnp.zeros((k, k), dtype).at[I, J].set(G).at[J, I].set(G), logdet


def loglike_from_gram(G, logdet_K, n_eff, *, marginal, present=None):
    """Log-likelihood from the statistics of :func:`gram`.

    Fixed mean (``marginal=False``, ``G`` is 1 x 1 for the mean-subtracted data):

        log L = -1/2 [y^T K^-1 y + log|K| + n log 2 pi].

    Mean integrated out (``marginal=True``): ``G`` is ``Z^T K^-1 Z`` for ``Z = [y, X]`` with ``X``
    the (n, m) design matrix of a linear mean under a flat (improper, unit) prior, and

        log int N(y | X mu, K) d^m mu
            = -1/2 [y^T K^-1 y - c^T M^-1 c] - 1/2 log|K| - 1/2 log|M| - (n - m)/2 log 2 pi,

    with ``M = X^T K^-1 X`` and ``c = X^T K^-1 y`` (Rybicki & Press 1992, ApJ 398, 169,
    including the normalising constants). Regressors with no data (``present`` False, e.g. a band
    without observations) are dropped: they neither enter ``M`` nor count in ``m``.

    Returns:
        ``(loglike, mu_hat, M)``: the log-likelihood, the generalised-least-squares mean
        ``M^-1 c`` (m,) (0 for absent regressors) and ``M`` (m, m) (empty for a fixed mean).
    """
    dtype = G.dtype
    if not marginal:
        ll = -0.5 * (G[0, 0] + logdet_K + n_eff * LOG_2PI)
        return ll, jnp.zeros((0,), dtype), jnp.zeros((0, 0), dtype)
    m = G.shape[0] - 1
    yKy = G[0, 0]
    c = G[1:, 0]
    M = G[1:, 1:]
    if present is None:  # a regressor with no data has an all-zero column of innovations
        present = jnp.diagonal(M) > 0
    if m == 1:  # one regressor (a constant mean): scalars, no factorisation
        ok = present[0]
        Ms = jnp.where(ok, M[0, 0], 1.0)
        cs = jnp.where(ok, c[0], 0.0)
        ll = (-0.5 * (yKy - cs * cs / Ms) - 0.5 * logdet_K - 0.5 * jnp.log(Ms)
              - 0.5 * (n_eff - jnp.where(ok, 1.0, 0.0)) * LOG_2PI)
        return ll, (cs / Ms)[None], Ms[None, None]
    pm = present[:, None] & present[None, :]
    eye = jnp.eye(m, dtype=dtype)
    M = jnp.where(pm, M, eye)
    c = jnp.where(present, c, 0.0)
    L = linalg.cholesky(M)
    z = linalg.tri_solve(L, c)
    mu_hat = linalg.tri_solve(L, z, transpose=True)
    logdet_M = linalg.logdet_from_cholesky(L)
    m_eff = jnp.sum(present)
    ll = -0.5 * (yKy - z @ z) - 0.5 * logdet_K - 0.5 * logdet_M - 0.5 * (n_eff - m_eff) * LOG_2PI
    return ll, mu_hat, M


# ------------------------------------------------------------------------------------------------
# smoother (conditional moments at any times)
# ------------------------------------------------------------------------------------------------
def smooth(F, Q, h, R, Y, active, observed):
    """Kalman filter + Rauch-Tung-Striebel smoother (serial; predictions are not a hot path).

    Args:
        F, Q, h, R, Y: as for :func:`innovations`.
        active: (n,) points on the time chain (real data points and prediction points).
        observed: (n,) points whose ``Y`` is used (a subset of ``active``).

    Returns:
        ``(m_s, P_s, v, S)``: smoothed state means (n, p, k) and covariances (n, p, p) at every
        active point, and the innovations of the observed points (zero/one elsewhere).
    """
    n, p = h.shape
    k = Y.shape[1]
    dtype = Y.dtype
    eye = jnp.eye(p, dtype=dtype)

    def fwd(carry, xs):
        m, P = carry
        Fk, Qk, hk, Rk, yk, ak, ok = xs
        m_pred = Fk @ m
        P_pred = Fk @ P @ Fk.T + Qk
        m_upd, P_upd, v, S = _update(m_pred, P_pred, hk, Rk, yk)
        m_f = jnp.where(ok, m_upd, m_pred)
        P_f = jnp.where(ok, P_upd, P_pred)
        m_new = jnp.where(ak, m_f, m)
        P_new = jnp.where(ak, P_f, P)
        v = jnp.where(ok, v, jnp.zeros_like(v))
        S = jnp.where(ok, S, jnp.ones_like(S))
        return (m_new, P_new), (m_new, P_new, m_pred, P_pred, v, S)

    init = (jnp.zeros((p, k), dtype), jnp.zeros((p, p), dtype))
    _, (m_f, P_f, m_p, P_p, v, S) = lax.scan(fwd, init, (F, Q, h, R, Y, active, observed))

    def bwd(carry, xs):
        ms_next, Ps_next, mp_next, Pp_next, F_next = carry
        mf, Pf, mp, Pp, Fk, ak = xs
        # G = P_f F_next^T P_pred_next^{-1}; with no later point F_next = 0 so G = 0
        Gt = linalg.solve(Pp_next, F_next @ Pf) if p > 1 else (F_next @ Pf) / Pp_next
        G = Gt.T
        ms = mf + G @ (ms_next - mp_next)
        Ps = Pf + G @ (Ps_next - Pp_next) @ G.T
        Ps = 0.5 * (Ps + Ps.T)
        new = (ms, Ps, mp, Pp, Fk)
        carry = jax.tree.map(lambda a, b: jnp.where(ak, a, b), new, carry)
        return carry, (ms, Ps)

    init_b = (jnp.zeros((p, k), dtype), jnp.zeros((p, p), dtype), jnp.zeros((p, k), dtype), eye,
              jnp.zeros((p, p), dtype))
    _, (m_s, P_s) = lax.scan(bwd, init_b, (m_f, P_f, m_p, P_p, F, active), reverse=True)
    return m_s, P_s, v, S


def merge_times(t, mask, t_new):
    """Merge data times and prediction times into one sorted chain.

    Returns ``(order, active, observed, is_new)`` where ``order`` sorts ``concat(t, t_new)`` with
    masked data points moved to the end (stable, so data come before predictions at equal times).
    """
    n = t.shape[0]
    m = t_new.shape[0]
    t_all = jnp.concatenate([t, t_new])
    active = jnp.concatenate([mask, jnp.ones((m,), bool)])
    observed = jnp.concatenate([mask, jnp.zeros((m,), bool)])
    is_new = jnp.concatenate([jnp.zeros((n,), bool), jnp.ones((m,), bool)])
    key = jnp.where(active, t_all, jnp.inf)
    order = jnp.argsort(key, stable=True)
    return order, active[order], observed[order], is_new[order], t_all[order]


def conditional(build, t, y, yerr, mask, t_new, *, h_obs, h_new, X_obs, X_new, mean_obs, mean_new,
                marginalize_mean):
    """Conditional mean and variance of the latent process ``X mu + h . x(t)`` at new times.

    Args:
        build: ``build(dt, first, active) -> (F, Q)`` for the merged chain.
        t, y, yerr, mask: (n,) data.
        t_new: (m,) prediction times, any order.
        h_obs, h_new: (n, p), (m, p) observation vectors at the data and prediction points.
        X_obs, X_new: (n, r), (m, r) mean regressors (e.g. ones, or one-hot bands).
        mean_obs, mean_new: (n,), (m,) fixed means (used when ``marginalize_mean`` is False).
        marginalize_mean: static; integrate the r mean coefficients out under a flat prior.

    Returns:
        ``(mu, var)`` (m,) each, in the order of ``t_new``.
    """
    n = t.shape[0]
    m = t_new.shape[0]
    dtype = y.dtype
    order, active, observed, is_new, t_all = merge_times(t, mask, t_new)
    dt, first = steps(t_all, active)
    F, Q = build(dt, first, active)
    h = jnp.concatenate([h_obs, h_new])[order]
    if marginalize_mean:
        resid, shift = centre(y, X_obs, mask)
    else:
        resid = y - mean_obs
    y_all = jnp.concatenate([resid, jnp.zeros((m,), dtype)])
    e_all = jnp.concatenate([yerr, jnp.ones((m,), dtype)])
    X_all = jnp.concatenate([X_obs, jnp.zeros_like(X_new)])[order]
    y_all, R = safe_observations(y_all[order], e_all[order], observed)
    X_all = jnp.where(observed[:, None], X_all, 0.0)
    Y = jnp.concatenate([y_all[:, None], X_all], axis=1)
    m_s, P_s, v, S = smooth(F, Q, h, R, Y, active, observed)
    f = jnp.einsum("np,npk->nk", h, m_s)
    var = jnp.einsum("np,npq,nq->n", h, P_s, h)
    inv = jnp.argsort(order)
    f, var = f[inv][n:], var[inv][n:]
    if marginalize_mean:
        present = jnp.any(X_all != 0, axis=0)
        G, logdet = gram_from_innovations(v, S, observed)
        _, mu_hat, M = loglike_from_gram(G, logdet, jnp.sum(observed), marginal=True,
                                         present=present)
        d = X_new - f[:, 1:]
        mu = d @ mu_hat + f[:, 0] + X_new @ shift
        Md = linalg.solve(M, d.T).T if M.shape[0] > 1 else d / M[0, 0]
        var = var + jnp.sum(d * Md, axis=1)
    else:
        mu = mean_new + f[:, 0]
    return mu, var


def symmetric_sqrt(Q):
    """A square root ``L`` with ``L L^T = Q`` for a batch of PSD matrices (robust to rank loss):
    the semi-definite Cholesky factor of :func:`tsmodels.kernels.linalg.psd_sqrt`."""
    return linalg.psd_sqrt(Q)


def simulate(F, Q, h, z):
    """Draws of ``h_k . x_k`` from the chain x_k = F_k x_{k-1} + L_k z_k (z standard normal, (n, p))."""
    n, p = h.shape
    L = symmetric_sqrt(Q) if p > 1 else jnp.sqrt(jnp.maximum(Q, 0.0))

    def step(x, xs):
        Fk, Lk, hk, zk = xs
        x = Fk @ x + Lk @ zk
        return x, hk @ x

    _, out = lax.scan(step, jnp.zeros((p,), z.dtype), (F, L, h, z))
    return out


def sample_draws(key, F, Q, h, *, shape, mean, yerr, dtype):
    """``mean + h_k . x_k`` draws of shape ``shape + (n,)`` from the chain of :func:`simulate`,
    plus white measurement noise of standard deviation ``yerr`` when it is given."""
    n, p = h.shape
    k1, k2 = jax.random.split(key)
    z = jax.random.normal(k1, tuple(shape) + (n, p), dtype)
    draw = lambda zz: simulate(F, Q, h, zz)  # noqa: E731
    for _ in shape:
        draw = jax.vmap(draw)
    x = mean + draw(z)
    if yerr is not None:
        x = x + jnp.asarray(yerr, dtype) * jax.random.normal(k2, x.shape, dtype)
    return x
