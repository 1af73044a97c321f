"""``FSPL`` with ``ts.fit``: simulated events whose lens crosses the source (one compiled shape),
the chi2 of MOA-2008-BLG-310 (two light curves, tests/data/microlensing) against MulensModel,
padding, gradients, bad input and a tiny ``ts.sample`` run."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import tsmodels as ts

DATA = Path(__file__).resolve().parents[1] / "data" / "microlensing"
ml = ts.kernels.microlensing
N = 160  # points per simulated event
MB08310 = ("Bron_0300089_PLC_002.tbl", "CTIO_H_0300089_PLC_004.tbl")
# MulensModel example_10 (MOA + CTIO_H + Bron), reference_parameters.csv row MB08310 software_fit
REF = {"t0": 2454656.39908, "u0": 0.00311, "tE": 10.78598, "rho": 0.05311 / 10.78598}


def _one(batch, i=0):
    return jax.tree_util.tree_map(lambda x: x[i], batch.to_jax("float64"))


def _load_ipac(name):
    rows = [ln.split()[:3] for ln in (DATA / name).read_text().splitlines()
            if ln.strip() and not ln.startswith(("\\", "|"))]
    return np.array(rows, float).T


def _simulate(rng, n_events):
    """Events with u0 < rho (the lens crosses the source), sampled over +-1.5 tE with a third of
    the points within 2 source-crossing times of the peak; 1% flux errors."""
    ts_, fs_, es_, truth = [], [], [], []
    for _ in range(n_events):
        tE = 10 ** rng.uniform(0.8, 1.4)
        rho = 10 ** rng.uniform(-2.0, -1.2)
        u0 = rng.uniform(0.1, 0.7) * rho
        t0 = 2459000.0 + rng.uniform(-1, 1)
        wide = t0 + rng.uniform(-1.5, 1.5, N - N // 3) * tE
        core = t0 + rng.uniform(-2, 2, N // 3) * rho * tE
        t = np.sort(np.concatenate([wide, core]))
        A = np.asarray(ml.fspl_magnification(t, t0=t0, u0=u0, tE=tE, rho=rho))
        fs, fb = 10 ** rng.uniform(1, 2), rng.uniform(0, 20)
        err = 0.01 * (fs + fb) * np.ones(N)
        ts_.append(t)
        fs_.append(fs * A + fb + rng.normal(0, 1, N) * err)
        es_.append(err)
        truth.append((t0, u0, tE, rho))
    return ts_, fs_, es_, np.array(truth)


@pytest.fixture(scope="module")
def fitted():
    ts_, fs_, es_, truth = _simulate(np.random.default_rng(11), 6)
    batch = ts.LightCurveBatch.from_arrays(t=ts_, flux=fs_, flux_err=es_)
    res = ts.fit(ts.models.FSPL(), batch)
    return batch, res, truth


def test_fit_recovers_simulated_source_crossings(fitted):
    """t0, u0, tE, rho within 4 Laplace sigma for at least 5 of 6 simulated events whose lens
    crosses the source, and the fitted chi2 per point near 1."""
    batch, res, truth = fitted
    pulls = []
    for k, name in enumerate(("t0", "u0", "tE", "rho")):
        val = res.values[name] + (batch.t_ref if name == "t0" else 0.0)
        pulls.append(np.abs(val - truth[:, k]) / res.errors[name])
    pulls = np.array(pulls).T
    ok = np.all(pulls < 4, axis=1)
    assert ok.sum() >= 5, pulls
    assert np.all(res.chi2 / N < 1.5), res.chi2


def _mm_chi2(data, params, gamma=None):
    """MulensModel ``Event`` chi2 (fluxes solved linearly per dataset) with, per epoch, the
    method accurate there: ``finite_source_uniform_Lee09`` with the lens inside the source,
    ``finite_source_uniform_WittMao94`` (exact elliptic integrals, see the fixture) for
    rho < u < 3 rho, ``finite_source_uniform_Gould94`` beyond (accurate to 1e-7 there). With
    ``gamma``: ``finite_source_LD_Yoo04`` everywhere (no MulensModel LD method is accurate to
    1e-6 at this rho; Yoo04 is off by ~3e-6)."""
    MulensModel = pytest.importorskip("MulensModel")
    t0, u0, tE, rho = params["t0"], params["u0"], params["tE"], params["rho"]
    model = MulensModel.Model({"t_0": t0, "u_0": u0, "t_E": tE, "rho": rho})
    w1 = tE * np.sqrt(rho**2 - u0**2)
    w3 = tE * np.sqrt(9 * rho**2 - u0**2)
    if gamma is None:
        g, wm, lee = "finite_source_uniform_Gould94", "finite_source_uniform_WittMao94", "finite_source_uniform_Lee09"
        model.set_magnification_methods([t0 - 50, g, t0 - w3, wm, t0 - w1, lee, t0 + w1, wm, t0 + w3, g, t0 + 50])
    else:
        model.set_magnification_methods([t0 - 50, "finite_source_LD_Yoo04", t0 + 50])
        model.set_limb_coeff_gamma("I", gamma)
    sets = [MulensModel.MulensData(data_list=list(d), phot_fmt="mag", bandpass=None if gamma is None else "I")
            for d in data]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MulensModel.Event(datasets=sets, model=model).get_chi2()


@pytest.fixture
def wm94_exact(monkeypatch):
    """MulensModel's ``finite_source_uniform_WittMao94`` with its interpolation tables of the
    elliptic integrals bypassed (its own fallbacks; the tables alone are good to ~1e-5)."""
    MulensModel = pytest.importorskip("MulensModel")
    from scipy.special import ellipe, ellipk

    cls = MulensModel.pointlens.FiniteSourceUniformWittMao94Magnification
    monkeypatch.setattr(cls, "_get_ellipk", lambda self, k: ellipk(k))
    monkeypatch.setattr(cls, "_get_ellipe", lambda self, k: ellipe(k))
    monkeypatch.setattr(cls, "_get_ellip3", lambda self, n, k: float(MulensModel.pointlens.ellip3(n, k)))


@pytest.fixture(scope="module")
def mb08310():
    data = [_load_ipac(n) for n in MB08310]
    t = [d[0] for d in data]
    flux = [np.asarray(ml.mag_to_flux(d[1], d[2])[0]) for d in data]
    ferr = [np.asarray(ml.mag_to_flux(d[1], d[2])[1]) for d in data]
    band = [np.full(d.shape[1], b) for d, b in zip(data, ("Bron", "CTIO_H"))]
    batch = ts.LightCurveBatch.from_arrays(t=[np.concatenate(t)], flux=[np.concatenate(flux)],
                                           flux_err=[np.concatenate(ferr)], band=[np.concatenate(band)])
    return data, batch


def test_chi2_of_mb08310_matches_mulensmodel(mb08310, wm94_exact):
    """MOA-2008-BLG-310, Bronberg and CTIO H light curves (435 points, the lens crosses the
    source) at the reference parameters: magnitudes to flux with the 22 mag zero point, source
    and blend fluxes per light curve solved linearly. Uniform source: ``FSPL().chi2`` equals
    MulensModel's ``Event.get_chi2`` (methods in ``_mm_chi2``) within 0.01 (observed 1783.79 vs
    1783.79; MulensModel's ``finite_source_uniform_Gould94`` alone, an expansion in rho, gives
    0.014 less). Limb darkening gamma = 0.5 on both: within 0.1 of MulensModel's
    ``finite_source_LD_Yoo04`` (observed 0.063, the error of that expansion at rho = 0.005: the
    brute-force 2-D integral agrees with ours to 1e-9 in magnification and 1e-4 in chi2)."""
    data, batch = mb08310
    lc = _one(batch)
    p = {**REF, "t0": REF["t0"] - batch.t_ref[0]}
    chi2 = float(jax.jit(ts.models.FSPL().chi2)(p, lc))
    ref = _mm_chi2(data, REF)
    assert abs(chi2 - ref) < 0.01, (chi2, ref)
    model_ld = ts.models.FSPL(limb_darkening={"Bron": 0.5, "CTIO_H": 0.5})
    chi2_ld = float(jax.jit(model_ld.chi2)(p, lc))
    ref_ld = _mm_chi2(data, REF, gamma=0.5)
    assert abs(chi2_ld - ref_ld) < 0.1, (chi2_ld, ref_ld)
    assert chi2_ld > chi2 + 100  # these data prefer the uniform source of the reference fit


def test_padding_per_band_limb_darkening_gradients(mb08310):
    """Padded points change nothing (loglike, predict); per-band coefficients enter per point
    (one band darkened differs from both and from none); d loglike / d params is finite and
    matches central differences; the linear fluxes are positive."""
    data, batch = mb08310
    n = batch.t.shape[1]
    model = ts.models.FSPL(limb_darkening={"Bron": 0.0, "CTIO_H": 0.6})
    lc, padded = _one(batch), _one(batch.pad_to(n + 29))
    p = {"t0": REF["t0"] - batch.t_ref[0], "u0": 0.003, "tE": 10.8, "rho": 0.005}
    both = jax.jit(lambda q, x: (model.loglike(q, x), model.predict(q, x)))
    (l0, m0), (l1, m1) = both(p, lc), both(p, padded)
    np.testing.assert_allclose(float(l1), float(l0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m1)[:n], np.asarray(m0), rtol=1e-12)
    c_none = float(jax.jit(ts.models.FSPL().chi2)(p, lc))
    c_all = float(jax.jit(ts.models.FSPL(limb_darkening=0.6).chi2)(p, lc))
    c_one = float(jax.jit(model.chi2)(p, lc))
    assert min(abs(c_one - c_none), abs(c_one - c_all)) > 1.0
    f = jax.jit(lambda q: model.loglike(q, lc))
    g = jax.jit(jax.grad(lambda q: model.loglike(q, lc)))(p)
    for k in p:
        h = 1e-6 * max(1.0, abs(p[k])) if k == "t0" else 1e-6 * p[k]
        fd = (float(f({**p, k: p[k] + h})) - float(f({**p, k: p[k] - h}))) / (2 * h)
        assert np.isfinite(float(g[k]))
        np.testing.assert_allclose(float(g[k]), fd, rtol=1e-4)
    coef = np.asarray(model.linear(p, lc).coef)
    assert np.all(coef[0::2] > 0)


def test_bad_input():
    """rho <= 0 gives a NaN log-likelihood (documented; the prior keeps fits inside
    rho_range); a non-positive rho_range, a non-finite coefficient or a band without a
    coefficient is a ValueError naming the problem."""
    rng = np.random.default_rng(3)
    ts_, fs_, es_, _ = _simulate(rng, 1)
    batch = ts.LightCurveBatch.from_arrays(t=ts_, flux=fs_, flux_err=es_)
    lc = _one(batch)
    model = ts.models.FSPL()
    p = {"t0": 0.0, "u0": 0.01, "tE": 10.0, "rho": 0.02}
    assert np.isfinite(float(model.loglike(p, lc)))
    for rho in (0.0, -0.01):
        assert np.isnan(float(model.loglike({**p, "rho": rho}, lc)))
    with pytest.raises(ValueError, match="rho_range"):
        ts.models.FSPL(rho_range=(0.0, 0.1))
    with pytest.raises(ValueError, match="finite"):
        ts.models.FSPL(limb_darkening=float("nan"))
    with pytest.raises(ValueError, match=r"no coefficient for band\(s\) \['r'\]"):
        ts.models.FSPL(limb_darkening={"g": 0.5}).check_batch(
            ts.LightCurveBatch.from_arrays(t=ts_, flux=fs_, flux_err=es_, band=[np.full(N, "r")]))
    assert hash(ts.models.FSPL(limb_darkening={"g": 0.5})) == hash(ts.models.FSPL(limb_darkening={"g": 0.5}))


def test_sample_tiny_case(fitted):
    """``ts.sample`` runs on one simulated event (few draws; only that it works and stays in
    the prior's support)."""
    batch, _, _ = fitted
    post = ts.sample(ts.models.FSPL(), batch[0], num_warmup=20, num_samples=20, num_chains=1, n_starts=1)
    s = post.summary()
    assert len(s) == 1
    lo, hi = ts.models.FSPL().rho_range
    assert lo <= float(s["rho_mean"].iloc[0]) <= hi
