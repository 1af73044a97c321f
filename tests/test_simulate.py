"""Tests of tsmodels.simulate: determinism, cadence, error model, signals against their truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsmodels import simulate as sim
from tsmodels.lightcurves import LightCurveBatch

YEAR = 365.25


def _to_mag(flux):
    return 31.4 - 2.5 * np.log10(flux)


# --------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("kind", sorted(sim.SIGNALS))
def test_same_seed_same_output_different_seed_different(kind):
    a, ta = sim.lightcurves(kind, 20, seed=7, n_years=1.5, output="pandas")
    b, tb = sim.lightcurves(kind, 20, seed=7, n_years=1.5, output="pandas")
    c, tc = sim.lightcurves(kind, 20, seed=8, n_years=1.5, output="pandas")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(ta, tb, check_exact=True)
    assert len(a) != len(c) or not np.array_equal(a["time"].to_numpy(), c["time"].to_numpy())
    num = ta.select_dtypes("number").columns
    assert not np.array_equal(ta[num].to_numpy(), tc[num].to_numpy())


def test_batch_output_matches_pandas_output():
    batch, truth = sim.pspl(15, seed=3, n_years=2)
    table, truth2 = sim.pspl(15, seed=3, n_years=2, output="pandas")
    assert isinstance(batch, LightCurveBatch)
    pd.testing.assert_frame_equal(truth, truth2)
    got = batch.to_pandas()
    pd.testing.assert_frame_equal(got, table[["id", "time", "flux", "flux_err", "band"]], check_exact=True)
    np.testing.assert_array_equal(batch.ids, truth.index.to_numpy())


def test_custom_ids_sorted_like_the_batch():
    ids = np.array(["obj-c", "obj-a", "obj-b"])
    batch, truth = sim.constant(3, ids=ids, seed=1, n_years=1)
    assert list(truth.index) == ["obj-a", "obj-b", "obj-c"]
    assert list(batch.ids) == ["obj-a", "obj-b", "obj-c"]


def test_cadence_is_shared_across_signals_for_one_seed():
    cad = sim.cadence(12, seed=5, n_years=2)
    for kind in ("constant", "drw"):
        table, _ = sim.lightcurves(kind, 12, seed=5, n_years=2, output="pandas")
        np.testing.assert_array_equal(table["time"].to_numpy(), cad.mjd)
        np.testing.assert_array_equal(table["band"].to_numpy(), cad.band_names)


# --------------------------------------------------------------------------- cadence
def test_cadence_seasons_gaps_and_nightly_jitter():
    cad = sim.cadence(300, n_years=3.0, seed=11)
    assert np.all(np.diff(cad.obj) >= 0)
    same = cad.obj[1:] == cad.obj[:-1]
    assert np.all(np.diff(cad.mjd)[same] >= 0)  # sorted by time within an object
    # every visit's night lies inside one of the object's yearly seasons
    day = np.floor(cad.mjd) - cad.start_mjd
    into = np.mod(day - cad.season_start[cad.obj] + 1.0, YEAR) - 1.0  # nights start up to 1 d early
    assert np.all(into <= cad.season_length[cad.obj])
    assert np.all(into >= -1.0)
    assert np.all((cad.season_length >= 183.0) & (cad.season_length <= 244.0))
    # and inside the survey
    assert cad.mjd.min() >= cad.start_mjd and cad.mjd.max() < cad.end_mjd + 1.0
    # seasonal gaps: a 3-year survey shows at least two gaps longer than 365.25 - 244 - 2 days
    gaps = np.where(same, np.diff(cad.mjd), 0.0)
    n_long = np.bincount(cad.obj[:-1], weights=gaps > YEAR - 244.0 - 2.0, minlength=cad.n_objects)
    assert np.all(n_long >= 2)
    # nightly jitter: times around local midnight in Chile, MJD fraction 0.196 +- 0.15
    frac = cad.mjd - np.floor(cad.mjd)
    assert frac.min() >= 0.196 - 0.15 and frac.max() <= 0.196 + 0.15
    assert frac.std() > 0.05
    # Poisson number of visits around 80 per year
    n = cad.n_visits
    assert abs(n.mean() - 240.0) < 5 * np.sqrt(240.0 / len(n))


def test_cadence_band_fractions_within_sampling_error():
    cad = sim.cadence(200, n_years=3.0, seed=2)
    m = len(cad.band)
    counts = np.bincount(cad.band, minlength=len(cad.bands))
    p = np.array([sim.LSST_BAND_FRACTIONS[b] for b in cad.bands])
    np.testing.assert_array_less(np.abs(counts - m * p), 4.5 * np.sqrt(m * p * (1 - p)))


def test_cadence_options():
    cad = sim.cadence(5, n_visits=17, bands="gr", band_fractions={"g": 1.0, "r": 3.0}, seed=0)
    np.testing.assert_array_equal(cad.n_visits, 17)
    assert cad.bands == ("g", "r")
    assert set(np.unique(cad.band)) <= {0, 1}
    cad = sim.cadence(3, n_visits=[1, 2, 3], season_length=200.0, seed=0)
    np.testing.assert_array_equal(cad.n_visits, [1, 2, 3])
    np.testing.assert_array_equal(cad.season_length, 200.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(bands="ugq"), r"unknown band\(s\) \['q'\]"),
        (dict(n_years=0.0), "n_years must be > 0"),
        (dict(n_visits=0), "n_visits must be >= 1"),
        (dict(season_length=400.0), "season_length must be in"),
    ],
)
def test_cadence_bad_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sim.cadence(4, **kwargs)


def test_unknown_signal_and_bad_option():
    with pytest.raises(KeyError, match="unknown signal 'nope'"):
        sim.lightcurves("nope", 3)
    with pytest.raises(TypeError, match="invalid option for signal 'drw'"):
        sim.lightcurves("drw", 3, period=1.0)
    with pytest.raises(ValueError, match="shape must be one of"):
        sim.periodic(3, shape="square")


# --------------------------------------------------------------------------- error model
def test_error_model_monotonic_in_magnitude_and_consistent_in_flux():
    mag = np.linspace(14.0, 26.0, 241)
    for b in sim.LSST_BANDS:
        m5, gamma = sim.LSST_M5[b], sim.LSST_GAMMA[b]
        sig = sim.mag_err_model(mag, m5, gamma)
        assert np.all(np.diff(sig) > 0)
        assert sig[0] >= sim.SIGMA_SYS
        # 5-sigma at m5: random part 0.2 mag
        np.testing.assert_allclose(sim.mag_err_model(m5, m5, gamma), np.hypot(0.2, sim.SIGMA_SYS), rtol=1e-12)
        flux = sim.mag_to_flux(mag)
        ferr = sim.flux_err_model(flux, m5, gamma)
        np.testing.assert_allclose(ferr, 0.4 * np.log(10) * flux * sig, rtol=1e-12)
        assert np.all(np.diff(ferr / flux) > 0)  # relative error grows as the source fades
    # zero flux: sky-limited error, finite and positive
    f0 = sim.flux_err_model(0.0, 24.0, 0.039)
    np.testing.assert_allclose(f0, 0.4 * np.log(10) * np.sqrt(0.039) * sim.mag_to_flux(24.0), rtol=1e-12)
    assert sim.flux_err_model(-5.0, 24.0) == f0


def test_ab_nanojansky_zero_point():
    np.testing.assert_allclose(sim.mag_to_flux(31.4), 1.0)
    np.testing.assert_allclose(sim.mag_to_flux(0.0), 3631e9, rtol=1e-3)  # 3631 Jy
    np.testing.assert_allclose(sim.mag_to_flux(8.9), 1e9, rtol=1e-12)  # 1 Jy
    np.testing.assert_allclose(sim.flux_to_mag(sim.mag_to_flux(21.3)), 21.3, rtol=1e-14)


def test_noise_is_unit_normal_in_units_of_flux_err():
    table, _ = sim.constant(200, seed=4, n_years=2, output="pandas")
    z = ((table["flux"] - table["flux_true"]) / table["flux_err"]).to_numpy()
    n = len(z)
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2.0 / n)
    # the error follows the model at the true flux, band by band
    m5 = table["band"].map(sim.LSST_M5).to_numpy()
    gamma = table["band"].map(sim.LSST_GAMMA).to_numpy()
    expected = sim.flux_err_model(table["flux_true"], m5, gamma)
    np.testing.assert_allclose(table["flux_err"], expected, rtol=1e-14)


def test_noise_false_gives_the_true_flux():
    table, _ = sim.bazin(10, seed=1, noise=False, output="pandas")
    np.testing.assert_array_equal(table["flux"], table["flux_true"])


# --------------------------------------------------------------------------- signals vs truth
@pytest.mark.parametrize("shape", ["sinusoid", "sawtooth"])
def test_periodic_recomputed_from_truth(shape):
    table, truth = sim.periodic(30, shape=shape, seed=9, n_years=1, output="pandas")
    tr = truth.loc[table["id"]]
    band = table["band"].to_numpy()
    pick = lambda name: np.choose(  # noqa: E731
        pd.Index(sim.LSST_BANDS).get_indexer(band), [tr[f"{name}_{b}"].to_numpy() for b in sim.LSST_BANDS])
    x = (table["time"].to_numpy() - tr["t0"].to_numpy()) / tr["period"].to_numpy() + pick("phase")
    x = x % 1.0
    if shape == "sinusoid":
        w = np.sin(2 * np.pi * x)
    else:
        r = tr["rise_fraction"].to_numpy()
        w = np.where(x < r, 1 - 2 * x / r, -1 + 2 * (x - r) / (1 - r))
    expected = pick("mag") + pick("amp") * w
    np.testing.assert_allclose(_to_mag(table["flux_true"].to_numpy()), expected, atol=1e-9)
    # per-band amplitudes follow the stated ratios
    np.testing.assert_allclose(truth["amp_u"] / truth["amp_g"], sim.PERIODIC_AMPLITUDE_RATIO["u"])
    assert truth["period"].between(0.1, 10.0).all()


def test_sawtooth_waveform_mean_zero_and_brightest_at_rise():
    x = np.linspace(0, 1, 100001)[:-1]
    w = sim._wave(np.ones_like(x, dtype=int), x, 0.15)
    assert abs(w.mean()) < 1e-4
    assert abs(x[np.argmin(w)] - 0.15) < 1e-4  # maximum light (minimum magnitude)


def test_pspl_recomputed_from_truth():
    table, truth = sim.pspl(25, seed=2, output="pandas", u0=(0.05, 0.5), tE=(10.0, 50.0))
    tr = truth.loc[table["id"]]
    band = table["band"].to_numpy()
    pick = lambda name: np.choose(  # noqa: E731
        pd.Index(sim.LSST_BANDS).get_indexer(band), [tr[f"{name}_{b}"].to_numpy() for b in sim.LSST_BANDS])
    u = np.hypot(tr["u0"].to_numpy(), (table["time"].to_numpy() - tr["t0"].to_numpy()) / tr["tE"].to_numpy())
    amp = (u**2 + 2) / (u * np.sqrt(u**2 + 4))
    np.testing.assert_allclose(table["flux_true"], pick("flux_source") * amp + pick("flux_blend"), rtol=1e-12)
    baseline = pick("flux_source") + pick("flux_blend")
    np.testing.assert_allclose(baseline, sim.mag_to_flux(pick("mag")), rtol=1e-12)
    assert ((truth[[f"fs_{b}" for b in sim.LSST_BANDS]] > 0.2 - 1e-12).all().all())


def test_bazin_peak_matches_peak_magnitude():
    _, truth = sim.bazin(40, seed=6, n_years=1, output="pandas")
    t_peak = truth["t0"] + truth["tau_rise"] * np.log(truth["tau_fall"] / truth["tau_rise"] - 1)
    for b in ("g", "r", "z"):
        f = sim.evaluate("bazin", truth, truth.index, t_peak, np.full(len(truth), b))
        np.testing.assert_allclose(_to_mag(f), truth[f"peak_mag_{b}"], atol=1e-10)
        # and it is a maximum
        for dt in (-0.5, 0.5):
            assert np.all(sim.evaluate("bazin", truth, truth.index, t_peak + dt, np.full(len(truth), b)) < f)
    # far from t0 the flux goes to the baseline without overflow
    far = sim.bazin_flux(np.array([-1e5, 1e5]), t0=0.0, amp=1e4, tau_rise=2.0, tau_fall=20.0)
    np.testing.assert_allclose(far, 0.0, atol=1e-300)


def _closed_form(kind, truth, ids, t, band):
    """The signals written out from their definitions (no code of tsmodels.simulate), to check
    both the simulated noiseless fluxes and ``evaluate`` at other times."""
    row = truth.loc[ids]
    col = lambda name: np.array([row[f"{name}_{b}"].iloc[k] for k, b in enumerate(band)])  # noqa: E731
    if kind == "constant":
        return 10 ** (-0.4 * (col("mag") - 31.4))
    if kind == "bazin":
        dt = t - row["t0"].to_numpy()
        return (col("amp") * np.exp(-dt / row["tau_fall"].to_numpy())
                / (1 + np.exp(-dt / row["tau_rise"].to_numpy())) + col("baseline"))
    if kind == "pspl":
        u = np.hypot(row["u0"].to_numpy(), (t - row["t0"].to_numpy()) / row["tE"].to_numpy())
        return col("flux_source") * (u * u + 2) / (u * np.sqrt(u * u + 4)) + col("flux_blend")
    raise KeyError(kind)


@pytest.mark.parametrize("kind", ["constant", "bazin", "pspl"])
def test_noiseless_flux_and_evaluate_follow_the_definitions(kind):
    table, truth = sim.lightcurves(kind, 12, seed=13, n_years=1.5, output="pandas")
    ids, t, band = table["id"].to_numpy(), table["time"].to_numpy(), table["band"].to_numpy()
    np.testing.assert_allclose(table["flux_true"], _closed_form(kind, truth, ids, t, band), rtol=1e-10)
    # at times and bands the cadence never had
    rng = np.random.default_rng(4)
    t_new = rng.uniform(t.min() - 30, t.max() + 30, t.size)
    b_new = rng.choice(list(sim.LSST_BANDS), t.size)
    np.testing.assert_allclose(sim.evaluate(kind, truth, ids, t_new, b_new),
                               _closed_form(kind, truth, ids, t_new, b_new), rtol=1e-10)


def test_evaluate_refuses_stochastic_signal():
    _, truth = sim.drw(3, seed=0, n_years=1, output="pandas")
    with pytest.raises(ValueError, match="'drw' is stochastic"):
        sim.evaluate("drw", truth, truth.index, np.zeros(3), ["r"] * 3)


# --------------------------------------------------------------------------- DRW statistics
def _latent(table, truth):
    """The unit-variance OU process recovered from noiseless DRW magnitudes: (m - mag_b) / sigma_b."""
    tr = truth.loc[table["id"]]
    band = table["band"].to_numpy()
    idx = pd.Index(sim.LSST_BANDS).get_indexer(band)
    mag_b = np.choose(idx, [tr[f"mag_{b}"].to_numpy() for b in sim.LSST_BANDS])
    sig_b = np.choose(idx, [tr[f"sigma_{b}"].to_numpy() for b in sim.LSST_BANDS])
    return (_to_mag(table["flux_true"].to_numpy()) - mag_b) / sig_b


def _padded(obj, values):
    counts = np.bincount(obj)
    pos = np.arange(len(obj)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[obj]
    out = np.full((len(counts), counts.max()), np.nan)
    out[obj, pos] = values
    return out


def test_drw_variance_and_structure_function_match_input():
    tau = 40.0
    table, truth = sim.drw(300, tau=tau, sigma=0.2, seed=21, n_years=3, output="pandas")
    np.testing.assert_allclose(truth["sigma_u"], 0.2 * sim.DRW_AMPLITUDE_RATIO["u"])
    x = _latent(table, truth)
    obj = pd.factorize(table["id"])[0]
    # variance: per-object mean of x^2 (objects independent) -> across-object mean and its error
    per_obj = np.bincount(obj, weights=x**2) / np.bincount(obj)
    se = per_obj.std(ddof=1) / np.sqrt(len(per_obj))
    assert abs(per_obj.mean() - 1.0) < 4 * se
    assert se < 0.05  # the test has power
    # structure function: E[(x_i - x_j)^2] = 2 (1 - exp(-dt/tau)) for every pair
    X = _padded(obj, x)
    T = _padded(obj, table["time"].to_numpy())
    bins = [(0.5, 3.0), (3.0, 15.0), (15.0, 60.0), (60.0, 300.0)]
    sums = np.zeros((len(X), len(bins)))
    cnt = np.zeros((len(X), len(bins)))
    for k in range(1, 40):
        dt = T[:, k:] - T[:, :-k]
        resid = (X[:, k:] - X[:, :-k]) ** 2 - 2 * (1 - np.exp(-dt / tau))
        for j, (lo, hi) in enumerate(bins):
            sel = (dt >= lo) & (dt < hi) & np.isfinite(resid)
            sums[:, j] += np.where(sel, resid, 0).sum(1)
            cnt[:, j] += sel.sum(1)
    for j in range(len(bins)):
        ok = cnt[:, j] > 0
        r = sums[ok, j] / cnt[ok, j]
        assert ok.sum() > 100
        assert abs(r.mean()) < 4 * r.std(ddof=1) / np.sqrt(ok.sum()), bins[j]
    # the lags resolve the structure: small at short lags, ~2 sigma^2 at long ones
    mid = [np.sqrt(lo * hi) for lo, hi in bins]
    sf = 2 * (1 - np.exp(-np.array(mid) / tau))
    assert sf[0] < 0.2 and sf[-1] > 1.5


def test_ou_process_exact_lag_one_correlation():
    rng = np.random.default_rng(0)
    n_obj, n = 2000, 50
    obj = np.repeat(np.arange(n_obj), n)
    t = np.tile(np.arange(n) * 10.0, n_obj)
    x = sim.ou_process(obj, t, np.full(n_obj, 20.0), rng).reshape(n_obj, n)
    rho = np.mean(x[:, 1:] * x[:, :-1])
    assert abs(rho - np.exp(-0.5)) < 0.02
    assert abs(np.mean(x**2) - 1.0) < 0.03
    # repeated times give repeated values
    x2 = sim.ou_process(np.zeros(3, int), np.array([1.0, 1.0, 2.0]), np.array([5.0]), rng)
    assert x2[0] == x2[1]


def test_drw_flux_space_shares_the_latent_process():
    tm, truth_m = sim.drw(5, seed=4, n_years=1, space="mag", output="pandas")
    tf, truth_f = sim.drw(5, seed=4, n_years=1, space="flux", output="pandas")
    xm = _latent(tm, truth_m)
    tr = truth_f.loc[tf["id"]]
    idx = pd.Index(sim.LSST_BANDS).get_indexer(tf["band"].to_numpy())
    base = sim.mag_to_flux(np.choose(idx, [tr[f"mag_{b}"].to_numpy() for b in sim.LSST_BANDS]))
    sig = np.choose(idx, [tr[f"sigma_{b}"].to_numpy() for b in sim.LSST_BANDS])
    xf = (tf["flux_true"].to_numpy() / base - 1) / sig
    np.testing.assert_allclose(xf, xm, atol=1e-9)


# --------------------------------------------------------------------------- registry
def test_registering_a_new_signal(monkeypatch):
    def draw(rng, cad, *, slope=(0.0, 1.0)):
        return {"slope": sim._draw(rng, slope, cad.n_objects), "f0": np.full(cad.n_objects, 1000.0)}

    def flux(cad, params, rng):
        return params["f0"][cad.obj] + params["slope"][cad.obj] * (cad.mjd - cad.start_mjd)

    monkeypatch.setitem(sim.SIGNALS, "linear", sim.Signal("linear", draw, flux))
    table, truth = sim.lightcurves("linear", 4, slope=2.0, seed=1, n_years=1, output="pandas")
    np.testing.assert_allclose(table["flux_true"], 1000.0 + 2.0 * (table["time"] - sim.DEFAULT_START_MJD))
    np.testing.assert_allclose(sim.evaluate("linear", truth, table["id"], table["time"], table["band"]),
                               table["flux_true"])


# --------------------------------------------------------------------------- SALT2 supernovae
@pytest.fixture(scope="module")
def salt2_sncosmo(tmp_path_factory):
    """sncosmo's SALT2 model with Milky Way dust (``Model(source=SALT2Source, effects=[F99Dust()],
    effect_frames=["obs"])``) on the shipped salt2-4 tables, and the LSST bandpasses registered in
    sncosmo as ``sim::lsst<b>`` (no download)."""
    sncosmo = pytest.importorskip("sncosmo")
    from tsmodels.kernels.supernova import salt as S

    for b in sim.LSST_BANDS:
        bp = S.get_bandpass("lsst" + b)
        sncosmo.register(sncosmo.Bandpass(bp.wave, bp.trans, name="sim::lsst" + b), force=True)
    out = S.write_model_directory("salt2-4", tmp_path_factory.mktemp("salt2-4"))
    return sncosmo.Model(source=sncosmo.SALT2Source(modeldir=str(out)), effects=[sncosmo.F99Dust()],
                         effect_names=["mw"], effect_frames=["obs"])


def test_salt2_flux_equals_sncosmo_bandflux_at_the_truth(salt2_sncosmo):
    """The noiseless SALT2 fluxes (and ``evaluate`` at other times) equal sncosmo's
    ``Model.bandflux(band, t, zp=31.4, zpsys="ab")`` at the true ``z, t0, x0, x1, c, mwebv``; the
    visits left out are exactly those sncosmo refuses (band outside the model at that z)."""
    kw = dict(seed=3, n_years=0.4, season_length=365.25, visits_per_year=300.0, z=(0.05, 0.6),
              mwebv=(0.0, 0.3))
    table, truth = sim.salt2(8, output="pandas", **kw)
    cad = sim.cadence(8, n_years=0.4, season_length=365.25, visits_per_year=300.0, seed=3)
    n_left_out = 0
    for k, (i, p) in enumerate(truth.iterrows()):
        salt2_sncosmo.set(z=p.z, t0=p.t0, x0=p.x0, x1=p.x1, c=p.c, mwebv=p.mwebv)
        rows = table[table["id"] == i]
        ref = salt2_sncosmo.bandflux("sim::lsst" + rows["band"].to_numpy().astype(object),
                                     rows["time"].to_numpy(), zp=31.4, zpsys="ab")
        np.testing.assert_allclose(rows["flux_true"], ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
        assert np.abs(ref).max() > 100.0  # the supernova is in the light curve
        np.testing.assert_array_equal(rows[["z", "mwebv"]].to_numpy(), np.tile([p.z, p.mwebv], (len(rows), 1)))
        # visits of the cadence missing from the table: sncosmo raises for each of their bands
        sel = cad.obj == k
        kept = np.isin(cad.mjd[sel], rows["time"].to_numpy())
        for b in np.unique(cad.band_names[sel]):
            in_band = cad.band_names[sel] == b
            try:
                salt2_sncosmo.bandflux("sim::lsst" + b, p.t0, zp=31.4, zpsys="ab")
                covered = True
            except ValueError:
                covered = False
            assert np.all(kept[in_band] == covered), (i, b, p.z)
            n_left_out += int((~kept[in_band]).sum())
    assert n_left_out > 0  # the check above has something to check
    # evaluate() at times and in bands the cadence never had (g, r, i: covered at every z here)
    rng = np.random.default_rng(0)
    ids = np.repeat(truth.index.to_numpy(), 30)
    t_new = truth["t0"].to_numpy()[np.repeat(np.arange(len(truth)), 30)] + rng.uniform(-30, 80, ids.size)
    b_new = rng.choice(["g", "r", "i"], ids.size)
    got = sim.evaluate("salt2", truth, ids, t_new, b_new)
    for i, p in truth.iterrows():
        sel = ids == i
        salt2_sncosmo.set(z=p.z, t0=p.t0, x0=p.x0, x1=p.x1, c=p.c, mwebv=p.mwebv)
        ref = salt2_sncosmo.bandflux("sim::lsst" + b_new[sel].astype(object), t_new[sel], zp=31.4,
                                     zpsys="ab")
        np.testing.assert_allclose(got[sel], ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_salt2_truth_follows_the_tripp_relation_and_the_batch_carries_z():
    """x0 from ``mB = 10.635 - 2.5 log10 x0`` and ``mB = mu + M_B - alpha x1 + beta c + scatter``
    with ``mu`` equal to astropy's ``FlatLambdaCDM(H0=70, Om0=0.3, Tcmb0=0).distmod``; t0 inside
    an observable season; ``z`` and ``mwebv`` in ``batch.meta``, as SALT2() needs them."""
    from astropy.cosmology import FlatLambdaCDM

    from tsmodels.models import SALT2

    survey = dict(seed=5, n_years=1.0, visits_per_year=60.0)
    batch, truth = sim.salt2(128, **survey)
    z = truth["z"].to_numpy()
    assert z.min() >= 0.05 and z.max() <= 0.5
    assert truth["x1"].between(-3, 3).all() and truth["c"].between(-0.3, 0.3).all()
    np.testing.assert_allclose(truth["mu"], FlatLambdaCDM(H0=70, Om0=0.3, Tcmb0=0).distmod(z).value,
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(-2.5 * np.log10(truth["x0"]) + 10.635, truth["mB"], rtol=0, atol=1e-10)
    resid = truth["mB"] - (truth["mu"] - 19.36 - 0.14 * truth["x1"] + 3.1 * truth["c"])
    assert abs(resid.mean()) < 4 * 0.1 / np.sqrt(len(resid))
    assert abs(resid.std() - 0.1) < 0.03
    # t0 on a night the object is observable (inside one of its yearly seasons)
    cad = sim.cadence(128, **survey)
    into = np.mod(truth["t0"].to_numpy() - cad.start_mjd - cad.season_start, YEAR)
    assert np.all(into <= cad.season_length + 1e-6)
    assert np.all((truth["t0"] >= cad.start_mjd) & (truth["t0"] <= cad.end_mjd))
    np.testing.assert_array_equal(batch.meta["z"], z)
    np.testing.assert_array_equal(batch.meta["mwebv"], 0.0)
    SALT2(zp=sim.AB_ZEROPOINT_NJY).check_batch(batch)  # every band covered at every z
    # fixed peak magnitude instead of the Tripp relation
    _, tr = sim.salt2(128, mB=21.0, **survey)
    np.testing.assert_allclose(tr["x0"], 10 ** (-0.4 * (21.0 - 10.635)), rtol=1e-14)


def test_salt2_bad_inputs():
    with pytest.raises(ValueError, match="z must be > 0"):
        sim.salt2(3, z=0.0, n_years=1.0)
    with pytest.raises(ValueError, match="mwebv must be >= 0"):
        sim.salt2(3, mwebv=-0.1, n_years=1.0)
    # y is outside the SALT2 model below z = 0.195: no visit left
    with pytest.raises(ValueError, match=r"signal 'salt2' leaves 3 object\(s\) without any visit"):
        sim.salt2(3, z=0.1, bands="y", n_years=1.0)
