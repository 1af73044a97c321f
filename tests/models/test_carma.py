"""CARMA(p, q) and DHO models: parameterisation, stationarity, agreement with the kernels, ts.fit."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts
from tsmodels.config import precision
from tsmodels.fitting import fit
from tsmodels.kernels import gp
from tsmodels.models.carma import CARMA, DHO, ar_from_factors


def _one(batch, i=0):
    jb = batch.to_jax("float64")
    return jax.tree_util.tree_map(lambda x: x[i], jb)


def _batch(rng, n_obj=2, n=60):
    t = [np.sort(rng.uniform(0, 1500, n)) + 59000 for _ in range(n_obj)]
    y = [rng.normal(size=n) * 0.3 + 19 for _ in range(n_obj)]
    return ts.LightCurveBatch.from_arrays(t=t, flux=y, flux_err=[np.full(n, 0.05)] * n_obj)


def test_ar_from_factors_is_the_root_polynomial():
    r = [-0.01, -0.02 + 0.1j, -0.02 - 0.1j]
    expect = np.real(np.poly(r))[1:]
    got = ar_from_factors([(jnp.asarray(0.04), jnp.asarray(0.02**2 + 0.1**2))], jnp.asarray(0.01))
    np.testing.assert_allclose(got, expect, rtol=1e-12)


@pytest.mark.parametrize("p,q", [(1, 0), (2, 1), (3, 2), (4, 1), (5, 4)])
def test_carma_is_stationary_and_matches_kernel(p, q, rng):
    model = CARMA(p, q)
    batch = _batch(rng)
    lc = _one(batch)
    for _ in range(5):  # any unconstrained point maps to a stationary process
        u = jnp.asarray(rng.normal(scale=3.0, size=model.n_params))
        params = model.unpack(u)
        ar, ma = model.ar_ma(params)
        assert ma.shape == (q + 1,) and float(ma[0]) == 1.0
        assert np.all(np.roots(np.concatenate([[1.0], np.asarray(ar)])).real < 0)
    init = model.init(batch, 3)
    assert set(init) == set(model.param_names) and all(v.shape == (2, 3) for v in init.values())
    params = {k: jnp.asarray(v[0, 1]) for k, v in init.items()}
    assert np.isfinite(model.log_prior(params))
    ar, ma = model.ar_ma(params)
    np.testing.assert_allclose(
        model.loglike(params, lc),
        gp.carma_loglike(lc.t, lc.flux, lc.flux_err, lc.mask, ar=ar, ma=ma,
                         sigma=params["sigma"], marginalize_mean=True), rtol=1e-12)
    d = model.derived(params, jnp.zeros(0), batch.bands)
    np.testing.assert_allclose([d[f"a_{k}"] for k in range(1, p + 1)], ar, rtol=1e-12)
    with pytest.raises(ValueError, match=r"CARMA: need 1 <= p <= 5 and 0 <= q < p, got p=2, q=2"):
        CARMA(2, 2)


def test_dho_matches_kernel_and_eztao_amplitude(rng):
    batch = _batch(rng)
    lc = _one(batch, 1)
    params = {"a1": jnp.asarray(0.05), "a2": jnp.asarray(2e-4), "b0": jnp.asarray(0.003),
              "b1": jnp.asarray(0.3)}
    np.testing.assert_allclose(
        DHO().loglike(params, lc),
        gp.dho_loglike(lc.t, lc.flux, lc.flux_err, lc.mask, a1=0.05, a2=2e-4, b0=0.003, b1=0.3,
                       marginalize_mean=True), rtol=1e-12)
    d = DHO().derived(params, jnp.zeros(0), batch.bands)
    np.testing.assert_allclose(d["sigma"], gp.carma_rms(np.array([0.05, 2e-4]), np.array([0.003, 0.3])),
                               rtol=1e-12)
    np.testing.assert_allclose(d["xi"], 0.05 / (2 * math.sqrt(2e-4)), rtol=1e-12)
    init = DHO().init(batch, 2)
    p0 = {k: jnp.asarray(v[0, 0]) for k, v in init.items()}
    # the start has the rms of the DRW start (the excess variance)
    from tsmodels.models.drw import drw_starts
    np.testing.assert_allclose(DHO().derived(p0, jnp.zeros(0), batch.bands)["sigma"],
                               drw_starts(batch, 2)[0][0, 0], rtol=1e-9)
    assert np.isfinite(DHO().log_prior(p0))


@pytest.fixture(scope="module")
def dho_sim():
    """12 DHO light curves (a1 = 0.05 /d, a2 = 2e-4 /d^2: real roots at 1/216 d and 1/22 d;
    b1/b0 = 100 d; rms 0.2), 300 points over 3000 d, errors 0.01."""
    rng = np.random.default_rng(5)
    n_obj, n = 12, 300
    ar, ma = np.array([0.05, 2e-4]), np.array([1.0, 100.0])
    t = [np.sort(rng.uniform(0, 3000, n)) for _ in range(n_obj)]
    ys = [np.asarray(gp.carma_sample(jax.random.PRNGKey(100 + k), tk - tk.mean(), ar=ar, ma=ma,
                                     sigma=0.2)) + 0.01 * rng.normal(size=n) for k, tk in enumerate(t)]
    batch = ts.LightCurveBatch.from_arrays(t=[tk + 59000 for tk in t], flux=ys,
                                           flux_err=[np.full(n, 0.01)] * n_obj)
    return batch, ar, ma


def _scipy_nll(model):
    """The model's negative log-likelihood in its unconstrained space, and its value with the
    gradient, jitted once with the light curve an argument (one compilation per model, not per
    object)."""

    def nll(u, lc):
        return -model.loglike(model.unpack(u, lc), lc)

    return jax.jit(nll), jax.jit(jax.value_and_grad(nll))


def _scipy_best(model, lc, starts, fns):
    """Reference optimum: scipy's L-BFGS-B then Nelder-Mead on the model's own log-likelihood
    in its unconstrained space (what ts.fit maximises), from each start; the best found.
    ``fns``: :func:`_scipy_nll` of the model."""
    from scipy.optimize import minimize

    f, fg = fns

    def f_np(u):
        return float(f(jnp.asarray(u), lc))

    def fg_np(u):
        v, g = fg(jnp.asarray(u), lc)
        return float(v), np.asarray(g)

    best = -np.inf
    for u0 in starts:
        r = minimize(fg_np, np.asarray(u0), method="L-BFGS-B", jac=True)
        r = minimize(f_np, r.x, method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
        best = max(best, float(model.loglike(model.unpack(jnp.asarray(r.x), lc), lc)))
    return best


def test_dho_and_carma21_fits_reach_the_optimum_and_recover_the_process(dho_sim):
    """ts.fit of DHO and of CARMA(2, 1) on DHO light curves: (1) each reaches the optimum that
    scipy finds on the same likelihood from 4 spread starts (an optimizer that stops early, or
    at its start, fails); (2) the two parameterisations of the same process reach the same
    maximum; (3) the rms and the AR coefficients come back near the truth, within the spread
    their Laplace errors give, and so does the MA coefficient b1.

    The likelihood has several local maxima: with the default starts, one of the 3 checked
    objects ends 0.05 below scipy's best DHO maximum (measured; CARMA(2, 1) misses it too, it
    lies beyond CARMA's MA range); more than that fails. All 12 reach the same maximum in
    both parameterisations (measured: 2e-11)."""
    batch, ar, ma = dho_sim
    dho, carma = DHO(), CARMA(2, 1)
    # the two fits (one chunk each, so one core each) and the six scipy references run two at a
    # time on host threads: each result is what it is run alone (every fit and reference is a
    # function of its own inputs only)
    with ThreadPoolExecutor(2) as pool:
        rd, rc = pool.map(lambda m: fit(m, batch, dtype="float64"), (dho, carma))
    assert (rd.status == 0).mean() >= 0.9 and (rc.status == 0).mean() >= 0.9
    # (2) one process, two parameterisations: the same maximum
    gap = np.abs(rc.loglike - rd.loglike)
    assert np.all(gap < 1e-5), np.round(gap, 4)
    # (1) against scipy, on 3 objects
    jb = batch.to_jax("float64")
    fns = {dho: _scipy_nll(dho), carma: _scipy_nll(carma)}

    def miss(job):
        i, model, res = job
        with precision("float64"):  # JAX's x64 switch is per thread
            lc = jax.tree_util.tree_map(lambda x: x[i], jb)
            init = model.init(batch[[i]], 4)
            starts = [model.pack({k: jnp.asarray(v[0, s]) for k, v in init.items()}, lc) for s in range(4)]
            return _scipy_best(model, lc, starts, fns[model]) - res.loglike[i]

    jobs = [(i, model, res) for i in (0, 5, 11) for model, res in ((dho, rd), (carma, rc))]
    with ThreadPoolExecutor(2) as pool:
        misses = np.array(list(pool.map(miss, jobs)))
    assert np.sum(misses < 1e-5) >= 5 and misses.max() < 0.1, np.round(misses, 4)
    # (3) recovery: rms to 30% in the median; a1, a2 within 3 Laplace sigma (log) for most
    np.testing.assert_allclose(np.median(rd.values["sigma"]), 0.2, rtol=0.3)
    np.testing.assert_allclose(np.median(rc.values["sigma"]), 0.2, rtol=0.3)
    for res, names in ((rd, ("a1", "a2")), (rc, ("a_1", "a_2"))):
        for name, true in zip(names, ar):
            v, e = res.values[name], res.errors[name]
            z = np.log(v / true) / (e / v)
            assert np.mean(np.abs(z) < 3) >= 0.75, (name, np.round(z, 2))
            assert abs(np.median(np.log10(v / true))) < 0.3, (name, np.median(np.log10(v / true)))
    # the MA coefficient: DHO's b1 (absolute, with b0 setting the rms; measured to ~5%, all 12
    # within 1.4 sigma) and CARMA's b_1 (relative to b_0 = 1, i.e. the MA timescale
    # b1/b0 = 100 d; measured to a factor ~2, median 0.11 dex low)
    b0 = 0.2 / float(gp.carma_rms(ar, ma))
    for res, name, true, zmax, dex in ((rd, "b1", b0 * ma[1], 2, 0.1), (rc, "b_1", ma[1], 3, 0.3)):
        v, e = res.values[name], res.errors[name]
        z = np.log(v / true) / (e / v)
        assert np.mean(np.abs(z) < zmax) >= 0.75, (name, np.round(z, 2))
        assert abs(np.median(np.log10(v / true))) < dex, (name, np.median(np.log10(v / true)))
