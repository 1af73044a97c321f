"""Every public kernel gives float64 answers from float64 inputs, called exactly as a user would
(no precision scope around the call, JAX's default configuration), and keeps the caller's
dtype inside ``jit``. Tests here carry ``no_x64``: the suite's float64 scope is off."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import celerite2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.timeseries import LombScargle as ALS
from astropy.timeseries import LombScargleMultiband as ALSM
from astropy.timeseries.periodograms.lombscargle import _statistics as astat
from celerite2 import terms

import tsmodels as ts
import tsmodels.kernels

pytestmark = pytest.mark.no_x64


def _kernel_modules():
    """Every module under tsmodels.kernels (found by walking the package, so new ones count)."""
    out = []
    for info in pkgutil.walk_packages(tsmodels.kernels.__path__, "tsmodels.kernels."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        out.append(importlib.import_module(info.name))
    return out


def test_every_public_kernel_is_float64_by_default():
    modules = _kernel_modules()
    assert {m.__name__ for m in modules} >= {
        "tsmodels.kernels.lombscargle", "tsmodels.kernels.multiband", "tsmodels.kernels.fap",
        "tsmodels.kernels.linalg", "tsmodels.kernels.gp", "tsmodels.kernels.gp.drw",
        "tsmodels.kernels.gp.carma", "tsmodels.kernels.gp.multiband",
        "tsmodels.kernels.microlensing", "tsmodels.kernels.supernova.parametric",
        "tsmodels.kernels.supernova.salt", "tsmodels.kernels.supernova.dust"}
    checked = 0
    for mod in modules:
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                assert getattr(obj, "__tsmodels_kernel__", False), f"{mod.__name__}.{name}"
                checked += 1
    assert checked >= 35


def _mjd_series(rng, n=300):
    t = 59000.0 + np.sort(rng.uniform(0, 1500, n))
    y = 1.0 + 0.3 * np.sin(2 * np.pi * t / 0.613) + rng.normal(0, 0.1, n)
    dy = rng.uniform(0.05, 0.15, n)
    return t, y, dy


def test_lombscargle_power_with_mjd_times_matches_astropy(rng):
    assert not jax.config.jax_enable_x64
    t, y, dy = _mjd_series(rng)
    freq = np.linspace(0.05, 5.0, 4000)
    p = ts.kernels.lombscargle.power(t, y, dy, freq)
    assert p.dtype == jnp.float64
    ref = ALS(t, y, dy).power(freq, method="slow")
    assert np.max(np.abs(np.asarray(p) - ref) / np.maximum(1.0, np.abs(ref))) < 1e-8
    assert not jax.config.jax_enable_x64  # the user's configuration is untouched


def test_multiband_power_matches_astropy(rng):
    t, y, dy = _mjd_series(rng, 200)
    bands = rng.choice(list("gri"), t.size)
    band = np.searchsorted(np.array(list("gir")), bands)  # any integer coding
    freq = np.linspace(0.1, 3.0, 500)
    p = ts.kernels.multiband.power(t - t.mean(), y, dy, band, freq, n_bands=3)
    assert p.dtype == jnp.float64
    ref = ALSM(t, y, bands, dy).power(freq, method="flexible")
    np.testing.assert_allclose(np.asarray(p), ref, rtol=0, atol=1e-8)


def test_gp_likelihoods_match_celerite2(rng):
    t, y, dy = _mjd_series(rng, 400)
    tc = t - t.mean()
    sigma, tau, mean = 0.3, 80.0, 1.0
    ll = ts.kernels.gp.drw_loglike(tc, y, dy, sigma=sigma, tau=tau, mean=mean)
    assert ll.dtype == jnp.float64
    gp = celerite2.GaussianProcess(terms.RealTerm(a=sigma**2, c=1.0 / tau), t=tc, diag=dy**2, mean=mean)
    ref = gp.log_likelihood(y)
    assert abs(float(ll) - ref) <= 1e-8 * abs(ref)
    # DHO: a CARMA(2,1) with complex roots, against celerite2's SHO-type terms via the kernel's
    # own autocovariance evaluated densely (float64 dense Cholesky reference)
    ar, ma = np.array([0.05, 0.002]), np.array([0.01, 0.3])
    ll2 = ts.kernels.gp.carma_loglike(tc[:150], y[:150], dy[:150], ar=ar, ma=ma, sigma=0.2)
    assert ll2.dtype == jnp.float64
    acf = np.asarray(ts.kernels.gp.carma_autocovariance(np.abs(tc[:150, None] - tc[None, :150]),
                                                        ar=ar, ma=ma, sigma=0.2))
    assert acf.dtype == np.float64
    K = acf + np.diag(dy[:150] ** 2)
    r = y[:150]
    L = np.linalg.cholesky(K)
    a = np.linalg.solve(L, r)
    ref2 = -0.5 * a @ a - np.log(np.diag(L)).sum() - 0.5 * 150 * np.log(2 * np.pi)
    assert abs(float(ll2) - ref2) <= 1e-8 * abs(ref2)


def test_fap_kernels_match_astropy(rng):
    z, n, fmax = 0.05, 200, 5.0
    t = 59000.0 + np.sort(rng.uniform(0, 1200, n))
    y = rng.normal(size=n)
    base, t_var = t.max() - t.min(), np.var(t)
    for method in ("baluev", "davies", "naive"):
        got = ts.kernels.fap.false_alarm_probability(z, fmax=fmax, n=n, baseline=base, t_var=t_var,
                                                     method=method)
        ref = astat.false_alarm_probability(z, fmax, t, y, None, normalization="standard", method=method)
        assert np.asarray(got).dtype == np.float64
        np.testing.assert_allclose(float(got), ref, rtol=1e-8)


def test_linalg_and_jit_keep_the_callers_dtype(rng):
    a = rng.normal(size=(5, 5))
    spd = a @ a.T + np.eye(5)
    b = rng.normal(size=5)
    x = ts.kernels.linalg.spd_solve(spd, b)
    assert x.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(spd, b), rtol=1e-10)
    # float32 arrays stay float32; traced calls follow the trace's dtype
    x32 = ts.kernels.linalg.spd_solve(jnp.asarray(spd, jnp.float32), jnp.asarray(b, jnp.float32))
    assert x32.dtype == jnp.float32
    t, y, dy = _mjd_series(rng, 50)
    f = jax.jit(lambda tt, yy, ee: ts.kernels.gp.drw_loglike(tt, yy, ee, sigma=0.3, tau=50.0))
    assert f(t - t.mean(), y, dy).dtype == jnp.float32
    g = jax.vmap(lambda s: ts.kernels.gp.drw_loglike(t - t.mean(), y, dy, sigma=s, tau=50.0))
    assert g(jnp.ones(3)).dtype == jnp.float32


def test_public_batched_calls_return_float64_without_a_scope(rng):
    """ts.fit, ts.sample and ts.lombscargle: the default-precision contract end to end."""
    t, y, dy = _mjd_series(rng, 120)
    batch = ts.LightCurveBatch.from_arrays(t=[t, t + 3], flux=[y, y[::-1]], flux_err=[dy, dy])
    freq, p = ts.lombscargle(batch, np.linspace(0.5, 3.0, 300), method="direct")
    assert p.dtype == np.float64
    ref = ALS(t, y, dy).power(np.linspace(0.5, 3.0, 300), method="slow")
    np.testing.assert_allclose(p[0], ref, rtol=0, atol=1e-8)
    res = ts.fit(ts.models.Constant(), batch)
    assert res.values["mean_band"].dtype == np.float64
    w = 1 / dy**2
    np.testing.assert_allclose(res.values["mean_band"][0], np.sum(w * y) / np.sum(w), rtol=1e-12)
    post = ts.sample(ts.models.Constant(), batch, num_warmup=10, num_samples=20, num_chains=1)
    assert post.stats["mean_band"]["mean"].dtype == np.float64
    assert not jax.config.jax_enable_x64


def test_microlensing_kernels_return_float64_with_hjd_times():
    """PSPL magnification at absolute HJDs (~2.455e6 d, where float32 resolves only ~0.25 d) and
    the linear source/blend fluxes: float64 without a scope, float32 kept under jit."""
    ml = ts.kernels.microlensing
    t = 2455379.57091 + np.linspace(-40.0, 40.0, 81)
    A = ml.pspl_magnification(t, t0=2455379.57091, u0=0.523, tE=17.94)
    assert A.dtype == jnp.float64
    u2 = 0.523**2 + ((t - 2455379.57091) / 17.94) ** 2
    np.testing.assert_allclose(np.asarray(A), (u2 + 2) / np.sqrt(u2 * (u2 + 4)), rtol=1e-13)
    flux, ferr = ml.mag_to_flux(np.full(t.size, 17.0), np.full(t.size, 0.01))
    assert flux.dtype == jnp.float64
    fs, fb, chi2, ok = ml.linear_fluxes(A, 3.0 * np.asarray(A) + 1.0, np.full(t.size, 0.1),
                                        np.ones(t.size, bool), np.zeros(t.size, np.int32))
    assert chi2.dtype == jnp.float64 and bool(ok[0])
    np.testing.assert_allclose([float(fs[0]), float(fb[0])], [3.0, 1.0], rtol=1e-10)
    f = jax.jit(lambda tt: ml.pspl_magnification(tt, t0=0.0, u0=0.5, tE=10.0))
    assert f(jnp.asarray(t - t.mean(), jnp.float32)).dtype == jnp.float32
    assert not jax.config.jax_enable_x64
