"""False-alarm probabilities: astropy's numbers, and calibration on pure-noise simulations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.timeseries.periodograms.lombscargle import _statistics as astat

from tsmodels import simulate
from tsmodels.kernels import fap as FAP
from tsmodels.lightcurves import LightCurveBatch
from tsmodels.periodogram import (
    _bootstrap_max,
    _permute_within_bands,
    false_alarm_level,
    false_alarm_probability,
    lombscargle,
    lombscargle_multiband,
)


@pytest.mark.parametrize("normalization", ["standard", "model", "log", "psd"])
@pytest.mark.parametrize("method", ["baluev", "davies", "naive", "single"])
def test_matches_astropy(rng, normalization, method):
    n = 57
    t = np.sort(rng.uniform(0, 90, n))
    dy = rng.uniform(0.5, 1.5, n)
    y = rng.normal(0, 1, n)
    fmax = 4.0
    z = {"standard": [0.05, 0.2, 0.4], "model": [0.1, 0.4, 0.9], "log": [0.1, 0.3, 0.6],
         "psd": [3.0, 8.0, 14.0]}[normalization]
    ref = astat.false_alarm_probability(np.array(z), fmax, t, y, dy, normalization=normalization,
                                        method=method)
    nn, base, var = FAP.lightcurve_stats(t, dy)
    got = FAP.false_alarm_probability(np.array(z), fmax=fmax, n=nn, baseline=base, t_var=var,
                                      normalization=normalization, method=method)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-9, atol=1e-14)
    if method in ("baluev", "naive", "single"):
        level = FAP.false_alarm_level(np.asarray(got), fmax=fmax, n=nn, baseline=base, t_var=var,
                                      normalization=normalization, method=method)
        ok = (np.asarray(got) > 1e-10) & (np.asarray(got) < 0.9)    # invertible range
        assert ok.any()
        np.testing.assert_allclose(np.asarray(level)[ok], np.array(z)[ok], rtol=1e-7)


def test_generalized_reduces_to_baluev_for_two_parameters(rng):
    n = 80
    t = np.sort(rng.uniform(0, 200, n))
    nn, base, var = FAP.lightcurve_stats(t)
    z = np.array([0.1, 0.2, 0.3])
    ref = FAP.false_alarm_probability(z, fmax=3.0, n=nn, baseline=base, t_var=var)
    gen = FAP.fap_generalized(z, fmax=3.0, n=nn, t_var=var, d=2, n_null=1)
    # same tau; Baluev's single-frequency term (1 - z)^(N_K/2) is the Beta(1, N_K/2) tail
    np.testing.assert_allclose(np.asarray(gen), np.asarray(ref), rtol=1e-6)


def _noise_batch(rng, n_obj, n_pts, bands):
    """Uniformly random times over 100 days, a random band per point, Gaussian noise."""
    t = [np.sort(rng.uniform(0, 100, n_pts)) for _ in range(n_obj)]
    b = [rng.choice(list(bands), n_pts) for _ in range(n_obj)]
    dy = [rng.uniform(0.5, 1.5, n_pts) for _ in range(n_obj)]
    y = [rng.normal(0, d) + 5.0 for d in dy]
    return LightCurveBatch.from_arrays(t=t, flux=y, flux_err=dy, band=b)


def _lsst_noise_batch(n_obj, n_visits, bands, seed):
    """Constant sources on the LSST-like cadence of :mod:`tsmodels.simulate` (one 6-8 month
    season in one year, one visit per night around local midnight, LSST error model), bands
    drawn with equal probability."""
    batch, _ = simulate.constant(n_obj, n_years=1.0, n_visits=n_visits, bands=bands,
                                 band_fractions={b: 1.0 for b in bands}, seed=seed)
    return batch


def _rates(fap):
    return np.array([np.mean(fap <= 0.01), np.mean(fap <= 0.05)])


NOMINAL = np.array([0.01, 0.05])


def _assert_calibrated(rates):
    """Empirical false-alarm rates within a factor 1.5 of nominal, both ways."""
    assert np.all(rates >= NOMINAL / 1.5), rates / NOMINAL
    assert np.all(rates <= NOMINAL * 1.5), rates / NOMINAL


def test_single_band_baluev_calibrated_on_noise(rng):
    batch = _noise_batch(rng, 3000, 40, "r")
    freq = 0.005 + 0.002 * np.arange(1500)                        # fmax = 3 /day
    f, p = lombscargle(batch, freq, method="direct")
    fap = false_alarm_probability(p.max(axis=1), batch, f)
    _assert_calibrated(_rates(fap))


def test_multiband_stats_counts_and_variances():
    """d, n_null and the component-mean time variance of the generalized approximation."""
    rng = np.random.default_rng(3)
    t = np.concatenate([rng.uniform(0, 50, 10), [20.0, 30.0, 40.0], [7.0], rng.uniform(0, 90, 12)])
    band = np.repeat([0, 1, 2, 3], [10, 3, 1, 12])
    dy = rng.uniform(0.5, 1.5, t.size)
    mask = np.ones(t.size, bool)
    w = dy ** -2.0

    def var(sel):
        ww = w[sel] / w[sel].sum()
        return np.sum(ww * (t[sel] - np.sum(ww * t[sel])) ** 2)

    v0, v3 = var(band == 0), var(band == 3)
    # nterms_band = 1: bands 0 and 3 carry a sinusoid each; band 1 (3 points) is fitted exactly
    # (2 components that do not move with frequency); band 2 (1 point) only has its mean
    n, n_null, d, tv = FAP.multiband_stats(t, dy, band, mask, n_bands=5)
    assert (float(n), float(n_null), float(d)) == (26.0, 4.0, 6.0)
    np.testing.assert_allclose(float(tv), (2 * v0 + 2 * v3) / 6, rtol=1e-12)
    # a shared second harmonic (nterms_base = 2) over the pooled within-band variance
    n, n_null, d, tv = FAP.multiband_stats(t, dy, band, mask, n_bands=5, nterms_base=2)
    pool = sum(w[band == b].sum() * var(band == b) for b in (0, 1, 3)) / w[band != 2].sum()
    assert float(d) == 8.0
    np.testing.assert_allclose(float(tv), (2 * v0 + 2 * v3 + 2 * 4 * pool) / 8, rtol=1e-12)
    # padded points count for nothing
    n2, nn2, d2, tv2 = FAP.multiband_stats(np.append(t, 99.0), np.append(dy, 1.0),
                                           np.append(band, 4), np.append(mask, False), n_bands=5)
    assert (float(n2), float(nn2), float(d2)) == (26.0, 4.0, 6.0)
    np.testing.assert_allclose(float(tv2), (2 * v0 + 2 * v3) / 6, rtol=1e-12)
    # jit + vmap over light curves (as the periodogram layer calls it) equals one at a time
    tt = np.stack([np.append(t, 99.0), np.append(t[::-1], 5.0)])
    bb = np.stack([np.append(band, 4), np.append(band[::-1], 0)])
    dd = np.stack([np.append(dy, 1.0), np.append(dy[::-1], 2.0)])
    mm = np.stack([np.append(mask, False), np.append(mask, True)])
    batched = jax.jit(jax.vmap(lambda *a: FAP.multiband_stats(*a, n_bands=5)))(tt, dd, bb, mm)
    for i in range(2):
        one = FAP.multiband_stats(tt[i], dd[i], bb[i], mm[i], n_bands=5)
        np.testing.assert_allclose([float(x[i]) for x in batched], [float(x) for x in one],
                                   rtol=1e-12)
    # one band, nterms_band = m, no base: the single-band nterms = m model
    n, n_null, d, tv = FAP.multiband_stats(t, dy, np.zeros(t.size, int), mask, n_bands=1,
                                           nterms_base=0, nterms_band=2)
    _, _, v_all = FAP.lightcurve_stats(t, dy)
    assert (float(n_null), float(d)) == (1.0, 4.0)
    np.testing.assert_allclose(float(tv), float(v_all) * (1 + 4) / 2, rtol=1e-10)


def test_generalized_grid_average():
    """The grid-step average lowers tau, tends to the continuous value as df -> 0, and is the
    continuous tau at the level z exp(lambda eps^2) for each offset."""
    kw = dict(fmax=2.0, n=45.0, t_var=800.0, d=6.0, n_null=3.0)
    z = np.array([0.3, 0.4, 0.5])
    cont = np.asarray(FAP.fap_generalized(z, **kw))
    fine = np.asarray(FAP.fap_generalized(z, df=1e-6, **kw))
    coarse = np.asarray(FAP.fap_generalized(z, df=0.002, **kw))
    np.testing.assert_allclose(fine, cont, rtol=1e-6)
    assert np.all(coarse < cont) and np.all(coarse > 0.5 * cont)
    jitted = jax.jit(lambda z_: FAP.fap_generalized(z_, df=0.002, **kw))(z)
    np.testing.assert_allclose(np.asarray(jitted), coarse, rtol=1e-12)
    # by hand: 8-point Gauss-Legendre over eps in [0, df/2]
    x, wq = np.polynomial.legendre.leggauss(8)
    lam = 4 * np.pi ** 2 * kw["t_var"]
    tau = sum(0.5 * wi * np.asarray(FAP.tau_generalized(
        np.minimum(z * np.exp(lam * (0.5 * 0.002 * 0.5 * (xi + 1)) ** 2), 1.0), **kw))
        for xi, wi in zip(x, wq))
    fs = np.asarray(FAP.fap_generalized(z, **{**kw, "fmax": 0.0}))   # tau = 0: FAP_1 alone
    np.testing.assert_allclose(coarse, 1 - (1 - fs) * np.exp(-tau), rtol=1e-10)
    # the searched band is [fmin, fmax]
    np.testing.assert_allclose(np.asarray(FAP.tau_generalized(z, fmin=0.5, **kw)),
                               0.75 * np.asarray(FAP.tau_generalized(z, **kw)), rtol=1e-12)


UNIFORM_CASES = [(45, "gri"), (90, "gri"), (60, "ugrizy"), (90, "ugrizy")]


@pytest.mark.parametrize("n_pts, bands", UNIFORM_CASES,
                         ids=[f"{len(b)}x{n // len(b)}" for n, b in UNIFORM_CASES])
def test_multiband_analytic_calibrated_on_noise(rng, n_pts, bands):
    """Generalized approximation on pure noise, random times (default model and ridge)."""
    batch = _noise_batch(rng, 6000, n_pts, bands)
    freq = 0.001 + 0.002 * np.arange(1000)                  # fmax = 2 /day, 5 samples per peak
    f, p = lombscargle_multiband(batch, freq)
    fap = false_alarm_probability(p.max(axis=1), batch, f, multiband=True)
    _assert_calibrated(_rates(fap))


LSST_CASES = [(45, "gri"), (90, "gri"), (90, "ugrizy")]


@pytest.mark.parametrize("n_visits, bands", LSST_CASES,
                         ids=[f"{len(b)}x{n // len(b)}" for n, b in LSST_CASES])
def test_multiband_analytic_calibrated_on_lsst_like_noise(n_visits, bands):
    """Generalized approximation on constant sources with an LSST-like cadence (seasons, one
    visit per night), searched to 2 cycles/day (through the daily alias)."""
    batch = _lsst_noise_batch(6000, n_visits, bands, seed=11)
    f, p = lombscargle_multiband(batch, maximum_frequency=2.0)
    fap = false_alarm_probability(p.max(axis=1), batch, f, multiband=True)
    _assert_calibrated(_rates(fap))


def test_permutation_stays_within_bands():
    rng = np.random.default_rng(0)
    band = jnp.asarray(rng.integers(0, 3, 40))
    mask = jnp.asarray(np.arange(40) < 33)
    for seed in range(5):
        src = np.asarray(_permute_within_bands(jax.random.key(seed), band, mask, 3))
        assert sorted(src.tolist()) == list(range(40))                 # a permutation
        np.testing.assert_array_equal(np.asarray(band)[src], np.asarray(band))  # same band
        np.testing.assert_array_equal(src[33:], np.arange(33, 40))      # padding untouched
        assert np.all(src[:33] < 33)
        assert np.any(src[:33] != np.arange(33))


@pytest.mark.parametrize("n_pts, bands", [(40, "gr"), (15, "r")], ids=["2x20", "1x15"])
def test_bootstrap_calibrated_on_noise(rng, n_pts, bands):
    """Permutation bootstrap on pure noise: P(FAP <= a) = floor(a (n + 1)) / (n + 1), here
    0.99% and 4.95%, at any number of resamples; the rates must match both ways."""
    multiband = len(bands) > 1
    batch = _noise_batch(rng, 5000 if multiband else 8000, n_pts, bands)
    freq = 0.01 + 0.01 * np.arange(100)                           # fmax = 1 /day, coarse
    if multiband:
        f, p = lombscargle_multiband(batch, freq)
    else:
        f, p = lombscargle(batch, freq, method="direct")
    fap = false_alarm_probability(p.max(axis=1), batch, f, multiband=multiband,
                                  method="bootstrap", n_bootstraps=100, random_seed=1)
    assert np.all((fap >= 1 / 101) & (fap <= 1))
    np.testing.assert_allclose(fap * 101, np.round(fap * 101), atol=1e-9)   # (1 + count) / 101
    _assert_calibrated(_rates(fap))


def _three_objects(rng):
    out = []
    for n, bands in ((30, "gr"), (55, "gri"), (18, "ri")):
        t = np.sort(rng.uniform(0, 60, n))
        out.append((t, 3 + 2 * np.sin(2 * np.pi * 0.45 * t) + rng.normal(0, 1, n),
                    rng.uniform(0.5, 1.5, n), rng.choice(list(bands), n)))
    return out


@pytest.mark.parametrize("multiband", [True, False])
def test_bootstrap_is_per_object(rng, multiband):
    """Objects are resampled in one vmapped call; an object's FAP depends only on its data, its
    id and the seed: not on the other objects, its position in the batch or the block size."""
    objs = _three_objects(rng)
    freq = 0.05 + 0.02 * np.arange(60)                     # 0.45 /day on the grid

    def run(sel, ids, batch_size=None, workers=None):
        t, y, dy, b = (list(x) for x in zip(*[objs[i] for i in sel]))
        batch = LightCurveBatch.from_arrays(t=t, flux=y, flux_err=dy, band=b, ids=ids)
        if multiband:
            f, p = lombscargle_multiband(batch, freq)
        else:
            f, p = lombscargle(batch, freq, method="direct")
        kw = dict(multiband=multiband, n_bootstraps=64, random_seed=3)
        fap = false_alarm_probability(p.max(axis=1), batch, f, method="bootstrap", **kw,
                                      batch_size=batch_size, workers=workers)
        mask = np.asarray(batch.mask)
        kk = (dict(nterms_base=1, nterms_band=1, reg_base=None, reg_band=1e-6) if multiband
              else dict(nterms=1))
        pmax = _bootstrap_max(batch, f, (f[0], f[1] - f[0], f.size), multiband=multiband,
                              n_bootstraps=64, random_seed=3, use_errors=True, band_mask=mask,
                              dtype=None, batch_size=batch_size,
                              kernel_kwargs=dict(kk, normalization="standard", method="direct"))
        return fap, pmax

    fap_all, pmax_all = run([0, 1, 2], ["a", "b", "c"])
    fap_one, pmax_one = run([1], ["b"])
    fap_mix, pmax_mix = run([2, 0, 1], ["c", "a", "b"], batch_size=1)
    fap_w1, _ = run([0, 1, 2], ["a", "b", "c"], batch_size=1, workers=1)
    fap_w2, _ = run([0, 1, 2], ["a", "b", "c"], batch_size=1, workers=2)
    np.testing.assert_array_equal(fap_w1, fap_all)
    np.testing.assert_array_equal(fap_w2, fap_all)
    np.testing.assert_allclose(pmax_one[0], pmax_all[1], rtol=1e-12)
    np.testing.assert_allclose(pmax_mix[2], pmax_all[1], rtol=1e-12)
    np.testing.assert_allclose(pmax_mix[0], pmax_all[2], rtol=1e-12)
    assert fap_one[0] == fap_all[1] == fap_mix[2]
    # different objects get different draws; the two best-sampled periodic objects beat all
    # 64 resamples (the smallest FAP, 1 / 65)
    assert not np.allclose(pmax_all[0], pmax_all[2])
    np.testing.assert_allclose(fap_all[:2], 1 / 65, rtol=1e-12)


def test_bootstrap_level_inverts_fap(rng):
    batch = _noise_batch(rng, 4, 40, "r")
    freq = 0.02 + 0.02 * np.arange(50)
    kw = dict(method="bootstrap", n_bootstraps=50, random_seed=2)
    lev = false_alarm_level([0.1, 0.01], batch, freq, **kw)
    assert np.all(np.isinf(lev[:, 1]))                            # 0.01 < 1 / 51
    z = lev[:, 0]
    above = false_alarm_probability(z * (1 + 1e-9), batch, freq, **kw)
    at = false_alarm_probability(z, batch, freq, **kw)
    assert np.all(above <= 0.1) and np.all(at > 0.1)
