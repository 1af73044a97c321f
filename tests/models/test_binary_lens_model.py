"""``BinaryLens`` on OGLE-2003-BLG-235 (OGLE + MOA, tests/data/microlensing): the chi2 at the
published parameters against MulensModel, padding, and ts.fit from the (s, q, alpha) grid."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts

DATA = Path(__file__).resolve().parents[1] / "data" / "microlensing"
PUB = dict(t0=2452848.06, u0=0.133, tE=61.5, s=1.120, q=0.0039, alpha=223.8)


def _load(name):
    rows = [ln.split()[:3] for ln in (DATA / name).read_text().splitlines()
            if ln.strip() and not ln.startswith(("\\", "|"))]
    return np.array(rows, float).T


@pytest.fixture(scope="module")
def ob03235():
    og, moa = _load("OB03235_OGLE.tbl.txt"), _load("OB03235_MOA.tbl.txt")
    f, e = (np.asarray(a) for a in ts.kernels.microlensing.mag_to_flux(og[1], og[2]))
    band = np.concatenate([np.full(og.shape[1], "OGLE"), np.full(moa.shape[1], "MOA")])
    batch = ts.LightCurveBatch.from_arrays(t=[np.concatenate([og[0], moa[0]])], flux=[np.concatenate([f, moa[1]])],
                                           flux_err=[np.concatenate([e, moa[2]])], band=[band])
    return og, moa, batch


def _mm_chi2(og, moa):
    """MulensModel ``Event.get_chi2`` (point source, default ``point_source`` method; fluxes
    solved per dataset): OGLE in magnitudes, MOA in flux."""
    MulensModel = pytest.importorskip("MulensModel")
    sets = [MulensModel.MulensData(data_list=list(og), phot_fmt="mag"),
            MulensModel.MulensData(data_list=list(moa), phot_fmt="flux")]
    p = {"t_0": PUB["t0"], "u_0": PUB["u0"], "t_E": PUB["tE"], "s": PUB["s"], "q": PUB["q"], "alpha": PUB["alpha"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MulensModel.Event(datasets=sets, model=MulensModel.Model(p)).get_chi2()


def test_chi2_at_published_parameters_matches_mulensmodel(ob03235):
    """Point source in both (rho of the publication not used): chi2 within 0.01 (observed
    2850.509 in both, difference 1e-10); padding changes nothing."""
    og, moa, batch = ob03235
    model = ts.models.BinaryLens()
    p = {**PUB, "t0": PUB["t0"] - batch.t_ref[0]}
    one = lambda b: jax.tree_util.tree_map(lambda x: x[0], b.to_jax("float64"))  # noqa: E731
    chi2 = float(jax.jit(model.chi2)(p, one(batch)))
    assert abs(chi2 - _mm_chi2(og, moa)) < 0.01
    padded = float(jax.jit(model.chi2)(p, one(batch.pad_to(batch.t.shape[1] + 13))))
    np.testing.assert_allclose(padded, chi2, rtol=1e-12)


def test_fit_from_grid_reaches_published_chi2(ob03235):
    """ts.fit from the (s, q, alpha) grid starts: chi2 within 1% of (or below) the published
    model's chi2 on the same raw data (observed: 2107.6 against 2850.5, at s = 0.61, q = 0.032).

    The published parameters are not a minimum of these files (the quoted chi2 of 1644 is of
    cleaned copies of the data): a fit started at them leaves them too, for a lower chi2
    (observed 2293.9, at s = 0.38, q = 0.0018), so the grid fit is not expected to return
    the published (s, q, alpha)."""
    og, moa, batch = ob03235
    published = _mm_chi2(og, moa)
    res = ts.fit(ts.models.BinaryLens(), batch)
    assert res.status[0] == 0 and res.chi2[0] <= 1.01 * published
    start = {**{k: np.array([v]) for k, v in PUB.items()}, "t0": np.array([PUB["t0"] - batch.t_ref[0]])}
    local = ts.fit(ts.models.BinaryLens(), batch, init=start)
    assert local.chi2[0] < 0.9 * published, local.chi2


def test_bad_ranges():
    with pytest.raises(ValueError, match="q_range"):
        ts.models.BinaryLens(q_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="s_range"):
        ts.models.BinaryLens(s_range=(-1.0, 1.0))


# OGLE-2016-BLG-1195, "close--" solution (tests/data/microlensing/README.md); alpha in MulensModel
# v3 convention (the -55.485 deg of use_case_25 plus 180).
OB16 = dict(t0=2457568.7692, u0=0.05321, tE=9.96, s=0.9842, q=5.43e-5, alpha=124.515, pi_E_N=-0.2154,
            pi_E_E=-0.380)
OB16_RADEC = (268.8479167, -30.2072500)  # 17:55:23.50 -30:12:26.1


@pytest.fixture(scope="module")
def ob161195():
    rows = [ln.split() for ln in (DATA / "OB161195_KMT_peak.dat").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    t = np.array([float(r[0]) for r in rows]) + 2450000.0
    mag, err = (np.array([float(r[k]) for r in rows]) for k in (1, 2))
    ds = np.array([r[3] for r in rows])
    f, e = (np.asarray(a) for a in ts.kernels.microlensing.mag_to_flux(mag, err))
    batch = ts.LightCurveBatch.from_arrays(t=[t], flux=[f], flux_err=[e], band=[ds]).with_meta(
        ra=[OB16_RADEC[0]], dec=[OB16_RADEC[1]])
    return (t, mag, err, ds), batch


def _mm_chi2_ob16(data, alpha):
    MulensModel = pytest.importorskip("MulensModel")
    t, mag, err, ds = data
    sets = [MulensModel.MulensData(data_list=[t[ds == d], mag[ds == d], err[ds == d]], phot_fmt="mag")
            for d in np.unique(ds)]
    p = {"t_0": OB16["t0"], "u_0": OB16["u0"], "t_E": OB16["tE"], "s": OB16["s"], "q": OB16["q"],
         "alpha": alpha, "pi_E_N": OB16["pi_E_N"], "pi_E_E": OB16["pi_E_E"], "t_0_par": OB16["t0"]}
    model = MulensModel.Model(p, coords="17:55:23.50 -30:12:26.1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MulensModel.Event(datasets=sets, model=model).get_chi2()


def test_binary_with_parallax_chi2_matches_mulensmodel(ob161195):
    """OB161195 on nine KMTNet datasets (fluxes per dataset), binary lens with annual parallax,
    point source in both, t0_par = t0: chi2 within 0.01 of MulensModel's ``Event.get_chi2``
    (observed 2775.2330 in both, 2e-9 apart). The alpha of use_case_25 (-55.485 deg) taken as
    version-3 alpha gives a chi2 9.5 times larger (26498), in both codes: the published value predates
    the 180-degree change. Gradients of the chi2 are finite."""
    data, batch = ob161195
    model = ts.models.BinaryLens(parallax=True, t0_par=OB16["t0"])
    assert model.param_names == ("t0", "u0", "tE", "s", "q", "alpha", "pi_E_N", "pi_E_E")
    lc = jax.tree_util.tree_map(lambda x: x[0], model.prepare_batch(batch).to_jax("float64"))
    chi2 = jax.jit(model.chi2)
    p = {k: jnp.float64(v) for k, v in OB16.items()}
    p["t0"] = p["t0"] - batch.t_ref[0]
    ours = float(chi2(p, lc))
    assert abs(ours - _mm_chi2_ob16(data, OB16["alpha"])) < 0.01
    assert ours < 3000
    old = float(chi2({**p, "alpha": jnp.float64(OB16["alpha"] - 180.0)}, lc))
    assert abs(old - _mm_chi2_ob16(data, OB16["alpha"] - 180.0)) < 0.01 and old > 5 * ours
    g = jax.grad(model.chi2)(p, lc)
    assert all(np.isfinite(float(v)) for v in g.values())


SIM = dict(t0=0.0, u0=0.2, tE=30.0, s=0.8, q=0.02, alpha=100.0)


@pytest.fixture(scope="module")
def simulated_binary():
    """One simulated binary event (s = 0.8, q = 0.02), two bands, 300 points over +-5 tE."""
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(-150.0, 150.0, 300))
    A = np.asarray(ts.kernels.microlensing.binary_magnification(t, **SIM))
    band = np.where(rng.uniform(size=t.size) < 0.5, "g", "r")
    fs = np.where(band == "g", 1000.0, 1500.0)
    err = 0.01 * fs + 5.0
    flux = fs * A + 200.0 + err * rng.normal(size=t.size)
    return ts.LightCurveBatch.from_arrays(t=[t], flux=[flux], flux_err=[err], band=[band])


def test_fit_and_sample_recover_a_simulated_binary(simulated_binary):
    """From the (s, q, alpha) grid, ts.fit reaches at least the chi2 of the truth (so the global
    minimum's basin) and recovers s, u0, alpha, tE within 5 sigma and q within a factor 2.5; ts.sample (NUTS, short chains)
    runs on the binary lens, stays in the prior's support and centres on the fit."""
    batch = simulated_binary
    model = ts.models.BinaryLens()
    res = ts.fit(model, batch)
    one = jax.tree_util.tree_map(lambda x: x[0], batch.to_jax("float64"))
    truth = {k: jnp.float64(v - (batch.t_ref[0] if k == "t0" else 0.0)) for k, v in SIM.items()}
    chi2_truth = float(jax.jit(model.chi2)(truth, one))
    assert res.chi2[0] <= chi2_truth + 1e-6
    # (u0, alpha) and (-u0, -alpha) are the same light curve
    sign = np.sign(res.values["u0"][0])
    vals = {**{k: res.values[k][0] for k in model.param_names}, "u0": abs(res.values["u0"][0]),
            "alpha": (sign * res.values["alpha"][0]) % 360.0}
    for k in ("s", "tE", "u0", "alpha"):
        assert abs(vals[k] - SIM[k]) < 5 * res.errors[k][0], (k, vals[k], SIM[k], res.errors[k][0])
    # q is the loosest (0.043 found for 0.02, at a chi2 below the truth's): within a factor 2.5
    assert 1 / 2.5 < vals["q"] / SIM["q"] < 2.5, vals["q"]
    post = ts.sample(model, batch, num_warmup=30, num_samples=30, num_chains=1, max_tree_depth=4)
    for k in ("s", "q", "tE"):
        med, sd = post.stats[k]["q50"][0], post.stats[k]["sd"][0]
        lo, hi = getattr(model, f"{k}_range")
        assert lo < med < hi and np.isfinite(sd)
        assert abs(med - res.values[k][0]) < 4 * max(sd, res.errors[k][0]), (k, med, res.values[k][0], sd)


def test_finite_source_chi2_matches_vbbl(ob03235):
    """``BinaryLens(finite_source=True)`` at the published parameters with the published
    rho = 0.00096: every point is flagged valid for the hexadecapole approximation, and the chi2
    is within 0.01 of MulensModel's ``Event.get_chi2`` with the exact finite-source ``VBBL``
    method over the event (observed 2850.39011 against 2850.39025; point source: 2850.51)."""
    MulensModel = pytest.importorskip("MulensModel")
    og, moa, batch = ob03235
    model = ts.models.BinaryLens(finite_source=True)
    assert model.param_names == ("t0", "u0", "tE", "s", "q", "alpha", "rho")
    lc = jax.tree_util.tree_map(lambda x: x[0], batch.to_jax("float64"))
    p = {**{k: jnp.float64(v) for k, v in PUB.items()}, "rho": jnp.float64(0.00096)}
    p["t0"] = p["t0"] - batch.t_ref[0]
    chi2 = float(jax.jit(model.chi2)(p, lc))
    assert bool(jnp.all(model.finite_source_valid(p, lc)))
    sets = [MulensModel.MulensData(data_list=list(og), phot_fmt="mag"),
            MulensModel.MulensData(data_list=list(moa), phot_fmt="flux")]
    mp = {"t_0": PUB["t0"], "u_0": PUB["u0"], "t_E": PUB["tE"], "s": PUB["s"], "q": PUB["q"],
          "alpha": PUB["alpha"], "rho": 0.00096}
    mm_model = MulensModel.Model(mp)
    mm_model.set_magnification_methods([2452800.0, "VBBL", 2452900.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MulensModel.Event(datasets=sets, model=mm_model).get_chi2()
    assert abs(chi2 - ref) < 0.01
    assert abs(chi2 - _mm_chi2(og, moa)) > 0.05  # the finite source matters at this precision
    with pytest.raises(ValueError, match="limb_darkening is an option"):
        ts.models.BinaryLens(limb_darkening=0.3)
