"""``PSPL(parallax=True)`` with ``ts.fit`` and ``ts.sample``: OGLE-2005-BLG-086 (the MulensModel
parallax example) and simulated parallax events, fitted in one batch (one compiled shape)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

import tsmodels as ts
from tsmodels.fitting.results import MISSING_META, OK

DATA = Path(__file__).resolve().parents[1] / "data" / "microlensing"
ml = ts.kernels.microlensing
N = 640  # points of starBLG234.6.I.218982.dat; the simulated events use the same length
T0_PAR = 2453628.0
OB05086 = SkyCoord("18:04:45.71 -26:59:15.2", unit=(u.hourangle, u.deg))
# MulensModel tutorial_fit_pi_E: u0 > 0 solution, chi2 946.75 (reference_parameters.csv)
REF = dict(t0=2453630.35507, u0=0.488817, tE=93.611301, pi_E_N=0.2719, pi_E_E=0.1025)


def _simulated(rng, n):
    ts_, fs_, es_, ra, dec, truth = [], [], [], [], [], []
    for _ in range(n):
        t = 2457000.0 + np.sort(rng.uniform(0, 700, N))
        t0 = 2457000.0 + rng.uniform(250, 450)
        p = dict(u0=rng.uniform(0.1, 0.8) * rng.choice([-1.0, 1.0]), tE=rng.uniform(60, 150),
                 pi_E_N=rng.uniform(-0.5, 0.5), pi_E_E=rng.uniform(-0.3, 0.3))
        a, d = rng.uniform(260, 280), rng.uniform(-35, -20)
        dn, de = ml.earth_offsets(t, a, d, t0)
        tau, beta = ml.parallax_trajectory(t - t0, t0=0.0, u0=p["u0"], tE=p["tE"], pi_E_N=p["pi_E_N"],
                                           pi_E_E=p["pi_E_E"], delta_n=dn, delta_e=de)
        A = np.asarray(ml.pspl_magnification(tau, t0=0.0, u0=beta, tE=1.0))
        fs, fb = 10 ** rng.uniform(1.5, 2.5), rng.uniform(0, 20)
        err = 0.005 * (fs + fb) * np.ones(N)
        ts_.append(t)
        fs_.append(fs * A + fb + rng.normal(0, 1, N) * err)
        es_.append(err)
        ra.append(a)
        dec.append(d)
        truth.append((t0, p["u0"], p["tE"], p["pi_E_N"], p["pi_E_E"]))
    return ts_, fs_, es_, ra, dec, np.array(truth)


@pytest.fixture(scope="module")
def fitted():
    """OB05086, 12 simulated events (t0_par = t0, given per object as a column) and a copy of
    OB05086 without a sky position."""
    rng = np.random.default_rng(11)
    d = np.loadtxt(DATA / "starBLG234.6.I.218982.dat")
    flux, ferr = (np.asarray(a) for a in ml.mag_to_flux(d[:, 1], d[:, 2]))
    t, f, e, ra, dec, truth = _simulated(rng, 12)
    t_abs = d[:, 0] + 2450000.0
    batch = ts.LightCurveBatch.from_arrays(t=[t_abs, *t, t_abs], flux=[flux, *f, flux],
                                           flux_err=[ferr, *e, ferr])
    batch = batch.with_meta(ra=[OB05086.ra.deg, *ra, np.nan], dec=[OB05086.dec.deg, *dec, np.nan],
                            t0_par=[T0_PAR, *truth[:, 0], T0_PAR])
    model = ts.models.PSPL(parallax=True, t0_par="t0_par")
    return batch, model, ts.fit(model, batch), truth


def test_ob05086_fit_from_automatic_starts_reaches_the_reference(fitted):
    """From the model's own starts (18 candidates: 3 tE x both signs of u0 x 3 parallaxes),
    OB05086 with t0_par = 2453628.0 reaches chi2 <= 946.75 + 1 at the published u0 > 0
    solution (t0 within 0.05 d, u0 0.01, tE 1 d, pi_E 0.01)."""
    batch, _, res, _ = fitted
    assert res.status[0] == OK
    assert res.chi2[0] <= 946.75 + 1.0
    t0 = res.values["t0"][0] + batch.t_ref[0]
    assert abs(t0 - REF["t0"]) < 0.05
    for k, tol in (("u0", 0.01), ("tE", 1.0), ("pi_E_N", 0.01), ("pi_E_E", 0.01)):
        assert abs(res.values[k][0] - REF[k]) < tol, (k, res.values[k][0])


def test_simulated_parallax_events_are_recovered(fitted):
    """t0, u0, tE, pi_E_N and pi_E_E within 4 Laplace sigma of the truth for >= 10 of the 12
    simulated events (the u0 sign included: the model searches both)."""
    batch, _, res, truth = fitted
    sl = slice(1, 13)
    pulls = []
    for k, name in enumerate(("t0", "u0", "tE", "pi_E_N", "pi_E_E")):
        val = res.values[name][sl] + (batch.t_ref[sl] if name == "t0" else 0.0)
        pulls.append(np.abs(val - truth[:, k]) / res.errors[name][sl])
    ok = np.all(np.array(pulls) < 4, axis=0)
    assert ok.sum() >= 10, np.array(pulls).T


def test_missing_position_is_flagged_and_a_missing_column_is_an_error(fitted):
    """An object without RA/Dec is a MISSING_META row (the rest are fitted); a batch with no
    ``ra`` column at all, or MJD times with ``time_offset=0``, is a ValueError saying what to do."""
    batch, model, res, _ = fitted
    assert res.status[-1] == MISSING_META and np.isnan(res.chi2[-1])
    bare = ts.LightCurveBatch.from_arrays(t=[np.asarray(batch.t[0]) + batch.t_ref[0]],
                                          flux=[batch.flux[0]], flux_err=[batch.flux_err[0]])
    with pytest.raises(ValueError, match="ra"):
        ts.fit(ts.models.PSPL(parallax=True), bare)
    jd = bare.with_meta(ra=[OB05086.ra.deg], dec=[OB05086.dec.deg])
    mjd = jd.with_meta()
    mjd.t_ref = jd.t_ref - 2400000.5
    with pytest.raises(ValueError, match="time_offset"):
        ts.models.PSPL(parallax=True).prepare_batch(mjd)
    # with time_offset, the same offsets as in JD
    a = ts.models.PSPL(parallax=True, t0_par=T0_PAR - 2400000.5, time_offset=2400000.5).prepare_batch(mjd)
    b = ts.models.PSPL(parallax=True, t0_par=T0_PAR).prepare_batch(jd)
    np.testing.assert_allclose(a.points["delta_n"], b.points["delta_n"], atol=1e-9)
    np.testing.assert_allclose(a.points["delta_e"], b.points["delta_e"], atol=1e-9)
    with pytest.raises(ValueError, match="t0_par"):
        ts.models.PSPL(t0_par=T0_PAR)


def test_predict_at_new_times_padding_and_gradients(fitted):
    """``predict`` at new times (Earth offsets computed on the host by a callback) equals the
    model at the light curve's own points; padding changes nothing; gradients of the
    log-likelihood in every parameter are finite and match central differences."""
    batch, model, res, _ = fitted
    prepared = model.prepare_batch(batch[:1])
    lc = jax.tree_util.tree_map(lambda x: x[0], prepared.to_jax("float64"))
    p = {k: res.values[k][0] for k in model.param_names}
    with ts.config.precision("float64"):
        own = np.asarray(model.predict(p, lc))
        new = np.asarray(jax.jit(lambda q, x: model.predict(q, x, x.t[::7], x.band[::7]))(p, lc))
        np.testing.assert_allclose(new, own[::7], rtol=1e-10)
        padded = jax.tree_util.tree_map(lambda x: x[0], prepared.pad_to(N + 30).to_jax("float64"))
        f = jax.jit(lambda q, x: model.loglike(q, x))
        np.testing.assert_allclose(float(f(p, padded)), float(f(p, lc)), rtol=1e-12)
        g = jax.jit(jax.grad(lambda q: model.loglike(q, lc)))(p)
        for n in p:
            h = 1e-5 * max(1.0, abs(p[n]))
            fd = (float(f({**p, n: p[n] + h}, lc)) - float(f({**p, n: p[n] - h}, lc))) / (2 * h)
            np.testing.assert_allclose(float(g[n]), fd, rtol=1e-3, atol=1e-3)


def test_float32_fit_and_posterior(fitted):
    """In float32, OB05086 reaches chi2 <= 946.75 + 1 as well; ``ts.sample`` (NUTS, 2 chains)
    gives a posterior whose medians lie within 3 posterior sd of the maximum-likelihood fit,
    with R-hat < 1.05."""
    batch, model, res, _ = fitted
    one = batch[:1]
    r32 = ts.fit(model, one, dtype="float32")
    assert r32.dtype == "float32" and r32.chi2[0] <= 946.75 + 1.0
    post = ts.sample(model, one, num_warmup=300, num_samples=300, num_chains=2, seed=3)
    for k in model.param_names:
        med, sd = post.stats[k]["q50"][0], post.stats[k]["sd"][0]
        assert abs(med - res.values[k][0]) < 3 * sd, (k, med, res.values[k][0], sd)
        assert post.stats[k]["rhat"][0] < 1.05


def test_model_chi2_at_the_reference_and_fspl_with_parallax(fitted):
    """Through the model (prepared batch, centred times, t0_par from the column): chi2 at the
    published u0 > 0 parameters is the quoted 946.75 (to 0.1); ``FSPL(parallax=True)`` with a
    source of 1e-4 Einstein radii gives the point-source chi2 to 1e-3, and its starts search
    both signs of u0 with zero parallax."""
    batch, model, _, _ = fitted
    prepared = model.prepare_batch(batch[:1])
    lc = jax.tree_util.tree_map(lambda x: x[0], prepared.to_jax("float64"))
    p = {**REF, "t0": REF["t0"] - batch.t_ref[0]}
    fspl = ts.models.FSPL(parallax=True, t0_par="t0_par")
    assert fspl.param_names == ("t0", "u0", "tE", "rho", "pi_E_N", "pi_E_E")
    with ts.config.precision("float64"):
        chi2 = float(jax.jit(model.chi2)(p, lc))
        chi2_fs = float(jax.jit(fspl.chi2)({**p, "rho": 1e-4}, lc))
    assert abs(chi2 - 946.75) < 0.1
    assert abs(chi2_fs - chi2) < 1e-3
    starts = fspl.init(prepared, fspl.n_candidates)
    assert set(np.sign(starts["u0"][0])) == {-1.0, 1.0}
    assert np.all(starts["pi_E_N"] == 0) and np.all(starts["rho"] > 0)
