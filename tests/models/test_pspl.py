"""``PSPL`` with ``ts.fit``: simulated events and the OGLE-IV light curve of OB08092, fitted in
one batch (one compiled shape)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import tsmodels as ts

DATA = Path(__file__).resolve().parents[1] / "data" / "microlensing"
ml = ts.kernels.microlensing
N = 383  # points of phot_ob08092_O4.dat; the simulated events use the same length


def _one(batch, i=0):
    return jax.tree_util.tree_map(lambda x: x[i], batch.to_jax("float64"))


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    d = np.loadtxt(DATA / "phot_ob08092_O4.dat")
    t_obs = d[:, 0] + 2450000.0
    flux, ferr = (np.asarray(a) for a in ml.mag_to_flux(d[:, 1], d[:, 2]))
    ts_, fs_, es_, truth = [t_obs], [flux], [ferr], []
    for _ in range(40):
        t = 2458000.0 + np.sort(rng.uniform(0, 300, N))
        t0 = 2458000.0 + rng.uniform(100, 200)
        u0, tE = rng.uniform(0.05, 1.0), 10 ** rng.uniform(0.7, 1.7)
        fs, fb = 10 ** rng.uniform(1, 2), rng.uniform(0, 30)
        A = np.asarray(ml.pspl_magnification(t, t0=t0, u0=u0, tE=tE))
        err = 0.01 * (fs + fb) * np.ones(N)
        ts_.append(t)
        fs_.append(fs * A + fb + rng.normal(0, 1, N) * err)
        es_.append(err)
        truth.append((t0, u0, tE))
    batch = ts.LightCurveBatch.from_arrays(t=ts_, flux=fs_, flux_err=es_)
    res = ts.fit(ts.models.PSPL(), batch)
    return batch, res, np.array(truth)


def test_fit_reaches_ob08092_reference_best_fit(fitted):
    """Reference best fit (MulensModel example, row pspl_OGLE-IV_only): t0 = 2455379.57091,
    u0 = 0.5230, tE = 17.940, chi2 = 427.20; ts.fit reaches chi2 <= 427.25."""
    batch, res, _ = fitted
    assert res.chi2[0] <= 427.2 + 0.05
    t0_abs = res.values["t0"][0] + batch.t_ref[0]
    assert abs(t0_abs - 2455379.57091) < 0.05
    assert abs(res.values["u0"][0] - 0.5230) < 0.01
    assert abs(res.values["tE"][0] - 17.940) < 0.2


def test_fit_recovers_simulated_events(fitted):
    """t0, u0, tE within 4 Laplace sigma for at least 90% of 40 simulated events."""
    batch, res, truth = fitted
    pull = []
    for k, name in enumerate(("t0", "u0", "tE")):
        val = res.values[name][1:] + (batch.t_ref[1:] if name == "t0" else 0.0)
        pull.append(np.abs(val - truth[:, k]) / res.errors[name][1:])
    ok = np.all(np.array(pull) < 4, axis=0)
    assert ok.mean() >= 0.9, np.array(pull).T[~ok]


def test_padding_gradients_and_bad_input(fitted):
    """Padded points change nothing; d loglike / d params is finite and matches central
    differences; tE <= 0 gives a NaN log-likelihood."""
    batch, res, _ = fitted
    model = ts.models.PSPL()
    lc = _one(batch)
    p = {"t0": res.values["t0"][0], "u0": 0.52, "tE": 18.0}
    both = jax.jit(lambda q, x: (model.loglike(q, x), model.predict(q, x)))
    padded = _one(batch.pad_to(N + 25))
    (l0, m0), (l1, m1) = both(p, lc), both(p, padded)
    np.testing.assert_allclose(float(l1), float(l0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m1)[:N], np.asarray(m0), rtol=1e-12)
    f = jax.jit(lambda q: model.loglike(q, lc))
    g = jax.jit(jax.grad(lambda q: model.loglike(q, lc)))(p)
    for n in p:
        h = 1e-5 * max(1.0, abs(p[n]))
        fd = (float(f({**p, n: p[n] + h})) - float(f({**p, n: p[n] - h}))) / (2 * h)
        assert np.isfinite(float(g[n]))
        np.testing.assert_allclose(float(g[n]), fd, rtol=1e-4, atol=1e-6)
    assert np.isnan(float(f({**p, "tE": -1.0})))
