"""DRW and MultibandDRW models: the protocol, agreement with the kernels and with a celerite2 +
scipy fit, per-object tau limits, recovery with ts.fit, calibration of ts.sample, float32, and
the Stripe 82 quasars of MacLeod et al. (2010)."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import tsmodels as ts
from tsmodels.fitting import fit, sample
from tsmodels.kernels import gp
from tsmodels.models.base import LOG_2PI
from tsmodels.models.drw import DRW, MultibandDRW, tau_limits

S82 = Path(__file__).resolve().parents[1] / "data" / "quasars_s82"


def _one(batch, i=0):
    jb = batch.to_jax("float64")
    return jax.tree_util.tree_map(lambda x: x[i], jb)


def simulate_lsst_like(rng, n_obj, n_per_season=67, seasons=3, sigma=0.2, err=0.02):
    """DRW light curves, tau log-uniform in 20-500 d, 3 seasons of 180 d, ~200 points each."""
    tau = np.exp(rng.uniform(math.log(20.0), math.log(500.0), n_obj))
    ts_, ys, es = [], [], []
    for k in range(n_obj):
        t = np.sort(np.concatenate([365.25 * s + rng.uniform(0, 180, n_per_season)
                                    for s in range(seasons)])) + 60000.0
        x = np.asarray(gp.drw_sample(jax.random.PRNGKey(k), t - t.mean(), sigma=sigma, tau=tau[k],
                                     mean=20.0))
        ts_.append(t)
        ys.append(x + err * rng.normal(size=t.size))
        es.append(np.full(t.size, err))
    return ts.LightCurveBatch.from_arrays(t=ts_, flux=ys, flux_err=es), tau


def test_loglike_matches_kernels_and_profile_relation(rng):
    batch, _ = simulate_lsst_like(rng, 2, n_per_season=10)
    lc = _one(batch, 1)
    p = {"sigma": jnp.asarray(0.2), "tau": jnp.asarray(80.0)}
    m = lc.mask
    marg = gp.drw_loglike(lc.t, lc.flux, lc.flux_err, m, sigma=0.2, tau=80.0, marginalize_mean=True)
    np.testing.assert_allclose(DRW().loglike(p, lc), marg, rtol=1e-12)
    prof = DRW(mean="profile")
    sol = prof.linear(p, lc)
    # profiled at the GLS mean == the likelihood at that mean; integrating it out gives "marginal"
    np.testing.assert_allclose(prof.loglike(p, lc),
                               gp.drw_loglike(lc.t, lc.flux, lc.flux_err, m, sigma=0.2, tau=80.0,
                                              mean=sol.coef[0]), rtol=1e-12)
    np.testing.assert_allclose(prof.marginal_loglike(p, lc), marg, rtol=1e-12)
    np.testing.assert_allclose(prof.loglike(p, lc) - marg,
                               -0.5 * LOG_2PI + 0.5 * sol.logdet_fisher, rtol=1e-12)
    # predict at the data = the kernel's conditional mean; derived SF_inf
    np.testing.assert_allclose(
        DRW().predict(p, lc),
        gp.drw_predict(lc.t, lc.flux, lc.flux_err, m, t_new=lc.t, sigma=0.2, tau=80.0,
                       marginalize_mean=True)[0], rtol=1e-12)
    assert DRW().derived(p, jnp.zeros(0), ("band",))["sf_inf"] == pytest.approx(0.2 * math.sqrt(2))


def test_band_selection_and_errors(rng):
    t = np.sort(rng.uniform(0, 500, 40)) + 59000
    band = np.where(np.arange(40) % 2 == 0, "g", "r")
    y = rng.normal(size=40)
    batch = ts.LightCurveBatch.from_arrays(t=[t], flux=[y], flux_err=[np.full(40, 0.1)], band=[band])
    lc = _one(batch)
    p = {"sigma": jnp.asarray(0.5), "tau": jnp.asarray(30.0)}
    g = lc.mask & (lc.band == batch.bands.index("g"))
    np.testing.assert_allclose(DRW(band="g").loglike(p, lc),
                               gp.drw_loglike(lc.t, lc.flux, lc.flux_err, g, sigma=0.5, tau=30.0,
                                              marginalize_mean=True), rtol=1e-12)
    with pytest.raises(ValueError, match=r"DRW: band 'z' is not in the batch's bands \('g', 'r'\)"):
        DRW(band="z").loglike(p, lc)
    with pytest.raises(ValueError, match=r"DRW: mean must be one of \('marginal', 'profile'\)"):
        DRW(mean="median")
    with pytest.raises(ValueError, match=r"DRW: tau_range must satisfy 0 < min < max"):
        DRW(tau_range=(10.0, 1.0))
    # multiband: the kernel with band-ordered sigmas
    mp = {"tau": jnp.asarray(30.0), "sigma_g": jnp.asarray(0.5), "sigma_r": jnp.asarray(0.3)}
    np.testing.assert_allclose(
        MultibandDRW(bands=("g", "r")).loglike(mp, lc),
        gp.drw_multiband_loglike(lc.t, lc.flux, lc.flux_err, lc.band, lc.mask,
                                 sigma=jnp.array([0.5, 0.3]), tau=30.0, marginalize_mean=True),
        rtol=1e-12)
    # an unmodelled band is ignored: (g) alone == the single-band DRW on g
    np.testing.assert_allclose(MultibandDRW(bands=("g",)).loglike({"tau": 30.0, "sigma_g": 0.5}, lc),
                               DRW(band="g").loglike(p, lc), rtol=1e-12)
    init = MultibandDRW(bands=("g", "r")).init(batch, 3)
    assert set(init) == {"tau", "sigma_g", "sigma_r"} and init["tau"].shape == (1, 3)


def test_fit_recovers_simulated_drw(rng):
    """ts.fit with the marginalised mean on 256 LSST-like simulated DRWs (3 seasons, ~200 points,
    tau log-uniform 20-500 d): tau within a factor 2 for about two thirds of the objects, and
    Laplace errors of log tau neither too small nor too large.

    Measured on five other sets of 200-256 objects: |z| < 1 for 62-68% and |z| < 2 for 81-85%
    (the posterior of log tau is skewed on 3-season baselines, so the Laplace 2-sigma interval
    undercovers); errors 1.5x too small gave 43-49% and 72%, 1.5x too large 74-76% and 90-92%,
    each outside the bounds below (set about 2.5 binomial standard deviations from the measured
    rates)."""
    batch, tau = simulate_lsst_like(rng, 256)
    res = fit(DRW(), batch)
    df = res.to_pandas()
    assert df.converged.all()
    ratio = df.tau.to_numpy() / tau
    within2 = np.mean((ratio > 0.5) & (ratio < 2.0))
    assert 0.58 <= within2 <= 0.75, within2
    np.testing.assert_allclose(np.median(df.sigma), 0.2, rtol=0.15)
    z = np.log(ratio) / (df.tau_err.to_numpy() / df.tau.to_numpy())
    one, two = np.mean(np.abs(z) < 1), np.mean(np.abs(z) < 2)
    assert 0.55 <= one <= 0.72, one
    assert 0.76 <= two <= 0.89, two


def _celerite_profile_fit(t, y, e, tau0):
    """Reference: maximum likelihood of (mean, sigma, tau) with celerite2's RealTerm and scipy."""
    import celerite2
    from celerite2 import terms
    from scipy.optimize import minimize

    gp2 = celerite2.GaussianProcess(terms.RealTerm(a=1.0, c=1.0), mean=0.0)

    def nll(p):
        gp2.mean = p[0]
        gp2.kernel = terms.RealTerm(a=math.exp(2 * p[1]), c=math.exp(-p[2]))
        gp2.compute(t, diag=e * e, quiet=True)
        v = -gp2.log_likelihood(y)
        return v if np.isfinite(v) else 1e25

    best = None
    for lt in np.log(tau0):
        r = minimize(nll, [np.mean(y), math.log(np.std(y)), lt], method="Nelder-Mead",
                     options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 40000, "maxfev": 40000})
        best = r if best is None or r.fun < best.fun else best
    return best.x, -best.fun


def test_profile_fit_matches_celerite2_scipy(rng):
    """mean="profile" is the maximum-likelihood fit of (mean, sigma, tau): the same optimum as
    celerite2's RealTerm likelihood maximised by scipy, to optimizer precision."""
    batch, _ = simulate_lsst_like(rng, 5)
    res = fit(DRW(mean="profile"), batch)
    assert res.converged.all()
    for i in range(len(batch)):
        m = batch.mask[i]
        x, ll = _celerite_profile_fit(batch.t[i][m], batch.flux[i][m], batch.flux_err[i][m],
                                      [30.0, 150.0, 600.0])
        assert res.loglike[i] >= ll - 1e-7
        np.testing.assert_allclose(res.loglike[i], ll, atol=1e-6)
        np.testing.assert_allclose([res.values["mean"][i], res.values["sigma"][i], res.values["tau"][i]],
                                   [x[0], math.exp(x[1]), math.exp(x[2])], rtol=2e-4)


def test_tau_limits_hold_and_a_random_walk_sits_at_the_upper_one(rng):
    batch, _ = simulate_lsst_like(rng, 12)
    # append a steady drift (a random walk at its smoothest, tau -> infinity): its maximum is at
    # the upper limit
    t = np.sort(np.concatenate([365.25 * s + rng.uniform(0, 180, 67) for s in range(3)])) + 60000.0
    rw = 1e-3 * (t - t[0]) + 0.02 * rng.normal(size=t.size)
    ts_ = [batch.mjd[i][batch.mask[i]] for i in range(len(batch))] + [t]
    ys = [batch.flux[i][batch.mask[i]] for i in range(len(batch))] + [rw + 20.0]
    es = [batch.flux_err[i][batch.mask[i]] for i in range(len(batch))] + [np.full(t.size, 0.02)]
    b2 = ts.LightCurveBatch.from_arrays(t=ts_, flux=ys, flux_err=es)
    res = fit(DRW(), b2)
    assert res.converged.all()
    jb = b2.to_jax("float64")
    lo, hi = jax.vmap(tau_limits)(jb.t, jb.mask)
    lo, hi = np.asarray(lo), np.asarray(hi)
    tau = res.values["tau"]
    assert np.all((tau >= lo * (1 - 1e-9)) & (tau <= hi * (1 + 1e-9)))
    span = np.array([np.ptp(x) for x in ts_])
    np.testing.assert_allclose(hi, 10 * span, rtol=1e-12)
    np.testing.assert_allclose(tau[-1], hi[-1], rtol=1e-6)
    assert res.n_iter[-1] <= 60
    # without the limits, the same light curve runs to the prior's limit
    free = fit(DRW(tau_bounds=None), b2[[len(b2) - 1]])
    assert free.values["tau"][0] > 5 * hi[-1]
    with pytest.raises(ValueError, match="DRW: tau_bounds must be 'data' or None, got 'x'"):
        DRW(tau_bounds="x")


def test_sample_posterior_intervals_are_calibrated(rng):
    """ts.sample on DRWs whose (sigma, tau) are drawn from the model's prior: the central 68%
    intervals cover the truth 68 +/- 7% of the time, for tau and for sigma (300 objects; 3
    seasons of 20 points)."""
    n_obj = 300
    lo_t, hi_t = 20.0, 400.0
    model = DRW(tau_range=(lo_t, hi_t), sigma_range=(0.05, 0.5), tau_bounds=None)
    tau = np.exp(rng.uniform(math.log(lo_t), math.log(hi_t), n_obj))
    sig = np.exp(rng.uniform(math.log(0.05), math.log(0.5), n_obj))
    ts_, ys, es = [], [], []
    for k in range(n_obj):
        t = np.sort(np.concatenate([365.25 * s + rng.uniform(0, 180, 20) for s in range(3)]))
        x = np.asarray(gp.drw_sample(jax.random.PRNGKey(1000 + k), t - t.mean(), sigma=sig[k],
                                     tau=tau[k], mean=19.0))
        ts_.append(t + 60000.0)
        ys.append(x + 0.02 * rng.normal(size=t.size))
        es.append(np.full(t.size, 0.02))
    batch = ts.LightCurveBatch.from_arrays(t=ts_, flux=ys, flux_err=es)
    post = sample(model, batch, num_warmup=200, num_samples=300, num_chains=2, seed=3,
                  max_tree_depth=6)
    df = post.to_pandas()
    assert (post.status == 0).all()
    for name, truth in (("tau", tau), ("sigma", sig)):
        cover = np.mean((df[f"{name}_q16"] <= truth) & (truth <= df[f"{name}_q84"]))
        assert abs(cover - 0.68) <= 0.07, (name, cover)


def test_float32_fit_close_to_float64(rng):
    """dtype="float32": the float64 log-likelihood at the float32 optimum is within 0.01 of the
    float64 maximum (0.5 is one sigma), and where tau is constrained (not at its upper limit,
    where the likelihood is flat along sigma^2 / tau) the parameters agree to 5% of their
    errors."""
    batch, _ = simulate_lsst_like(rng, 8)
    model = DRW()
    r64 = fit(model, batch)
    r32 = fit(model, batch, dtype="float32")
    assert r32.dtype == "float32" and r32.values["tau"].dtype == np.float32
    jb = batch.to_jax("float64")
    ll = jax.vmap(lambda lc, s_, t_: model.loglike({"sigma": s_, "tau": t_}, lc))(
        jb, jnp.asarray(r32.values["sigma"], jnp.float64), jnp.asarray(r32.values["tau"], jnp.float64))
    assert np.all(np.asarray(ll) >= r64.loglike - 0.01), np.asarray(ll) - r64.loglike
    hi = np.asarray(jax.vmap(tau_limits)(jb.t, jb.mask)[1])
    inner = r64.values["tau"] < 0.5 * hi
    assert inner.sum() >= 4
    for n in ("sigma", "tau"):
        dz = np.abs(r32.values[n] - r64.values[n])[inner] / r64.errors[n][inner]
        assert np.all(dz < 0.05), (n, dz)


# ------------------------------------------------------------------------------------------------
# real data: SDSS Stripe 82 quasars, MacLeod et al. (2010) DRW fits
# ------------------------------------------------------------------------------------------------
def load_s82():
    """``(reference table, batch)``: one light curve per (quasar, band), ids ``"<dbID>_<band>"``
    in the order of the reference table; magnitudes as flux (the DRW is fitted in magnitudes)."""
    lc = pd.read_csv(S82 / "light_curves.csv.gz")
    ref = pd.read_csv(S82 / "drw_macleod2010.csv")
    lc["obj"] = lc.dbID.astype(str) + "_" + lc.band
    ref["obj"] = ref.dbID.astype(str) + "_" + ref.band
    batch = ts.LightCurveBatch.from_pandas(lc, id_col="obj", time_col="mjd", flux_col="mag",
                                           flux_err_col="mag_err")
    return ref, batch.loc[ref.obj.to_numpy()]


def test_stripe82_quasars_reproduce_macleod2010():
    """Issue acceptance, with ts.fit(DRW()) (mean marginalised, MacLeod's likelihood): fitted tau
    inside MacLeod's limits for >= 90% of the 150 band fits and log SF_inf within 0.1 dex
    (median absolute difference); in fact much closer."""
    ref, batch = load_s82()
    assert len(batch) == 150 and np.array_equal(batch.n_obs, ref.npts.to_numpy())
    res = fit(DRW(), batch)
    assert res.converged.all()
    log_tau = np.log10(res.values["tau"])
    log_sf = np.log10(res.values["sf_inf"])
    inside = (log_tau >= ref.log10_tau_lim_lo) & (log_tau <= ref.log10_tau_lim_hi)
    d_sf = np.abs(log_sf - ref.log10_SFinf_mag.to_numpy())
    assert inside.mean() >= 0.9, inside.mean()
    assert np.median(d_sf) < 0.1, np.median(d_sf)
    assert np.median(d_sf) < 0.02
    assert np.median(np.abs(log_tau - ref.log10_tau_obs_days)) < 0.05


def test_stripe82_multiband_drw_report():
    """MultibandDRW (one tau for ugriz) on the same quasars, compared with MacLeod's r-band fits:
    reported (printed) and checked loosely (a shared tau is a different model from per-band
    fits, so it need not sit inside every band's limits)."""
    lc = pd.read_csv(S82 / "light_curves.csv.gz")
    ref = pd.read_csv(S82 / "drw_macleod2010.csv")
    batch = ts.LightCurveBatch.from_pandas(lc, id_col="dbID", time_col="mjd", flux_col="mag",
                                           flux_err_col="mag_err", band_col="band")
    res = fit(MultibandDRW(bands=("u", "g", "r", "i", "z")), batch)
    r = ref[ref.band == "r"].set_index("dbID").loc[np.asarray(batch.ids)]
    log_tau = np.log10(res.values["tau"])
    inside = (log_tau >= r.log10_tau_lim_lo.to_numpy()) & (log_tau <= r.log10_tau_lim_hi.to_numpy())
    d = log_tau - r.log10_tau_obs_days.to_numpy()
    print(f"MultibandDRW on {len(batch)} Stripe 82 quasars: tau inside MacLeod's r-band limits for "
          f"{inside.sum()}/{len(batch)}, median log10(tau / tau_r) {np.median(d):+.3f} dex, "
          f"converged {res.converged.sum()}/{len(batch)}")
    assert res.converged.all()
    assert inside.mean() >= 0.8 and abs(np.median(d)) < 0.1
