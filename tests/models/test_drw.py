"""DRW and MultibandDRW models: the protocol, agreement with the kernels, recovery with ts.fit."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts
from tsmodels.fitting import fit
from tsmodels.kernels import gp
from tsmodels.models.base import LOG_2PI
from tsmodels.models.drw import DRW, MultibandDRW


def _one(batch, i=0):
    jb = batch.to_jax("float64")
    return jax.tree_util.tree_map(lambda x: x[i], jb)


def simulate_lsst_like(rng, n_obj, n_per_season=67, seasons=3, sigma=0.2, err=0.02):
    """DRW light curves, tau log-uniform in 20-500 d, 3 seasons of 180 d, ~200 points each."""
    tau = np.exp(rng.uniform(math.log(20.0), math.log(500.0), n_obj))
    ts_, ys, es = [], [], []
    for k in range(n_obj):
        t = np.sort(np.concatenate([365.25 * s + rng.uniform(0, 180, n_per_season)
                                    for s in range(seasons)])) + 60000.0
        x = np.asarray(gp.drw_sample(jax.random.PRNGKey(k), t - t.mean(), sigma=sigma, tau=tau[k],
                                     mean=20.0))
        ts_.append(t)
        ys.append(x + err * rng.normal(size=t.size))
        es.append(np.full(t.size, err))
    return ts.LightCurveBatch.from_arrays(t=ts_, flux=ys, flux_err=es), tau


def test_loglike_matches_kernels_and_profile_relation(rng):
    batch, _ = simulate_lsst_like(rng, 2, n_per_season=10)
    lc = _one(batch, 1)
    p = {"sigma": jnp.asarray(0.2), "tau": jnp.asarray(80.0)}
    m = lc.mask
    marg = gp.drw_loglike(lc.t, lc.flux, lc.flux_err, m, sigma=0.2, tau=80.0, marginalize_mean=True)
    np.testing.assert_allclose(DRW().loglike(p, lc), marg, rtol=1e-12)
    prof = DRW(mean="profile")
    sol = prof.linear(p, lc)
    # profiled at the GLS mean == the likelihood at that mean; integrating it out gives "marginal"
    np.testing.assert_allclose(prof.loglike(p, lc),
                               gp.drw_loglike(lc.t, lc.flux, lc.flux_err, m, sigma=0.2, tau=80.0,
                                              mean=sol.coef[0]), rtol=1e-12)
    np.testing.assert_allclose(prof.marginal_loglike(p, lc), marg, rtol=1e-12)
    np.testing.assert_allclose(prof.loglike(p, lc) - marg,
                               -0.5 * LOG_2PI + 0.5 * sol.logdet_fisher, rtol=1e-12)
    # predict at the data = the kernel's conditional mean; derived SF_inf
    np.testing.assert_allclose(
        DRW().predict(p, lc),
        gp.drw_predict(lc.t, lc.flux, lc.flux_err, m, t_new=lc.t, sigma=0.2, tau=80.0,
                       marginalize_mean=True)[0], rtol=1e-12)
    assert DRW().derived(p, jnp.zeros(0), ("band",))["sf_inf"] == pytest.approx(0.2 * math.sqrt(2))


def test_band_selection_and_errors(rng):
    t = np.sort(rng.uniform(0, 500, 40)) + 59000
    band = np.where(np.arange(40) % 2 == 0, "g", "r")
    y = rng.normal(size=40)
    batch = ts.LightCurveBatch.from_arrays(t=[t], flux=[y], flux_err=[np.full(40, 0.1)], band=[band])
    lc = _one(batch)
    p = {"sigma": jnp.asarray(0.5), "tau": jnp.asarray(30.0)}
    g = lc.mask & (lc.band == batch.bands.index("g"))
    np.testing.assert_allclose(DRW(band="g").loglike(p, lc),
                               gp.drw_loglike(lc.t, lc.flux, lc.flux_err, g, sigma=0.5, tau=30.0,
                                              marginalize_mean=True), rtol=1e-12)
    with pytest.raises(ValueError, match=r"DRW: band 'z' is not in the batch's bands \('g', 'r'\)"):
        DRW(band="z").loglike(p, lc)
    with pytest.raises(ValueError, match=r"DRW: mean must be one of \('marginal', 'profile'\)"):
        DRW(mean="median")
    with pytest.raises(ValueError, match=r"DRW: tau_range must satisfy 0 < min < max"):
        DRW(tau_range=(10.0, 1.0))
    # multiband: the kernel with band-ordered sigmas
    mp = {"tau": jnp.asarray(30.0), "sigma_g": jnp.asarray(0.5), "sigma_r": jnp.asarray(0.3)}
    np.testing.assert_allclose(
        MultibandDRW(bands=("g", "r")).loglike(mp, lc),
        gp.drw_multiband_loglike(lc.t, lc.flux, lc.flux_err, lc.band, lc.mask,
                                 sigma=jnp.array([0.5, 0.3]), tau=30.0, marginalize_mean=True),
        rtol=1e-12)
    # an unmodelled band is ignored: (g) alone == the single-band DRW on g
    np.testing.assert_allclose(MultibandDRW(bands=("g",)).loglike({"tau": 30.0, "sigma_g": 0.5}, lc),
                               DRW(band="g").loglike(p, lc), rtol=1e-12)
    init = MultibandDRW(bands=("g", "r")).init(batch, 3)
    assert set(init) == {"tau", "sigma_g", "sigma_r"} and init["tau"].shape == (1, 3)


def test_fit_recovers_simulated_drw(rng):
    """ts.fit with the marginalised mean on LSST-like simulated DRWs (3 seasons, ~200 points,
    tau log-uniform 20-500 d): tau within a factor 2 for most objects, errors honest."""
    batch, tau = simulate_lsst_like(rng, 32)
    res = fit(DRW(), batch)
    df = res.to_pandas()
    assert df.converged.mean() >= 0.9  # (a flat likelihood in tau can stop one short of tol)
    ratio = df.tau.to_numpy() / tau
    within2 = np.mean((ratio > 0.5) & (ratio < 2.0))
    assert within2 >= 0.6, within2
    np.testing.assert_allclose(np.median(df.sigma), 0.2, rtol=0.25)
    # the Laplace error of log tau covers the truth at roughly the nominal rate
    z = np.log(ratio) / (df.tau_err.to_numpy() / df.tau.to_numpy())
    assert np.mean(np.abs(z) < 2) >= 0.75
