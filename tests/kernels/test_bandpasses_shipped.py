"""The shipped SDSS (Doi et al. 2010) and ZTF bandpasses: their tables against the public files
they were built from (speclite's and bayesn's copies, in the test extra), their mean wavelengths against the
SVO Filter Profile Service, SALT2 band fluxes through them against sncosmo, and their checksums."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import sncosmo
from test_salt import _model_dir, _rel_err

from tsmodels.config import precision
from tsmodels.kernels.supernova import salt_bandflux
from tsmodels.kernels.supernova import salt as S

SDSS = ("sdssu", "sdssg", "sdssr", "sdssi", "sdssz")
ZTF = ("ztfg", "ztfr", "ztfi")
NEW = SDSS + ZTF

# Photon-weighted mean wavelength  int lam T dlam / int T dlam  (Angstrom) listed by the SVO
# Filter Profile Service (lambda_mean) for SLOAN/SDSS.{u,g,r,i,z} (Doi et al. 2010, no atmosphere)
# and Palomar/ZTF.{g,r,i} (filter only), with the tolerance of each comparison (relative):
# - sdss g, r, i: 0.2 %; the shipped curves add the atmosphere at airmass 1.3, which is smooth
#   across these bands and moves their means by < 0.1 %;
# - sdss u, z: 1.2 %; the atmosphere cuts u below 3300 A (mean 1.0 % redder) and the water band
#   near 9300-9800 A lowers z (mean 0.5 % bluer);
# - ztf g, r: 0.5 %; ztf i: 1.5 %; the shipped ZTF curves are filter x system (optics and CCD
#   quantum efficiency), whose red fall-off moves the i-band mean by about 1 %.
# Neighbouring bands differ by > 15 %, so a swapped band, a wrong unit or a shifted grid fails.
SVO_MEAN = {"sdssu": (3561.79, 0.012), "sdssg": (4718.87, 0.002), "sdssr": (6185.19, 0.002),
            "sdssi": (7499.70, 0.002), "sdssz": (8961.49, 0.012), "ztfg": (4804.79, 0.005),
            "ztfr": (6436.92, 0.005), "ztfi": (7968.22, 0.015)}


def _package_dir(name):
    """Folder of an installed package, found without importing it (None if not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _original(name):
    """The public table a shipped band was built from, or None where its package is absent."""
    if name in SDSS:
        root = _package_dir("speclite")
        path = None if root is None else root / "data" / "filters" / f"sdss2010-{name[-1]}.ecsv"
        if path is None or not path.exists():
            return None
        from astropy.table import Table

        t = Table.read(path, format="ascii.ecsv")
        assert str(t["wavelength"].unit) == "Angstrom"
        return np.asarray(t["wavelength"], float), np.asarray(t["response"], float)
    root = _package_dir("bayesn")
    ztf_dir = None if root is None else root / "bayesn-filters" / "filters" / "ZTF"
    path = None if ztf_dir is None else ztf_dir / f"p48{name[-1]}.txt"
    if path is None or not path.exists():
        return None
    d = np.loadtxt(path)
    return d[:, 0], d[:, 1]


@pytest.mark.parametrize("name", NEW)
def test_table_equals_public_file_trimmed_by_sncosmo(name):
    orig = _original(name)
    assert orig is not None, "speclite and bayesn (the test extra) carry the source tables"
    # sncosmo trims its built-in (remote) bandpasses at 0.1 % of the peak; do the same with
    # sncosmo itself and compare every value exactly
    ref = sncosmo.Bandpass(*orig, trim_level=0.001)
    band = S.get_bandpass(name)
    assert band.wave.dtype == band.trans.dtype == np.float64
    np.testing.assert_array_equal(band.wave, ref.wave)
    np.testing.assert_array_equal(band.trans, ref.trans)
    # and the untrimmed source values are taken over unchanged
    sel = np.isin(orig[0], band.wave)
    np.testing.assert_array_equal(orig[1][sel], band.trans)


@pytest.mark.parametrize("name", NEW)
def test_mean_wavelength_matches_svo(name):
    band = S.get_bandpass(name)
    assert np.all(np.diff(band.wave) > 0) and np.all(band.trans >= 0)
    mean = np.trapezoid(band.wave * band.trans, band.wave) / np.trapezoid(band.trans, band.wave)
    ref, rtol = SVO_MEAN[name]
    assert abs(mean / ref - 1) < rtol, (name, mean, ref)


def test_new_bands_are_listed():
    names = S.bandpass_names()
    assert set(NEW) <= set(names)
    assert {"lsstu", "ps1::g"} <= set(names)


@pytest.fixture(scope="module")
def salt2(tmp_path_factory):
    with precision("float64"):
        model = S.load_salt("salt2-4")
        bands = S.salt_bands(NEW)
    for b in NEW:
        bp = S.get_bandpass(b)
        sncosmo.register(sncosmo.Bandpass(bp.wave, bp.trans, name="ref:" + b), force=True)
    src = sncosmo.SALT2Source(modeldir=str(_model_dir("salt2-4", tmp_path_factory)))
    return model, bands, sncosmo.Model(source=src)


@pytest.mark.parametrize("z", [0.03, 0.25, 0.6])
def test_salt2_bandflux_equals_sncosmo(salt2, z):
    model, bands, ref_model = salt2
    pars = dict(z=z, t0=1.5, x0=2e-5, x1=0.7, c=0.05)
    ref_model.set(**pars)
    phase = np.array([-15.0, -3.0, 0.0, 7.5, 30.0])
    t = pars["t0"] + phase * (1 + z)
    tt = np.tile(t, len(NEW))
    band = np.repeat(np.arange(len(NEW), dtype=np.int32), t.size)
    ref = np.full(tt.shape, np.nan)
    for i, b in enumerate(NEW):
        try:
            ref[band == i] = ref_model.bandflux("ref:" + b, t, zp=25.0, zpsys="ab")
        except ValueError:  # outside salt2-4's 2000-9200 A at this z: the kernel gives NaN
            pass
    with precision("float64"):
        got = np.asarray(salt_bandflux(tt, band, model, bands, **pars, zp=25.0))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    # sdssz (to 11141 A) needs z >= 0.211 with salt2-4
    assert np.isnan(ref[band == NEW.index("sdssz")]).all() == (z < 0.211)
    ok = ~np.isnan(ref)
    assert ok.sum() >= 7 * t.size and np.all(ref[ok] > 0)
    scaled, pointwise = _rel_err(got[ok][None], ref[ok][None])
    assert scaled < 1e-6 and pointwise < 1e-6, (z, scaled, pointwise)


@pytest.mark.parametrize("set_name, band", [("sdss", "sdssg"), ("ztf", "ztfr")])
def test_tampered_band_file_raises(tmp_path, monkeypatch, set_name, band):
    shutil.copytree(S.RESOURCES / "bandpasses", tmp_path / "bandpasses")
    monkeypatch.setattr(S, "RESOURCES", tmp_path)
    monkeypatch.setattr(S, "_SHIPPED_BANDS", {})
    assert S.get_bandpass(band).name == band  # the intact copy loads
    path = tmp_path / "bandpasses" / f"{set_name}.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setattr(S, "_SHIPPED_BANDS", {})
    with pytest.raises(OSError, match=rf"{set_name}.npz: sha256 .* does not match"):
        S.get_bandpass(band)


def test_model_presets_name_the_new_bands():
    from tsmodels.models import SALT2

    assert [SALT2(bands="sdss").bandpass(b) for b in "ugriz"] == list(SDSS)
    assert [SALT2(bands="ztf").bandpass(b) for b in "gri"] == list(ZTF)
