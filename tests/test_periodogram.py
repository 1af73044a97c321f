"""Batched periodograms, FAP, peaks and the astropy-like facades against astropy."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time
from astropy.timeseries import LombScargle as ALS
from astropy.timeseries import LombScargleMultiband as ALSM
from astropy.timeseries.periodograms.lombscargle import _statistics as astat

from tsmodels import periodogram as P
from tsmodels.lightcurves import LightCurveBatch


@pytest.fixture
def objects(rng):
    out = []
    for i in range(6):
        n = int(rng.integers(40, 110))
        t = 55000 + np.sort(rng.uniform(0, 400, n))
        b = rng.choice(list("gri"), n)
        y = 100 + 5 * np.sin(2 * np.pi * t / (0.35 + 0.1 * i)) + rng.normal(0, 1.5, n)
        dy = rng.uniform(1.0, 2.0, n)
        out.append((t, y, dy, b))
    return out


@pytest.fixture
def batch(objects):
    t, y, dy, b = zip(*objects)
    return LightCurveBatch.from_arrays(t=list(t), flux=list(y), flux_err=list(dy), band=list(b))


FREQ = 0.01 + 0.0011 * np.arange(3000)


@pytest.mark.parametrize("method", ["direct", "fast", "auto"])
def test_batched_single_band_matches_astropy(objects, batch, method):
    f, p = P.lombscargle(batch, FREQ, method=method)
    assert p.shape == (len(objects), FREQ.size) and p.dtype == np.float64
    tol = 1e-8 if method == "direct" else 1e-4
    for i, (t, y, dy, _) in enumerate(objects):
        ref = ALS(t, y, dy).power(FREQ, method="cython")
        np.testing.assert_allclose(p[i], ref, rtol=0, atol=tol)


def test_batched_band_selection_nterms_and_irregular_grid(objects, batch):
    freq = np.sort(np.random.default_rng(0).uniform(0.05, 3.0, 500))      # irregular
    f, p = P.lombscargle(batch, freq, band="r", nterms=2, use_errors=False, normalization="log")
    for i, (t, y, dy, b) in enumerate(objects):
        m = b == "r"
        ref = ALS(t[m], y[m], nterms=2, normalization="log").power(freq, method="chi2")
        np.testing.assert_allclose(p[i], ref, rtol=0, atol=1e-8)


def test_batched_float32(objects, batch):
    f, p32 = P.lombscargle(batch, FREQ, dtype="float32")
    _, p64 = P.lombscargle(batch, FREQ)
    assert p32.dtype == np.float32
    assert np.abs(p32 - p64).max() < 1e-3
    _, m32 = P.lombscargle_multiband(batch, FREQ[::3], dtype="float32")   # times split hi + lo
    _, m64 = P.lombscargle_multiband(batch, FREQ[::3])
    assert m32.dtype == np.float32
    assert np.abs(m32 - m64).max() < 1e-3


def test_batched_multiband_matches_astropy(objects, batch):
    f, p = P.lombscargle_multiband(batch, FREQ[::3])
    for i, (t, y, dy, b) in enumerate(objects):
        ref = ALSM(t, y, b, dy).power(FREQ[::3], method="flexible")
        np.testing.assert_allclose(p[i], ref, rtol=0, atol=1e-6)


def test_automatic_grid_single_object_is_astropys(objects):
    t, y, dy, _ = objects[0]
    batch = LightCurveBatch.from_arrays(t=[t], flux=[y], flux_err=[dy])
    f, p = P.lombscargle(batch, maximum_frequency=3.0)
    fa, pa = ALS(t, y, dy).autopower(maximum_frequency=3.0)
    np.testing.assert_allclose(f, fa, rtol=1e-12)
    np.testing.assert_allclose(p[0], pa, rtol=0, atol=1e-4)       # astropy autopower: fast method


def test_best_periods_and_fap(objects, batch):
    f, p = P.lombscargle(batch, FREQ)
    peaks = P.best_periods(f, p, k=3, batch=batch)
    assert peaks.period.shape == (len(objects), 3)
    true = 0.35 + 0.1 * np.arange(len(objects))
    np.testing.assert_allclose(peaks.period[:, 0], true, rtol=2e-3)
    assert np.all(np.diff(peaks.power, axis=1) <= 0)
    assert np.all(np.abs(np.diff(peaks.frequency, axis=1)) > 5 * (FREQ[1] - FREQ[0]))
    for i, (t, y, dy, _) in enumerate(objects):
        ref = astat.false_alarm_probability(peaks.power[i], FREQ.max(), t - t[0], y, dy)
        np.testing.assert_allclose(peaks.fap[i], ref, rtol=1e-8, atol=1e-300)


def test_facade_matches_astropy_with_units_and_time(objects):
    t, y, dy, b = objects[1]
    ours = P.LombScargle(Time(t, format="mjd"), y * u.mJy, dy * u.mJy)
    ref = ALS(Time(t, format="mjd"), y * u.mJy, dy * u.mJy)
    fo, po = ours.autopower(maximum_frequency=2 / u.day)
    fr, pr = ref.autopower(maximum_frequency=2 / u.day, method="slow")
    np.testing.assert_allclose(fo.to_value(1 / u.day), fr.to_value(1 / u.day), rtol=1e-12)
    np.testing.assert_allclose(po, np.asarray(pr), rtol=0, atol=1e-8)
    tf = Time(t[:5], format="mjd")
    np.testing.assert_allclose(ours.model(tf, 2.5 / u.day).to_value(u.mJy),
                               ref.model(tf, 2.5 / u.day).to_value(u.mJy), rtol=1e-9)
    z = float(po.max())
    for method in ("baluev", "davies", "naive"):
        np.testing.assert_allclose(ours.false_alarm_probability(z, method=method, maximum_frequency=2 / u.day),
                                   ref.false_alarm_probability(z, method=method, maximum_frequency=2 / u.day),
                                   rtol=1e-9)
    np.testing.assert_allclose(ours.false_alarm_level(0.01, maximum_frequency=2 / u.day),
                               np.asarray(ref.false_alarm_level(0.01, maximum_frequency=2 / u.day)), rtol=1e-6)


def test_multiband_facade(objects):
    t, y, dy, b = objects[2]
    fo, po = P.LombScargleMultiband(t, y, b, dy, nterms_base=1, nterms_band=0).autopower(
        maximum_frequency=3.0)
    fr, pr = ALSM(t, y, b, dy, nterms_base=1, nterms_band=0).autopower(maximum_frequency=3.0)
    np.testing.assert_allclose(fo, fr, rtol=1e-12)
    np.testing.assert_allclose(po, pr, rtol=0, atol=1e-6)


def test_facades_bootstrap(objects):
    """The facades' bootstrap is the permutation test: (1 + #{maxima >= z}) / (1 + n)."""
    t, y, dy, b = objects[3]
    kw = dict(method="bootstrap", maximum_frequency=3.0,
              method_kwds=dict(n_bootstraps=40, random_seed=0))
    for ls in (P.LombScargle(t, y, dy), P.LombScargleMultiband(t, y, b, dy)):
        _, p = ls.autopower(maximum_frequency=3.0)
        fap = ls.false_alarm_probability(np.array([p.max(), 0.0]), **kw)
        np.testing.assert_allclose(fap, [1 / 41, 1.0], rtol=1e-12)


def test_errors(batch):
    with pytest.raises(ValueError, match="band 'q' not in bands"):
        P.lombscargle(batch, FREQ, band="q")
    with pytest.raises(ValueError, match="needs a regular frequency grid"):
        P.lombscargle(batch, np.array([0.1, 0.3, 0.35]), method="fast")
    with pytest.raises(ValueError, match="frequency must be finite and > 0"):
        P.lombscargle(batch, np.array([0.0, 0.1]))


def test_per_object_frequencies_equal_shared_grid(objects, batch):
    """A (B, F) frequency array gives each object the power at its own frequencies."""
    rows = np.stack([FREQ[i * 100:i * 100 + 50] for i in range(len(objects))])
    f, p = P.lombscargle(batch, rows, nterms=2)
    _, ref = P.lombscargle(batch, FREQ, nterms=2, method="direct")
    assert f.shape == p.shape == rows.shape
    for i in range(len(objects)):
        np.testing.assert_allclose(p[i], ref[i, i * 100:i * 100 + 50], rtol=0, atol=1e-10)
    f, p = P.lombscargle_multiband(batch, rows, nterms_base=2, nterms_band=1)
    for i, (t, y, dy, b) in enumerate(objects):
        ref = ALSM(t, y, b, dy, nterms_base=2, nterms_band=1).power(rows[i], method="flexible")
        np.testing.assert_allclose(p[i], ref, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"per-object frequency must have shape \(B=6"):
        P.lombscargle(batch, rows[:3])


def test_multiband_groups_objects_by_band_size(rng):
    """Objects with few and many points per band go to different compiled capacities; each
    object's power is the same as computed alone (astropy flexible)."""
    objs = []
    for i in range(130):
        n = 12 if i % 2 else 90                       # 4 vs ~30 points per band
        t = np.sort(rng.uniform(0, 100, n))
        b = np.array(list("gri"))[np.arange(n) % 3]
        objs.append((t, np.sin(2 * np.pi * t / 0.7) + rng.normal(0, 0.3, n), np.full(n, 0.3), b))
    t, y, dy, b = zip(*objs)
    batch = LightCurveBatch.from_arrays(t=list(t), flux=list(y), flux_err=list(dy), band=list(b))
    groups = P._band_size_groups(np.asarray(batch.band), np.asarray(batch.mask), 3)
    assert len(groups) == 2 and sorted(len(g) for _, g in groups) == [65, 65]
    assert groups[0][0] < 10 <= 30 <= groups[1][0] < batch.n_max
    freq = 0.05 + 0.001 * np.arange(4096)
    f, p = P.lombscargle_multiband(batch, freq)
    for i in (0, 1, 128, 129):
        ref = ALSM(*objs[i][:2], objs[i][3], objs[i][2]).power(freq, method="flexible")
        np.testing.assert_allclose(p[i], ref, rtol=0, atol=1e-6)


def test_find_periods_two_stage(objects, batch):
    true = 0.35 + 0.1 * np.arange(len(objects))
    peaks = P.find_periods(batch, minimum_frequency=0.5, maximum_frequency=3.5, k=2,
                           n_candidates=5)
    assert peaks.period.shape == (len(objects), 2)
    np.testing.assert_allclose(peaks.period[:, 0], true, rtol=1e-3)
    assert np.all(peaks.power[:, 0] >= peaks.power[:, 1])
    # the refined power is the refine model's power at the returned frequency
    one = LightCurveBatch.from_arrays(t=[objects[0][0]], flux=[objects[0][1]],
                                      flux_err=[objects[0][2]], band=[objects[0][3]])
    _, p = P.lombscargle_multiband(one, peaks.frequency[:1, :1], nterms_base=3, nterms_band=1)
    np.testing.assert_allclose(p[0, 0], peaks.power[0, 0], rtol=1e-12)
    single = P.find_periods(batch, minimum_frequency=0.5, maximum_frequency=3.5, multiband=False)
    np.testing.assert_allclose(single.period[:, 0], true, rtol=1e-3)
    with pytest.raises(ValueError, match="1 <= k <= n_candidates"):
        P.find_periods(batch, maximum_frequency=3.0, k=4, n_candidates=3)


def test_find_periods_fap(objects, batch, rng):
    """find_periods' FAP is that of the search periodogram at the candidate the period came
    from: tiny for the periodic objects, mostly large (and calibrated) for pure noise."""
    peaks = P.find_periods(batch, minimum_frequency=0.5, maximum_frequency=3.5, k=2,
                           n_candidates=5)
    assert peaks.fap.shape == (len(objects), 2)
    assert np.all(np.isfinite(peaks.fap)) and np.all(peaks.fap[:, 0] < 1e-10)
    # the same number from the search periodogram (default search model and grid)
    freq, power = P.lombscargle_multiband(batch, minimum_frequency=0.5, maximum_frequency=3.5,
                                          samples_per_peak=2, nterms_base=1, nterms_band=0)
    z = np.take_along_axis(power, peaks.index, axis=1)
    ref = P.false_alarm_probability(z, batch, freq, multiband=True, nterms_base=1,
                                    nterms_band=0)
    np.testing.assert_allclose(peaks.fap, ref, rtol=1e-12, atol=1e-300)
    single = P.find_periods(batch, minimum_frequency=0.5, maximum_frequency=3.5, multiband=False)
    assert np.all(single.fap[:, 0] < 1e-10)
    none = P.find_periods(batch, minimum_frequency=0.5, maximum_frequency=3.5, fap_method=None)
    assert np.all(np.isnan(none.fap))
    with pytest.raises(ValueError, match="needs normalization='standard'"):
        P.find_periods(batch, maximum_frequency=3.0, search=dict(normalization="psd"))

    # pure noise, 3 bands x ~15 points. For the search model (one shared sinusoid, a mean per
    # band) on its coarse grid (2 samples per peak) the FAP of the periodogram's maximum is
    # calibrated (within 1.5x of nominal at 1% and 5%); the best refined period's FAP is that
    # or, when it comes from a lower search peak, larger (conservative)
    n_obj, n = 3000, 45
    noise = LightCurveBatch.from_arrays(
        t=[np.sort(rng.uniform(0, 100, n)) for _ in range(n_obj)],
        flux=[10 + rng.normal(0, 1, n) for _ in range(n_obj)],
        flux_err=[np.ones(n) for _ in range(n_obj)],
        band=[rng.choice(list("gri"), n) for _ in range(n_obj)])
    found = P.find_periods(noise, maximum_frequency=2.0, n_candidates=3)
    fap = found.fap[:, 0]
    assert np.all((fap > 0) & (fap <= 1)) and np.median(fap) > 0.5
    freq, power = P.lombscargle_multiband(noise, maximum_frequency=2.0, samples_per_peak=2,
                                          nterms_base=1, nterms_band=0)
    fap_max = P.false_alarm_probability(power.max(axis=1), noise, freq, multiband=True,
                                        nterms_base=1, nterms_band=0)
    assert np.all(fap >= fap_max * (1 - 1e-12))
    nominal = np.array([0.01, 0.05])
    rates = np.array([np.mean(fap_max <= a) for a in nominal])
    assert np.all(rates >= nominal / 1.5) and np.all(rates <= nominal * 1.5), rates / nominal
    rates = np.array([np.mean(fap <= a) for a in nominal])
    assert np.all(rates >= nominal / 2) and np.all(rates <= nominal * 1.5), rates / nominal


def test_threads_do_not_change_the_power(batch):
    """Blocks of objects on host threads: every object is computed by the same compiled function
    whichever block it lands in, so the result does not depend on ``workers`` or ``batch_size``."""
    _, one = P.lombscargle(batch, FREQ, workers=1)
    _, two = P.lombscargle(batch, FREQ, workers=2, batch_size=2)
    np.testing.assert_array_equal(one, two)
    _, m1 = P.lombscargle_multiband(batch, FREQ[::3], workers=1)
    _, m2 = P.lombscargle_multiband(batch, FREQ[::3], workers=3, batch_size=1)
    np.testing.assert_array_equal(m1, m2)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        P.lombscargle(batch, FREQ, workers=0)


def test_auto_method_does_not_depend_on_the_device(monkeypatch, objects, batch):
    """method="auto" decides by the problem's size only: the same choice (so the same numbers)
    whatever jax.default_backend() says; the two methods differ by less than 1e-4 here."""
    choices = {}
    for backend in ("cpu", "gpu", "tpu"):
        monkeypatch.setattr(P.jax, "default_backend", lambda b=backend: b)
        choices[backend] = [P._pick_method("auto", n, f, 1) for n in (50, 400, 2000) for f in (1e3, 1e5)]
    assert choices["cpu"] == choices["gpu"] == choices["tpu"]
    monkeypatch.undo()
    grid = P.FrequencyGrid.from_float64(0.01, 0.0011, 3000, "float64")
    _, fast = P.lombscargle(batch, grid, method="fast", band="r")
    _, direct = P.lombscargle(batch, grid, method="direct", band="r")
    assert np.abs(fast - direct).max() < 1e-4
