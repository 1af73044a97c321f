"""PSPL microlensing kernels against MulensModel (version 3) on random parameters and on two
public OGLE events (data in tests/data/microlensing)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts

ml = ts.kernels.microlensing
MulensModel = pytest.importorskip("MulensModel")
DATA = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "microlensing"


def _mm_magnification(t, t0, u0, tE):
    model = MulensModel.Model({"t_0": t0, "u_0": u0, "t_E": tE})
    return model.get_magnification(t)


def test_magnification_matches_mulensmodel(rng):
    """``MulensModel.Model({t_0, u_0, t_E}).get_magnification(time)`` (PointLens), 40 random
    (t0, u0, tE) sets including negative u0, 200 absolute HJDs each: relative difference < 1e-6
    in float64 (observed 4e-16) and < 1e-5 in float32 (observed 2e-7) on centred times."""
    worst64 = worst32 = 0.0
    for _ in range(40):
        t0 = 2455000.0 + rng.uniform(-500, 500)
        u0 = rng.uniform(0.001, 1.5) * rng.choice([-1.0, 1.0])
        tE = 10 ** rng.uniform(0, 2.5)
        t = t0 + rng.uniform(-4, 4, 200) * tE
        ref = _mm_magnification(t, t0, u0, tE)
        got = np.asarray(ml.pspl_magnification(t, t0=t0, u0=u0, tE=tE))
        worst64 = max(worst64, np.max(np.abs(got / ref - 1)))
        got32 = np.asarray(ml.pspl_magnification(jnp.asarray(t - t0, jnp.float32), t0=jnp.float32(0),
                                                 u0=jnp.float32(u0), tE=jnp.float32(tE)))
        assert got32.dtype == np.float32
        worst32 = max(worst32, np.max(np.abs(got32 / ref - 1)))
    assert worst64 < 1e-6
    assert worst32 < 1e-5


def test_bad_timescale_gives_nan():
    for tE in (0.0, -3.0, np.nan):
        assert np.all(np.isnan(np.asarray(ml.pspl_magnification(np.arange(3.0), t0=1.0, u0=0.1, tE=tE))))


def _load(name, add=2450000.0):
    d = np.loadtxt(DATA / name)
    return d[:, 0] + add, d[:, 1], d[:, 2]


def _chi2_ours(t, mag, err, t0, u0, tE, pad=0):
    flux, ferr = ml.mag_to_flux(mag, err)
    flux, ferr = np.asarray(flux), np.asarray(ferr)
    mask = np.ones(t.size, bool)
    if pad:
        t, flux, ferr = (np.concatenate([a, np.full(pad, v)]) for a, v in ((t, t0), (flux, 1e9), (ferr, 1e-9)))
        mask = np.concatenate([mask, np.zeros(pad, bool)])
    A = ml.pspl_magnification(t - t0, t0=0.0, u0=u0, tE=tE)
    return ml.linear_fluxes(A, flux, ferr, mask, np.zeros(t.size, np.int32), n_bands=1)


def _chi2_mm(t, mag, err, t0, u0, tE):
    data = MulensModel.MulensData(data_list=[t, mag, err], phot_fmt="mag")
    model = MulensModel.Model({"t_0": t0, "u_0": u0, "t_E": tE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MulensModel.FitData(model=model, dataset=data)
        fit.fit_fluxes()
        fit.update()
    return fit.chi2, fit.source_flux, fit.blend_flux


@pytest.mark.parametrize("name,add,pars,quoted", [
    ("phot_ob08092_O4.dat", 2450000.0, (2455379.57091, 0.5230, 17.940), 427.20),
    ("starBLG234.6.I.218982.dat", 2450000.0, (2453628.27945, 0.37463, 101.97260), 1359.36),
])
def test_chi2_with_linear_fluxes_matches_mulensmodel(name, add, pars, quoted):
    """Magnitudes to flux with a 22 mag zero point, chi2 in flux space with source and blend
    fluxes solved linearly: the same chi2 (to 0.01) and fluxes as MulensModel's ``FitData``, and
    the published chi2 (to 0.1). Padding (mask False) changes nothing."""
    t, mag, err = _load(name, add)
    fs, fb, chi2, ok = _chi2_ours(t, mag, err, *pars)
    ref, rfs, rfb = _chi2_mm(t, mag, err, *pars)
    assert bool(ok[0])
    assert abs(float(chi2) - ref) < 0.01
    assert abs(float(chi2) - quoted) < 0.1
    np.testing.assert_allclose(float(fs[0]), rfs, rtol=1e-8)
    np.testing.assert_allclose(float(fb[0]), rfb, rtol=1e-7, atol=1e-8 * abs(rfs))
    fs2, fb2, chi22, _ = _chi2_ours(t, mag, err, *pars, pad=17)
    np.testing.assert_allclose(float(chi22), float(chi2), rtol=1e-12)


def test_degenerate_band_is_flagged_and_traceable(rng):
    """A band with no point gives zero fluxes, ok False and no chi2 contribution; jit/vmap keep
    the caller's dtype; the chi2 gradient in (t0, u0, tE) is finite and matches differences."""
    t = np.linspace(-30, 30, 60)
    A = np.asarray(ml.pspl_magnification(t, t0=0.0, u0=0.3, tE=10.0))
    flux = 2.0 * A + 1.0 + rng.normal(0, 0.01, t.size)
    err = np.full(t.size, 0.01)
    fs, fb, chi2, ok = ml.linear_fluxes(A, flux, err, np.ones(t.size, bool), np.zeros(t.size, np.int32), n_bands=2)
    assert list(np.asarray(ok)) == [True, False] and float(fs[1]) == 0.0 and float(fb[1]) == 0.0
    np.testing.assert_allclose([float(fs[0]), float(fb[0])], [2.0, 1.0], atol=0.02)

    def f(p):
        a = ml.pspl_magnification(t, t0=p[0], u0=p[1], tE=p[2])
        return ml.linear_fluxes(a, flux, err, np.ones(t.size, bool), np.zeros(t.size, np.int32))[2]

    f = jax.jit(f)
    p = np.array([0.3, 0.25, 11.0])
    g = np.asarray(jax.jit(jax.grad(f))(p))
    assert np.all(np.isfinite(g))
    h = 1e-6
    fd = [(float(f(p + h * e)) - float(f(p - h * e))) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    f32 = jax.jit(jax.vmap(lambda t0: ml.pspl_magnification(jnp.asarray(t, jnp.float32), t0=t0, u0=0.3, tE=10.0)))
    assert f32(jnp.zeros(2, jnp.float32)).dtype == jnp.float32
