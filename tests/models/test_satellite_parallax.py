"""Satellite (Spitzer) parallax: the spacecraft's projected offsets against MulensModel's
``Trajectory`` (``satellite_skycoord`` from the same JPL Horizons files), the chi2 of
OGLE-2014-BLG-0939 (OGLE + Spitzer) and of OGLE-2016-BLG-1195 (KMTNet + Spitzer, binary lens)
against MulensModel's ``Event.get_chi2``, a fit from automatic starts, and bad input."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts

DATA = Path(__file__).resolve().parents[1] / "data" / "microlensing"
ml = ts.kernels.microlensing
EPH1, EPH2 = DATA / "Spitzer_ephemeris_01.dat", DATA / "Spitzer_ephemeris_02.dat"
OB14_COORDS = "17:47:12.25 -21:22:58.7"
OB14_RADEC = (266.8010417, -21.3829722)
# MulensModel example_12 posterior median (reference_parameters.csv); its best sample: chi2 4227.37
OB14 = dict(t0=2456836.16049, u0=0.91317, tE=23.00179, pi_E_N=-0.24558, pi_E_E=0.25284)
OB14_T0_PAR = 2456836.06
OB14_QUOTED = 4227.37

pytestmark = pytest.mark.filterwarnings("ignore")  # MulensModel's warnings about its own defaults


def _one(model, batch, dtype="float64"):
    return jax.tree_util.tree_map(lambda x: x[0], model.prepare_batch(batch).to_jax(dtype))


def _mm():
    return pytest.importorskip("MulensModel")


def test_offsets_match_mulensmodel_trajectory():
    """Earth + Spitzer offsets (delta_N, delta_E) at the Spitzer epochs of both events equal
    MulensModel's ``Trajectory.parallax_delta_N_E`` (earth_orbital and satellite) within 1e-12 AU;
    the Horizons epochs (UTC -> TDB) equal MulensModel's ``Horizons.time``."""
    mm = _mm()
    for eph, coords, name, add in ((EPH1, OB14_COORDS, "ob140939_Spitzer.dat", 0.0),
                                   (EPH2, "17:55:23.50 -30:12:26.1", "OB161195_spitzer_b12.dat", 2450000.0)):
        t = np.loadtxt(DATA / name)[:, 0] + add
        c = mm.Coordinates(coords)
        sky = mm.SatelliteSkyCoord(str(eph)).get_satellite_coords(t)
        p = mm.ModelParameters(dict(t_0=t.mean(), u_0=0.5, t_E=20.0, pi_E_N=0.1, pi_E_E=0.1,
                                    t_0_par=t.mean()))
        ref = mm.Trajectory(t, p, parallax={"earth_orbital": True, "satellite": True}, coords=c,
                            satellite_skycoord=sky).parallax_delta_N_E
        sn, se = ml.satellite_offsets(t, c.ra.deg, c.dec.deg, ml.read_ephemeris(eph))
        en, ee = ml.earth_offsets(t, c.ra.deg, c.dec.deg, t.mean())
        np.testing.assert_allclose(sn + en, ref["N"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(se + ee, ref["E"], rtol=0, atol=1e-12)
        assert np.abs(sn).max() > 0.03  # the spacecraft is far from the Earth: a real test
        np.testing.assert_array_equal(ml.read_ephemeris(eph).time, mm.horizons.Horizons(str(eph)).time)


@pytest.fixture(scope="module")
def ob140939():
    og = np.loadtxt(DATA / "ob140939_OGLE.dat", usecols=(0, 1, 2))
    sp = np.loadtxt(DATA / "ob140939_Spitzer.dat")
    t = np.concatenate([og[:, 0], sp[:, 0]])
    f, e = (np.asarray(a) for a in ml.mag_to_flux(np.concatenate([og[:, 1], sp[:, 1]]),
                                                 np.concatenate([og[:, 2], sp[:, 2]])))
    band = np.array(["OGLE"] * len(og) + ["Spitzer"] * len(sp))
    batch = ts.LightCurveBatch.from_arrays(t=[t], flux=[f], flux_err=[e], band=[band]).with_meta(
        ra=[OB14_RADEC[0]], dec=[OB14_RADEC[1]])
    model = ts.models.PSPL(parallax=True, t0_par=OB14_T0_PAR, satellites={"Spitzer": EPH1})
    return og, sp, batch, model


def _mm_chi2_ob14(og, sp):
    mm = _mm()
    sets = [mm.MulensData(data_list=list(og.T), phot_fmt="mag"),
            mm.MulensData(data_list=list(sp.T), phot_fmt="mag", ephemerides_file=str(EPH1))]
    p = {"t_0": OB14["t0"], "u_0": OB14["u0"], "t_E": OB14["tE"], "pi_E_N": OB14["pi_E_N"],
         "pi_E_E": OB14["pi_E_E"], "t_0_par": OB14_T0_PAR}
    return mm.Event(datasets=sets, model=mm.Model(p, coords=OB14_COORDS)).get_chi2()


def _params(ref, t_ref, dtype=jnp.float64):
    p = {k: jnp.asarray(v, dtype) for k, v in ref.items()}
    p["t0"] = jnp.asarray(ref["t0"] - t_ref, dtype)
    return p


def test_ob140939_chi2_matches_mulensmodel(ob140939):
    """Chi2 at the example_12 median, fluxes per dataset: within 0.01 of MulensModel (observed
    4227.5828 in both, 1e-11 apart) and 0.21 above the quoted best sample's 4227.37 (the median
    is not the best sample). Without the spacecraft's offsets the Spitzer points are off by a
    chi2 over 10^5; in float32 the chi2 agrees within 1e-4 relative."""
    og, sp, batch, model = ob140939
    chi2 = jax.jit(model.chi2)
    ours = float(chi2(_params(OB14, batch.t_ref[0]), _one(model, batch)))
    assert abs(ours - _mm_chi2_ob14(og, sp)) < 0.01
    assert 0.0 < ours - OB14_QUOTED < 0.3
    earth_only = ts.models.PSPL(parallax=True, t0_par=OB14_T0_PAR)
    assert float(jax.jit(earth_only.chi2)(_params(OB14, batch.t_ref[0]), _one(earth_only, batch))) > 1e5
    single = float(jax.jit(model.chi2)(_params(OB14, batch.t_ref[0], jnp.float32),
                                       _one(model, batch, "float32")))
    assert abs(single / ours - 1) < 1e-4


def test_ob140939_fit_from_automatic_starts(ob140939):
    """ts.fit from the model's own starts reaches chi2 <= the quoted 4227.37 + 1 (observed
    4227.35, at u0 = 0.899, pi_E = (-0.239, 0.250): the example_12 solution); predict at the data
    times, given per band, equals the fitted fluxes (the spacecraft offsets at new times)."""
    og, sp, batch, model = ob140939
    res = ts.fit(model, batch)
    assert res.status[0] == ts.fitting.results.OK
    assert res.chi2[0] <= OB14_QUOTED + 1.0
    for k, tol in (("u0", 0.05), ("tE", 1.0), ("pi_E_N", 0.02), ("pi_E_E", 0.02)):
        assert abs(res.values[k][0] - OB14[k]) < tol, (k, res.values[k][0])
    lc = _one(model, batch)
    p = {k: jnp.float64(res.values[k][0]) for k in model.param_names}
    fitted = np.asarray(model.predict(p, lc))
    again = np.asarray(model.predict(p, lc, t=lc.t, band=lc.band))
    np.testing.assert_allclose(again[np.asarray(lc.mask)], fitted[np.asarray(lc.mask)], rtol=1e-10)


def test_ob161195_binary_with_spitzer_matches_mulensmodel():
    """OGLE-2016-BLG-1195, binary lens with annual parallax, nine KMTNet datasets around the peak
    plus Spitzer (17 points, seen from the spacecraft): chi2 at the published close-- solution
    (alpha in MulensModel v3 convention) within 0.01 of MulensModel's ``Event.get_chi2``."""
    mm = _mm()
    rows = [ln.split() for ln in (DATA / "OB161195_KMT_peak.dat").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    kmt = np.array([[float(v) for v in r[:3]] for r in rows])
    ds = np.array([r[3] for r in rows])
    sp = np.loadtxt(DATA / "OB161195_spitzer_b12.dat")
    t = np.concatenate([kmt[:, 0], sp[:, 0]]) + 2450000.0
    f, e = (np.asarray(a) for a in ml.mag_to_flux(np.concatenate([kmt[:, 1], sp[:, 1]]),
                                                 np.concatenate([kmt[:, 2], sp[:, 2]])))
    band = np.concatenate([ds, np.full(len(sp), "Spitzer")])
    batch = ts.LightCurveBatch.from_arrays(t=[t], flux=[f], flux_err=[e], band=[band]).with_meta(
        ra=[268.8479167], dec=[-30.2072500])
    ref = dict(t0=2457568.7692, u0=0.05321, tE=9.96, s=0.9842, q=5.43e-5, alpha=124.515,
               pi_E_N=-0.2154, pi_E_E=-0.380)
    model = ts.models.BinaryLens(parallax=True, t0_par=ref["t0"], satellites={"Spitzer": EPH2})
    ours = float(jax.jit(model.chi2)(_params(ref, batch.t_ref[0]), _one(model, batch)))
    sets = [mm.MulensData(data_list=list(kmt[ds == d].T + np.array([[2450000.0], [0], [0]])), phot_fmt="mag")
            for d in np.unique(ds)]
    sets.append(mm.MulensData(data_list=list(sp.T + np.array([[2450000.0], [0], [0]])), phot_fmt="mag",
                              ephemerides_file=str(EPH2)))
    p = {"t_0": ref["t0"], "u_0": ref["u0"], "t_E": ref["tE"], "s": ref["s"], "q": ref["q"],
         "alpha": ref["alpha"], "pi_E_N": ref["pi_E_N"], "pi_E_E": ref["pi_E_E"], "t_0_par": ref["t0"]}
    theirs = mm.Event(datasets=sets, model=mm.Model(p, coords="17:55:23.50 -30:12:26.1")).get_chi2()
    assert abs(ours - theirs) < 0.01


def test_bad_input(ob140939, tmp_path):
    og, sp, batch, _ = ob140939
    with pytest.raises(ValueError, match="parallax=True"):
        ts.models.PSPL(satellites={"Spitzer": EPH1})
    with pytest.raises(TypeError, match="ephemeris file path or an Ephemeris"):
        ts.models.PSPL(parallax=True, satellites={"Spitzer": 3})
    with pytest.raises(FileNotFoundError):
        ml.read_ephemeris(tmp_path / "missing.dat")
    with pytest.raises(ValueError, match="does not have"):
        ts.models.PSPL(parallax=True, satellites={"spitzer": EPH1}).prepare_batch(batch)
    # the 2014 Spitzer points lie outside an ephemeris that ends in 2013
    lines = EPH1.read_text().splitlines()
    soe = next(i for i, ln in enumerate(lines) if ln.startswith("$$SOE"))
    short = tmp_path / "short.dat"
    short.write_text("\n".join(lines[:soe + 40] + ["$$EOE"]) + "\n")
    with pytest.raises(ValueError, match="band 'Spitzer'.*covers JD"):
        ts.models.PSPL(parallax=True, satellites={"Spitzer": short}).prepare_batch(batch)
    broken = tmp_path / "broken.dat"
    broken.write_text("\n".join(lines[:soe + 3] + [" 2013-Jun-03 12:00   garbage", "$$EOE"]) + "\n")
    with pytest.raises(ValueError, match="does not parse"):
        ml.read_ephemeris(broken)


def test_cartesian_ephemeris_file_equals_horizons(tmp_path):
    """The plain 'JD x y z' format (MulensModel's other ephemeris format) gives the positions of
    the Horizons table it was written from; the same file gives the same (cached) object."""
    eph = ml.read_ephemeris(EPH1)
    assert ml.read_ephemeris(EPH1) is eph
    plain = tmp_path / "xyz.dat"
    np.savetxt(plain, np.column_stack([eph.time, eph.xyz]), fmt="%.17g")
    other = ml.read_ephemeris(plain)
    t = np.linspace(eph.time[3], eph.time[-3], 17)
    np.testing.assert_allclose(other.position(t), eph.position(t), rtol=0, atol=1e-14)
