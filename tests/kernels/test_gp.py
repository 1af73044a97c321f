"""Tests of tsmodels.kernels.gp: DRW, CARMA/DHO and multiband DRW state-space kernels.

References: celerite2 (``RealTerm``, ``ComplexTerm``) for the DRW and for CARMA processes with
distinct AR roots (through the root-sum autocovariance of Kelly et al. 2014, the formula EzTao's
``CARMA_term`` uses), and dense Cholesky likelihoods built with scipy (``expm`` + Lyapunov
autocovariance, valid for repeated roots) written here. The real-data test (SDSS Stripe 82
quasars with the DRW fits of MacLeod et al. 2010) fits the models with ts.fit, in
tests/models/test_drw.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import celerite2
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import scipy.integrate
import scipy.linalg as sla
from celerite2 import terms
from jax.test_util import check_grads

from tsmodels.kernels import gp

DATA = Path(__file__).resolve().parents[1] / "data" / "quasars_s82"


# ------------------------------------------------------------------------------------------------
# references
# ------------------------------------------------------------------------------------------------
def celerite_drw_loglike(t, y, yerr, sigma, tau, mean):
    g = celerite2.GaussianProcess(terms.RealTerm(a=sigma**2, c=1.0 / tau), t=t, diag=yerr**2,
                                  mean=mean)
    return g.log_likelihood(y)


def carma_root_terms(ar, ma):
    """Autocovariance ``R(dt) = sum_k C_k exp(r_k |dt|)`` of the unit-noise CARMA process
    (Kelly et al. 2014, sum over the AR roots; distinct roots only): returns (C, r) complex arrays."""
    r = np.roots(np.concatenate([[1.0], ar]))
    p = len(r)
    beta = lambda s: np.polyval(np.asarray(ma)[::-1], s)  # noqa: E731
    C = np.empty(p, complex)
    for k in range(p):
        den = -2.0 * r[k].real
        for j in range(p):
            if j != k:
                den = den * (r[j] - r[k]) * (np.conj(r[j]) + r[k])
        C[k] = beta(r[k]) * beta(-r[k]) / den
    return C, r


def celerite_carma_kernel(ar, ma, scale=1.0):
    """The same autocovariance as a sum of celerite2 terms (EzTao's construction)."""
    C, r = carma_root_terms(ar, ma)
    C = C * scale
    ks = []
    for Ck, rk in zip(C, r):
        if abs(rk.imag) < 1e-12 * abs(rk):
            ks.append(terms.RealTerm(a=Ck.real, c=-rk.real))
        elif rk.imag > 0:
            ks.append(terms.ComplexTerm(a=2 * Ck.real, b=-2 * Ck.imag, c=-rk.real, d=rk.imag))
    k = ks[0]
    for extra in ks[1:]:
        k = k + extra
    return k


def carma_acov_expm(ar, ma):
    """Unit-noise CARMA autocovariance by scipy: b^T expm(A |dt|) P b, P from Lyapunov.

    Valid for repeated roots. Time is measured in units of ``a_p^(-1/p)`` so that the companion
    matrix is well scaled (otherwise scipy's Lyapunov solve loses ~1e-10 for p = 5)."""
    ar = np.asarray(ar, float)
    p = len(ar)
    s = ar[-1] ** (1.0 / p)
    A = np.zeros((p, p))
    A[np.arange(p - 1), np.arange(1, p)] = 1.0
    A[-1] = -(ar / s ** np.arange(1, p + 1))[::-1]
    E = np.zeros((p, p))
    E[-1, -1] = 1.0
    P = sla.solve_continuous_lyapunov(A, -E)
    b = np.zeros(p)
    b[: len(ma)] = np.asarray(ma, float) * s ** np.arange(len(ma))
    scale = s ** (-(2 * p - 1))  # back to days: x^(j) = s^j z_j and white noise of unit intensity

    def acov(dt):
        dt = np.abs(np.asarray(dt, float))
        flat = dt.ravel()
        uniq, inv = np.unique(flat, return_inverse=True)
        vals = np.array([b @ sla.expm(A * (s * d)) @ P @ b for d in uniq]) * scale
        return vals[inv].reshape(dt.shape)

    return acov


def dense_loglike(K, y, mean=0.0):
    r = y - mean
    c = sla.cho_factor(K, lower=True)
    return (-0.5 * r @ sla.cho_solve(c, r) - np.sum(np.log(np.diag(c[0])))
            - 0.5 * len(y) * math.log(2 * math.pi))


def dense_marginal(K, y, X):
    """log int N(y | X mu, K) d mu (flat prior), dense."""
    c = sla.cho_factor(K, lower=True)
    Ki_y = sla.cho_solve(c, y)
    Ki_X = sla.cho_solve(c, X)
    M = X.T @ Ki_X
    cc = X.T @ Ki_y
    quad = y @ Ki_y - cc @ np.linalg.solve(M, cc)
    return (-0.5 * quad - np.sum(np.log(np.diag(c[0]))) - 0.5 * np.linalg.slogdet(M)[1]
            - 0.5 * (len(y) - X.shape[1]) * math.log(2 * math.pi))


def dense_predict(Kfun, t, y, yerr, t_new, mean):
    K = Kfun(t[:, None] - t[None, :]) + np.diag(yerr**2)
    Ks = Kfun(t_new[:, None] - t[None, :])
    c = sla.cho_factor(K, lower=True)
    mu = mean + Ks @ sla.cho_solve(c, y - mean)
    var = Kfun(np.zeros(len(t_new))) - np.einsum("ij,ji->i", Ks, sla.cho_solve(c, Ks.T))
    return mu, var


def poly_from_roots(roots):
    return np.real(np.poly(roots))[1:]


# Parameter sets spanning every root regime (days^-1). Each: (ar, ma).
def carma_cases():
    cases = {
        "p1": (poly_from_roots([-1 / 80.0]), [1.0]),
        "p2_real": (poly_from_roots([-1 / 20.0, -1 / 300.0]), [1.0, 40.0]),
        "p2_complex": (poly_from_roots([-1 / 100 + 2j * np.pi / 60, -1 / 100 - 2j * np.pi / 60]),
                       [1.0, 5.0]),
        "p2_repeated": (poly_from_roots([-1 / 50.0, -1 / 50.0]), [1.0, 30.0]),
        "p2_near_repeated": (poly_from_roots([-1 / 50.0, -1 / 50.0 * (1 + 1e-7)]), [1.0, 30.0]),
        "p2_q0_complex": (poly_from_roots([-0.2 + 0.05j, -0.2 - 0.05j]), [1.0]),
        "p3_mixed": (poly_from_roots([-1 / 400.0, -1 / 30 + 0.1j, -1 / 30 - 0.1j]), [1.0, 20.0, 50.0]),
        "p3_repeated_real": (poly_from_roots([-0.01, -0.01, -0.01]), [1.0, 10.0]),
        "p4_real": (poly_from_roots([-0.002, -0.02, -0.1, -0.5]), [1.0, 50.0, 200.0, 100.0]),
        "p4_repeated_complex": (poly_from_roots([-0.01 + 0.05j, -0.01 - 0.05j] * 2), [1.0, 10.0, 30.0]),
        "p5_mixed": (poly_from_roots([-0.003, -0.02 + 0.1j, -0.02 - 0.1j, -0.2 + 0.3j, -0.2 - 0.3j]),
                     [1.0, 100.0, 300.0, 10.0, 1.0]),
        "p5_q0": (poly_from_roots([-0.005, -0.01, -0.03, -0.06, -0.2]), [1.0]),
    }
    return cases


def distinct(ar):
    r = np.roots(np.concatenate([[1.0], ar]))
    d = np.abs(r[:, None] - r[None, :]) + np.eye(len(r))
    return d.min() > 1e-3 * np.abs(r).max()


def random_series(rng, n, span=3000.0, dup=False):
    t = np.sort(rng.uniform(-span / 2, span / 2, n))
    if dup and n > 3:
        t[1] = t[0]  # repeated epoch
        t[-1] = t[-2]
    yerr = rng.uniform(0.02, 0.2, n)
    y = rng.normal(size=n) * 0.3 + 0.1
    return t, y, yerr


def insert_padding(rng, t, y, yerr, n_mid, n_end):
    """Masked points holding garbage (NaN data, zero/NaN errors, arbitrary or NaN times): n_mid
    scattered between real points and n_end at the end (the batch convention)."""
    n = len(t)
    tot = n + n_mid
    mask = np.zeros(tot, bool)
    mask[np.sort(rng.choice(np.arange(1, tot), n - 1, replace=False))] = True
    mask[0] = True
    mask = np.concatenate([mask, np.zeros(n_end, bool)])
    tot = tot + n_end
    T = rng.uniform(-1e4, 1e4, tot)
    Y = np.full(tot, np.nan)
    E = np.where(rng.uniform(size=tot) < 0.5, 0.0, np.nan)
    T[mask], Y[mask], E[mask] = t, y, yerr
    T[n + n_mid:] = t[-1]
    T[np.flatnonzero(~mask)[0]] = np.nan
    return T, Y, E, mask


def case_arrays(names):
    """Stack cases of one AR order p, with ma zero-padded to length p (same process)."""
    cases = carma_cases()
    p = len(cases[names[0]][0])
    ar = np.stack([cases[k][0] for k in names])
    ma = np.stack([np.pad(np.asarray(cases[k][1], float), (0, p - len(cases[k][1]))) for k in names])
    return ar, ma


def cases_of_order(p):
    return [k for k, (ar, _) in carma_cases().items() if len(ar) == p]


N = 64  # standard length: most tests share its compiled kernels


# ------------------------------------------------------------------------------------------------
# DRW against celerite2
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 10, 100, 1000, 10000])
def test_drw_matches_celerite2(n, rng):
    n_sets = 12
    sigma = np.exp(rng.uniform(np.log(1e-2), np.log(10.0), n_sets))
    tau = np.exp(rng.uniform(np.log(0.3), np.log(1e5), n_sets))
    mean = rng.normal(size=n_sets)
    t, y, yerr = random_series(rng, n, dup=True)
    y = y * 3.0
    solvers = (False, True) if n in (1, 2, 100) else (False,)
    for s, tt, m in zip(sigma, tau, mean):
        ref = celerite_drw_loglike(t, y, yerr, s, tt, m)
        for parallel in solvers:
            got = gp.drw_loglike(t, y, yerr, sigma=s, tau=tt, mean=m, parallel=parallel)
            np.testing.assert_allclose(got, ref, rtol=1e-8, atol=0)


def _padded_layouts(rng, n, n_mid, n_end):
    """The same light curve in two padded layouts of one shape: garbage masked points scattered
    and at the end (NaN data, zero/NaN errors, NaN or arbitrary times), and the batch convention
    (real points first; t = last real time, y = 0, yerr = 1 after them)."""
    t, y, yerr = random_series(rng, n)
    garbage = insert_padding(rng, t, y, yerr, n_mid, n_end)
    m = n + n_mid + n_end
    clean = (np.concatenate([t, np.full(m - n, t[-1])]), np.concatenate([y, np.zeros(m - n)]),
             np.concatenate([yerr, np.ones(m - n)]), np.arange(m) < n)
    return (t, y, yerr), garbage, clean


def test_masked_points_contribute_nothing(rng):
    """Masked points change neither the value nor any gradient and get zero gradient, in the
    serial and parallel filters; the value equals the unpadded reference (celerite2 or dense
    Cholesky) and the parameter gradient its central finite difference."""
    ar3, ma3 = case_arrays(["p3_mixed"])
    P0 = np.array([math.log(0.4), math.log(120.0), 0.05])
    P1 = np.array([math.log(0.4), 5.0, 0.05])
    serial = _padded_layouts(rng, N - 16, 8, 8)
    short = _padded_layouts(rng, 12, 2, 2)  # the parallel filter: its gradient is slow to compile

    def drw_ref(p):
        return celerite_drw_loglike(t, y, yerr, math.exp(p[0]), math.exp(p[1]), p[2])

    def drw_marg_ref(p):
        K = math.exp(2 * p[0]) * np.exp(-np.abs(t[:, None] - t[None, :]) / math.exp(p[1]))
        return dense_marginal(K + np.diag(yerr**2), y, np.ones((len(t), 1)))

    def carma_ref(p):
        ar = ar3[0] * math.exp(p[1] - 5.0)
        acov = carma_acov_expm(ar, ma3[0])
        K = acov(t[:, None] - t[None, :]) * math.exp(2 * p[0]) / acov(0.0)
        return dense_loglike(K + np.diag(yerr**2), y, p[2])

    def dho_ref(p):
        a1, b0 = 0.05 * math.exp(p[1] - 5.0), 0.01 * math.exp(p[0])
        K = carma_acov_expm([a1, 0.001], [b0, 0.3])(t[:, None] - t[None, :])
        return dense_marginal(K + np.diag(yerr**2), y, np.ones((len(t), 1)))

    kernels = {
        "drw": (lambda tt, yy, ee, mm, p: gp.drw_loglike(
            tt, yy, ee, mm, sigma=jnp.exp(p[0]), tau=jnp.exp(p[1]), mean=p[2]), drw_ref),
        "drw_marg": (lambda tt, yy, ee, mm, p: gp.drw_loglike(
            tt, yy, ee, mm, sigma=jnp.exp(p[0]), tau=jnp.exp(p[1]), marginalize_mean=True),
            drw_marg_ref),
        "drw_parallel": (lambda tt, yy, ee, mm, p: gp.drw_loglike(
            tt, yy, ee, mm, sigma=jnp.exp(p[0]), tau=jnp.exp(p[1]), mean=p[2], parallel=True),
            drw_ref),
        "carma3": (lambda tt, yy, ee, mm, p: gp.carma_loglike(
            tt, yy, ee, mm, ar=ar3[0] * jnp.exp(p[1] - 5.0), ma=ma3[0], sigma=jnp.exp(p[0]),
            mean=p[2]), carma_ref),
        "dho_marg_parallel": (lambda tt, yy, ee, mm, p: gp.dho_loglike(
            tt, yy, ee, mm, a1=0.05 * jnp.exp(p[1] - 5.0), a2=0.001, b0=0.01 * jnp.exp(p[0]),
            b1=0.3, marginalize_mean=True, parallel=True), dho_ref),
    }
    for name, (f, ref) in kernels.items():
        (t, y, yerr), garbage, clean = short if "parallel" in name else serial
        real = garbage[3]
        p = jnp.asarray(P0 if name.startswith("drw") else P1)
        vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2, 4)))
        v1, g1 = vg(*garbage, p)
        v0, g0 = vg(*clean, p)
        np.testing.assert_allclose(v1, ref(np.asarray(p)), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(v0, v1, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(g1[3], g0[3], rtol=1e-9, atol=1e-12, err_msg=name)
        h = 1e-5
        fd = [(ref(np.asarray(p) + h * e) - ref(np.asarray(p) - h * e)) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(g1[3], fd, rtol=1e-5, atol=1e-6, err_msg=name)
        for gpad, g in zip(g1[:3], g0[:3]):
            assert np.all(np.isfinite(gpad)), name
            assert np.all(gpad[~real] == 0.0), name
            np.testing.assert_allclose(gpad[real], g[clean[3]], rtol=1e-9, atol=1e-12, err_msg=name)
    # multiband: padded band indices out of range, NaN data
    tm, ym, em, bm = multiband_data(rng, n_epochs=15)
    nm = tm.size
    pad = lambda a, v: np.concatenate([a, np.full(9, v)])  # noqa: E731
    Mm = np.arange(nm + 9) < nm
    sig = jnp.array([0.3, 0.2, 0.25])
    f = jax.value_and_grad(lambda s, tt, yy, ee, bb, mm: gp.drw_multiband_loglike(
        tt, yy, ee, bb, mm, sigma=s, tau=90.0, marginalize_mean=True), argnums=(0, 2))
    v1, g1 = f(sig, pad(tm, tm[-1]), pad(ym, np.nan), pad(em, 0.0), pad(bm, 7), Mm)
    v0, g0 = f(sig, pad(tm, tm[-1]), pad(ym, 0.0), pad(em, 1.0), pad(bm, 0), Mm)
    Kb = (np.asarray(sig)[bm][:, None] * np.asarray(sig)[bm][None, :]
          * np.exp(-np.abs(tm[:, None] - tm[None, :]) / 90.0) + np.diag(em**2))
    np.testing.assert_allclose(v1, dense_marginal(Kb, ym, (bm[:, None] == np.arange(3)) * 1.0),
                               rtol=1e-10)
    np.testing.assert_allclose(v0, v1, rtol=1e-12)
    np.testing.assert_allclose(g1[0], g0[0], rtol=1e-10)
    assert np.all(g1[1][~Mm] == 0.0) and np.all(np.isfinite(g1[1]))


def test_all_masked_and_single_point():
    t = jnp.zeros(5)
    m = jnp.zeros(5, bool)
    for marg in (False, True):
        assert float(gp.drw_loglike(t, t, t + 1, m, sigma=1.0, tau=1.0, marginalize_mean=marg)) == 0.0
        assert float(gp.carma_loglike(t, t, t + 1, m, ar=jnp.array([0.1, 0.01]),
                                      ma=jnp.array([1.0, 2.0]), sigma=1.0,
                                      marginalize_mean=marg)) == 0.0
    # one point: N(y | mean, sigma^2 + yerr^2) whatever the order; the marginal integrates to 1
    for p in (2, 5):
        ar, ma = case_arrays(cases_of_order(p)[:1])
        y, e, s = np.array([0.7]), np.array([0.2]), 0.5
        got = gp.carma_loglike(np.array([3.0]), y, e, ar=ar[0], ma=ma[0], sigma=s, mean=0.1)
        v = s**2 + e[0] ** 2
        np.testing.assert_allclose(got, -0.5 * (0.36 / v + math.log(2 * math.pi * v)), rtol=1e-12)
        got = gp.carma_loglike(np.array([3.0]), y, e, ar=ar[0], ma=ma[0], sigma=s,
                               marginalize_mean=True)
        np.testing.assert_allclose(got, 0.0, atol=1e-14)


# ------------------------------------------------------------------------------------------------
# CARMA / DHO against references
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [1, 2, 3, 4, 5])
def test_carma_matches_dense_cholesky(p, rng):
    """All root regimes of each order against a dense scipy reference (expm + Lyapunov
    autocovariance, Cholesky likelihood), plain and mean-marginalised; the parallel filter for
    p = 2 (every regime); and EzTao's root formula through celerite2 where roots are distinct."""
    names = cases_of_order(p)
    ar, ma = case_arrays(names)
    t, y, yerr = random_series(rng, N, span=2000.0, dup=True)
    y = y * 2.0
    one = np.ones((N, 1))
    refs, refs_m, args = [], [], []
    for k, name in enumerate(names):
        acov = carma_acov_expm(ar[k], ma[k])
        var0 = acov(0.0)
        np.testing.assert_allclose(gp.carma_rms(ar[k], ma[k]) ** 2, var0, rtol=1e-10)  # EzTao amp
        K = acov(t[:, None] - t[None, :]) / var0
        for sigma, mean in [(0.3, 0.1), (2.0, -0.4)]:
            Ks = K * sigma**2 + np.diag(yerr**2)
            refs.append(dense_loglike(Ks, y, mean))
            refs_m.append(dense_marginal(Ks, y, one))
            args.append((ar[k], ma[k], sigma, mean))
            if distinct(ar[k]):
                C, _ = carma_root_terms(ar[k], ma[k])
                ker = celerite_carma_kernel(ar[k], ma[k], scale=sigma**2 / np.sum(C).real)
                cel = celerite2.GaussianProcess(ker, t=t, diag=yerr**2, mean=mean).log_likelihood(y)
                np.testing.assert_allclose(cel, refs[-1], rtol=1e-9, err_msg=name)
    A, B, S, M = (np.stack(a) for a in zip(*args))
    for parallel in ((False, True) if p == 2 else (False,)):
        f = jax.vmap(lambda a, b, s, m: gp.carma_loglike(t, y, yerr, ar=a, ma=b, sigma=s, mean=m,
                                                         parallel=parallel))
        np.testing.assert_allclose(f(A, B, S, M), refs, rtol=1e-9)
        if not parallel:  # (the parallel marginalised path: test_masked_points_contribute_nothing)
            fm = jax.vmap(lambda a, b, s: gp.carma_loglike(t, y, yerr, ar=a, ma=b, sigma=s,
                                                           marginalize_mean=True))
            np.testing.assert_allclose(fm(A, B, S), refs_m, rtol=1e-9)
    if p == 5:  # a shorter ma is the same process as its zero-padded version
        ar5, ma5 = carma_cases()["p5_q0"]
        np.testing.assert_allclose(
            gp.carma_loglike(t, y, yerr, ar=ar5, ma=np.asarray(ma5, float), sigma=0.3, mean=0.1),
            refs[2 * names.index("p5_q0")], rtol=1e-9)


def test_carma_matches_celerite2_at_n_1e4(rng):
    """EzTao-style reference (root autocovariance as celerite2 terms), O(n), at n = 1e4."""
    t, y, yerr = random_series(rng, 10000, span=3650.0)
    for name in ("p2_complex", "p5_mixed"):
        ar, ma = carma_cases()[name]
        C, _ = carma_root_terms(ar, ma)
        k = celerite_carma_kernel(ar, ma, scale=0.25**2 / np.sum(C).real)
        ref = celerite2.GaussianProcess(k, t=t, diag=yerr**2, mean=0.1).log_likelihood(y)
        got = gp.carma_loglike(t, y, yerr, ar=ar, ma=np.asarray(ma, float), sigma=0.25, mean=0.1)
        np.testing.assert_allclose(got, ref, rtol=1e-8, err_msg=name)


def test_carma_1_0_is_drw(rng):
    t, y, yerr = random_series(rng, N)
    a = gp.carma_loglike(t, y, yerr, ar=np.array([1 / 70.0]), ma=np.array([3.0]), sigma=0.3,
                         mean=0.1)
    b = gp.drw_loglike(t, y, yerr, sigma=0.3, tau=70.0, mean=0.1)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_dho_eztao_parameterisation(rng):
    """Under-, critically, over- and strongly over-damped DHOs in EzTao's (a1, a2, b0, b1)."""
    a1, b0, b1 = 0.05, 0.02, 0.5
    a2 = np.array([0.01, a1**2 / 4, 4e-4, 1e-6])
    t, y, yerr = random_series(rng, N, span=2500.0, dup=True)
    refs = []
    for a2k in a2:
        K = carma_acov_expm([a1, a2k], [b0, b1])(t[:, None] - t[None, :])
        refs.append(dense_loglike(K + np.diag(yerr**2), y, 0.2))
    f = jax.vmap(lambda a: gp.dho_loglike(t, y, yerr, a1=a1, a2=a, b0=b0, b1=b1, mean=0.2))
    np.testing.assert_allclose(f(a2), refs, rtol=1e-9)
    # documented variance, and the same process through the sigma-parameterised kernel
    var = (b0**2 + a2 * b1**2) / (2 * a1 * a2)
    for k in range(4):
        np.testing.assert_allclose(gp.carma_rms(np.array([a1, a2[k]]), np.array([b0, b1])) ** 2,
                                   var[k], rtol=1e-12)
        alt = gp.carma_loglike(t, y, yerr, ar=np.array([a1, a2[k]]), ma=np.array([1.0, b1 / b0]),
                               sigma=math.sqrt(var[k]), mean=0.2)
        np.testing.assert_allclose(alt, refs[k], rtol=1e-9)


def test_dho_smooth_through_critical_damping(rng):
    """Value and gradient are continuous across the repeated root (no sqrt of a negative)."""
    t, y, yerr = random_series(rng, N)
    a1 = 0.08
    f = jax.jit(jax.value_and_grad(
        lambda la2: gp.dho_loglike(t, y, yerr, a1=a1, a2=jnp.exp(la2), b0=0.01, b1=0.3)))
    crit = math.log(a1**2 / 4)
    vals = [f(crit + d) for d in (-1e-6, 0.0, 1e-6)]
    for v, g in vals:
        assert np.isfinite(v) and np.isfinite(g)
    np.testing.assert_allclose(vals[2][0] - vals[0][0], 2e-6 * vals[1][1], rtol=1e-4)
    np.testing.assert_allclose([g for _, g in vals], vals[1][1], rtol=1e-4)
    h = 1e-4
    fd = (f(crit + h)[0] - f(crit - h)[0]) / (2 * h)
    np.testing.assert_allclose(vals[1][1], fd, rtol=1e-6)


def test_carma_order_errors():
    t = jnp.zeros(3)
    with pytest.raises(ValueError, match=r"CARMA order p = len\(ar\) must be in 1..5, got 6"):
        gp.carma_loglike(t, t, t + 1, ar=jnp.ones(6), ma=jnp.ones(1), sigma=1.0)
    with pytest.raises(ValueError, match=r"q = len\(ma\) - 1 must satisfy 0 <= q < p = 2, got 2"):
        gp.carma_loglike(t, t, t + 1, ar=jnp.ones(2), ma=jnp.ones(3), sigma=1.0)


# ------------------------------------------------------------------------------------------------
# multiband DRW
# ------------------------------------------------------------------------------------------------
def multiband_data(rng, n_epochs=40, n_bands=3):
    t = np.sort(rng.uniform(0, 2000, n_epochs))
    t = np.repeat(t, n_bands)  # simultaneous ugriz-like epochs
    band = np.tile(np.arange(n_bands), n_epochs)
    keep = rng.uniform(size=t.size) < 0.8
    keep[:n_bands] = True
    t, band = t[keep], band[keep]
    yerr = rng.uniform(0.02, 0.1, t.size)
    y = rng.normal(size=t.size) * 0.3 + band * 0.2
    return t, y, yerr, band


def test_multiband_matches_dense(rng):
    t, y, yerr, band = multiband_data(rng)
    sig = np.array([0.35, 0.25, 0.2])
    mu = np.array([0.05, 0.2, 0.4])
    tau = 150.0
    K = sig[band][:, None] * sig[band][None, :] * np.exp(-np.abs(t[:, None] - t[None, :]) / tau)
    K = K + np.diag(yerr**2)
    X = (band[:, None] == np.arange(3)).astype(float)
    got = gp.drw_multiband_loglike(t, y, yerr, band, sigma=sig, tau=tau, mean=mu)
    np.testing.assert_allclose(got, dense_loglike(K, y, mu[band]), rtol=1e-10)
    for parallel in (False, True):
        got = gp.drw_multiband_loglike(t, y, yerr, band, sigma=sig, tau=tau, parallel=parallel,
                                       marginalize_mean=True)
        np.testing.assert_allclose(got, dense_marginal(K, y, X), rtol=1e-10)


def test_multiband_single_band_and_empty_band(rng):
    t, y, yerr = random_series(rng, N)
    band = np.zeros(N, int)
    a = gp.drw_multiband_loglike(t, y, yerr, band, sigma=np.array([0.3, 9.0]), tau=50.0,
                                 mean=np.array([0.1, 5.0]))
    b = gp.drw_loglike(t, y, yerr, sigma=0.3, tau=50.0, mean=0.1)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # a band with no data drops out of the marginalised likelihood
    a = gp.drw_multiband_loglike(t, y, yerr, band, sigma=np.array([0.3, 9.0]), tau=50.0,
                                 marginalize_mean=True)
    b = gp.drw_loglike(t, y, yerr, sigma=0.3, tau=50.0, marginalize_mean=True)
    np.testing.assert_allclose(a, b, rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# solvers, transformations, dtypes
# ------------------------------------------------------------------------------------------------
def _grad_cases(rng):
    t, y, yerr = random_series(rng, 16)
    tm, ym, em, bm = multiband_data(rng, n_epochs=6)
    ar3, ma3 = carma_cases()["p3_mixed"]
    return {
        "drw": lambda p: gp.drw_loglike(t, y, yerr, sigma=jnp.exp(p[0]), tau=jnp.exp(p[1]),
                                        mean=p[2]),
        "drw_marg": lambda p: gp.drw_loglike(t, y, yerr, sigma=jnp.exp(p[0]), tau=jnp.exp(p[1]),
                                             marginalize_mean=True),
        "dho_critical": lambda p: gp.dho_loglike(t, y, yerr, a1=0.1 * jnp.exp(p[1] - 5.0),
                                                 a2=0.0025 * jnp.exp(2 * p[1] - 10.0),
                                                 b0=0.02 * jnp.exp(p[0]), b1=0.5, mean=p[2]),
        "carma3": lambda p: gp.carma_loglike(t, y, yerr, ar=jnp.asarray(ar3) * jnp.exp(p[1] - 5.0),
                                             ma=jnp.asarray(ma3), sigma=jnp.exp(p[0]), mean=p[2]),
        "multiband_marg": lambda p: gp.drw_multiband_loglike(
            tm, ym, em, bm, sigma=jnp.exp(p[0]) * jnp.array([1.0, 0.8, 0.6]), tau=jnp.exp(p[1]),
            mean=p[2] * jnp.array([1.0, 2.0, 3.0]), marginalize_mean=True),
    }


@pytest.mark.parametrize("name", ["drw", "drw_marg", "dho_critical", "carma3",
                                  "multiband_marg"])
def test_check_grads(name, rng):
    f = _grad_cases(rng)[name]
    p = jnp.array([math.log(0.3), 5.0, 0.1])
    check_grads(f, (p,), order=1, modes=("fwd", "rev"), eps=1e-5, rtol=1e-5)


def test_jit_equals_eager_and_vmap_equals_loop(rng):
    B, n = 2, 12
    T = np.sort(rng.uniform(0, 1000, (B, n)), axis=1)
    Y = rng.normal(size=(B, n)) * 0.3
    E = rng.uniform(0.05, 0.1, (B, n))
    M = np.arange(n)[None, :] < rng.integers(1, n, B)[:, None]
    tau = np.exp(rng.uniform(2, 6, B))
    a1 = np.exp(rng.uniform(-4, -1, B))

    def f(t, y, e, m, tau, a1):
        return (gp.drw_loglike(t, y, e, m, sigma=0.3, tau=tau, mean=0.0),
                gp.dho_loglike(t, y, e, m, a1=a1, a2=0.001, b0=0.01, b1=0.3,
                               marginalize_mean=True))

    batched = jax.jit(jax.vmap(f))(T, Y, E, M, tau, a1)
    for i in range(B):
        jitted = f(T[i], Y[i], E[i], M[i], tau[i], a1[i])  # the kernels are jit-compiled
        for b, j in zip(batched, jitted):
            np.testing.assert_allclose(b[i], j, rtol=1e-12)
        with jax.disable_jit():  # op by op (DRW: the DHO's op-by-op run is slow to dispatch)
            eager = gp.drw_loglike(T[i], Y[i], E[i], M[i], sigma=0.3, tau=tau[i], mean=0.0)
        np.testing.assert_allclose(jitted[0], eager, rtol=1e-12)


def test_no_recompilation_within_a_bucket(rng):
    f = jax.jit(jax.vmap(lambda t, y, e, m, s, tau: gp.drw_loglike(t, y, e, m, sigma=s, tau=tau)))
    for _ in range(3):
        T = np.sort(rng.uniform(0, 100, (4, 32)), 1)
        f(T, T, T + 1, T > 10, np.ones(4), np.ones(4) * 10)
    assert f._cache_size() == 1


# float32. Measured |dlogL|/|logL| of the float32 kernels against float64 on the same (float32-
# rounded) inputs, centred times over 10 yr, unit-scale data, errors 2-20% of sigma: DRW ~1e-7,
# marginalised DRW ~1e-6, DHO ~1e-6, CARMA(3,2) ~2e-6 (n = 1e3) to ~8e-6 (n = 1e4). Stated
# tolerance: 2e-5 relative for n <= 1e4. End to end (float64 inputs, magnitudes ~19 rounded to
# float32 first) the rounding of the data themselves adds up to ~1e-5.
F32_RTOL = 2e-5


def test_float32_close_to_float64(rng, tol):
    t, y, yerr = random_series(rng, 256, span=3650.0)
    y = y + 19.0  # magnitudes
    ar3, ma3 = carma_cases()["p3_mixed"]
    cases = [
        lambda tt, yy, ee: gp.drw_loglike(tt, yy, ee, sigma=0.3, tau=200.0, mean=19.1),
        lambda tt, yy, ee: gp.drw_loglike(tt, yy, ee, sigma=0.3, tau=200.0, mean=19.1,
                                          parallel=True),
        lambda tt, yy, ee: gp.drw_loglike(tt, yy, ee, sigma=0.3, tau=200.0, marginalize_mean=True),
        lambda tt, yy, ee: gp.dho_loglike(tt, yy, ee, a1=0.05, a2=0.01, b0=0.005, b1=0.3,
                                          mean=19.0),
        lambda tt, yy, ee: gp.carma_loglike(tt, yy, ee, ar=ar3, ma=ma3, sigma=0.3, mean=19.1),
    ]
    args32 = tuple(a.astype(np.float32) for a in (t, y, yerr))
    args64 = tuple(a.astype(np.float64) for a in args32)
    for f in cases:
        v64 = f(*args64)
        v32 = f(*args32)
        assert v32.dtype == jnp.float32 and v64.dtype == jnp.float64
        np.testing.assert_allclose(v32, v64, rtol=tol(np.float32, f32=F32_RTOL))
        np.testing.assert_allclose(v32, f(t, y, yerr), rtol=tol(np.float32, f32=5 * F32_RTOL))


# ------------------------------------------------------------------------------------------------
# predict, sample, PSD, structure function
# ------------------------------------------------------------------------------------------------
def test_predict_matches_dense(rng):
    t, y, yerr = random_series(rng, N - 8, dup=True)
    T, Y, E, mask = insert_padding(rng, t, y, yerr, 4, 4)
    t_new = np.concatenate([rng.uniform(-2500, 2500, 12), t[[0, 5]], [-1e4]])
    # DRW, with padding
    kf = lambda d: 0.3**2 * np.exp(-np.abs(d) / 150.0)  # noqa: E731
    mu_r, var_r = dense_predict(kf, t, y, yerr, t_new, 0.1)
    mu, var = gp.drw_predict(T, Y, E, mask, t_new=t_new, sigma=0.3, tau=150.0, mean=0.1)
    np.testing.assert_allclose(mu, mu_r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, var_r, rtol=1e-9, atol=1e-13)
    # DRW, mean marginalised: GLS mean plus its variance
    K = kf(t[:, None] - t[None, :]) + np.diag(yerr**2)
    Ks = kf(t_new[:, None] - t[None, :])
    Ki = np.linalg.inv(K)
    one = np.ones(len(t))
    mu_hat = one @ Ki @ y / (one @ Ki @ one)
    mu_r = mu_hat + Ks @ Ki @ (y - mu_hat)
    var_r = (0.09 - np.einsum("ij,jk,ik->i", Ks, Ki, Ks)
             + (1 - Ks @ Ki @ one) ** 2 / (one @ Ki @ one))
    mu, var = gp.drw_predict(T, Y, E, mask, t_new=t_new, sigma=0.3, tau=150.0,
                             marginalize_mean=True)
    np.testing.assert_allclose(mu, mu_r, rtol=1e-10)
    np.testing.assert_allclose(var, var_r, rtol=1e-9)
    # CARMA(3, 1) with a triple root
    ar, ma = carma_cases()["p3_repeated_real"]
    acov = carma_acov_expm(ar, ma)
    s2 = 0.5**2 / acov(0.0)
    mu_r, var_r = dense_predict(lambda d: s2 * acov(d), t, y, yerr, t_new, -0.2)
    mu, var = gp.carma_predict(t, y, yerr, t_new=t_new, ar=ar, ma=np.asarray(ma, float), sigma=0.5,
                               mean=-0.2)
    np.testing.assert_allclose(mu, mu_r, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(var, var_r, rtol=1e-8, atol=1e-10)
    # multiband: band-specific amplitude and mean
    tm, ym, em, bm = multiband_data(rng, n_epochs=20)
    sig, mus = np.array([0.3, 0.2, 0.25]), np.array([0.0, 0.2, 0.4])
    bn = np.array([0, 2, 1, 1])
    tn = np.array([100.0, 100.0, 1500.0, -50.0])
    kb = lambda ta, ba, tb, bb: (sig[ba][:, None] * sig[bb][None, :]  # noqa: E731
                                 * np.exp(-np.abs(ta[:, None] - tb[None, :]) / 90.0))
    Kb = kb(tm, bm, tm, bm) + np.diag(em**2)
    Ksb = kb(tn, bn, tm, bm)
    mu_r = mus[bn] + Ksb @ np.linalg.solve(Kb, ym - mus[bm])
    var_r = sig[bn] ** 2 - np.einsum("ij,ji->i", Ksb, np.linalg.solve(Kb, Ksb.T))
    mu, var = gp.drw_multiband_predict(tm, ym, em, bm, t_new=tn, band_new=bn, sigma=sig, tau=90.0,
                                       mean=mus)
    np.testing.assert_allclose(mu, mu_r, rtol=1e-10)
    np.testing.assert_allclose(var, var_r, rtol=1e-9)


def test_sample_covariance():
    t = np.array([0.0, 3.0, 40.0, 40.0, 300.0])
    key = jax.random.PRNGKey(3)
    n_draws = 40000
    d = np.asarray(gp.drw_sample(key, t, sigma=0.5, tau=60.0, mean=1.0, shape=(n_draws,)))
    assert d.shape == (n_draws, 5)
    K = 0.25 * np.exp(-np.abs(t[:, None] - t[None, :]) / 60.0)
    se = 0.25 * math.sqrt(2.0 / n_draws)
    np.testing.assert_allclose(d.mean(0), 1.0, atol=5 * 0.5 / math.sqrt(n_draws))
    np.testing.assert_allclose(np.cov(d.T), K, atol=5 * se)
    ar, ma = carma_cases()["p2_repeated"]
    d = np.asarray(gp.carma_sample(key, t, ar=ar, ma=np.asarray(ma, float), sigma=0.5,
                                   shape=(n_draws,)))
    acov = carma_acov_expm(ar, ma)
    K = 0.25 * acov(t[:, None] - t[None, :]) / acov(0.0)
    np.testing.assert_allclose(np.cov(d.T), K, atol=5 * se)
    # measurement noise adds yerr^2 on the diagonal
    d = np.asarray(gp.drw_sample(key, t, sigma=0.5, tau=60.0, yerr=np.full(5, 0.3),
                                 shape=(n_draws,)))
    np.testing.assert_allclose(np.diag(np.cov(d.T)), 0.34, atol=5 * 0.34 * math.sqrt(2 / n_draws))


@pytest.mark.parametrize("name", ["p1", "p2_complex", "p4_repeated_complex"])
def test_psd_normalisation_and_wiener_khinchin(name):
    ar, ma = carma_cases()[name]
    ma = np.asarray(ma, float)
    sigma = 0.4
    psd_j = jax.jit(lambda f: gp.carma_psd(f, ar=ar, ma=ma, sigma=sigma))
    psd = lambda f: float(psd_j(f))  # noqa: E731
    total, _ = scipy.integrate.quad(psd, 0, np.inf, limit=500)
    np.testing.assert_allclose(total, sigma**2, rtol=1e-6)
    for lag in (5.0, 60.0):
        r, _ = scipy.integrate.quad(psd, 0, np.inf, weight="cos", wvar=2 * math.pi * lag, limlst=200)
        np.testing.assert_allclose(gp.carma_autocovariance(lag, ar=ar, ma=ma, sigma=sigma), r,
                                   rtol=1e-6, atol=1e-9)


def test_drw_helpers():
    f = np.logspace(-5, 1, 50)
    np.testing.assert_allclose(gp.carma_psd(f, ar=np.array([1 / 80.0]), ma=np.array([1.0]),
                                            sigma=0.2),
                               gp.drw_psd(f, sigma=0.2, tau=80.0), rtol=1e-12)
    total, _ = scipy.integrate.quad(lambda x: 4 * 0.04 * 80.0 / (1 + (2 * np.pi * x * 80.0) ** 2),
                                    0, np.inf)
    np.testing.assert_allclose(total, 0.04, rtol=1e-8)  # the documented normalisation
    np.testing.assert_allclose(gp.drw_psd(0.01, sigma=0.2, tau=80.0),
                               4 * 0.04 * 80.0 / (1 + (2 * np.pi * 0.01 * 80.0) ** 2), rtol=1e-12)
    dt = np.array([0.0, 1.0, 30.0, 1e4])
    sf = gp.drw_structure_function(dt, sigma=0.2, tau=80.0)
    r = gp.drw_autocovariance(dt, sigma=0.2, tau=80.0)
    np.testing.assert_allclose(sf, np.sqrt(np.maximum(2 * (0.04 - r), 0.0)), rtol=1e-12)
    np.testing.assert_allclose(sf[-1], gp.drw_sf_inf(0.2), rtol=1e-12)
    np.testing.assert_allclose(gp.drw_sf_inf(0.2), math.sqrt(2) * 0.2)
    np.testing.assert_allclose(gp.drw_sigma_from_sf_inf(gp.drw_sf_inf(0.2)), 0.2)
    sfc = gp.carma_structure_function(dt, ar=np.array([1 / 80.0]), ma=np.array([1.0]), sigma=0.2)
    np.testing.assert_allclose(sfc, sf, rtol=1e-10, atol=1e-12)
    # MacLeod et al. (2010) catalogue relation log SF_inf = log sigma_hat + (log tau - log 365)/2
    ref = pd.read_csv(DATA / "drw_macleod2010.csv")
    tau = 10.0 ** ref.log10_tau_obs_days.to_numpy()
    sigma = gp.drw_sigma_from_sf_inf(10.0 ** ref.log10_SFinf_mag.to_numpy())
    np.testing.assert_allclose(np.log10(gp.drw_sigmahat(sigma, tau)),
                               ref.log10_sigmahat_mag_per_sqrt_yr, atol=2e-5)
    np.testing.assert_allclose(gp.drw_sigma_from_sigmahat(gp.drw_sigmahat(sigma, tau), tau), sigma,
                               rtol=1e-12)
