"""Simulated data for the fitting tests: exact multiband Fourier series on an LSST-like cadence.

The cadence (seasons, nightly visits, LSST band fractions) and the photometric error model come
from :mod:`tsmodels.simulate`; the signal is the FourierSeries model itself, so the truth is
exactly representable and recovery/calibration tests test the inference, not a model mismatch.
"""

from __future__ import annotations

import numpy as np
import pytest

import tsmodels as ts
from tsmodels import simulate


def fourier_lightcurves(n_objects, *, seed, n_years=1.0, n_visits=80, period=(0.3, 3.0),
                        amplitude=(0.05, 0.3), mag=(17.0, 19.5), nterms=1):
    """``(batch, truth)`` with truth a dict of arrays: ``period`` [B] and per band ``mean_<b>``,
    ``a1_<b>``, ``b1_<b>``, ``amp1_<b>``, ``phase1_<b>`` (phases relative to ``batch.t_ref``).

    Every object has ``n_visits`` visits (one length bucket, so one compiled shape per test).
    """
    rng = np.random.default_rng(seed)
    cad = simulate.cadence(n_objects, n_years=n_years, n_visits=n_visits, seed=seed)
    bands = cad.bands
    B = n_objects
    P = np.exp(rng.uniform(np.log(period[0]), np.log(period[1]), B))
    mags = rng.uniform(*mag, B)[:, None] + rng.normal(0, 0.2, (B, len(bands)))
    mean = simulate.mag_to_flux(mags)  # [B, nb] nJy
    frac = rng.uniform(*amplitude, B)[:, None] * rng.uniform(0.8, 1.2, (B, len(bands)))
    amp = frac * mean
    phi0 = rng.uniform(-np.pi, np.pi, B)[:, None] + rng.normal(0, 0.1, (B, len(bands)))
    t0 = cad.start_mjd
    o, bi = cad.obj, cad.band
    flux_true = mean[o, bi] + amp[o, bi] * np.cos(2 * np.pi * (cad.mjd - t0) / P[o] + phi0[o, bi])
    if nterms == 2:
        flux_true += 0.3 * amp[o, bi] * np.cos(4 * np.pi * (cad.mjd - t0) / P[o] + 2 * phi0[o, bi])
    err = simulate.flux_err_model(flux_true, cad.m5(), cad.gamma())
    flux = flux_true + err * rng.standard_normal(len(err))
    batch = ts.LightCurveBatch.from_long(o, cad.mjd, flux, err, np.asarray(bands)[bi], bands=bands)
    # phases at each object's reference epoch (batch.t_ref = mean time of its visits)
    phase = phi0 + 2 * np.pi * ((batch.t_ref - t0) / P)[:, None]
    phase = np.angle(np.exp(1j * phase))
    truth = {"period": P}
    for k, b in enumerate(bands):
        truth[f"mean_{b}"] = mean[:, k]
        truth[f"amp1_{b}"] = amp[:, k]
        truth[f"phase1_{b}"] = phase[:, k]
        truth[f"a1_{b}"] = amp[:, k] * np.cos(phase[:, k])
        truth[f"b1_{b}"] = -amp[:, k] * np.sin(phase[:, k])
    return batch, truth


@pytest.fixture(scope="session")
def fourier_sim():
    return fourier_lightcurves
