"""Multiband (VanderPlas & Ivezić 2015) kernel against astropy's LombScargleMultiband(flexible)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from astropy.timeseries import LombScargleMultiband

from tsmodels.kernels import lombscargle as K
from tsmodels.kernels import multiband as MB

_STATIC = ("n_bands", "nterms_base", "nterms_band", "reg_base", "reg_band", "regularize_by_trace",
           "center_data", "normalization", "method")
power = jax.jit(MB.power, static_argnames=_STATIC)
F0, DF, NF = 0.05, 0.0013, 250
FREQ = F0 + DF * np.arange(NF)
NAMES = np.array(list("gri"))


def _data(rng, n=100):
    t = np.sort(rng.uniform(0, 300, n))
    band = rng.integers(0, 3, n)
    y = (1 + 0.3 * band) * np.sin(2 * np.pi * t / 0.61 + band) + 2.0 * band + rng.normal(0, 0.5, n)
    dy = rng.uniform(0.3, 0.8, n)
    return t, y, dy, band


_GRID = [(nb, nd, rb, rd, True, True) for nb, nd in [(1, 1), (0, 1), (2, 1), (1, 2), (1, 0)]
         for rb, rd in [(None, 1e-6), (1e-3, 1e-2)]]
_GRID += [(1, 1, None, 1e-6, cd, dy) for cd, dy in [(False, True), (True, False), (False, False)]]
_GRID += [(2, 2, None, 1e-6, False, False)]


@pytest.mark.parametrize("nterms_base,nterms_band,reg_base,reg_band,center_data,with_dy", _GRID)
def test_matches_astropy_flexible(rng, nterms_base, nterms_band, reg_base, reg_band, center_data,
                                  with_dy):
    t, y, dy, band = _data(rng)
    dy = dy if with_dy else None
    ref = LombScargleMultiband(t, y, NAMES[band], dy, nterms_base=nterms_base,
                               nterms_band=nterms_band, reg_base=reg_base, reg_band=reg_band,
                               center_data=center_data).power(FREQ, method="flexible")
    got = power(t, y, dy, band, K.FrequencyGrid(F0, DF, NF), n_bands=3, nterms_base=nterms_base,
                nterms_band=nterms_band, reg_base=reg_base, reg_band=reg_band,
                center_data=center_data)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=0, atol=1e-6)
    assert np.abs(np.asarray(got) - ref).max() < 1e-10      # in practice: rounding level


def test_unregularized_is_least_squares_projection(rng):
    """reg_base = reg_band = None: the exact least-squares answer (dependent columns dropped)."""
    t, y, dy, band = _data(rng)
    f = FREQ[::25]
    got = np.asarray(power(t, y, dy, band, f, n_bands=3, nterms_base=1, nterms_band=2,
                           reg_base=None, reg_band=None))
    for i, fi in enumerate(f):
        X = [np.ones_like(t), np.sin(2 * np.pi * fi * t), np.cos(2 * np.pi * fi * t)]
        for b in range(3):
            m = (band == b).astype(float)
            X += [m] + [m * g(2 * np.pi * h * fi * t) for h in (1, 2) for g in (np.sin, np.cos)]
        X = np.stack(X, 1) / dy[:, None]
        means = np.array([np.average(y[band == b], weights=dy[band == b] ** -2) for b in range(3)])
        yw = (y - means[band]) / dy
        coef = np.linalg.lstsq(X, yw, rcond=None)[0]
        ref = 1 - np.sum((yw - X @ coef) ** 2) / np.sum(yw ** 2)
        assert abs(got[i] - ref) < 1e-9


def test_regularize_by_trace_false(rng):
    t, y, dy, band = _data(rng)
    ref = LombScargleMultiband(t, y, NAMES[band], dy, reg_band=0.5, regularize_by_trace=False
                               ).power(FREQ, method="flexible")
    got = power(t, y, dy, band, FREQ, n_bands=3, reg_band=0.5, regularize_by_trace=False)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=0, atol=1e-9)


def test_padded_and_absent_band(rng):
    """Padding contributes nothing; a band with no point (index 3 here) changes nothing."""
    t, y, dy, band = _data(rng)
    ref = np.asarray(power(t, y, dy, band, FREQ, n_bands=3))
    pad = 25
    tp = np.concatenate([t, np.full(pad, t[-1])])
    yp = np.concatenate([y, rng.normal(0, 50, pad)])
    dyp = np.concatenate([dy, np.ones(pad)])
    bp = np.concatenate([band, np.full(pad, 3)])
    mask = np.arange(t.size + pad) < t.size
    got = np.asarray(power(tp, yp, dyp, bp, FREQ, n_bands=5, mask=mask))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_fast_close_to_direct(rng):
    t, y, dy, band = _data(rng, n=200)
    grid = K.FrequencyGrid(0.01, 1 / 300 / 5, 4000)
    exact = np.asarray(power(t, y, dy, band, grid, n_bands=3))
    fast = np.asarray(power(t, y, dy, band, grid, n_bands=3, method="fast"))
    assert 1e-14 < np.abs(fast - exact).max() < 1e-4


def test_float32_close_to_float64(rng):
    t, y, dy, band = _data(rng, n=300)
    grid = K.FrequencyGrid(0.01, 1 / 300 / 5, 4000)
    p64 = np.asarray(power(t, y, dy, band, grid, n_bands=3))
    with jax.enable_x64(False):
        g32 = K.FrequencyGrid.from_float64(0.01, 1 / 300 / 5, 4000, np.float32)
        p32 = power(t.astype(np.float32), y.astype(np.float32), dy.astype(np.float32), band, g32,
                    n_bands=3)
        assert p32.dtype == np.float32
    assert np.abs(np.asarray(p32, np.float64) - p64).max() < 1e-3


def test_other_normalizations_follow_standard(rng):
    t, y, dy, band = _data(rng)
    std = np.asarray(power(t, y, dy, band, FREQ, n_bands=3))
    chi2_ref = sum(np.sum(((y - np.average(y[band == b], weights=dy[band == b] ** -2)) / dy)[band == b] ** 2)
                   for b in range(3))
    np.testing.assert_allclose(np.asarray(power(t, y, dy, band, FREQ, n_bands=3, normalization="model")),
                               std / (1 - std), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(power(t, y, dy, band, FREQ, n_bands=3, normalization="log")),
                               -np.log1p(-std), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(power(t, y, dy, band, FREQ, n_bands=3, normalization="psd")),
                               0.5 * chi2_ref * std, rtol=1e-10)


def test_bad_options(rng):
    t, y, dy, band = _data(rng, n=10)
    with pytest.raises(ValueError, match="not both 0"):
        MB.power(t, y, dy, band, FREQ, n_bands=3, nterms_base=0, nterms_band=0)


def test_band_size_capacity(rng):
    """Per-band lists of capacity >= the fullest band give the full-length result exactly; a
    smaller capacity drops points (the batched layer never passes one)."""
    t, y, dy, band = _data(rng)
    most = max(np.sum(band == b) for b in range(3))
    full, exact_fit, short = jax.jit(lambda *a: [
        MB.power(*a, FREQ, n_bands=3), MB.power(*a, FREQ, n_bands=3, band_size=int(most)),
        MB.power(*a, FREQ, n_bands=3, band_size=int(most) - 5)])(t, y, dy, band)
    np.testing.assert_allclose(np.asarray(exact_fit), np.asarray(full), rtol=0, atol=1e-13)
    assert np.abs(np.asarray(short) - np.asarray(full)).max() > 1e-3
