"""Bazin and Villar kernels against the ``light-curve`` package's own model functions."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import light_curve as lc
import numpy as np
import pytest
from jax.test_util import check_grads

from tsmodels.config import precision
from tsmodels.kernels.supernova import bazin_flux, villar_flux

T = np.linspace(-200.0, 500.0, 701)
BAZIN_NAMES = ("amplitude", "baseline", "t0", "rise_time", "fall_time")
VILLAR_NAMES = BAZIN_NAMES + ("plateau_slope", "plateau_duration")


def _bazin_grid():
    for a, b, t0, r, f in itertools.product((1.0, 3e4), (-50.0, 0.0, 12.0), (-30.0, 45.0),
                                            (0.3, 4.0, 30.0), (2.0, 25.0, 300.0)):
        yield np.array([a, b, t0, r, f])


def _villar_grid():
    for a, b, t0, r, f, nu, g in itertools.product((1.0, 3e4), (-50.0, 12.0), (-30.0, 45.0),
                                                   (0.3, 4.0, 30.0), (2.0, 60.0),
                                                   (0.0, 0.4, 0.95), (0.5, 20.0, 150.0)):
        yield np.array([a, b, t0, r, f, nu, g])


def _close(got, ref, rtol, p):
    # relative to the light curve's flux scale (|A| + |B|): a baseline crossing zero makes the
    # pointwise relative error of a value near 0 meaningless
    scale = np.abs(p[0]) + np.abs(p[1])
    err = np.max(np.abs(np.asarray(got, np.float64) - ref) / np.maximum(np.abs(ref), 1e-3 * scale))
    assert err < rtol, (p, err)
    return err


def test_bazin_equals_light_curve_model():
    model = lc.BazinFit("lmsder").model
    worst = 0.0
    for p in _bazin_grid():
        got = bazin_flux(T, **dict(zip(BAZIN_NAMES, p)))
        assert got.dtype == jnp.float64
        worst = max(worst, _close(got, model(T, p), 1e-10, p))
    assert worst < 1e-10


def test_villar_equals_light_curve_model():
    model = lc.VillarFit("lmsder").model
    for p in _villar_grid():
        got = villar_flux(T, **dict(zip(VILLAR_NAMES, p)))
        assert got.dtype == jnp.float64
        _close(got, model(T, p), 1e-10, p)


def test_signs_follow_light_curve():
    """light-curve uses |A| and |timescales| (and Villar's |nu|, |gamma|): so do the kernels."""
    p = np.array([100.0, 5.0, 10.0, 3.0, 20.0, 0.3, 15.0])
    neg = p * np.array([-1, 1, 1, -1, -1, -1, -1])
    np.testing.assert_allclose(villar_flux(T, **dict(zip(VILLAR_NAMES, neg))),
                               lc.VillarFit("lmsder").model(T, neg), rtol=1e-12)
    np.testing.assert_allclose(bazin_flux(T, **dict(zip(BAZIN_NAMES, neg[:5]))),
                               lc.BazinFit("lmsder").model(T, neg[:5]), rtol=1e-12)


def test_float32_close_to_float64():
    """float32: error below ``8 eps32 (1 + |t - t0| / min(tau))`` relative to ``|f| + |A| + |B|``
    (the rounding of the exponent arguments ``(t - t0) / tau`` dominates), where the flux is
    within float32's range."""
    eps = float(np.finfo(np.float32).eps)
    for fn, names, grid in ((bazin_flux, BAZIN_NAMES, _bazin_grid()),
                            (villar_flux, VILLAR_NAMES, _villar_grid())):
        for p in itertools.islice(grid, 0, None, 7):
            ref = np.asarray(fn(T, **dict(zip(names, p))))
            with precision("float32"):
                got = fn(jnp.asarray(T, jnp.float32), **{k: jnp.float32(v) for k, v in zip(names, p)})
            assert got.dtype == jnp.float32
            bound = 8 * eps * (1 + np.abs(T - p[2]) / min(p[3], p[4])) * (np.abs(ref) + abs(p[0]) + abs(p[1]))
            ok = np.abs(ref) < 1e30  # beyond float32's range (fall_time < rise_time, far before t0)
            assert np.all((np.abs(np.asarray(got, np.float64) - ref) <= bound)[ok]), p


def test_finite_far_from_peak_and_gradients():
    t = jnp.asarray([-1e5, -3e3, -50.0, 0.0, 10.0, 3e3, 1e5])
    kw = dict(amplitude=100.0, baseline=1.0, t0=0.0, rise_time=0.1, fall_time=0.5)
    f = bazin_flux(t, **kw)
    assert np.all(np.isfinite(f))
    np.testing.assert_allclose(np.asarray(f)[[0, -1]], 1.0)
    vw = dict(kw, plateau_slope=0.3, plateau_duration=5.0)
    assert np.all(np.isfinite(villar_flux(t, **vw)))
    for fn, k in ((bazin_flux, kw), (villar_flux, vw)):
        g = jax.grad(lambda t0: jnp.sum(fn(t, **dict(k, t0=t0))))(0.5)
        assert np.isfinite(g)
    check_grads(lambda t0, r, f: bazin_flux(T[::50], amplitude=3.0, baseline=0.1, t0=t0,
                                            rise_time=r, fall_time=f),
                (3.0, 4.0, 25.0), order=1, modes=["rev"], eps=1e-6)
    check_grads(lambda t0, r, f, nu, g: villar_flux(T[::50] + 0.37, amplitude=3.0, baseline=0.1,
                                                    t0=t0, rise_time=r, fall_time=f,
                                                    plateau_slope=nu, plateau_duration=g),
                (3.0, 4.0, 25.0, 0.3, 20.0), order=1, modes=["rev"], eps=1e-6)


def test_jit_and_vmap():
    kw = dict(amplitude=100.0, baseline=1.0, t0=0.0, rise_time=3.0, fall_time=30.0)
    eager = bazin_flux(T, **kw)
    np.testing.assert_allclose(jax.jit(lambda t: bazin_flux(t, **kw))(T), eager, rtol=1e-13)
    t0s = jnp.asarray([-5.0, 0.0, 5.0])
    got = jax.vmap(lambda t0: bazin_flux(T, **dict(kw, t0=t0)))(t0s)
    for i, t0 in enumerate(t0s):
        np.testing.assert_allclose(got[i], bazin_flux(T, **dict(kw, t0=t0)), rtol=1e-13)


@pytest.mark.no_x64
def test_float64_by_default_without_scope():
    assert not jax.config.jax_enable_x64
    kw = dict(amplitude=100.0, baseline=1.0, t0=0.0, rise_time=3.0, fall_time=30.0)
    assert bazin_flux(T, **kw).dtype == jnp.float64
    assert villar_flux(T, **kw, plateau_slope=0.2, plateau_duration=10.0).dtype == jnp.float64
    assert jax.jit(lambda t: bazin_flux(t, **kw))(T).dtype == jnp.float32
