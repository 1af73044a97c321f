"""Seeded, LSST-like simulated light curves with their true parameters.

Everything here is NumPy on the host and vectorised over all objects at once. A simulation has
three independent ingredients, each drawn from its own child of ``np.random.SeedSequence(seed)``
so that the same ``seed`` gives the same cadence whatever signal is put on it:

1. **Cadence** (:func:`cadence`): for every object, visits over ``n_years`` with a yearly
   visibility season of 6-8 months (random per object, like a random right ascension), one visit
   per night at a random time around local midnight at Cerro Pachon (MJD fraction ~0.2, +-3.6 h
   jitter), and a band drawn per visit with LSST-like visit fractions (:data:`LSST_BAND_FRACTIONS`).
   Times are MJD, starting at :data:`DEFAULT_START_MJD`.
2. **Signal** (a :class:`Signal` from :data:`SIGNALS`): true parameters per object (the "truth"
   table) and the noiseless flux at each visit, in nJy.
3. **Noise** (:func:`flux_err_model`): the LSST magnitude-dependent error model of Ivezic et al.
   (2019, ApJ 873, 111, eqs. 4-5 and Table 2),
   ``sigma_m^2 = sigma_sys^2 + (0.04 - gamma) x + gamma x^2`` with ``x = 10^(0.4 (m - m5))``,
   evaluated at the true flux; the observed flux is the true flux plus Gaussian noise of that
   standard deviation, and ``flux_err`` is that standard deviation.

Fluxes are AB in nJy: ``flux = 10^(-0.4 (m - 31.4))`` (:func:`mag_to_flux`).

Each built-in signal has a function (:func:`periodic`, :func:`drw`, :func:`bazin`, :func:`pspl`,
:func:`salt2`, :func:`constant`) returning ``(batch, truth)``; :func:`lightcurves` does the same
by name. The truth is a pandas DataFrame, one row per object, indexed by ``id``; per-band
quantities are columns ``<name>_<band>`` (``amp_g``, ``mag_r`` ...). ``output="pandas"`` returns
the long table (``id, time, flux, flux_err, band, flux_true``, then the signal's per-object
columns) instead of a batch. A signal may declare per-object columns (:attr:`Signal.meta`: the
redshift ``z`` and ``mwebv`` of :func:`salt2`), which the batch carries in
:attr:`~tsmodels.lightcurves.LightCurveBatch.meta`, as the models that read them expect.

Adding a signal: write ``draw(rng, cad, **options) -> dict of [B] arrays`` and
``flux(cad, params, rng) -> [M] nJy`` and call :func:`register_signal`; :func:`lightcurves`
and :func:`evaluate` then know it.

Example:
    >>> batch, truth = ts.simulate.periodic(100, seed=1, shape="sawtooth")
    >>> df, truth = ts.simulate.drw(10, n_years=2, output="pandas")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsmodels.config import compiled_cache

__all__ = [
    "LSST_BANDS",
    "LSST_BAND_FRACTIONS",
    "LSST_M5",
    "LSST_GAMMA",
    "SIGMA_SYS",
    "PERIODIC_AMPLITUDE_RATIO",
    "DRW_AMPLITUDE_RATIO",
    "AB_ZEROPOINT_NJY",
    "DEFAULT_START_MJD",
    "Cadence",
    "Signal",
    "SIGNALS",
    "register_signal",
    "cadence",
    "lightcurves",
    "evaluate",
    "periodic",
    "drw",
    "bazin",
    "pspl",
    "salt2",
    "constant",
    "ou_process",
    "bazin_flux",
    "pspl_magnification",
    "distance_modulus",
    "SALT2_MB_OFFSET",
    "mag_to_flux",
    "flux_to_mag",
    "mag_err_model",
    "flux_err_model",
]

LSST_BANDS = ("u", "g", "r", "i", "z", "y")
#: Fraction of LSST wide-fast-deep visits per band (LSST-like survey strategy).
LSST_BAND_FRACTIONS = {"u": 0.07, "g": 0.10, "r": 0.22, "i": 0.22, "z": 0.20, "y": 0.19}
#: Single-visit (30 s) 5-sigma point-source depths, AB mag (Ivezic et al. 2019, Table 2).
LSST_M5 = {"u": 23.78, "g": 24.81, "r": 24.35, "i": 23.92, "z": 23.34, "y": 22.45}
#: The ``gamma`` of the random-error model, per band (Ivezic et al. 2019, Table 2).
LSST_GAMMA = {"u": 0.038, "g": 0.039, "r": 0.039, "i": 0.039, "z": 0.039, "y": 0.039}
#: Systematic photometric error floor, mag (Ivezic et al. 2019, sigma_sys).
SIGMA_SYS = 0.005
#: AB magnitude of 1 nJy: ``m = 31.4 - 2.5 log10(flux / nJy)``.
AB_ZEROPOINT_NJY = 31.4
#: Default survey start, MJD (mid 2025).
DEFAULT_START_MJD = 60800.0

_YEAR = 365.25  # days
_NIGHT_CENTRE = 0.196  # MJD fraction of local midnight at Cerro Pachon (UTC-4h42m)
_NIGHT_JITTER = 0.15  # days, half-width of the uniform time-of-night scatter
_LN10_04 = 0.4 * np.log(10.0)

#: Illustrative per-band semi-amplitude ratios (relative to g) of an RR Lyrae-like pulsator.
PERIODIC_AMPLITUDE_RATIO = {"u": 1.25, "g": 1.0, "r": 0.75, "i": 0.6, "z": 0.55, "y": 0.5}
#: Illustrative per-band DRW amplitude ratios (relative to r): quasars vary more in the blue.
DRW_AMPLITUDE_RATIO = {"u": 1.4, "g": 1.2, "r": 1.0, "i": 0.9, "z": 0.8, "y": 0.75}


# --------------------------------------------------------------------------- photometry
def mag_to_flux(mag):
    """AB magnitude to flux in nJy: ``10^(-0.4 (mag - 31.4))``."""
    return np.power(10.0, -0.4 * (np.asarray(mag, dtype=np.float64) - AB_ZEROPOINT_NJY))


def flux_to_mag(flux):
    """Flux in nJy to AB magnitude: ``31.4 - 2.5 log10(flux)`` (NaN for flux <= 0)."""
    flux = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, AB_ZEROPOINT_NJY - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)


def mag_err_model(mag, m5, gamma=0.039, sigma_sys=SIGMA_SYS):
    """LSST photometric error in magnitudes (Ivezic et al. 2019, eqs. 4-5).

    ``sigma_m = sqrt(sigma_sys^2 + (0.04 - gamma) x + gamma x^2)``, ``x = 10^(0.4 (mag - m5))``.
    At ``mag = m5`` the random part is 0.2 mag (a 5-sigma detection).

    Args:
        mag: source AB magnitude(s).
        m5: 5-sigma single-visit depth(s), AB mag (broadcast against ``mag``).
        gamma: band-dependent sky/readout parameter (0.038-0.039 for LSST).
        sigma_sys: systematic floor, mag.

    Returns:
        sigma_m in magnitudes, same shape as the broadcast inputs.
    """
    x = np.power(10.0, 0.4 * (np.asarray(mag, dtype=np.float64) - m5))
    return np.sqrt(sigma_sys**2 + (0.04 - gamma) * x + gamma * x**2)


def flux_err_model(flux, m5, gamma=0.039, sigma_sys=SIGMA_SYS):
    """The error model of :func:`mag_err_model` written in flux, valid down to zero flux.

    With ``sigma_F = 0.4 ln(10) F sigma_m`` and ``x = F5 / F`` (``F5`` the flux at ``m5``):
    ``sigma_F^2 = (0.4 ln 10)^2 [sigma_sys^2 F^2 + (0.04 - gamma) F5 F + gamma F5^2]``. This equals
    ``0.4 ln(10) F mag_err_model(m)`` for ``F > 0`` and tends to the sky-limited
    ``0.4 ln(10) sqrt(gamma) F5`` as ``F -> 0``; negative fluxes are treated as zero.

    Args:
        flux: true source flux(es), nJy.
        m5: 5-sigma depth(s), AB mag (broadcast against ``flux``).
        gamma: band parameter of the model.
        sigma_sys: systematic floor, mag.

    Returns:
        1-sigma flux error(s) in nJy (> 0).
    """
    f = np.maximum(np.asarray(flux, dtype=np.float64), 0.0)
    f5 = mag_to_flux(m5)
    var = sigma_sys**2 * f**2 + (0.04 - gamma) * f5 * f + gamma * f5**2
    return _LN10_04 * np.sqrt(var)


# --------------------------------------------------------------------------- cadence
@dataclass(frozen=True)
class Cadence:
    """Visits of ``n_objects`` objects, one row per visit, sorted by object then time.

    Attributes:
        obj: ``[M]`` int64 object index (0 .. n_objects - 1).
        mjd: ``[M]`` float64 visit times, MJD.
        band: ``[M]`` int32 index into ``bands``.
        bands: band names.
        n_objects: number of objects B (objects may have different numbers of visits).
        start_mjd: survey start, MJD.
        n_years: survey length, years (365.25 d).
        season_start: ``[B]`` days after ``start_mjd`` at which the first yearly visibility
            season (possibly partly before the survey) begins; seasons repeat every 365.25 d.
        season_length: ``[B]`` length of each season, days.
    """

    obj: np.ndarray
    mjd: np.ndarray
    band: np.ndarray
    bands: tuple[str, ...]
    n_objects: int
    start_mjd: float = DEFAULT_START_MJD
    n_years: float = 0.0
    season_start: np.ndarray | None = None
    season_length: np.ndarray | None = None

    @property
    def end_mjd(self) -> float:
        """Survey end, MJD."""
        return self.start_mjd + self.n_years * _YEAR

    @property
    def n_visits(self) -> np.ndarray:
        """``[B]`` number of visits per object."""
        return np.bincount(self.obj, minlength=self.n_objects)

    @property
    def band_names(self) -> np.ndarray:
        """``[M]`` band name of each visit."""
        return np.asarray(self.bands, dtype=object)[self.band]

    def m5(self) -> np.ndarray:
        """``[M]`` LSST 5-sigma depth of each visit, AB mag."""
        return np.array([LSST_M5[b] for b in self.bands])[self.band]

    def gamma(self) -> np.ndarray:
        """``[M]`` error-model ``gamma`` of each visit."""
        return np.array([LSST_GAMMA[b] for b in self.bands])[self.band]


def _seeds(seed) -> list[np.random.Generator]:
    """Independent generators for cadence, parameters, signal and noise."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in ss.spawn(4)]


def _check_bands(bands) -> tuple[str, ...]:
    bands = tuple(bands)
    if not bands:
        raise ValueError("bands must name at least one band")
    unknown = [b for b in bands if b not in LSST_BANDS]
    if unknown:
        raise ValueError(f"unknown band(s) {unknown}: the simulator knows the LSST bands {LSST_BANDS}")
    if len(set(bands)) != len(bands):
        raise ValueError(f"bands must be unique, got {bands}")
    return bands


def cadence(
    n_objects: int,
    *,
    n_years: float = 3.0,
    n_visits: int | Sequence[int] | None = None,
    visits_per_year: float = 80.0,
    bands: str | Sequence[str] = "ugrizy",
    band_fractions: Mapping[str, float] | None = None,
    season_length: float | tuple[float, float] = (183.0, 244.0),
    start_mjd: float = DEFAULT_START_MJD,
    seed=0,
) -> Cadence:
    """LSST-like visit times and bands for ``n_objects`` objects (vectorised, seeded).

    Each object gets a yearly visibility season that starts at a uniformly random day of the year
    and lasts ``season_length`` days (default 6-8 months, uniform per object). Visits fall on
    nights drawn uniformly over the object's observable time within the survey, each at local
    midnight at Cerro Pachon (MJD fraction 0.196) plus a uniform +-0.15 d jitter; a band is drawn
    per visit from ``band_fractions`` (normalised over ``bands``).

    Args:
        n_objects: number of objects B.
        n_years: survey length, years.
        n_visits: visits per object: an int (all objects), a length-B sequence, or None to draw
            ``Poisson(visits_per_year * n_years)`` per object (at least 1).
        visits_per_year: mean number of visits per object per year when ``n_visits`` is None
            (LSST's main survey: ~80 over all bands).
        bands: band names (a string like "gri" or a sequence), a subset of ugrizy.
        band_fractions: visit fraction per band; default :data:`LSST_BAND_FRACTIONS`.
        season_length: days per yearly season, or a ``(low, high)`` range drawn uniformly.
        start_mjd: survey start, MJD.
        seed: int or ``np.random.SeedSequence``; the same seed gives the same cadence here and in
            :func:`lightcurves`.

    Returns:
        A :class:`Cadence` sorted by object then time.

    Raises:
        ValueError: for an unknown band, a non-positive count or duration, or a survey so short
            that some object has no observable night.
    """
    return _cadence(_seeds(seed)[0], n_objects, n_years=n_years, n_visits=n_visits,
                    visits_per_year=visits_per_year, bands=bands, band_fractions=band_fractions,
                    season_length=season_length, start_mjd=start_mjd)


def _season_segments(s0, length, n_years):
    """``(lo, hi)`` ``[B, K]``: an object's yearly seasons ``[s0 + k Y, s0 + k Y + L)`` for
    ``k = -1 .. ceil(n_years)``, in days after the survey start, clipped to the survey."""
    span = n_years * _YEAR
    k = np.arange(-1, int(np.ceil(n_years)) + 1)
    lo = np.clip(s0[:, None] + k * _YEAR, 0.0, span)
    hi = np.clip(s0[:, None] + k * _YEAR + length[:, None], 0.0, span)
    return lo, hi


def _cadence(rng, n_objects, *, n_years, n_visits, visits_per_year, bands, band_fractions,
             season_length, start_mjd) -> Cadence:
    n_objects = int(n_objects)
    if n_objects < 1:
        raise ValueError(f"n_objects must be >= 1, got {n_objects}")
    if not n_years > 0:
        raise ValueError(f"n_years must be > 0, got {n_years}")
    bands = _check_bands(bands)
    fractions = LSST_BAND_FRACTIONS if band_fractions is None else band_fractions
    p = np.array([float(fractions.get(b, 0.0)) for b in bands])
    if np.any(p < 0) or not p.sum() > 0:
        raise ValueError(f"band_fractions must be >= 0 with a positive sum over {bands}, "
                         f"got {dict(fractions)}")
    p = p / p.sum()

    s0 = rng.uniform(0.0, _YEAR, n_objects)
    length = _draw(rng, season_length, n_objects, name="season_length")
    if np.any(length <= 0) or np.any(length > _YEAR):
        raise ValueError(f"season_length must be in (0, {_YEAR}] days, got {season_length}")
    lo, hi = _season_segments(s0, length, n_years)
    seg = hi - lo
    cum = np.cumsum(seg, axis=1)
    total = cum[:, -1]
    if np.any(total <= 0):
        raise ValueError(f"n_years={n_years} is too short: some objects have no observable night")

    if n_visits is None:
        counts = np.maximum(rng.poisson(visits_per_year * n_years, n_objects), 1)
    else:
        counts = np.broadcast_to(np.asarray(n_visits, dtype=np.int64), (n_objects,)).copy()
        if np.any(counts < 1):
            raise ValueError("n_visits must be >= 1 for every object")
    obj = np.repeat(np.arange(n_objects), counts)

    # uniform over each object's observable time: invert the cumulative season lengths
    u = rng.uniform(0.0, 1.0, len(obj)) * total[obj]
    which = np.minimum((cum[obj] <= u[:, None]).sum(axis=1), lo.shape[1] - 1)
    day = lo[obj, which] + (u - (cum[obj, which] - seg[obj, which]))
    night = np.floor(start_mjd + day)
    mjd = night + _NIGHT_CENTRE + rng.uniform(-_NIGHT_JITTER, _NIGHT_JITTER, len(obj))
    band = rng.choice(len(bands), size=len(obj), p=p).astype(np.int32)

    order = np.lexsort((mjd, obj))
    return Cadence(obj=obj[order], mjd=mjd[order], band=band[order], bands=bands,
                   n_objects=n_objects, start_mjd=float(start_mjd), n_years=float(n_years),
                   season_start=s0 - _YEAR, season_length=length)


# --------------------------------------------------------------------------- parameters
def _draw(rng, spec, n, *, log=False, name="parameter") -> np.ndarray:
    """One value per object from ``spec``: a scalar (fixed), ``(low, high)`` (uniform, or
    log-uniform when ``log``), or a length-``n`` array (used as given)."""
    if isinstance(spec, tuple):
        if len(spec) != 2 or not spec[0] <= spec[1]:
            raise ValueError(f"{name} range must be (low, high) with low <= high, got {spec}")
        lo, hi = float(spec[0]), float(spec[1])
        if log:
            if lo <= 0:
                raise ValueError(f"{name} range must be positive for a log-uniform draw, got {spec}")
            return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        return rng.uniform(lo, hi, n)
    arr = np.asarray(spec, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar, a (low, high) tuple or {n} values, got shape {arr.shape}")
    return arr.copy()


def _per_band(params: Mapping[str, np.ndarray], name: str, bands) -> np.ndarray:
    """``[B, n_bands]`` array from truth columns ``<name>_<band>``."""
    return np.stack([np.asarray(params[f"{name}_{b}"], dtype=np.float64) for b in bands], axis=1)


def _mags(rng, n, bands, mag, colour_scatter, prefix="mag"):
    """Mean magnitude per object plus a Gaussian colour offset per band."""
    base = _draw(rng, mag, n, name=prefix)
    out = {prefix: base}
    for b in bands:
        out[f"{prefix}_{b}"] = base + colour_scatter * rng.standard_normal(n)
    return out


def _gather(cad: Cadence, arr2d: np.ndarray) -> np.ndarray:
    """Value of a ``[B, n_bands]`` per-band parameter at each visit."""
    return arr2d[cad.obj, cad.band]


# --------------------------------------------------------------------------- signal registry
@dataclass(frozen=True)
class Signal:
    """A simulated signal: how to draw true parameters and how to evaluate the flux.

    Attributes:
        name: registry key.
        draw: ``draw(rng, cad, **options) -> dict`` of ``[B]`` arrays (the truth columns; per-band
            quantities named ``<name>_<band>``; string columns allowed).
        flux: ``flux(cad, params, rng) -> [M]`` noiseless flux in nJy at each visit of ``cad``
            (``params`` is the dict from ``draw``; ``rng`` is None when evaluating a
            deterministic signal from its truth).
        stochastic: True when the flux needs random draws beyond the parameters (e.g. a DRW), so
            that it cannot be recomputed from the truth table.
        meta: truth columns that are also per-object columns of the output (the batch's
            :attr:`~tsmodels.lightcurves.LightCurveBatch.meta`, and columns of the long table
            repeated on each object's rows), e.g. ``("z", "mwebv")`` for a supernova model.
        observed: optional ``observed(cad, params) -> [M] bool``: the visits at which the signal
            is defined; the others are removed from the light curves before the flux and the
            noise are computed (e.g. visits in a band a spectral model does not cover at the
            object's redshift). None keeps every visit.
    """

    name: str
    draw: Callable[..., dict]
    flux: Callable[..., np.ndarray]
    stochastic: bool = False
    doc: str = field(default="", compare=False)
    meta: tuple[str, ...] = ()
    observed: Callable[..., np.ndarray] | None = None


#: Registered signals by name.
SIGNALS: dict[str, Signal] = {}


def register_signal(name: str, *, draw: Callable, flux: Callable, stochastic: bool = False,
                    doc: str = "", meta: Sequence[str] = (),
                    observed: Callable | None = None) -> Signal:
    """Add a signal to :data:`SIGNALS` (replacing one of the same name) and return it (see
    :class:`Signal` for the arguments)."""
    sig = Signal(name=name, draw=draw, flux=flux, stochastic=stochastic, doc=doc,
                 meta=tuple(meta), observed=observed)
    SIGNALS[name] = sig
    return sig


# ---- constant
def _constant_draw(rng, cad, *, mag=(17.0, 22.0), colour_scatter=0.2):
    return _mags(rng, cad.n_objects, cad.bands, mag, colour_scatter)


def _constant_flux(cad, params, rng):
    return mag_to_flux(_gather(cad, _per_band(params, "mag", cad.bands)))


# ---- periodic
def _wave(shape_code: np.ndarray, x: np.ndarray, rise: float) -> np.ndarray:
    """Unit waveform in magnitudes (positive = fainter) at phase ``x`` (cycles).

    Sinusoid: ``sin(2 pi x)``. Sawtooth: linear brightening from +1 to -1 over the first ``rise``
    of the cycle (maximum light at ``x = rise``), then linear fading back to +1; both average 0.
    """
    frac = x - np.floor(x)
    saw = np.where(frac < rise, 1.0 - 2.0 * frac / rise, -1.0 + 2.0 * (frac - rise) / (1.0 - rise))
    return np.where(shape_code == 1, saw, np.sin(2.0 * np.pi * frac))


_SHAPES = ("sinusoid", "sawtooth")


def _periodic_draw(rng, cad, *, shape="sinusoid", period=(0.1, 10.0), amplitude=(0.05, 0.5),
                   amplitude_ratio=None, phase_scatter=0.02, rise_fraction=0.15, mag=(16.0, 21.0),
                   colour_scatter=0.2):
    n, bands = cad.n_objects, cad.bands
    if shape == "mixed":
        code = rng.integers(0, 2, n)
    elif shape in _SHAPES:
        code = np.full(n, _SHAPES.index(shape))
    else:
        raise ValueError(f"shape must be one of {_SHAPES + ('mixed',)}, got {shape!r}")
    if not 0.0 < rise_fraction < 1.0:
        raise ValueError(f"rise_fraction must be in (0, 1), got {rise_fraction}")
    ratio = PERIODIC_AMPLITUDE_RATIO if amplitude_ratio is None else amplitude_ratio
    out = {"shape": np.asarray(_SHAPES, dtype=object)[code],
           "period": _draw(rng, period, n, log=True, name="period"),
           "t0": np.full(n, cad.start_mjd),
           "rise_fraction": np.full(n, float(rise_fraction))}
    amp = _draw(rng, amplitude, n, name="amplitude")
    out["amplitude"] = amp
    phase0 = rng.uniform(0.0, 1.0, n)
    out.update(_mags(rng, n, bands, mag, colour_scatter))
    for b in bands:
        out[f"amp_{b}"] = amp * float(ratio[b])
        ph = phase0 + phase_scatter * rng.standard_normal(n)
        out[f"phase_{b}"] = ph - np.floor(ph)
    return out


def _periodic_flux(cad, params, rng):
    bands = cad.bands
    code = (np.asarray(params["shape"]) == "sawtooth").astype(np.int64)[cad.obj]
    period = np.asarray(params["period"], dtype=np.float64)[cad.obj]
    t0 = np.asarray(params["t0"], dtype=np.float64)[cad.obj]
    rise = np.asarray(params["rise_fraction"], dtype=np.float64)[cad.obj]
    x = (cad.mjd - t0) / period + _gather(cad, _per_band(params, "phase", bands))
    dm = _gather(cad, _per_band(params, "amp", bands)) * _wave(code, x, rise)
    return mag_to_flux(_gather(cad, _per_band(params, "mag", bands)) + dm)


# ---- DRW
def _drw_draw(rng, cad, *, tau=(20.0, 1000.0), sigma=(0.05, 0.3), amplitude_ratio=None,
              mag=(17.0, 21.0), colour_scatter=0.2, space="mag"):
    if space not in ("mag", "flux"):
        raise ValueError(f"space must be 'mag' or 'flux', got {space!r}")
    n, bands = cad.n_objects, cad.bands
    ratio = DRW_AMPLITUDE_RATIO if amplitude_ratio is None else amplitude_ratio
    out = {"tau": _draw(rng, tau, n, log=True, name="tau"),
           "sigma": _draw(rng, sigma, n, name="sigma"),
           "space": np.full(n, space, dtype=object)}
    out.update(_mags(rng, n, bands, mag, colour_scatter))
    for b in bands:
        out[f"sigma_{b}"] = out["sigma"] * float(ratio[b])
    return out


def ou_process(obj: np.ndarray, t: np.ndarray, tau: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact samples of a unit-variance Ornstein-Uhlenbeck process, one per object.

    ``x_0 ~ N(0, 1)``, ``x_{i+1} = x_i e^{-dt/tau} + N(0, 1 - e^{-2 dt/tau})`` (the exact
    discretisation, any spacing; equal times give equal values). Objects are laid out padded
    ``[B, N_max]`` and the recursion runs over the N_max columns, vectorised over objects.

    Args:
        obj: ``[M]`` object index, sorted (with ``t`` ascending within each object).
        t: ``[M]`` times, days.
        tau: ``[B]`` damping timescales, days (> 0).
        rng: random generator.

    Returns:
        ``[M]`` process values (stationary variance 1).
    """
    n_obj = len(tau)
    counts = np.bincount(obj, minlength=n_obj)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(obj)) - starts[obj]
    width = int(counts.max(initial=1))
    tt = np.zeros((n_obj, width))
    tt[obj, pos] = t
    # pad with the last time (dt = 0: the process stays put)
    last = np.where(counts > 0, t[np.maximum(starts + counts - 1, 0)] if len(t) else 0.0, 0.0)
    padmask = np.arange(width)[None, :] >= counts[:, None]
    tt = np.where(padmask, last[:, None], tt)
    dt = np.diff(tt, axis=1)
    a = np.exp(-dt / tau[:, None])
    s = np.sqrt(-np.expm1(-2.0 * dt / tau[:, None]))
    z = rng.standard_normal((n_obj, width))
    x = np.empty((n_obj, width))
    x[:, 0] = z[:, 0]
    for j in range(1, width):
        x[:, j] = a[:, j - 1] * x[:, j - 1] + s[:, j - 1] * z[:, j]
    return x[obj, pos]


def _drw_flux(cad, params, rng):
    if rng is None:
        raise ValueError("a DRW light curve is random given its parameters and cannot be re-evaluated")
    x = ou_process(cad.obj, cad.mjd, np.asarray(params["tau"], dtype=np.float64), rng)
    sig = _gather(cad, _per_band(params, "sigma", cad.bands))
    base = _gather(cad, _per_band(params, "mag", cad.bands))
    space = np.asarray(params["space"])[cad.obj]
    return np.where(space == "flux", mag_to_flux(base) * (1.0 + sig * x), mag_to_flux(base + sig * x))


# ---- Bazin
def bazin_flux(t, *, t0, amp, tau_rise, tau_fall, baseline=0.0):
    """Bazin et al. (2009) transient: ``A e^{-(t-t0)/tau_fall} / (1 + e^{-(t-t0)/tau_rise}) + B``.

    Evaluated in log space (no overflow far from ``t0``). For ``tau_fall > tau_rise`` the maximum
    is at ``t0 + tau_rise ln(tau_fall / tau_rise - 1)`` (after ``t0`` when
    ``tau_fall > 2 tau_rise``); ``t0`` is the midpoint of the logistic rise.

    Args:
        t: times, days (same origin as ``t0``).
        t0: reference epoch, days.
        amp: amplitude ``A`` (flux units, >= 0).
        tau_rise: rise timescale, days (> 0).
        tau_fall: decline timescale, days (> 0).
        baseline: constant ``B`` (flux units).

    Returns:
        flux, broadcast shape of the inputs.
    """
    dt = np.asarray(t, dtype=np.float64) - t0
    with np.errstate(divide="ignore"):
        logf = np.log(amp) - dt / tau_fall - np.logaddexp(0.0, -dt / tau_rise)
    return np.exp(logf) + baseline


def _bazin_peak(tau_rise, tau_fall):
    """Time of maximum of the Bazin profile after ``t0``, days (requires tau_fall > tau_rise)."""
    return tau_rise * np.log(tau_fall / tau_rise - 1.0)


def _bazin_draw(rng, cad, *, peak_mag=(19.0, 23.0), tau_rise=(1.0, 5.0), tau_fall=(10.0, 60.0),
                t0=None, colour_scatter=0.3, baseline=0.0):
    n, bands = cad.n_objects, cad.bands
    tr = _draw(rng, tau_rise, n, log=True, name="tau_rise")
    tf = _draw(rng, tau_fall, n, log=True, name="tau_fall")
    if np.any(tf <= tr):
        raise ValueError("tau_fall must exceed tau_rise for a Bazin profile with a maximum")
    t0v = _draw(rng, (cad.start_mjd, cad.end_mjd) if t0 is None else t0, n, name="t0")
    out = {"t0": t0v, "tau_rise": tr, "tau_fall": tf}
    out.update(_mags(rng, n, bands, peak_mag, colour_scatter, prefix="peak_mag"))
    dtp = _bazin_peak(tr, tf)
    shape_at_peak = bazin_flux(dtp, t0=0.0, amp=1.0, tau_rise=tr, tau_fall=tf)
    for b in bands:
        out[f"amp_{b}"] = mag_to_flux(out[f"peak_mag_{b}"]) / shape_at_peak
        out[f"baseline_{b}"] = _draw(rng, baseline, n, name="baseline")
    return out


def _bazin_flux(cad, params, rng):
    p = {k: np.asarray(params[k], dtype=np.float64)[cad.obj] for k in ("t0", "tau_rise", "tau_fall")}
    return bazin_flux(cad.mjd, t0=p["t0"], tau_rise=p["tau_rise"], tau_fall=p["tau_fall"],
                      amp=_gather(cad, _per_band(params, "amp", cad.bands)),
                      baseline=_gather(cad, _per_band(params, "baseline", cad.bands)))


# ---- PSPL microlensing
def pspl_magnification(t, *, t0, u0, tE):
    """Paczynski (1986) point-source point-lens magnification.

    ``u(t) = sqrt(u0^2 + ((t - t0)/tE)^2)``, ``A(u) = (u^2 + 2) / (u sqrt(u^2 + 4))``
    (MulensModel's convention, ``u0`` >= 0 in Einstein radii).

    Args:
        t: times, days.
        t0: time of closest approach, days.
        u0: impact parameter (Einstein radii, > 0).
        tE: Einstein timescale, days.
    """
    tau = (np.asarray(t, dtype=np.float64) - t0) / tE
    u2 = u0**2 + tau**2
    return (u2 + 2.0) / np.sqrt(u2 * (u2 + 4.0))


def _pspl_draw(rng, cad, *, u0=(0.01, 1.0), tE=(5.0, 200.0), t0=None, mag=(16.0, 21.0),
               colour_scatter=0.2, source_fraction=(0.2, 1.0)):
    n, bands = cad.n_objects, cad.bands
    out = {"t0": _draw(rng, (cad.start_mjd, cad.end_mjd) if t0 is None else t0, n, name="t0"),
           "u0": _draw(rng, u0, n, name="u0"),
           "tE": _draw(rng, tE, n, log=True, name="tE")}
    if np.any(out["u0"] <= 0):
        raise ValueError("u0 must be > 0")
    out.update(_mags(rng, n, bands, mag, colour_scatter))
    for b in bands:
        fs = _draw(rng, source_fraction, n, name="source_fraction")
        if np.any((fs <= 0) | (fs > 1)):
            raise ValueError("source_fraction must be in (0, 1]")
        total = mag_to_flux(out[f"mag_{b}"])
        out[f"fs_{b}"] = fs
        out[f"flux_source_{b}"] = fs * total
        out[f"flux_blend_{b}"] = (1.0 - fs) * total
    return out


def _pspl_flux(cad, params, rng):
    p = {k: np.asarray(params[k], dtype=np.float64)[cad.obj] for k in ("t0", "u0", "tE")}
    mag = pspl_magnification(cad.mjd, t0=p["t0"], u0=p["u0"], tE=p["tE"])
    fs = _gather(cad, _per_band(params, "flux_source", cad.bands))
    fb = _gather(cad, _per_band(params, "flux_blend", cad.bands))
    return fs * mag + fb


# ---- SALT2 Type Ia supernovae
#: ``mB = SALT2_MB_OFFSET - 2.5 log10(x0)``: the peak rest-frame B magnitude of a SALT2 amplitude
#: ``x0`` (SNANA's convention for the salt2-4 model).
SALT2_MB_OFFSET = 10.635
_C_KM_S = 299792.458  # speed of light, km/s
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)
_SALT2_CHUNK = 512  # objects per compiled evaluation of the SALT2 kernel


def distance_modulus(z, *, H0: float = 70.0, Om0: float = 0.3):
    """Distance modulus in a flat Lambda-CDM cosmology without radiation.

    ``mu = 5 log10(D_L / 10 pc)`` with ``D_L = (1 + z) (c / H0) int_0^z dz' / E(z')`` and
    ``E(z) = sqrt(Om0 (1 + z)^3 + 1 - Om0)``; the integral by 64-point Gauss-Legendre quadrature
    (exact to float64 rounding for the redshifts of supernova surveys; astropy's
    ``FlatLambdaCDM(H0, Om0, Tcmb0=0).distmod`` is the reference of the tests).

    Args:
        z: redshift(s), > 0.
        H0: Hubble constant, km/s/Mpc.
        Om0: matter density today (flat: dark energy ``1 - Om0``).

    Returns:
        ``mu`` in magnitudes, the shape of ``z``.
    """
    z = np.asarray(z, dtype=np.float64)
    x = 0.5 * z[..., None] * (_GL_X + 1.0)
    inv_e = 1.0 / np.sqrt(Om0 * (1.0 + x) ** 3 + 1.0 - Om0)
    d_c = 0.5 * z * np.sum(_GL_W * inv_e, axis=-1) * (_C_KM_S / H0)  # comoving distance, Mpc
    with np.errstate(divide="ignore"):
        return 5.0 * np.log10((1.0 + z) * d_c) + 25.0


def _uniform_observable(rng, cad: Cadence) -> np.ndarray:
    """``[B]`` MJD drawn uniformly over each object's observable seasons inside the survey (for a
    cadence without seasons: between the object's first and last visits)."""
    n = cad.n_objects
    if cad.season_start is None or cad.season_length is None or not cad.n_years > 0:
        first = np.full(n, np.inf)
        last = np.full(n, -np.inf)
        np.minimum.at(first, cad.obj, cad.mjd)
        np.maximum.at(last, cad.obj, cad.mjd)
        return rng.uniform(first, last)
    lo, hi = _season_segments(np.asarray(cad.season_start) + _YEAR, np.asarray(cad.season_length),
                              cad.n_years)
    seg = hi - lo
    cum = np.cumsum(seg, axis=1)
    u = rng.uniform(0.0, 1.0, n) * cum[:, -1]
    which = np.minimum((cum <= u[:, None]).sum(axis=1), lo.shape[1] - 1)
    rows = np.arange(n)
    return cad.start_mjd + lo[rows, which] + (u - (cum[rows, which] - seg[rows, which]))


@compiled_cache(maxsize=8)
def _salt2_tables(bands: tuple[str, ...]):
    """(SALTModel salt2-4, SALTBands of the LSST ``bands``, jitted evaluation over objects)."""
    import jax

    from tsmodels.kernels.supernova import salt as S

    model = S.load_salt("salt2-4")
    tables = S.salt_bands(tuple("lsst" + b for b in bands))

    def one(t, band, z, x0, x1, c, ebv, model, tables):
        return S.salt_bandflux(t, band, model, tables, z=z, t0=0.0, x0=x0, x1=x1, c=c, ebv=ebv,
                               zp=AB_ZEROPOINT_NJY)

    return model, tables, jax.jit(jax.vmap(one, in_axes=(0,) * 7 + (None, None)))


def _salt2_draw(rng, cad, *, z=(0.05, 0.5), t0=None, x1=(-3.0, 3.0), c=(-0.3, 0.3), mwebv=0.0,
                mB=None, M_B=-19.36, alpha=0.14, beta=3.1, sigma_int=0.1, H0=70.0, Om0=0.3):
    n = cad.n_objects
    zz = _draw(rng, z, n, name="z")
    if not np.all(zz > 0):
        raise ValueError("z must be > 0")
    t0v = _uniform_observable(rng, cad) if t0 is None else _draw(rng, t0, n, name="t0")
    x1v = _draw(rng, x1, n, name="x1")
    cv = _draw(rng, c, n, name="c")
    ebv = _draw(rng, mwebv, n, name="mwebv")
    if not np.all(ebv >= 0):
        raise ValueError("mwebv must be >= 0")
    mu = distance_modulus(zz, H0=H0, Om0=Om0)
    if mB is None:
        mBv = mu + M_B - alpha * x1v + beta * cv + sigma_int * rng.standard_normal(n)
    else:
        mBv = _draw(rng, mB, n, name="mB")
    x0 = np.power(10.0, -0.4 * (mBv - SALT2_MB_OFFSET))
    return {"z": zz, "t0": t0v, "x0": x0, "x1": x1v, "c": cv, "mwebv": ebv, "mB": mBv, "mu": mu}


def _salt2_observed(cad, params):
    """Visits in a band the SALT2 model covers at the object's redshift (the kernel's and
    sncosmo's rule: the bandpass inside ``[2000, 9200] (1 + z)`` A and F99's range)."""
    from tsmodels.kernels.supernova.salt import salt_covered

    model, tables, _ = _salt2_tables(tuple(cad.bands))
    return salt_covered(model, tables, np.asarray(params["z"], dtype=np.float64)[cad.obj], cad.band)


def _next_pow2(n: int, low: int) -> int:
    return max(low, 1 << max(int(n) - 1, 0).bit_length())


def _salt2_flux(cad, params, rng):
    from tsmodels.config import precision

    model, tables, fn = _salt2_tables(tuple(cad.bands))
    n_obj = cad.n_objects
    p = {k: np.asarray(params[k], dtype=np.float64) for k in ("z", "t0", "x0", "x1", "c", "mwebv")}
    idx = np.argsort(cad.obj, kind="stable")
    o = np.asarray(cad.obj)[idx]
    counts = np.bincount(o, minlength=n_obj)
    pos = np.arange(len(o)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[o]
    width = _next_pow2(int(counts.max(initial=1)), 8)
    rows = min(_SALT2_CHUNK, _next_pow2(n_obj, 1))
    n_pad = -(-n_obj // rows) * rows
    t = np.zeros((n_pad, width))
    band = np.zeros((n_pad, width), dtype=np.int32)
    t[o, pos] = np.asarray(cad.mjd, dtype=np.float64)[idx] - p["t0"][o]  # days from t0
    band[o, pos] = np.asarray(cad.band)[idx]

    def col(name, fill):
        return np.concatenate([p[name], np.full(n_pad - n_obj, fill)])

    args = [col("z", 0.1), col("x0", 0.0), col("x1", 0.0), col("c", 0.0), col("mwebv", 0.0)]
    out = np.empty((n_pad, width))
    with precision("float64"):
        for s in range(0, n_pad, rows):
            sl = slice(s, s + rows)
            out[sl] = np.asarray(fn(t[sl], band[sl], *(a[sl] for a in args), model, tables))
    flux = np.empty(len(o))
    flux[idx] = out[o, pos]
    return flux


register_signal("constant", draw=_constant_draw, flux=_constant_flux,
                doc="Constant source: mag_<band>.")
register_signal("periodic", draw=_periodic_draw, flux=_periodic_flux,
                doc="Sinusoid or RR Lyrae-like sawtooth in magnitudes with per-band amplitude and phase.")
register_signal("drw", draw=_drw_draw, flux=_drw_flux, stochastic=True,
                doc="Damped random walk (exact OU sampling), one latent process, per-band amplitude.")
register_signal("bazin", draw=_bazin_draw, flux=_bazin_flux,
                doc="Bazin et al. (2009) transient with shared timescales and per-band amplitude.")
register_signal("pspl", draw=_pspl_draw, flux=_pspl_flux,
                doc="Paczynski point-source point-lens microlensing with per-band blending.")
register_signal("salt2", draw=_salt2_draw, flux=_salt2_flux, meta=("z", "mwebv"),
                observed=_salt2_observed,
                doc="SALT2 (salt2-4) Type Ia supernovae through the LSST bandpasses, x0 from a "
                    "Tripp-standardised distance modulus.")


# --------------------------------------------------------------------------- drivers
def lightcurves(
    kind: str,
    n_objects: int,
    *,
    seed=0,
    n_years: float = 3.0,
    n_visits: int | Sequence[int] | None = None,
    visits_per_year: float = 80.0,
    bands: str | Sequence[str] = "ugrizy",
    band_fractions: Mapping[str, float] | None = None,
    season_length: float | tuple[float, float] = (183.0, 244.0),
    start_mjd: float = DEFAULT_START_MJD,
    noise: bool = True,
    ids: Sequence | None = None,
    output: str = "batch",
    **params,
):
    """Simulate ``n_objects`` light curves of signal ``kind`` on an LSST-like cadence.

    Args:
        kind: a name in :data:`SIGNALS` ("periodic", "drw", "bazin", "pspl", "salt2",
            "constant", ...).
        n_objects: number of objects.
        seed: int or ``np.random.SeedSequence``; same seed, same output (bit for bit).
        n_years, n_visits, visits_per_year, bands, band_fractions, season_length, start_mjd:
            cadence options, see :func:`cadence`.
        noise: add Gaussian noise from :func:`flux_err_model`; if False, ``flux`` is the true
            flux (``flux_err`` is still the model error).
        ids: object ids (default ``0 .. n_objects - 1``), unique.
        output: "batch" for a :class:`~tsmodels.lightcurves.LightCurveBatch`, "pandas" for the
            long table with columns ``id, time`` (MJD) ``, flux, flux_err`` (nJy) ``, band,
            flux_true`` (nJy) and the signal's per-object columns (:attr:`Signal.meta`), sorted
            by id then time (the order of ``batch.to_pandas()``). The batch carries those
            columns in ``batch.meta``.
        **params: signal options (see the per-signal functions, e.g. :func:`periodic`).

    Returns:
        ``(batch_or_table, truth)``: truth is a DataFrame indexed by ``id``, one row per object in
        sorted-id order (the batch's order), with the true parameters as columns
        (``truth.attrs["kind"]`` holds ``kind``).

    Raises:
        KeyError: for an unknown ``kind``.
        ValueError: for invalid options, or when a signal's ``observed`` leaves an object
            without visits.
    """
    if kind not in SIGNALS:
        raise KeyError(f"unknown signal {kind!r}; registered signals are {sorted(SIGNALS)}")
    if output not in ("batch", "pandas"):
        raise ValueError(f"output must be 'batch' or 'pandas', got {output!r}")
    signal = SIGNALS[kind]
    r_cad, r_par, r_sig, r_noise = _seeds(seed)
    cad = _cadence(r_cad, n_objects, n_years=n_years, n_visits=n_visits,
                   visits_per_year=visits_per_year, bands=bands, band_fractions=band_fractions,
                   season_length=season_length, start_mjd=start_mjd)
    if ids is None:
        ids = np.arange(cad.n_objects)
    ids = np.asarray(ids)
    if ids.shape != (cad.n_objects,):
        raise ValueError(f"ids has shape {ids.shape}, expected ({cad.n_objects},)")
    if len(pd.unique(ids)) != len(ids):
        raise ValueError("ids must be unique")

    try:
        truth = signal.draw(r_par, cad, **params)
    except TypeError as err:
        raise TypeError(f"invalid option for signal {kind!r}: {err}") from err
    if signal.observed is not None:
        cad = _keep_visits(cad, np.asarray(signal.observed(cad, truth), dtype=bool), kind, ids)
    flux_true = np.asarray(signal.flux(cad, truth, r_sig), dtype=np.float64)
    flux_err = flux_err_model(flux_true, cad.m5(), cad.gamma())
    flux = flux_true + flux_err * r_noise.standard_normal(len(flux_true)) if noise else flux_true.copy()

    # objects in sorted-id order, visits by time: the order of the batch and of batch.to_pandas()
    rank = np.empty(cad.n_objects, dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(cad.n_objects)
    order = np.lexsort((cad.mjd, rank[cad.obj]))
    truth_df = pd.DataFrame(truth, index=pd.Index(ids, name="id")).iloc[np.argsort(ids, kind="stable")]
    truth_df.attrs["kind"] = kind
    row_ids = ids[cad.obj][order]
    mjd, band_names = cad.mjd[order], cad.band_names[order]
    flux, flux_err, flux_true = flux[order], flux_err[order], flux_true[order]
    meta = truth_df[list(signal.meta)].astype(np.float64) if signal.meta else None
    if output == "pandas":
        table = pd.DataFrame({"id": row_ids, "time": mjd, "flux": flux, "flux_err": flux_err,
                              "band": band_names, "flux_true": flux_true})
        for name in signal.meta:
            table[name] = meta[name].to_numpy()[rank[cad.obj][order]]
        return table, truth_df
    from tsmodels.lightcurves import LightCurveBatch

    batch = LightCurveBatch.from_long(row_ids, mjd, flux, flux_err, band_names, bands=cad.bands,
                                      meta=meta)
    return batch, truth_df


def _keep_visits(cad: Cadence, keep: np.ndarray, kind: str, ids: np.ndarray) -> Cadence:
    """The cadence without the visits where ``keep`` is False (a signal's ``observed``)."""
    if keep.shape != cad.obj.shape:
        raise ValueError(f"signal {kind!r}: observed() returned shape {keep.shape}, expected "
                         f"{cad.obj.shape}")
    left = np.bincount(cad.obj[keep], minlength=cad.n_objects)
    if np.any(left == 0):
        bad = ids[left == 0]
        raise ValueError(f"signal {kind!r} leaves {bad.size} object(s) without any visit "
                         f"(e.g. id {bad[0]!r}): none of their visits is in a band the signal "
                         f"covers (bands {cad.bands}); choose other bands or parameter ranges")
    return dataclasses.replace(cad, obj=cad.obj[keep], mjd=cad.mjd[keep], band=cad.band[keep])


def evaluate(kind: str, truth: pd.DataFrame, ids, time, band) -> np.ndarray:
    """Noiseless flux (nJy) of a deterministic signal from its truth table.

    Args:
        kind: signal name (not a stochastic one such as "drw").
        truth: the truth DataFrame returned by :func:`lightcurves` (indexed by id).
        ids: ``[M]`` object id of each point (must be in ``truth.index``).
        time: ``[M]`` MJD.
        band: ``[M]`` band names.

    Returns:
        ``[M]`` flux in nJy.

    Raises:
        ValueError: for a stochastic signal, an unknown id or a missing truth column (e.g. for a
            band that was not simulated).
    """
    signal = SIGNALS[kind]
    if signal.stochastic:
        raise ValueError(f"signal {kind!r} is stochastic: its flux cannot be recomputed from the truth")
    pos = truth.index.get_indexer(np.asarray(ids))
    if np.any(pos < 0):
        raise ValueError(f"id {np.asarray(ids)[np.flatnonzero(pos < 0)[0]]!r} is not in the truth table")
    band = np.asarray(band).astype(str)
    bands = tuple(pd.unique(band))
    code = pd.Index(bands).get_indexer(band).astype(np.int32)
    cad = Cadence(obj=pos.astype(np.int64), mjd=np.asarray(time, dtype=np.float64), band=code,
                  bands=bands, n_objects=len(truth))
    params = {c: truth[c].to_numpy() for c in truth.columns}
    try:
        return np.asarray(signal.flux(cad, params, None), dtype=np.float64)
    except KeyError as err:
        raise ValueError(f"the truth table has no column {err} needed by signal {kind!r}") from err


def periodic(n_objects: int, *, shape: str = "sinusoid", period=(0.1, 10.0), amplitude=(0.05, 0.5),
             amplitude_ratio: Mapping[str, float] | None = None, phase_scatter: float = 0.02,
             rise_fraction: float = 0.15, mag=(16.0, 21.0), colour_scatter: float = 0.2, seed=0,
             **survey):
    """Multiband periodic variables: sinusoids or RR Lyrae-like sawtooths, in magnitudes.

    ``m_b(t) = mag_b + amp_b * w(((t - t0) / period + phase_b) mod 1)`` with ``w`` the unit
    waveform: ``sin(2 pi x)`` or a sawtooth that brightens linearly from +1 to -1 over the first
    ``rise_fraction`` of the cycle (maximum light at ``x = rise_fraction``) and fades linearly
    back; both have zero mean over a cycle. ``t0`` is the survey start (MJD).

    Args:
        n_objects: number of objects.
        shape: "sinusoid", "sawtooth" or "mixed" (each object picks one at random).
        period: days; scalar, ``(low, high)`` (log-uniform) or per-object array.
        amplitude: semi-amplitude in g, mag; scalar, ``(low, high)`` (uniform) or array.
        amplitude_ratio: per-band semi-amplitude relative to ``amplitude``; default
            :data:`PERIODIC_AMPLITUDE_RATIO`.
        phase_scatter: standard deviation of the per-band phase offsets, cycles.
        rise_fraction: sawtooth rise as a fraction of the period.
        mag: mean magnitude; scalar, range or array; per band ``mag_b = mag + N(0, colour_scatter)``.
        colour_scatter: per-band colour scatter, mag.
        seed: random seed.
        **survey: cadence and output options of :func:`lightcurves`.

    Returns:
        ``(batch, truth)``; truth columns ``shape, period, t0, rise_fraction, amplitude, mag``,
        and per band ``mag_<b>, amp_<b>`` (mag) and ``phase_<b>`` (cycles, in [0, 1)).
    """
    return lightcurves("periodic", n_objects, seed=seed, shape=shape, period=period,
                       amplitude=amplitude, amplitude_ratio=amplitude_ratio,
                       phase_scatter=phase_scatter, rise_fraction=rise_fraction, mag=mag,
                       colour_scatter=colour_scatter, **survey)


def drw(n_objects: int, *, tau=(20.0, 1000.0), sigma=(0.05, 0.3),
        amplitude_ratio: Mapping[str, float] | None = None, mag=(17.0, 21.0),
        colour_scatter: float = 0.2, space: str = "mag", seed=0, **survey):
    """Damped random walks (quasar-like), sampled exactly at the visit times.

    One latent unit-variance Ornstein-Uhlenbeck process ``x(t)`` per object, shared by all bands
    (``x_{i+1} = x_i e^{-dt/tau} + N(0, 1 - e^{-2 dt/tau})``, stationary start), scaled per band:
    ``space="mag"``: ``m_b(t) = mag_b + sigma_b x(t)``; ``space="flux"``:
    ``F_b(t) = F(mag_b) (1 + sigma_b x(t))`` (``sigma_b`` a fractional amplitude). The stationary
    variance is ``sigma_b^2`` and the structure function ``SF^2(dt) = 2 sigma_b^2 (1 - e^{-dt/tau})``.

    Args:
        n_objects: number of objects.
        tau: damping timescale, days; scalar, ``(low, high)`` (log-uniform) or array.
        sigma: stationary standard deviation in r (mag, or fraction of the mean flux).
        amplitude_ratio: per-band ``sigma_b / sigma``; default :data:`DRW_AMPLITUDE_RATIO`.
        mag: mean magnitude (per band plus a colour scatter).
        colour_scatter: per-band colour scatter, mag.
        space: "mag" or "flux", see above.
        seed: random seed.
        **survey: cadence and output options of :func:`lightcurves`.

    Returns:
        ``(batch, truth)``; truth columns ``tau, sigma, space, mag``, per band ``mag_<b>, sigma_<b>``.
    """
    return lightcurves("drw", n_objects, seed=seed, tau=tau, sigma=sigma,
                       amplitude_ratio=amplitude_ratio, mag=mag, colour_scatter=colour_scatter,
                       space=space, **survey)


def bazin(n_objects: int, *, peak_mag=(19.0, 23.0), tau_rise=(1.0, 5.0), tau_fall=(10.0, 60.0),
          t0=None, colour_scatter: float = 0.3, baseline=0.0, seed=0, **survey):
    """Supernova-like transients with the Bazin et al. (2009) profile.

    ``F_b(t) = amp_b e^{-(t - t0)/tau_fall} / (1 + e^{-(t - t0)/tau_rise}) + baseline_b`` (nJy),
    timescales shared by all bands, ``amp_b`` set by the peak magnitude in each band.

    Args:
        n_objects: number of objects.
        peak_mag: peak AB magnitude (per band plus a colour scatter); scalar, range or array.
        tau_rise: rise time, days; scalar, ``(low, high)`` (log-uniform) or array.
        tau_fall: decline time, days (must exceed ``tau_rise``).
        t0: reference epoch, MJD; default uniform over the survey.
        colour_scatter: per-band scatter of the peak magnitude, mag.
        baseline: constant flux added in every band, nJy.
        seed: random seed.
        **survey: cadence and output options of :func:`lightcurves`.

    Returns:
        ``(batch, truth)``; truth columns ``t0, tau_rise, tau_fall, peak_mag``, per band
        ``peak_mag_<b>``, ``amp_<b>`` and ``baseline_<b>`` (nJy).
    """
    return lightcurves("bazin", n_objects, seed=seed, peak_mag=peak_mag, tau_rise=tau_rise,
                       tau_fall=tau_fall, t0=t0, colour_scatter=colour_scatter, baseline=baseline,
                       **survey)


def pspl(n_objects: int, *, u0=(0.01, 1.0), tE=(5.0, 200.0), t0=None, mag=(16.0, 21.0),
         colour_scatter: float = 0.2, source_fraction=(0.2, 1.0), seed=0, **survey):
    """Point-source point-lens microlensing events with per-band blending.

    ``F_b(t) = flux_source_b A(u(t)) + flux_blend_b`` with ``A`` from
    :func:`pspl_magnification`; the baseline ``flux_source_b + flux_blend_b`` has magnitude
    ``mag_b`` and ``fs_b = flux_source_b / baseline`` is drawn per band.

    Args:
        n_objects: number of objects.
        u0: impact parameter, Einstein radii (> 0); scalar, ``(low, high)`` (uniform) or array.
        tE: Einstein timescale, days; scalar, ``(low, high)`` (log-uniform) or array.
        t0: time of closest approach, MJD; default uniform over the survey.
        mag: baseline magnitude (per band plus a colour scatter).
        colour_scatter: per-band colour scatter, mag.
        source_fraction: ``fs_b`` in (0, 1]; scalar, range or array.
        seed: random seed.
        **survey: cadence and output options of :func:`lightcurves`.

    Returns:
        ``(batch, truth)``; truth columns ``t0, u0, tE, mag``, per band ``mag_<b>, fs_<b>,
        flux_source_<b>, flux_blend_<b>`` (nJy).
    """
    return lightcurves("pspl", n_objects, seed=seed, u0=u0, tE=tE, t0=t0, mag=mag,
                       colour_scatter=colour_scatter, source_fraction=source_fraction, **survey)


def constant(n_objects: int, *, mag=(17.0, 22.0), colour_scatter: float = 0.2, seed=0, **survey):
    """Non-variable sources: ``F_b = F(mag_b)``, ``mag_b = mag + N(0, colour_scatter)``.

    Args:
        n_objects: number of objects.
        mag: mean AB magnitude; scalar, ``(low, high)`` (uniform) or array.
        colour_scatter: per-band colour scatter, mag.
        seed: random seed.
        **survey: cadence and output options of :func:`lightcurves`.

    Returns:
        ``(batch, truth)``; truth columns ``mag`` and ``mag_<b>``.
    """
    return lightcurves("constant", n_objects, seed=seed, mag=mag, colour_scatter=colour_scatter,
                       **survey)


def salt2(n_objects: int, *, z=(0.05, 0.5), t0=None, x1=(-3.0, 3.0), c=(-0.3, 0.3), mwebv=0.0,
          mB=None, M_B: float = -19.36, alpha: float = 0.14, beta: float = 3.1,
          sigma_int: float = 0.1, H0: float = 70.0, Om0: float = 0.3, seed=0, **survey):
    """Type Ia supernovae from the SALT2 model (salt2-4) through the LSST bandpasses.

    The flux in band ``b`` is that of :func:`tsmodels.kernels.supernova.salt_bandflux` (sncosmo's
    ``Model(source="salt2", effects=[F99Dust()], effect_frames=["obs"]).bandflux`` with
    ``zp=31.4, zpsys="ab"``): nJy, with parameters ``z, t0, x0, x1, c`` and the Milky Way
    ``E(B-V) = mwebv``. The amplitude follows from a peak magnitude ``mB = 10.635 - 2.5 log10 x0``
    (:data:`SALT2_MB_OFFSET`), which by default is standardised by the Tripp relation,
    ``mB = mu(z) + M_B - alpha x1 + beta c + N(0, sigma_int)`` with ``mu`` the flat Lambda-CDM
    distance modulus (:func:`distance_modulus`); pass ``mB`` to set it directly instead.

    The batch carries the per-object columns ``z`` and ``mwebv`` in ``batch.meta`` (the long
    table has them as columns), which is what :class:`tsmodels.models.SALT2` reads: fit the
    light curves with ``SALT2(zp=31.4)`` (nJy) and add ``batch.t_ref`` to its ``t0``.

    Visits in a band the model does not cover at the object's redshift (rest frame 2000-9200 A:
    ``u`` needs ``z < 0.62``, ``z`` needs ``z > 0.023``, ``y`` needs ``z > 0.195``; sncosmo
    raises for them) are left out of the light curve; an object left with no visit raises
    ``ValueError``. :func:`evaluate` gives NaN for them.

    Args:
        n_objects: number of objects.
        z: redshift (> 0); scalar, ``(low, high)`` (uniform) or array.
        t0: time of rest-frame B maximum, MJD; default: uniform over the object's observable
            seasons inside the survey (so the peak falls where the cadence has visits, unless
            near the edge of a season).
        x1: SALT2 stretch; scalar, ``(low, high)`` (uniform) or array.
        c: SALT2 colour; scalar, ``(low, high)`` (uniform) or array.
        mwebv: Milky Way ``E(B-V)``, mag (>= 0); scalar, range or array.
        mB: peak rest-frame B magnitude (SALT2 convention); None: from the Tripp relation.
        M_B, alpha, beta, sigma_int: Tripp relation (absolute magnitude for ``H0``, stretch and
            colour coefficients, intrinsic scatter in mag); illustrative values close to
            those of recent cosmological analyses.
        H0, Om0: flat Lambda-CDM cosmology of ``mu(z)`` (km/s/Mpc, matter density).
        seed: random seed.
        **survey: cadence and output options of :func:`lightcurves` (e.g. ``bands="griz"``,
            ``n_years``, ``n_visits``, ``season_length``).

    Returns:
        ``(batch, truth)``; truth columns ``z, t0`` (MJD) ``, x0, x1, c, mwebv, mB, mu``.
    """
    return lightcurves("salt2", n_objects, seed=seed, z=z, t0=t0, x1=x1, c=c, mwebv=mwebv, mB=mB,
                       M_B=M_B, alpha=alpha, beta=beta, sigma_int=sigma_int, H0=H0, Om0=Om0,
                       **survey)
