"""FourierSeries: basis, linear solution, conventions, likelihood and starting points."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import tsmodels as ts
from tsmodels.config import precision
from tsmodels.models import FourierSeries
from tsmodels.models.periodic import fourier_basis, grid_starts

BANDS = ("g", "r", "i")


def _sim(rng, n_objects=1, n=90, period=0.731, amps=(30.0, 50.0, 40.0), nterms=1, noise=1.0,
         baseline=300.0):
    """Sinusoids (plus a second harmonic when nterms=2) in three bands, exact model data."""
    t, f, e, b, truth = [], [], [], [], []
    for _ in range(n_objects):
        tt = np.sort(rng.uniform(0.0, baseline, n)) + 60000.0
        bb = rng.integers(0, 3, n)
        tc = tt - tt.mean()
        mean = np.array([1000.0, 1500.0, 1300.0])
        ph = rng.uniform(-np.pi, np.pi, 3)
        y = mean[bb] + np.asarray(amps)[bb] * np.cos(2 * np.pi * tc / period + ph[bb])
        if nterms == 2:
            y += 0.3 * np.asarray(amps)[bb] * np.cos(4 * np.pi * tc / period + 2 * ph[bb] + 0.5)
        err = noise * rng.uniform(1.0, 2.0, n)
        t.append(tt)
        f.append(y + err * rng.normal(size=n))
        e.append(err)
        b.append(np.asarray(BANDS)[bb])
        truth.append(dict(mean=mean, amp=np.asarray(amps), phase=ph))
    batch = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e, band=b, bands=BANDS)
    return batch, truth


def _one(batch, i=0, dtype="float64"):
    return jax.tree_util.tree_map(lambda x: x[i], batch.to_jax(dtype))


def test_basis_columns_and_phase_reduction(rng):
    t = jnp.asarray(rng.uniform(-2000, 2000, 50))
    X = fourier_basis(t, 1.37, 3)
    assert X.shape == (50, 7)
    for k in range(1, 4):
        np.testing.assert_allclose(X[:, 2 * k - 1], np.cos(2 * np.pi * k * 1.37 * np.asarray(t)), atol=1e-9)
        np.testing.assert_allclose(X[:, 2 * k], np.sin(2 * np.pi * k * 1.37 * np.asarray(t)), atol=1e-9)
    np.testing.assert_array_equal(X[:, 0], 1.0)


def test_constructor_validation():
    with pytest.raises(ValueError, match="nterms must be a positive integer"):
        FourierSeries(0)
    with pytest.raises(ValueError, match="period must be a positive finite number"):
        FourierSeries(1, period=-1.0)
    with pytest.raises(ValueError, match="period_range must satisfy 0 < min < max"):
        FourierSeries(1, period_range=(2.0, 1.0))
    assert FourierSeries(2, period=1.0).param_names == ()
    assert FourierSeries(2).param_names == ("period",)
    assert hash(FourierSeries(2)) == hash(FourierSeries(2))


@pytest.mark.parametrize("nterms", [1, 2])
def test_linear_solution_matches_lstsq_and_derived_convention(rng, nterms):
    batch, truth = _sim(rng, nterms=nterms)
    lc = _one(batch)
    model = FourierSeries(nterms)
    P = 0.731
    params = {"period": jnp.asarray(P)}
    sol = model.linear(params, lc)
    m = 2 * nterms + 1
    t, y, e, band = (np.asarray(a) for a in (lc.t, lc.flux, lc.flux_err, lc.band))
    mask = np.asarray(lc.mask)
    cols = [np.ones_like(t)]
    for k in range(1, nterms + 1):
        cols += [np.cos(2 * np.pi * k * t / P), np.sin(2 * np.pi * k * t / P)]
    X = np.stack(cols, 1)
    for j in range(3):
        sel = mask & (band == j)
        coef, *_ = np.linalg.lstsq(X[sel] / e[sel, None], y[sel] / e[sel], rcond=None)
        np.testing.assert_allclose(sol.coef[j * m:(j + 1) * m], coef, rtol=1e-8, atol=1e-8)
    # derived amplitudes and phases reproduce the model: mean + sum amp cos(2 pi k t / P + phase)
    d = model.derived(params, sol.coef, batch.bands)
    assert tuple(d) == model.derived_names(batch.bands)
    tt = jnp.linspace(-100, 100, 7)
    for j, bn in enumerate(BANDS):
        pred = model.predict(params, lc, t=tt, band=jnp.full(7, j))
        ref = d[f"mean_{bn}"] + sum(d[f"amp{k}_{bn}"] * jnp.cos(2 * jnp.pi * k * tt / P + d[f"phase{k}_{bn}"])
                                    for k in range(1, nterms + 1))
        np.testing.assert_allclose(pred, ref, rtol=1e-11)
    # close to the truth at the true period (noise is small)
    for j, bn in enumerate(BANDS):
        np.testing.assert_allclose(d[f"amp1_{bn}"], truth[0]["amp"][j], rtol=0.1)
        assert abs(np.angle(np.exp(1j * (float(d[f"phase1_{bn}"]) - truth[0]["phase"][j])))) < 0.1


def test_loglike_is_gaussian_in_residuals(rng):
    batch, _ = _sim(rng)
    lc = _one(batch)
    model = FourierSeries(1)
    params = {"period": jnp.asarray(0.7305)}
    r = model.residuals(params, lc)
    mask = np.asarray(lc.mask)
    e = np.asarray(lc.flux_err)[mask]
    ref = -0.5 * np.sum(np.asarray(r) ** 2) - np.sum(np.log(e)) - 0.5 * mask.sum() * np.log(2 * np.pi)
    np.testing.assert_allclose(model.loglike(params, lc), ref, rtol=1e-12)
    np.testing.assert_allclose(model.chi2(params, lc), np.sum(np.asarray(r) ** 2), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(r)[~mask], 0.0)


def test_jit_vmap_padding_and_grads(rng):
    batch, _ = _sim(rng, n_objects=3, n=40)
    model = FourierSeries(2)
    periods = jnp.asarray([0.731, 0.74, 0.72])
    jb = batch.to_jax("float64")
    f = lambda lc, p: model.loglike({"period": p}, lc)  # noqa: E731
    batched = jax.jit(jax.vmap(f))(jb, periods)
    loop = [f(_one(batch, i), periods[i]) for i in range(3)]
    np.testing.assert_allclose(batched, loop, rtol=1e-12)
    wide = batch.pad_to(batch.n_max + 11)
    np.testing.assert_allclose(jax.vmap(f)(wide.to_jax("float64"), periods), batched, rtol=1e-12)
    lc = _one(batch)
    check_grads(lambda p: model.marginal_loglike({"period": p}, lc), (jnp.asarray(0.731),), order=1,
                modes=["rev"], eps=1e-7, rtol=1e-4)


def test_float32_close_to_float64(rng, tol):
    batch, _ = _sim(rng, n=80)
    model = FourierSeries(1)
    out = {}
    for dt in ("float32", "float64"):
        with precision(dt):
            lc = _one(batch, dtype=dt)
            p = jnp.asarray(0.731, dtype=dt)
            sol = model.linear({"period": p}, lc)
            out[dt] = (model.loglike({"period": p}, lc), sol.coef, np.sqrt(np.diagonal(sol.cov)))
            assert out[dt][0].dtype == np.dtype(dt)
    ll32, ll64 = (float(out[d][0]) for d in ("float32", "float64"))
    # in log-likelihood units: differences far below 0.5 do not change any inference (S/N ~ 1000
    # data: float32 rounding of the ~1500 nJy fluxes alone moves chi2 by ~0.01)
    assert abs(ll32 - ll64) < tol("float32", f32=5e-2)
    # coefficients agree to a small fraction of their statistical errors
    dev = np.abs(np.asarray(out["float32"][1], np.float64) - out["float64"][1]) / out["float64"][2]
    assert dev.max() < tol("float32", f32=1e-2)


def test_grid_starts_find_the_period(rng):
    batch, _ = _sim(rng, n_objects=4, n=60, period=1.913)
    # an object with no valid point: NaN fluxes are dropped by the batch constructor
    with pytest.warns(ts.DataQualityWarning):
        empty = ts.LightCurveBatch.from_arrays(t=[np.arange(3.0) + 60000], flux=[np.full(3, np.nan)],
                                               flux_err=[np.ones(3)], band=[np.array(["g"] * 3)], bands=BANDS)
    t = [np.asarray(batch.mjd[i][batch.mask[i]]) for i in range(4)] + [np.arange(3.0) + 60000]
    f = [np.asarray(batch.flux[i][batch.mask[i]]) for i in range(4)] + [np.full(3, np.nan)]
    e = [np.asarray(batch.flux_err[i][batch.mask[i]]) for i in range(4)] + [np.ones(3)]
    b = [np.asarray(BANDS)[batch.band[i][batch.mask[i]]] for i in range(4)] + [np.array(["g"] * 3)]
    with pytest.warns(ts.DataQualityWarning):
        both = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e, band=b, bands=BANDS)
    assert len(empty) == 1
    p = grid_starts(both, nterms=1, fmin=1 / 10.0, fmax=1 / 0.2, oversample=5.0, n_peaks=3)
    assert p.shape == (5, 3)
    # the best peak is within the grid spacing of the truth (baseline ~300 d)
    np.testing.assert_allclose(p[:4, 0], 1.913, rtol=1.913 / (5 * 250))
    np.testing.assert_allclose(p[4], np.sqrt(10.0 * 0.2))
    starts = FourierSeries(1, period_range=(0.2, 10.0)).init(both, 2)
    assert starts["period"].shape == (5, 2)
    assert FourierSeries(1, period=2.0).init(both, 2) == {}
