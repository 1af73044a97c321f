"""SALT2 / SALT3 Type Ia supernova light curves: synthetic photometry through bandpasses.

The model (Guy et al. 2007; Kenworthy et al. 2021) is a rest-frame spectral surface

    ``F_rest(p, lam) = x0 [M0(p, lam) + x1 M1(p, lam)] 10**(-0.4 c CL(lam))``

(``p`` rest-frame phase in days from B-band maximum, ``lam`` rest-frame wavelength in Angstrom,
``M0``, ``M1`` in erg/s/cm^2/A after sncosmo's scale factor 1e-12, ``CL`` the colour law). An
object at redshift ``z`` observed at time ``t`` through a bandpass ``T`` gives the band flux

    ``f = sum_w  lam_w T(lam_w) a F_rest((t - t0) a, lam_w a) 10**(-0.4 A_MW(lam_w)) dlam / (h c)``

in photons/s/cm^2, with ``a = 1 / (1 + z)`` (time dilation, wavelength stretch, and the ``a``
that conserves the bolometric luminosity), ``A_MW`` the Milky Way extinction in the *observer*
frame (Fitzpatrick 1999, ``R_V = 3.1`` by default, from the object's ``E(B-V)``), and the sum on
the integration grid of sncosmo (``lam_w`` the midpoints of ``ceil((max - min) / 5 A)`` equal
bins spanning the bandpass). With a zero point ``zp`` in the AB system the flux is multiplied by
``10**(0.4 zp) / F_AB``, ``F_AB`` the band flux of a source of 3631 Jy (integrated, as sncosmo
does, on 1 A bins). This is sncosmo's ``Model(source=SALT2Source/SALT3Source, effects=[F99Dust()],
effect_frames=['obs']).bandflux(band, t, zp, 'ab')`` with parameters ``z, t0, x0, x1, c, mwebv``,
to which the kernel agrees to ~1e-14 relative in float64 (tests/kernels/test_salt.py).

Interpolation of ``M0``, ``M1`` is that of sncosmo's ``BicubicInterpolator`` (itself a copy of
snfit's ``Grid2DFunction``): Keys cubic convolution (``a = -0.5``) in phase and wavelength, but
bilinear in *both* axes where either coordinate lies in the first or the last interval of its
grid, and exactly 0 outside the grid. So a phase outside ``[-20, 50]`` d (rest frame) gives a
flux of 0, as in sncosmo.

Layout and cost
---------------
Tables are built once on the host and passed as pytrees: :func:`load_salt` gives a
:class:`SALTModel` (surfaces, colour law, and the variance terms a model covariance needs),
:func:`salt_bands` a :class:`SALTBands` (for each of ``nb`` bands its observer-frame integration
grid padded to a common length ``W``, the weights ``T lam dlam / (h c)``, the F99 curve and the
AB zero-point flux). Everything that depends on ``z`` and ``E(B-V)`` only (the rest-frame
wavelengths, their interpolation indices and fractions, the colour law values, the dust and
``a`` factors) is gathered by :func:`salt_prepare` into a :class:`SALTPrepared` of ``O(nb W)``
numbers; a fit with ``z`` and ``E(B-V)`` fixed per object computes it once per object (vmap it
over the objects). Each evaluation (:func:`salt_bandflux_prepared`) then scatters
``weights x 10**(-0.4 c CL)`` onto the model's wavelength nodes, contracts the surfaces with them
(``(nphase, nwave) @ (nwave, nb)`` for the cubic part, once for ``M0`` and once for ``M1``,
whatever the number of observations; the bilinear parts of sncosmo's rule need only the 4 edge
nodes of either axis) and interpolates each observation in phase from 4 of the resulting
``nphase`` band fluxes. The derivative in ``c`` is contracted in the same product, so a fit's
Jacobian in ``(t0, x1, c)`` costs two products, not four. :func:`salt_bandflux` does both steps and is differentiable in ``z`` too.

Model covariance: :func:`salt_bandflux_rcov` (and its split :func:`salt_prepare_rcov` /
:func:`salt_bandflux_rcov_prepared`) gives sncosmo's relative covariance ``rcov`` of the band
fluxes (``Model.bandfluxcov`` returns ``f_i rcov_ij f_j``), from the shipped variance surfaces,
dispersion scaling and colour dispersion.

Validity is flagged, not raised, inside traced code: a band whose observer-frame range is not
inside the model's ``[lam_min (1 + z), lam_max (1 + z)]`` (nor F99's 909.09-60000 A; sncosmo
raises ``ValueError``), a band
index outside ``[0, nb)``, or ``z <= 0`` give NaN for the observations concerned.
:func:`check_salt_coverage` raises sncosmo's error on the host, for use before a fit.

Precision: float64 by default (:func:`~tsmodels.kernels._precision.float64_by_default`). For
float32, pass float32 times and parameters and, in eager calls, float32 tables
(``model.astype(jnp.float32)``, ``bands.astype(jnp.float32)``; inside ``jit`` the tables are cast
to the parameters' dtype). The float32 result is within ~1e-5 relative of sncosmo's (6e-6
measured), except for a point whose rest-frame phase lies within float32 rounding of -20, -19, 49
or 50 d: there sncosmo's scheme changes regime (to 0 outside the range, bilinear near its ends)
and jumps, and the two dtypes may land on different sides.

References:
    Guy J. et al. 2007, A&A 466, 11 (SALT2); Betoule M. et al. 2014, A&A 568, A22 (salt2-4).
    Kenworthy W. D. et al. 2021, ApJ 923, 265 (SALT3); Taylor G. et al. 2023, MNRAS 520, 5209.
    Keys R. 1981, IEEE Trans. ASSP 29, 1153 (cubic convolution).
    Barbary K. et al., sncosmo (the reference implementation followed here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from tsmodels import config
from tsmodels.kernels._precision import float64_by_default
from tsmodels.kernels.supernova.dust import f99_curve

__all__ = ["salt_bandflux", "salt_bandflux_prepared", "salt_prepare", "salt_bandflux_rcov",
           "salt_bandflux_rcov_prepared", "salt_prepare_rcov"]
# Host-side table builders (NumPy, files, a registry; not kernels, so not in __all__):
# load_salt, write_model_directory, salt_bands, register_bandpass, get_bandpass, bandpass_names,
# check_salt_coverage, and the table types SALTModel, SALTBands, SALTPrepared, Bandpass.

RESOURCES = Path(__file__).resolve().parents[2] / "resources"

# Physical constants exactly as sncosmo has them (astropy's CODATA 2018 values; astropy's
# conversion of c to Angstrom/s rounds to the float below).
H_ERG_S = 6.62607015e-27
C_AA_PER_S = 2.9979245799999995e18
HC_ERG_AA = H_ERG_S * C_AA_PER_S
MODEL_BANDFLUX_SPACING = 5.0  # A, integration of model fluxes
SPECTRUM_BANDFLUX_SPACING = 1.0  # A, integration of the AB spectrum
SCALE_FACTOR = 1e-12  # of the SALT template files
F99_WAVE_RANGE = (909.09, 60000.0)  # sncosmo's F99Dust range, observer frame
_CL_B = 4302.57  # colour-law reference wavelengths (B, V), Angstrom
_CL_V = 5428.55
_CL_NCOEFF = 7  # alpha + up to 6 polynomial coefficients

SHIPPED_MODELS = {"salt2-4": "salt2-4", "salt2": "salt2-4", "salt3-f22": "salt3-f22",
                  "salt3": "salt3-f22"}

_FILES = {
    "salt2": dict(m0="salt2_template_0.dat", m1="salt2_template_1.dat",
                  cl="salt2_color_correction.dat", cd="salt2_color_dispersion.dat",
                  lcrv00="salt2_lc_relative_variance_0.dat",
                  lcrv11="salt2_lc_relative_variance_1.dat",
                  lcrv01="salt2_lc_relative_covariance_01.dat",
                  errscale="salt2_lc_dispersion_scaling.dat"),
    "salt3": dict(m0="salt3_template_0.dat", m1="salt3_template_1.dat",
                  cl="salt3_color_correction.dat", cd="salt3_color_dispersion.dat",
                  lcrv00="salt3_lc_variance_0.dat", lcrv11="salt3_lc_variance_1.dat",
                  lcrv01="salt3_lc_covariance_01.dat"),
}


# --------------------------------------------------------------------------------------------
# checksums

_VERIFIED: dict[tuple, bool] = {}


def _verify(path: Path) -> None:
    """Check ``path`` against the ``SHA256SUMS`` next to it; raise ``OSError`` if it differs."""
    path = Path(path)
    sums = path.parent / "SHA256SUMS"
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key):
        return
    expected = None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == path.name:
            expected = parts[0]
    if expected is None:
        raise OSError(f"{path}: no checksum in {sums}")
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != expected:
        raise OSError(f"{path}: sha256 {got} does not match {expected} in {sums}; the file "
                      "is corrupt or was modified (reinstall tsmodels or rebuild it with "
                      "resources_src/build_salt_resources.py)")
    _VERIFIED[key] = True


def _load_npz(path: Path) -> dict:
    _verify(path)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# --------------------------------------------------------------------------------------------
# models

def _pytree(data_fields, meta_fields):
    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        return jax.tree_util.register_dataclass(cls, data_fields=data_fields,
                                                meta_fields=meta_fields)
    return wrap


def _astype(tree, dtype):
    single = np.dtype(dtype) == np.float32

    def cast(x):
        if np.issubdtype(np.asarray(x).dtype, np.floating):
            return jnp.asarray(x, jnp.float32) if single else np.asarray(x, np.float64)
        return x
    return jax.tree_util.tree_map(cast, tree)


@_pytree(data_fields=["phase", "wave", "m0", "m1", "cl_coeffs", "cl_l", "cl_p", "cl_dp", "cov"],
         meta_fields=["name", "family"])
class SALTModel:
    """A SALT2/SALT3 model's tables (a JAX pytree; ``name`` and ``family`` are static).

    Attributes:
        phase: ``(np,)`` rest-frame phases of the surfaces, days.
        wave: ``(nl,)`` rest-frame wavelengths, Angstrom.
        m0, m1: ``(np, nl)`` surfaces ``M0``, ``M1``, erg/s/cm^2/A (file values times 1e-12).
        cl_coeffs: ``(7,)`` colour-law polynomial ``alpha, c_1, ...`` (zero padded).
        cl_l, cl_p, cl_dp: ``(2,)`` reduced wavelengths of the colour law's range, the
            polynomial and its derivative there (for the linear extrapolation).
        cov: dict of the model-covariance terms, each with its own grid: ``lcrv00``,
            ``lcrv11``, ``lcrv01`` (SALT2: relative to ``M0``; SALT3: absolute, times 1e-24 as in
            sncosmo), ``errscale`` (SALT2 only), with ``<key>_phase``, ``<key>_wave``; and the
            colour dispersion ``cd_wave`` (A), ``cd_value`` (mag).
        name: e.g. ``"salt2-4"``.
        family: ``"salt2"`` or ``"salt3"``.
    """

    phase: np.ndarray
    wave: np.ndarray
    m0: np.ndarray
    m1: np.ndarray
    cl_coeffs: np.ndarray
    cl_l: np.ndarray
    cl_p: np.ndarray
    cl_dp: np.ndarray
    cov: dict
    name: str = "salt"
    family: str = "salt2"

    def astype(self, dtype):
        """The same tables in ``dtype`` (``jnp.float32`` gives JAX float32 arrays)."""
        return _astype(self, dtype)


def _polyval(coeffs, x):
    # coeffs[0] x + coeffs[1] x^2 + ... (Horner), as in sncosmo's SALT2ColorLaw
    out = 0.0 * x
    for c in coeffs[::-1]:
        out = x * (c + out)
    return out


def _colorlaw_tables(coeffs, wave_range):
    coeffs = np.asarray(coeffs, np.float64)
    if coeffs.size > _CL_NCOEFF - 1:
        raise ValueError(f"colour law: at most {_CL_NCOEFF - 1} coefficients, got {coeffs.size}")
    alpha = 1.0
    for c in coeffs:
        alpha -= c
    full = np.zeros(_CL_NCOEFF)
    full[0], full[1:1 + coeffs.size] = alpha, coeffs
    lohi = (np.asarray(wave_range, np.float64) - _CL_B) / (_CL_V - _CL_B)
    p = np.array([_polyval(list(full[:1 + coeffs.size]), x) for x in lohi])
    dcoef = [(i + 2) * full[i + 1] for i in range(coeffs.size)]
    dp = np.array([alpha + _polyval(dcoef, x) for x in lohi])
    return full, lohi, p, dp


def _model_from_arrays(d: dict, name: str) -> SALTModel:
    family = str(d["family"])
    if family not in _FILES:
        raise ValueError(f"{name}: unknown SALT family {family!r}")
    cl = _colorlaw_tables(d["cl_coeffs"], d["cl_range"])
    cov = {}
    cov_scale = SCALE_FACTOR ** 2.0 if family == "salt3" else 1.0
    for key in ("lcrv00", "lcrv11", "lcrv01", "errscale"):
        if key in d:
            cov[key] = np.asarray(d[key], np.float64) * cov_scale if key != "errscale" \
                else np.asarray(d[key], np.float64)
            cov[key + "_phase"] = np.asarray(d[key + "_phase"], np.float64)
            cov[key + "_wave"] = np.asarray(d[key + "_wave"], np.float64)
    cov["cd_wave"] = np.asarray(d["cd_wave"], np.float64)
    cov["cd_value"] = np.asarray(d["cd_value"], np.float64)
    m1_same_grid = (np.array_equal(d["m1_phase"], d["m0_phase"])
                    and np.array_equal(d["m1_wave"], d["m0_wave"]))
    if not m1_same_grid:
        raise ValueError(f"{name}: M0 and M1 must share one (phase, wavelength) grid")
    for key in ("m0_phase", "m0_wave"):
        if not np.all(np.diff(d[key]) > 0):
            raise ValueError(f"{name}: {key} must be strictly increasing")
    return SALTModel(phase=np.asarray(d["m0_phase"], np.float64),
                     wave=np.asarray(d["m0_wave"], np.float64),
                     m0=np.asarray(d["m0"], np.float64) * SCALE_FACTOR,
                     m1=np.asarray(d["m1"], np.float64) * SCALE_FACTOR,
                     cl_coeffs=cl[0], cl_l=cl[1], cl_p=cl[2], cl_dp=cl[3], cov=cov,
                     name=name, family=family)


def _read_grid(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                rows.append([float(w) for w in line.split()])
    rows = np.array(rows, dtype=np.float64)
    phase = np.unique(rows[:, 0])
    wave = rows[rows[:, 0] == rows[0, 0], 1]
    if rows.shape[0] != phase.size * wave.size or not (
            np.array_equal(rows[:, 0], np.repeat(phase, wave.size))
            and np.array_equal(rows[:, 1], np.tile(wave, phase.size))):
        raise ValueError(f"{path}: not a complete (phase, wavelength) grid, phase-major")
    return phase, wave, rows[:, 2].reshape(phase.size, wave.size)


def _read_colorlaw(path):
    words = Path(path).read_text().split()
    n = int(words[0])
    coeffs = np.array([float(w) for w in words[1:1 + n]])
    version, rng = None, [3000.0, 7000.0]
    rest = words[1 + n:]
    for key, val in zip(rest[::2], rest[1::2]):
        if key == "Salt2ExtinctionLaw.version":
            version = int(val)
        elif key == "Salt2ExtinctionLaw.min_lambda":
            rng[0] = float(val)
        elif key == "Salt2ExtinctionLaw.max_lambda":
            rng[1] = float(val)
        else:
            raise ValueError(f"{path}: unexpected keyword {key!r}")
    if version != 1:
        raise ValueError(f"{path}: only Salt2ExtinctionLaw.version 1 is supported, "
                         f"got {version}")
    return coeffs, np.array(rng)


def _read_model_dir(path: Path) -> dict:
    family = "salt3" if (path / _FILES["salt3"]["m0"]).exists() else "salt2"
    names = _FILES[family]
    missing = [f for f in names.values() if not (path / f).exists()]
    if missing:
        raise FileNotFoundError(f"{path}: not a {family.upper()} model directory, missing "
                                f"{', '.join(missing)}")
    d = {"family": family}
    for key in ("m0", "m1", "lcrv00", "lcrv11", "lcrv01", "errscale"):
        if key in names:
            d[key + "_phase"], d[key + "_wave"], d[key] = _read_grid(path / names[key])
    d["cl_coeffs"], d["cl_range"] = _read_colorlaw(path / names["cl"])
    cd = np.loadtxt(path / names["cd"], dtype=np.float64)
    d["cd_wave"], d["cd_value"] = cd[:, 0], cd[:, 1]
    return d


def load_salt(name: str | os.PathLike = "salt2-4") -> SALTModel:
    """Load a SALT model's tables (host side, NumPy float64).

    Args:
        name: a shipped model, ``"salt2-4"`` (alias ``"salt2"``; SALT2 JLA training, sncosmo's
            ``salt2`` v2.4) or ``"salt3-f22"`` (alias ``"salt3"``; sncosmo's ``salt3`` v2.0); or
            the path of a model directory in sncosmo's layout (``salt2_template_0.dat`` ... or
            ``salt3_template_0.dat`` ...), read as ``SALT2Source(modeldir=...)`` /
            ``SALT3Source(modeldir=...)`` read it; or the path of a ``.npz`` file written by
            ``resources_src/build_salt_resources.py`` (checked against the ``SHA256SUMS`` beside
            it).

    Raises:
        OSError: a shipped file does not match its checksum.
        ValueError, FileNotFoundError: unknown name, incomplete or malformed files.
    """
    if isinstance(name, str) and name in SHIPPED_MODELS:
        key = SHIPPED_MODELS[name]
        return _model_from_arrays(_load_npz(RESOURCES / "salt" / f"{key}.npz"), key)
    path = Path(name)
    if path.is_dir():
        return _model_from_arrays(_read_model_dir(path), path.name)
    if path.suffix == ".npz" and path.exists():
        return _model_from_arrays(_load_npz(path), path.stem)
    raise ValueError(f"unknown SALT model {str(name)!r}: use one of "
                     f"{sorted(SHIPPED_MODELS)} or a model directory")


def write_model_directory(name: str, path: str | os.PathLike) -> Path:
    """Write a shipped SALT model as a model directory in sncosmo's (and snfit's) layout.

    The files are those :func:`load_salt` and sncosmo's ``SALT2Source(modeldir=...)`` /
    ``SALT3Source(modeldir=...)`` read: the surfaces and variance grids as ``phase wavelength
    value`` lines (phase-major), the colour law (``salt2_color_correction.dat``, version 1 with
    its wavelength range) and the colour dispersion. Every number is the value of the source
    file kept in the shipped ``.npz`` (before the 1e-12 scale of the surfaces), written with
    Python's ``repr``, so the round trip is exact: reading the directory gives the same float64
    values bit for bit (``load_salt(path)`` equals ``load_salt(name)``, and sncosmo reads the
    same model as from its own download, without a network).

    Args:
        name: a shipped model, ``"salt2-4"`` / ``"salt2"`` or ``"salt3-f22"`` / ``"salt3"``.
        path: the directory to write (created with its parents if needed; files of the same
            names are replaced).

    Returns:
        ``Path(path)``.

    Raises:
        ValueError: ``name`` is not a shipped model.
        OSError: the shipped file does not match its checksum.
    """
    if not isinstance(name, str) or name not in SHIPPED_MODELS:
        raise ValueError(f"write_model_directory: unknown shipped SALT model {name!r}; use one of "
                         f"{sorted(SHIPPED_MODELS)}")
    d = _load_npz(RESOURCES / "salt" / f"{SHIPPED_MODELS[name]}.npz")
    files = _FILES[str(d["family"])]
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    for key, fname in files.items():
        if key in ("cl", "cd"):
            continue
        with open(out / fname, "w") as fh:
            for i, p in enumerate(d[key + "_phase"].tolist()):
                for w, v in zip(d[key + "_wave"].tolist(), d[key][i].tolist()):
                    fh.write(f"{p!r} {w!r} {v!r}\n")
    lo, hi = d["cl_range"].tolist()
    words = [str(d["cl_coeffs"].size)] + [repr(float(x)) for x in d["cl_coeffs"]]
    words += ["Salt2ExtinctionLaw.version 1", f"Salt2ExtinctionLaw.min_lambda {lo!r}",
              f"Salt2ExtinctionLaw.max_lambda {hi!r}"]
    (out / files["cl"]).write_text("\n".join(words) + "\n")
    (out / files["cd"]).write_text("".join(f"{w!r} {v!r}\n" for w, v in
                                           zip(d["cd_wave"].tolist(), d["cd_value"].tolist())))
    return out


# --------------------------------------------------------------------------------------------
# bandpasses

class Bandpass(NamedTuple):
    """A bandpass: ``wave`` (Angstrom, increasing) and photon-counting ``trans`` (NumPy)."""

    name: str
    wave: np.ndarray
    trans: np.ndarray


_USER_BANDS: dict[str, Bandpass] = {}
# bandpasses registered here are sent with the pipeline's chunks to Dask workers
config.register_worker_state("supernova.bandpasses", lambda: dict(_USER_BANDS), _USER_BANDS.update)
_SHIPPED_BANDS: dict[str, Bandpass] = {}
_BAND_SETS = ("lsst", "ps1", "sdss", "ztf")


def _trim(wave, trans, trim_level=None):
    """sncosmo's ``Bandpass`` trimming: an optional crop to where ``trans`` exceeds
    ``trim_level`` times its peak (grown by one sample), then runs of leading and trailing zeros
    shortened to a single zero."""
    if trim_level is not None:
        idx = np.flatnonzero(trans >= np.max(trans) * trim_level)
        s = slice(max(idx[0] - 1, 0), min(idx[-1] + 2, len(trans)))
        wave, trans = wave[s], trans[s]
    nz = np.flatnonzero(trans != 0.0)
    if nz.size == 0:
        raise ValueError("all zero transmission")
    i0, i1 = max(nz[0] - 1, 0), min(nz[-1] + 1, len(trans) - 1)
    return wave[i0:i1 + 1], trans[i0:i1 + 1]


def _shipped_bands() -> dict[str, Bandpass]:
    if not _SHIPPED_BANDS:
        for s in _BAND_SETS:
            d = _load_npz(RESOURCES / "bandpasses" / f"{s}.npz")
            prefix = str(d["prefix"])
            for k in d:
                if k.endswith("_wave"):
                    b = k[:-5]
                    name = prefix + b
                    _SHIPPED_BANDS[name] = Bandpass(name, d[k], d[b + "_trans"])
    return _SHIPPED_BANDS


def bandpass_names() -> list[str]:
    """Names of the shipped and registered bandpasses."""
    return sorted(set(_shipped_bands()) | set(_USER_BANDS))


def register_bandpass(name: str, wave, trans, *, trim_level: float | None = None,
                      force: bool = False) -> Bandpass:
    """Register a bandpass under ``name`` for :func:`salt_bands` (like ``sncosmo.register``).

    Args:
        name: the name to use; a shipped name can only be replaced with ``force=True``.
        wave: ``(n,)`` wavelengths, Angstrom, strictly increasing.
        trans: ``(n,)`` photon-counting transmission (dimensionless), >= 0.
        trim_level: optional crop, as sncosmo's ``Bandpass(trim_level=...)``; leading and
            trailing runs of zeros are always shortened to one zero, as sncosmo does.
        force: replace an existing bandpass of that name.
    """
    wave = np.asarray(wave, np.float64)
    trans = np.asarray(trans, np.float64)
    if wave.ndim != 1 or wave.shape != trans.shape or wave.size < 2:
        raise ValueError(f"bandpass {name!r}: wave and trans must be 1-d arrays of one length "
                         ">= 2")
    if not (np.all(np.isfinite(wave)) and np.all(np.isfinite(trans))):
        raise ValueError(f"bandpass {name!r}: wave and trans must be finite")
    if not np.all(np.diff(wave) > 0):
        raise ValueError(f"bandpass {name!r}: wavelengths must be strictly increasing")
    if np.any(trans < 0):
        raise ValueError(f"bandpass {name!r}: negative transmission")
    if not force and (name in _USER_BANDS or name in _shipped_bands()):
        raise ValueError(f"bandpass {name!r} already exists; use force=True to replace it")
    w, t = _trim(wave, trans, trim_level)
    band = Bandpass(name, w.copy(), t.copy())
    _USER_BANDS[name] = band
    return band


def get_bandpass(name: str) -> Bandpass:
    """The registered or shipped bandpass ``name`` (registered ones take precedence)."""
    if name in _USER_BANDS:
        return _USER_BANDS[name]
    shipped = _shipped_bands()
    if name in shipped:
        return shipped[name]
    raise ValueError(f"unknown bandpass {name!r}; known: {', '.join(bandpass_names())} "
                     "(add one with register_bandpass)")


def _integration_grid(low, high, spacing):
    # sncosmo.utils.integration_grid: bin midpoints, spacing <= target dividing the range
    diff = high - low
    step = diff / int(np.ceil(diff / spacing))
    return np.arange(low + 0.5 * step, high, step), step


def _interp_band(band: Bandpass, wave):
    return np.interp(wave, band.wave, band.trans, left=0.0, right=0.0)


@_pytree(data_fields=["wave", "weight", "dust", "zpflux_ab", "minwave", "maxwave", "knot_wave",
                      "knot_trans"],
         meta_fields=["names", "n_fine"])
class SALTBands:
    """Per-band integration tables (a JAX pytree; ``names`` is static).

    Attributes:
        wave: ``(nb, W)`` observer-frame integration wavelengths, Angstrom (bins of at most 5 A;
            a band with fewer than ``W`` bins repeats its last wavelength with weight 0).
        weight: ``(nb, W)`` ``T(lam) lam dlam / (h c)``, in 1 / (erg/s/cm^2/A) per
            photons/s/cm^2 (0 on padding).
        dust: ``(nb, W)`` Fitzpatrick (1999) ``A_lambda / E(B-V)`` at ``wave``.
        zpflux_ab: ``(nb,)`` photons/s/cm^2 of a 3631 Jy source (sncosmo's ``ab`` zero point).
        minwave, maxwave: ``(nb,)`` the bandpass's wavelength range, Angstrom.
        knot_wave, knot_trans: ``(nb, K)`` the bandpass tables themselves (for the rest-frame
            integrals of the model covariance), padded past ``maxwave`` with zero transmission.
        names: tuple of band names (band index ``i`` is ``names[i]``).
        n_fine: static, the largest number of 1 A bins over a band (the effective wavelength
            grid of the model covariance).
    """

    wave: np.ndarray
    weight: np.ndarray
    dust: np.ndarray
    zpflux_ab: np.ndarray
    minwave: np.ndarray
    maxwave: np.ndarray
    knot_wave: np.ndarray
    knot_trans: np.ndarray
    names: tuple = ()
    n_fine: int = 1

    def astype(self, dtype):
        """The same tables in ``dtype`` (``jnp.float32`` gives JAX float32 arrays)."""
        return _astype(self, dtype)

    def index(self, labels) -> np.ndarray:
        """``int32`` band indices of an array of band names (``ValueError`` if unknown)."""
        lut = {n: i for i, n in enumerate(self.names)}
        labels = np.asarray(labels)
        bad = sorted({str(x) for x in np.unique(labels) if str(x) not in lut})
        if bad:
            raise ValueError(f"bands {bad} not in this table {list(self.names)}")
        return np.array([lut[str(x)] for x in labels.ravel()], np.int32).reshape(labels.shape)


def salt_bands(names, *, r_v: float = 3.1, zpsys: str = "ab", width: int | None = None
               ) -> SALTBands:
    """Build the integration tables of ``names`` (host side, float64).

    Args:
        names: sequence of bandpass names (shipped: ``lsstu`` ... ``lssty``, ``ps1::g`` ...
            ``ps1::z``, ``sdssu`` ... ``sdssz``, ``ztfg``, ``ztfr``, ``ztfi``; or registered
            with :func:`register_bandpass`).
        r_v: ``R_V`` of the Milky Way dust (Fitzpatrick 1999).
        zpsys: the magnitude system of zero points; only ``"ab"`` is supported.
        width: pad every band to this many integration points (default: the longest band's),
            so that tables of different band sets share one compiled shape.

    Raises:
        ValueError: unknown band, unsupported ``zpsys``, ``width`` too small.
    """
    if zpsys != "ab":
        raise ValueError(f"zpsys {zpsys!r} not supported (only 'ab')")
    names = tuple(str(n) for n in names)
    if len(names) == 0:
        raise ValueError("salt_bands: no bands given")
    bands = [get_bandpass(n) for n in names]
    grids = [_integration_grid(b.wave[0], b.wave[-1], MODEL_BANDFLUX_SPACING) for b in bands]
    w_max = max(g[0].size for g in grids)
    width = w_max if width is None else int(width)
    if width < w_max:
        raise ValueError(f"width={width} < {w_max} integration points of the widest band")
    nb = len(bands)
    wave = np.zeros((nb, width))
    weight = np.zeros((nb, width))
    zpflux = np.zeros(nb)
    for i, (b, (w, dw)) in enumerate(zip(bands, grids)):
        wave[i, :w.size], wave[i, w.size:] = w, w[-1]
        weight[i, :w.size] = _interp_band(b, w) * w * dw / HC_ERG_AA
        w1, dw1 = _integration_grid(b.wave[0], b.wave[-1], SPECTRUM_BANDFLUX_SPACING)
        zpflux[i] = 3631e-23 * dw1 / H_ERG_S * np.sum(_interp_band(b, w1) / w1)
    from tsmodels.config import precision

    # host tables: evaluated now even when called inside a trace (``jax.jit(model.loglike)``)
    with precision("float64"), jax.ensure_compile_time_eval():
        dust = np.asarray(f99_curve(wave, r_v=float(r_v)), np.float64)
    k = max(b.wave.size for b in bands)
    knot_wave = np.zeros((nb, k))
    knot_trans = np.zeros((nb, k))
    for i, b in enumerate(bands):
        knot_wave[i, :b.wave.size] = b.wave
        knot_wave[i, b.wave.size:] = b.wave[-1] + 1.0 + np.arange(k - b.wave.size)
        knot_trans[i, :b.wave.size] = b.trans
    n_fine = max(int(np.ceil(b.wave[-1] - b.wave[0])) for b in bands) + 1
    return SALTBands(wave=wave, weight=weight, dust=dust, zpflux_ab=zpflux,
                     minwave=np.array([b.wave[0] for b in bands]),
                     maxwave=np.array([b.wave[-1] for b in bands]), knot_wave=knot_wave,
                     knot_trans=knot_trans, names=names, n_fine=n_fine)


def salt_coverage_window(model: SALTModel, z) -> tuple[np.ndarray, np.ndarray]:
    """Host side: the observer-frame wavelength window ``(lo, hi)`` (A, shape of ``z``) that a
    bandpass must lie inside to be covered by ``model`` at redshift ``z``: the model's rest-frame
    range redshifted, within the range of the Milky Way dust law (sncosmo's rule)."""
    z = np.asarray(z, np.float64)
    lo = np.maximum(model.wave[0] * (1.0 + z), F99_WAVE_RANGE[0])
    hi = np.minimum(model.wave[-1] * (1.0 + z), F99_WAVE_RANGE[1])
    return lo, hi


def salt_covered(model: SALTModel, bands: SALTBands, z, band) -> np.ndarray:
    """Host side: True where band index ``band`` is covered by ``model`` at redshift ``z``
    (broadcast shapes; :func:`salt_coverage_window`)."""
    lo, hi = salt_coverage_window(model, z)
    band = np.asarray(band)
    return (bands.minwave[band] >= lo) & (bands.maxwave[band] <= hi)


def check_salt_coverage(model: SALTModel, bands: SALTBands, z) -> None:
    """Raise ``ValueError`` (sncosmo's message) if a band is not covered by the model at ``z``,
    or if ``z <= 0``. Host side; ``z`` a scalar or an array of per-object redshifts."""
    z = np.atleast_1d(np.asarray(z, np.float64))
    if np.any(~np.isfinite(z)) or np.any(z <= 0):
        raise ValueError(f"redshift must be > 0 and finite, got {z[~(z > 0)][:5]}")
    lo, hi = salt_coverage_window(model, z)
    for i, n in enumerate(bands.names):
        bad = ~salt_covered(model, bands, z, i)
        if np.any(bad):
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(f"bandpass {n!r} [{bands.minwave[i]:.6g}, .., "
                             f"{bands.maxwave[i]:.6g}] outside spectral range "
                             f"[{lo[j]:.6g}, .., {hi[j]:.6g}] of {model.name} at z={z[j]:.6g}")


# --------------------------------------------------------------------------------------------
# kernels

class SALTPrepared(NamedTuple):
    """What :func:`salt_prepare` computes from ``z`` and ``E(B-V)`` (all JAX arrays).

    Attributes:
        a: ``()`` ``1 / (1 + z)``.
        iy: ``(nb, W)`` int32, model wavelength interval of each rest-frame wavelength.
        dy: ``(nb, W)`` its offset in units of the interval, in ``[0, 1]``.
        cubic: ``(nb, W)`` bool, cubic convolution possible in wavelength.
        base: ``(nb, W)`` ``weight * a * 10**(-0.4 E(B-V) dust)``, zero where unusable.
        cl: ``(nb, W)`` colour law ``CL`` at the rest-frame wavelengths.
        ok: ``(nb,)`` bool, band covered by the model at this ``z`` (and ``z > 0``).
    """

    a: jax.Array
    iy: jax.Array
    dy: jax.Array
    cubic: jax.Array
    base: jax.Array
    cl: jax.Array
    ok: jax.Array


def _keys(s):
    """Keys (1981) cubic-convolution kernel with a = -0.5 (sncosmo's ``kernval``)."""
    x = jnp.abs(s)
    inner = x * x * (1.5 * x - 2.5) + 1.0
    outer = -0.5 * (-4.0 + x * (8.0 + x * (-5.0 + x)))
    return jnp.where(x < 1.0, inner, jnp.where(x > 2.0, 0.0, outer))


def _locate(grid, x):
    """Interval ``i`` with ``grid[i] <= x < grid[i+1]`` clipped to ``[0, n-2]``, whether ``x`` is
    inside ``[grid[0], grid[-1]]`` and whether cubic convolution is allowed there."""
    n = grid.shape[0]
    i = jnp.clip(jnp.searchsorted(grid, x, side="right") - 1, 0, n - 2).astype(jnp.int32)
    inside = (x >= grid[0]) & (x <= grid[-1])
    cubic = (i >= 1) & (i <= n - 3) if n >= 3 else jnp.zeros_like(inside)
    return i, inside, cubic


def _colorlaw(model, wave):
    l = (wave - _CL_B) / (_CL_V - _CL_B)
    c = model.cl_coeffs
    inner = jnp.zeros_like(l)
    for k in range(c.shape[0] - 1, -1, -1):
        inner = l * (c[k] + inner)
    lo = model.cl_p[0] + model.cl_dp[0] * (l - model.cl_l[0])
    hi = model.cl_p[1] + model.cl_dp[1] * (l - model.cl_l[1])
    return -jnp.where(l < model.cl_l[0], lo, jnp.where(l <= model.cl_l[1], inner, hi))


def _dtype(*xs):
    return jnp.result_type(*xs, float)


def _cast(tree, dt):
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, dt) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
        else jnp.asarray(x), tree)


@float64_by_default
def salt_prepare(model: SALTModel, bands: SALTBands, *, z, ebv=0.0) -> SALTPrepared:
    """Everything of :func:`salt_bandflux` that depends on ``z`` and ``E(B-V)`` only.

    Compute it once per object when ``z`` and ``E(B-V)`` are fixed (``jax.vmap`` over objects:
    ``vmap(salt_prepare, in_axes=(None, None, 0, 0))`` with keyword arguments bound), then call
    :func:`salt_bandflux_prepared` in the fit loop.

    Args:
        model: tables from :func:`load_salt`.
        bands: tables from :func:`salt_bands`.
        z: redshift (> 0; ``z <= 0`` flags every band as not covered).
        ebv: Milky Way ``E(B-V)``, magnitudes (the ``R_V`` is that of ``bands``).

    Returns:
        :class:`SALTPrepared`, in the dtype of ``z`` and ``ebv`` (or float64 tables).
    """
    return _prepare(model, bands, z, ebv)


@jax.jit
def _prepare(model, bands, z, ebv):
    dt = _dtype(z, ebv)
    model, bands = _cast(model, dt), _cast(bands, dt)
    z = jnp.asarray(z, dt)
    ebv = jnp.asarray(ebv, dt)
    z_ok = z > 0
    zs = jnp.where(z_ok, z, 0.1)
    a = 1.0 / (1.0 + zs)
    rest = bands.wave * a
    grid = model.wave
    iy, inside, cubic = _locate(grid, rest)
    h = grid[iy + 1] - grid[iy]
    dy = (rest - grid[iy]) / h
    mw = 10.0 ** (-0.4 * ebv * bands.dust)
    base = jnp.where(inside, bands.weight * a * mw, 0.0)
    lo = jnp.maximum(grid[0] * (1.0 + zs), F99_WAVE_RANGE[0])
    hi = jnp.minimum(grid[-1] * (1.0 + zs), F99_WAVE_RANGE[1])
    ok = (bands.minwave >= lo) & (bands.maxwave <= hi) & z_ok
    return SALTPrepared(a=a, iy=iy, dy=dy, cubic=cubic & inside, base=base,
                        cl=_colorlaw(model, rest), ok=ok)


def _edges(n):
    """The grid nodes of the first and last intervals, ``[0, 1, n-2, n-1]`` (where sncosmo's
    scheme is bilinear), and the slot of a node among them (nodes below 2 keep theirs)."""
    nodes = jnp.array([0, 1, n - 2, n - 1], jnp.int32)
    return nodes, lambda k: jnp.clip(jnp.where(k < 2, k, k - (n - 2) + 2), 0, 3)


def _band_phase_fluxes(m0, m1, iy, dy, cubic, s):
    """Band sums ``sum_w s_w M(phase node, lam_w)`` for M0 and M1, the wavelength interpolation
    of sncosmo's scheme folded into weights on the model's wavelength nodes, as three tables
    per surface (combined per observation by :func:`_phase_interp`):

    * ``(np, nb)`` the cubic-in-wavelength part, at every phase node;
    * ``(np, nb)`` the bilinear part of the wavelengths in the first and last wavelength
      intervals, at every phase node (only the 4 edge wavelength nodes enter it);
    * ``(4, nb)`` bilinear in wavelength everywhere, at the 4 edge phase nodes only (the only
      phases where sncosmo's scheme is bilinear in phase).

    Only the first is a full ``(np, nl) @ (nl, nb)`` product."""
    nb = s.shape[0]
    n_phase, nl = m0.shape
    # cubic convolution weights on nodes iy-1 .. iy+2 (sncosmo's dx = -dy convention)
    d = -dy
    wc = jnp.stack([_keys(d - 1.0), _keys(d), _keys(d + 1.0), _keys(d + 2.0)], -1)
    wl = jnp.stack([1.0 - dy, dy], -1)
    sc = jnp.where(cubic, s, 0.0)
    se = s - sc
    wave_nodes, wave_slot = _edges(nl)
    # one scatter-add onto [cubic (nb x nl) | bilinear (nb x nl) | edge wavelengths (nb x 4)]
    row = jnp.arange(nb, dtype=jnp.int32)[:, None, None]
    idx_c = row * nl + jnp.clip(iy[..., None] + jnp.arange(-1, 3, dtype=jnp.int32), 0, nl - 1)
    nodes_l = iy[..., None] + jnp.arange(0, 2, dtype=jnp.int32)
    idx_l = nb * nl + row * nl + nodes_l
    idx_e = 2 * nb * nl + row * 4 + wave_slot(nodes_l)
    idx = jnp.concatenate([idx_c, idx_l, idx_e], -1)
    val = jnp.concatenate([sc[..., None] * wc, s[..., None] * wl, se[..., None] * wl], -1)
    flat = jnp.zeros(2 * nb * nl + 4 * nb, s.dtype).at[idx.ravel()].add(val.ravel())
    r_cubic = flat[:nb * nl].reshape(nb, nl)
    r_lin = flat[nb * nl:2 * nb * nl].reshape(nb, nl)
    r_edge = flat[2 * nb * nl:].reshape(nb, 4)
    phase_nodes, _ = _edges(n_phase)

    def sums(m):
        return (m @ r_cubic.T, m[:, wave_nodes] @ r_edge.T, m[phase_nodes] @ r_lin.T)
    return sums(m0), sums(m1)


def _colour_sums(m0, m1, iy, dy, cubic, base, cl, c):
    """:func:`_band_phase_fluxes` of the colour-weighted ``s = base 10**(-0.4 c CL)``."""
    return _band_phase_fluxes(m0, m1, iy, dy, cubic, base * 10.0 ** (-0.4 * c * cl))


@jax.custom_jvp
def _colour_band_sums(m0, m1, iy, dy, cubic, base, cl, c):
    """:func:`_colour_sums`, with a derivative in ``c`` computed once per evaluation.

    A fit's Jacobian (forward mode, one tangent per parameter) would otherwise push every
    parameter's tangent through the surfaces' matrix product, although only ``c`` reaches it
    (``t0`` and ``x1`` enter after, in the phase interpolation): with the derivative
    ``d s / d c = -0.4 ln(10) CL s`` contracted in the same product as ``s`` itself, the product
    costs twice a plain evaluation, not once per parameter plus one. Tangents of the tables
    (a derivative in ``z``) take the generic rule."""
    return _colour_sums(m0, m1, iy, dy, cubic, base, cl, c)


def _colour_band_sums_jvp(primals, tangents):
    m0, m1, iy, dy, cubic, base, cl, c = primals
    dc = tangents[-1]
    if not all(isinstance(t, SymbolicZero) for t in tangents[:-1]):
        # derivatives of the tables too (z, E(B-V)): differentiate the plain evaluation
        floats = (0, 1, 3, 5, 6, 7)

        def plain(*args):
            full = list(primals)
            for k, a in zip(floats, args):
                full[k] = a
            return _colour_sums(*full)

        dense = tuple(jnp.zeros(t.aval.shape, t.aval.dtype) if isinstance(t, SymbolicZero) else t
                      for t in (tangents[k] for k in floats))
        return jax.jvp(plain, tuple(primals[k] for k in floats), dense)
    nb = base.shape[0]
    s = base * 10.0 ** (-0.4 * c * cl)
    ds = (-0.4 * np.log(10.0)) * cl * s
    both = _band_phase_fluxes(m0, m1, jnp.concatenate([iy, iy]),
                              jnp.concatenate([dy, dy]), jnp.concatenate([cubic, cubic]),
                              jnp.concatenate([s, ds]))
    # every table has 2 nb band columns: those of s, then those of ds / dc
    value = jax.tree_util.tree_map(lambda a: a[:, :nb], both)
    if isinstance(dc, SymbolicZero):
        return value, jax.tree_util.tree_map(jnp.zeros_like, value)
    return value, jax.tree_util.tree_map(lambda a: a[:, nb:] * dc, both)


_colour_band_sums.defjvp(_colour_band_sums_jvp, symbolic_zeros=True)


def _phase_interp(phase, h, p, b):
    """Interpolate the tables of :func:`_band_phase_fluxes` to rest-frame phases ``p`` in bands
    ``b`` (sncosmo's rule: cubic x cubic, bilinear near an edge, 0 outside)."""
    h_cubic, h_edge, h_lin = h
    n_phase = phase.shape[0]
    ix, inside, cubic = _locate(phase, p)
    step = phase[ix + 1] - phase[ix]
    d = (phase[ix] - p) / step
    wc = jnp.stack([_keys(d - 1.0), _keys(d), _keys(d + 1.0), _keys(d + 2.0)], -1)
    ax = (p - phase[ix]) / step
    wl = jnp.stack([1.0 - ax, ax], -1)
    rows_c = jnp.clip(ix[:, None] + jnp.arange(-1, 3), 0, n_phase - 1)
    rows_l = ix[:, None] + jnp.arange(0, 2)
    f_cubic = (jnp.sum(wc * h_cubic[rows_c, b[:, None]], -1)
               + jnp.sum(wl * h_edge[rows_l, b[:, None]], -1))
    _, phase_slot = _edges(n_phase)
    f_lin = jnp.sum(wl * h_lin[phase_slot(rows_l), b[:, None]], -1)
    return jnp.where(inside, jnp.where(cubic, f_cubic, f_lin), 0.0)


@float64_by_default
def salt_bandflux_prepared(t, band, model: SALTModel, prep: SALTPrepared, *, t0, x0, x1, c,
                           zp=None, zpflux=None):
    """SALT band fluxes of one light curve from precomputed ``z``-dependent tables.

    For each observation, with rest-frame phase ``p = (t - t0) a``: outside the model's phase
    range the flux is 0; where cubic convolution is allowed in phase, the cubic-in-wavelength
    columns are interpolated with the cubic phase weights and the edge-wavelength columns with
    the linear ones; elsewhere the all-bilinear columns with the linear phase weights; this is
    exactly sncosmo's ``BicubicInterpolator`` rule, summed over the band.

    Args:
        t: ``(n,)`` observation times, days (same origin as ``t0``).
        band: ``(n,)`` int band indices into the :class:`SALTBands` used for ``prep``.
        model: tables from :func:`load_salt`.
        prep: from :func:`salt_prepare` (same model and bands).
        t0: time of rest-frame B-band maximum, days.
        x0: amplitude (sncosmo's ``x0``).
        x1: stretch parameter.
        c: colour parameter.
        zp: ``None`` (fluxes in photons/s/cm^2) or ``(n,)``/scalar AB zero points (then the
            flux is ``10**(-0.4 (m_AB - zp))``); needs ``zpflux``.
        zpflux: ``(nb,)`` the bands' ``zpflux_ab`` (from :class:`SALTBands`), when ``zp`` is given.

    Returns:
        ``(n,)`` band fluxes; NaN where the band is not covered by the model at this ``z``, the
        band index is outside ``[0, nb)``, or ``z <= 0``.
    """
    if zp is not None and zpflux is None:
        raise TypeError("salt_bandflux_prepared: zp given without zpflux (bands.zpflux_ab)")
    return _bandflux_prepared(t, band, model, prep, t0, x0, x1, c, zp, zpflux)


@jax.jit
def _bandflux_prepared(t, band, model, prep, t0, x0, x1, c, zp, zpflux):
    dt = _dtype(t, t0, x0, x1, c, *(() if zp is None else (zp,)))
    model, prep = _cast(model, dt), _cast(prep, dt)
    t = jnp.asarray(t, dt)
    band = jnp.asarray(band, jnp.int32)
    t0, x0, x1, c = (jnp.asarray(v, dt) for v in (t0, x0, x1, c))
    nb = prep.ok.shape[0]
    h0, h1 = _colour_band_sums(model.m0, model.m1, prep.iy, prep.dy, prep.cubic, prep.base, prep.cl, c)
    b = jnp.clip(band, 0, nb - 1)
    h = jax.tree_util.tree_map(lambda a, b: a + x1 * b, h0, h1)
    flux = x0 * _phase_interp(model.phase, h, (t - t0) * prep.a, b)
    if zp is not None:
        flux = flux * 10.0 ** (0.4 * jnp.asarray(zp, dt)) / jnp.asarray(zpflux, dt)[b]
    valid = prep.ok[b] & (band >= 0) & (band < nb)
    return jnp.where(valid, flux, jnp.nan)


@float64_by_default
def salt_bandflux(t, band, model: SALTModel, bands: SALTBands, *, z, t0, x0, x1, c, ebv=0.0,
                  zp=None):
    """SALT2/SALT3 band fluxes of one light curve (sncosmo's ``Model.bandflux``).

    ``f = x0 sum_w B_w [M0 + x1 M1](p, lam_w / (1 + z)) 10**(-0.4 c CL(lam_w / (1 + z)))`` with
    ``p = (t - t0) / (1 + z)`` and ``B_w = T lam_w dlam / (h c) / (1 + z) 10**(-0.4 A_MW(lam_w))``
    (see the module docstring for the full definition, interpolation and validity flags).

    Args:
        t: ``(n,)`` observation times, days (observer frame, any origin shared with ``t0``).
        band: ``(n,)`` int band indices into ``bands`` (``bands.index(labels)`` maps names).
        model: tables from :func:`load_salt`.
        bands: tables from :func:`salt_bands`.
        z: redshift, > 0 (NaN fluxes otherwise).
        t0: observer-frame time of rest-frame B-band maximum, days.
        x0, x1, c: SALT amplitude, stretch and colour.
        ebv: Milky Way ``E(B-V)``, magnitudes (Fitzpatrick 1999, observer frame).
        zp: ``None`` (photons/s/cm^2) or AB zero point(s), scalar or ``(n,)``: the flux is then in
            the units where ``m_AB = zp - 2.5 log10(f)`` (e.g. ``zp=27.5`` for FLUXCAL,
            ``zp=31.4`` for nJy).

    Returns:
        ``(n,)`` band fluxes in the dtype of the inputs.

    Differentiable in ``t0, x0, x1, c, z, ebv``.
    """
    prep = salt_prepare(model, bands, z=z, ebv=ebv)
    return salt_bandflux_prepared(t, band, model, prep, t0=t0, x0=x0, x1=x1, c=c, zp=zp,
                                  zpflux=None if zp is None else bands.zpflux_ab)


# --------------------------------------------------------------------------------------------
# model covariance (sncosmo's Model._bandflux_rcov / SALT2Source.bandflux_rcov)

class SALTRcovPrepared(NamedTuple):
    """What :func:`salt_prepare_rcov` computes from ``z`` (all JAX arrays).

    Attributes:
        a: ``()`` ``1 / (1 + z)``.
        iy, dy, cubic: ``(nb, W)`` interpolation of the *rest-frame* integration grid (sncosmo
            integrates the covariance terms on 5 A bins of the band shifted to the rest frame).
        weight: ``(nb, W)`` integration weights ``T lam`` times the normalisation (SALT2:
            ``dlam / (h c)``; SALT3: ``1 / sum(T lam)``), 0 on padding.
        wave_eff: ``(nb,)`` rest-frame effective wavelength of each band, Angstrom.
        cd2: ``(nb,)`` squared colour dispersion at ``wave_eff``.
        ok: ``(nb,)`` bool, rest-frame band inside the model's wavelength range (and ``z > 0``).
    """

    a: jax.Array
    iy: jax.Array
    dy: jax.Array
    cubic: jax.Array
    weight: jax.Array
    wave_eff: jax.Array
    cd2: jax.Array
    ok: jax.Array


def _midpoints(lo, hi, spacing, n_max):
    """sncosmo's integration grid as a fixed-length array: ``n = ceil((hi - lo) / spacing)``
    bins, their midpoints in the first ``n`` slots, and a mask of those slots."""
    diff = hi - lo
    n = jnp.ceil(diff / spacing)
    step = diff / n
    k = jnp.arange(n_max, dtype=lo.dtype)
    valid = k < n[..., None]
    pts = (lo + 0.5 * step)[..., None] + k * step[..., None]
    return jnp.where(valid, pts, lo[..., None]), valid, step


def _interp_rows(x, xp, fp):
    return jax.vmap(jnp.interp)(x, xp, fp)


def _linear_extrap(xp, fp, x):
    # scipy InterpolatedUnivariateSpline(k=1): linear inside, linear extrapolation outside
    i = jnp.clip(jnp.searchsorted(xp, x, side="right") - 1, 0, xp.shape[0] - 2)
    return fp[i] + (fp[i + 1] - fp[i]) * (x - xp[i]) / (xp[i + 1] - xp[i])


def _interp2d(xg, yg, values, x, y):
    """sncosmo's ``BicubicInterpolator`` at points ``(x[i], y[i])``."""
    ix, inx, cx = _locate(xg, x)
    iy, iny, cy = _locate(yg, y)
    dx = (xg[ix] - x) / (xg[ix + 1] - xg[ix])
    dy = (yg[iy] - y) / (yg[iy + 1] - yg[iy])
    wx = jnp.stack([_keys(dx - 1.0), _keys(dx), _keys(dx + 1.0), _keys(dx + 2.0)], -1)
    wy = jnp.stack([_keys(dy - 1.0), _keys(dy), _keys(dy + 1.0), _keys(dy + 2.0)], -1)
    rows = jnp.clip(ix[:, None] + jnp.arange(-1, 3), 0, xg.shape[0] - 1)
    cols = jnp.clip(iy[:, None] + jnp.arange(-1, 3), 0, yg.shape[0] - 1)
    block = values[rows[:, :, None], cols[:, None, :]]
    cubic = jnp.einsum("nk,nkj,nj->n", wx, block, wy)
    ax = (x - xg[ix]) / (xg[ix + 1] - xg[ix])
    ay = (y - yg[iy]) / (yg[iy + 1] - yg[iy])
    v = lambda i, j: values[ix + i, iy + j]  # noqa: E731
    lin = ((1.0 - ax) * ((1.0 - ay) * v(0, 0) + ay * v(0, 1))
           + ax * ((1.0 - ay) * v(1, 0) + ay * v(1, 1)))
    return jnp.where(inx & iny, jnp.where(cx & cy, cubic, lin), 0.0)


@float64_by_default
def salt_prepare_rcov(model: SALTModel, bands: SALTBands, *, z) -> SALTRcovPrepared:
    """The ``z``-dependent part of :func:`salt_bandflux_rcov` (once per object in a fit).

    Args:
        model: tables from :func:`load_salt`.
        bands: tables from :func:`salt_bands`.
        z: redshift (> 0).

    Returns:
        :class:`SALTRcovPrepared`.
    """
    return _prepare_rcov(model, bands, z)


@jax.jit
def _prepare_rcov(model, bands, z):
    dt = _dtype(z)
    model, bands = _cast(model, dt), _cast(bands, dt)
    z = jnp.asarray(z, dt)
    z_ok = z > 0
    a = 1.0 / (1.0 + jnp.where(z_ok, z, 0.1))
    lo, hi = bands.minwave * a, bands.maxwave * a
    knots = bands.knot_wave * a
    pts, valid, step = _midpoints(lo, hi, MODEL_BANDFLUX_SPACING, bands.wave.shape[1])
    tmp = jnp.where(valid, _interp_rows(pts, knots, bands.knot_trans) * pts, 0.0)
    if model.family == "salt3":
        norm = 1.0 / jnp.sum(tmp, -1)
    else:
        norm = step / HC_ERG_AA
    iy, inside, cubic = _locate(model.wave, pts)
    dy = (pts - model.wave[iy]) / (model.wave[iy + 1] - model.wave[iy])
    fine, fvalid, _ = _midpoints(lo, hi, SPECTRUM_BANDFLUX_SPACING, bands.n_fine)
    tf = jnp.where(fvalid, _interp_rows(fine, knots, bands.knot_trans), 0.0)
    wave_eff = jnp.sum(fine * tf, -1) / jnp.sum(tf, -1)
    cd = _linear_extrap(model.cov["cd_wave"], model.cov["cd_value"], wave_eff)
    ok = (lo >= model.wave[0]) & (hi <= model.wave[-1]) & z_ok
    return SALTRcovPrepared(a=a, iy=iy, dy=dy, cubic=cubic & inside,
                            weight=jnp.where(inside, tmp * norm[:, None], 0.0),
                            wave_eff=wave_eff, cd2=cd * cd, ok=ok)


@float64_by_default
def salt_bandflux_rcov_prepared(t, band, model: SALTModel, prep: SALTRcovPrepared, *, t0, x1):
    """Relative model covariance of SALT band fluxes (sncosmo's ``Model._bandflux_rcov``).

    With ``p = (t - t0) a`` and, in the rest-frame band, ``F0 = int M0 T lam``,
    ``F1 = int (M0 + x1 M1) T lam`` (SALT3: band averages ``int M T lam / int T lam``) and the
    variance surfaces at ``(p, lam_eff)``: ``V = V00 + 2 x1 V01 + x1^2 V11`` (set to 1e-4 where
    negative), the diagonal is ``V (F0 / F1)^2 S^2`` (SALT2, ``S`` the dispersion scaling) or
    ``V / F1^2`` (SALT3), and 1e4 where ``F1 <= 0`` (snfit's conventions, as sncosmo); every pair
    of observations in the same band adds ``CD(lam_eff)^2``, the colour dispersion. The flux
    covariance is ``f_i rcov_ij f_j``. The colour ``c`` and the dust do not enter.

    Args:
        t: ``(n,)`` times, days.
        band: ``(n,)`` int band indices.
        model: tables from :func:`load_salt`.
        prep: from :func:`salt_prepare_rcov`.
        t0: time of maximum, days.
        x1: stretch parameter.

    Returns:
        ``(n, n)`` relative covariance; rows and columns of observations whose band is not
        covered at this ``z`` (or out of range) are NaN.
    """
    return _rcov_prepared(t, band, model, prep, t0, x1)


@jax.jit
def _rcov_prepared(t, band, model, prep, t0, x1):
    dt = _dtype(t, t0, x1)
    model, prep = _cast(model, dt), _cast(prep, dt)
    t = jnp.asarray(t, dt)
    band = jnp.asarray(band, jnp.int32)
    t0, x1 = jnp.asarray(t0, dt), jnp.asarray(x1, dt)
    nb = prep.ok.shape[0]
    b = jnp.clip(band, 0, nb - 1)
    p = (t - t0) * prep.a
    h0, h1 = _band_phase_fluxes(model.m0, model.m1, prep.iy, prep.dy, prep.cubic, prep.weight)
    f0 = _phase_interp(model.phase, h0, p, b)
    ftot = f0 + x1 * _phase_interp(model.phase, h1, p, b)
    cov = model.cov
    weff = prep.wave_eff[b]

    def surface(key):
        return _interp2d(cov[key + "_phase"], cov[key + "_wave"], cov[key], p, weff)

    v = surface("lcrv00") + 2.0 * x1 * surface("lcrv01") + x1 * x1 * surface("lcrv11")
    v = jnp.where(v < 0.0, 1e-4, v)
    pos = ftot > 0.0
    fs = jnp.where(pos, ftot, 1.0)
    if model.family == "salt3":
        diag = v / (fs * fs)
    else:
        scale = surface("errscale")
        diag = v * (f0 / fs) ** 2 * scale * scale
    diag = jnp.where(pos, diag, 1e4)
    same = b[:, None] == b[None, :]
    out = jnp.diag(diag) + jnp.where(same, prep.cd2[b][:, None], 0.0)
    valid = prep.ok[b] & (band >= 0) & (band < nb)
    return jnp.where(valid[:, None] & valid[None, :], out, jnp.nan)


@float64_by_default
def salt_bandflux_rcov(t, band, model: SALTModel, bands: SALTBands, *, z, t0, x1):
    """Relative model covariance of one light curve's SALT band fluxes; see
    :func:`salt_bandflux_rcov_prepared` (this computes :func:`salt_prepare_rcov` first).

    Returns:
        ``(n, n)`` relative covariance (multiply by ``f_i f_j`` for the flux covariance).
    """
    prep = salt_prepare_rcov(model, bands, z=z)
    return salt_bandflux_rcov_prepared(t, band, model, prep, t0=t0, x1=x1)
