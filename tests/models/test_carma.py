"""CARMA(p, q) and DHO models: parameterisation, stationarity, agreement with the kernels, ts.fit."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts
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


def test_fit_dho_improves_on_its_start(rng):
    """ts.fit runs DHO with no special case: converged, and the optimum beats the start."""
    n_obj = 6
    t = [np.sort(rng.uniform(0, 1500, 120)) for _ in range(n_obj)]
    ys = [np.asarray(gp.carma_sample(jax.random.PRNGKey(k), tk - tk.mean(), ar=np.array([0.05, 2e-4]),
                                     ma=np.array([1.0, 100.0]), sigma=0.2)) + 0.02 * rng.normal(size=120)
          for k, tk in enumerate(t)]
    batch = ts.LightCurveBatch.from_arrays(t=[tk + 59000 for tk in t], flux=ys,
                                           flux_err=[np.full(120, 0.02)] * n_obj)
    model = DHO()
    res = fit(model, batch, n_starts=2)
    df = res.to_pandas()
    assert df.converged.mean() >= 0.8
    init = model.init(batch, 2)
    jb = batch.to_jax("float64")
    for i in range(n_obj):
        lc = jax.tree_util.tree_map(lambda x: x[i], jb)
        ll0 = max(float(model.loglike({k: jnp.asarray(v[i, s]) for k, v in init.items()}, lc))
                  for s in range(2))
        assert df.loglike[i] >= ll0 - 1e-6
    np.testing.assert_allclose(np.median(df.sigma), 0.2, rtol=0.4)
