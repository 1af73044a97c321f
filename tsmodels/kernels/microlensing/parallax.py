r"""Annual microlensing parallax in MulensModel (version 3) conventions.

The Earth's orbit makes the source's trajectory, seen from the Earth, deviate from a straight
line. Following MulensModel (``Trajectory._get_delta_annual``, Gould 2004), the offset of the
Earth at time :math:`t` relative to a rectilinear motion through its position and velocity at
the reference epoch :math:`t_{0,\rm par}` is

.. math::

    \Delta\mathbf{s}(t) = \mathbf{s}(t_{0,\rm par}) - \mathbf{s}(t)
                          + (t - t_{0,\rm par})\,\dot{\mathbf{s}}(t_{0,\rm par})

(AU; :math:`\mathbf{s}` the barycentric position of the Earth), projected on the sky at the
event: :math:`\Delta_N = \Delta\mathbf{s}\cdot\hat{\mathbf{n}}`,
:math:`\Delta_E = \Delta\mathbf{s}\cdot\hat{\mathbf{e}}`, with
:math:`\hat{\mathbf{e}} = \hat{\mathbf{z}}\times\hat{\mathbf{d}}/|\hat{\mathbf{z}}\times\hat{\mathbf{d}}|`
and :math:`\hat{\mathbf{n}} = \hat{\mathbf{d}}\times\hat{\mathbf{e}}` (:math:`\hat{\mathbf{d}}` the
ICRS direction of the event, :math:`\hat{\mathbf{z}}` the ICRS pole). The source position in
Einstein radii is then

.. math::

    \tau = \frac{t - t_0}{t_E} + \pi_{E,N}\Delta_N + \pi_{E,E}\Delta_E, \qquad
    \beta = u_0 - \pi_{E,E}\Delta_N + \pi_{E,N}\Delta_E,

and a point lens magnifies by :math:`A(\sqrt{\tau^2 + \beta^2})`. Unlike the rectilinear case
the sign of :math:`u_0` matters.

The offsets need an ephemeris and the absolute times, so they are computed on the host
(:func:`earth_offsets`, astropy's built-in ephemeris, ``erfa.epv00``, as MulensModel uses by
default) once per light curve and passed to the pure-JAX :func:`parallax_trajectory` as arrays.
Times are JD in the TDB scale (HJD or BJD, as MulensModel assumes: astropy's ``Time(t,
format="jd", scale="tdb")``).

Satellite parallax (MulensModel ``Trajectory._get_delta_satellite``): a light curve observed from
a spacecraft sees the event from the spacecraft's position :math:`\mathbf{p}(t)` relative to the
Earth (AU, geocentric ICRS), which adds

.. math::

    \Delta_N \mathrel{+}= -\mathbf{p}(t)\cdot\hat{\mathbf{n}}, \qquad
    \Delta_E \mathrel{+}= -\mathbf{p}(t)\cdot\hat{\mathbf{e}}

to the Earth's offsets of those points (:func:`satellite_offsets`). :math:`\mathbf{p}` comes
from a JPL Horizons ephemeris (:func:`read_ephemeris`: geocentric RA, Dec and distance
``delta`` per UTC epoch, as MulensModel's ``Horizons`` reads it), interpolated with a cubic
spline (not-a-knot, scipy's ``interp1d(kind="cubic")`` that MulensModel uses) in TDB.

References:
    Gould, A. 2004, ApJ 606, 319.
    Poleski, R. & Yee, J. C. 2019, Astronomy and Computing 26, 35 (MulensModel).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from tsmodels.kernels._precision import float64_by_default

__all__ = ["earth_offsets", "sky_basis", "parallax_trajectory", "Ephemeris", "read_ephemeris",
           "satellite_offsets"]

#: Earliest absolute time (JD) accepted by :func:`earth_offsets` (1 January 1760): earlier
#: "times" are almost certainly MJD or days from another origin.
MIN_JD = 2.36e6


@float64_by_default
def sky_basis(ra, dec):
    """ICRS unit vectors north and east on the sky at ``(ra, dec)`` (degrees), MulensModel's
    ``Coordinates.north_projected`` / ``east_projected``.

    Args:
        ra, dec: right ascension and declination, degrees (ICRS), scalars or arrays ``[...]``.

    Returns:
        ``(north, east)``, NumPy float64 arrays ``[..., 3]``; NaN at a celestial pole.
    """
    a = np.deg2rad(np.asarray(ra, np.float64))
    d = np.deg2rad(np.asarray(dec, np.float64))
    direction = np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)
    east = np.cross(np.array([0.0, 0.0, 1.0]), direction)
    norm = np.linalg.norm(east, axis=-1, keepdims=True)
    east = east / np.where(norm > 1e-12, norm, np.nan)  # at a pole east is undefined: NaN
    north = np.cross(direction, east)
    return north, east


def _checked_basis(ra, dec, lead, who):
    """:func:`sky_basis` broadcast to ``lead``; ValueError (naming ``who``) where undefined."""
    north, east = sky_basis(np.broadcast_to(ra, lead), np.broadcast_to(dec, lead))
    if not np.all(np.isfinite(north)) or not np.all(np.isfinite(east)):
        raise ValueError(f"{who}: ra/dec must be finite and not at a celestial pole")
    return north, east


@float64_by_default
def earth_offsets(time, ra, dec, t0_par):
    r"""Projected Earth offsets :math:`(\Delta_N, \Delta_E)` of annual parallax (module docstring).

    Host function (NumPy and astropy, not traceable): its results are the arrays
    :func:`parallax_trajectory` takes.

    Args:
        time: absolute times, JD (TDB; HJD or BJD), array ``[..., N]``.
        ra, dec: the event's ICRS right ascension and declination, degrees; scalars or arrays
            broadcastable to ``time[..., 0]`` (one per light curve).
        t0_par: reference epoch of the parallax, JD (TDB), scalar or ``time[..., 0]``-shaped.

    Returns:
        ``(delta_n, delta_e)``, NumPy float64 arrays shaped like ``time``, AU.

    Raises:
        ValueError: times or ``t0_par`` not finite or before JD 2360000 (MJD or relative days
            given where JD is expected), or a pole-centred position (dec = +-90 deg: east
            undefined).
    """
    from astropy import units as u
    from astropy.coordinates import get_body_barycentric, get_body_barycentric_posvel
    from astropy.time import Time

    time = np.asarray(time, np.float64)
    lead = time.shape[:-1] if time.ndim else ()
    t0_par = np.broadcast_to(np.asarray(t0_par, np.float64), lead)
    for name, v in (("time", time), ("t0_par", t0_par)):
        if v.size and not (np.all(np.isfinite(v)) and np.min(v) >= MIN_JD):
            raise ValueError(f"earth_offsets: {name} must be finite JD (>= {MIN_JD:.0f}); got "
                             f"{np.nanmin(v) if np.any(np.isfinite(v)) else 'non-finite values'}: "
                             "MJD times need 2400000.5 added")
    north, east = _checked_basis(ra, dec, lead, "earth_offsets")
    pos = get_body_barycentric("earth", Time(time.ravel(), format="jd", scale="tdb"),
                               ephemeris="builtin")
    s = pos.xyz.to_value(u.au).T.reshape(time.shape + (3,))
    p_ref, v_ref = get_body_barycentric_posvel("earth", Time(t0_par.ravel(), format="jd", scale="tdb"),
                                               ephemeris="builtin")
    s_ref = p_ref.xyz.to_value(u.au).T.reshape(lead + (1, 3))
    v = v_ref.xyz.to_value(u.au / u.day).T.reshape(lead + (1, 3))
    delta = s_ref - s + (time - t0_par[..., None])[..., None] * v
    return (np.einsum("...nk,...k->...n", delta, north),
            np.einsum("...nk,...k->...n", delta, east))


#: How far (days) an ephemeris is extrapolated beyond its first and last epochs (3 minutes, as
#: MulensModel's ``SatelliteSkyCoord`` allows); further raises.
EPHEMERIS_MARGIN = 3.0 / 1440.0

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                           "sep", "oct", "nov", "dec"))}
# one Horizons observer-table row: date, time, optional solar/lunar presence flags, RA (h m s),
# Dec (d m s), delta (AU); further columns are ignored
_HORIZONS_ROW = re.compile(
    r"^\s*b?(\d{4})-(\w{3}|\d{2})-(\d{2})\s+(\d{2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?"
    r"(?:\s+[*CNAmrets]{1,2})?\s+(\d{1,2})\s+(\d{1,2})\s+(\d{1,2}(?:\.\d*)?)"
    r"\s+([+-]?\d{1,2})\s+(\d{1,2})\s+(\d{1,2}(?:\.\d*)?)\s+(\d+\.\d*(?:[Ee][+-]?\d+)?)")


@dataclass(frozen=True, eq=False)
class Ephemeris:
    """Geocentric positions of a spacecraft against time, for satellite parallax.

    Attributes:
        time: epochs, JD in the TDB scale, increasing, ``[n]`` (n >= 4).
        xyz: geocentric ICRS positions, AU, ``[n, 3]``.
        name: a label (the file name when read from a file).

    Compared and hashed by identity: :func:`read_ephemeris` returns the same object for the same
    file, so models built from one file share their compiled code.
    """

    time: np.ndarray
    xyz: np.ndarray
    name: str = ""

    def __post_init__(self):
        time = np.asarray(self.time, np.float64)
        xyz = np.asarray(self.xyz, np.float64)
        if time.ndim != 1 or time.size < 4 or xyz.shape != (time.size, 3):
            raise ValueError(f"Ephemeris {self.name!r}: need time [n >= 4] and xyz [n, 3], got "
                             f"{time.shape} and {xyz.shape}")
        if not (np.all(np.isfinite(time)) and np.all(np.isfinite(xyz)) and np.all(np.diff(time) > 0)):
            raise ValueError(f"Ephemeris {self.name!r}: times must be finite and increasing, "
                             "positions finite")
        if time[0] < MIN_JD:
            raise ValueError(f"Ephemeris {self.name!r}: times must be JD (>= {MIN_JD:.0f})")
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "xyz", xyz)

    @functools.cached_property
    def _spline(self):
        from scipy.interpolate import make_interp_spline

        return make_interp_spline(self.time, self.xyz, k=3)

    def position(self, time) -> np.ndarray:
        """Geocentric ICRS position (AU), ``time.shape + (3,)``, at JD (TDB) ``time``.

        Raises:
            ValueError: a time more than :data:`EPHEMERIS_MARGIN` outside the ephemeris.
        """
        time = np.asarray(time, np.float64)
        lo, hi = self.time[0] - EPHEMERIS_MARGIN, self.time[-1] + EPHEMERIS_MARGIN
        if time.size and not (np.all(np.isfinite(time)) and time.min() >= lo and time.max() <= hi):
            bad = time[~((time >= lo) & (time <= hi))]
            raise ValueError(f"ephemeris {self.name!r} covers JD {self.time[0]:.5f} to "
                             f"{self.time[-1]:.5f}; asked for {bad.min():.5f} ... {bad.max():.5f}")
        return self._spline(time)


@functools.lru_cache(maxsize=64)
def _read_ephemeris_cached(path: str, mtime: float) -> Ephemeris:
    return _parse_ephemeris(Path(path))


@float64_by_default
def read_ephemeris(path: str | os.PathLike) -> Ephemeris:
    """Read a spacecraft ephemeris file into an :class:`Ephemeris`.

    Two formats, as MulensModel's ``Horizons`` reads them:

    * a JPL Horizons observer table (between ``$$SOE`` and ``$$EOE``), observer at the
      geocentre, with the calendar date and time (UTC) and the astrometric RA (h m s), Dec
      (d m s) and distance ``delta`` (AU) as the first quantities; times are converted from UTC
      to TDB (astropy);
    * a whitespace table without ``$$SOE``: JD (TDB), x, y, z (AU, geocentric ICRS) per row.

    The same file (path and modification time) gives the same object.

    Raises:
        FileNotFoundError: no such file; ValueError: no rows could be read, or a row of a
            Horizons table does not parse.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"read_ephemeris: no such file {str(path)!r}")
    return _read_ephemeris_cached(str(p), p.stat().st_mtime)


def _parse_ephemeris(path: Path) -> Ephemeris:
    text = path.read_text().splitlines()
    starts = [i for i, line in enumerate(text) if line.startswith("$$SOE")]
    if not starts:
        data = np.loadtxt(path, usecols=(0, 1, 2, 3), ndmin=2)
        return Ephemeris(data[:, 0], data[:, 1:4], name=path.name)
    from astropy.time import Time

    stops = [i for i, line in enumerate(text) if line.startswith("$$EOE")]
    rows = text[starts[0] + 1:stops[0] if stops else len(text)]
    dates, ra, dec, dist = [], [], [], []
    for k, line in enumerate(rows):
        if not line.strip():
            continue
        m = _HORIZONS_ROW.match(line)
        if m is None:
            raise ValueError(f"read_ephemeris: {path.name}, data row {k + 1} does not parse as "
                             f"'date time RA(h m s) Dec(d m s) delta': {line.strip()!r}")
        g = m.groups()
        month = int(g[1]) if g[1].isdigit() else _MONTHS[g[1].lower()]
        sec = float(g[5]) if g[5] else 0.0
        dates.append(f"{g[0]}-{month:02d}-{g[2]} {g[3]}:{g[4]}:{sec:06.3f}")
        ra.append((int(g[6]) + int(g[7]) / 60 + float(g[8]) / 3600) * 15.0)
        sign = -1.0 if g[9].startswith("-") else 1.0
        dec.append(sign * (abs(int(g[9])) + int(g[10]) / 60 + float(g[11]) / 3600))
        dist.append(float(g[12]))
    if not dates:
        raise ValueError(f"read_ephemeris: {path.name} has no rows between $$SOE and $$EOE")
    time = Time(dates, format="iso", scale="utc").tdb.jd
    a, d, r = np.deg2rad(ra), np.deg2rad(dec), np.asarray(dist)
    xyz = np.stack([r * np.cos(d) * np.cos(a), r * np.cos(d) * np.sin(a), r * np.sin(d)], axis=-1)
    return Ephemeris(time, xyz, name=path.name)


@float64_by_default
def satellite_offsets(time, ra, dec, ephemeris: Ephemeris):
    r"""Projected offsets :math:`(\Delta_N, \Delta_E)` of a spacecraft from the Earth (module
    docstring), to add to :func:`earth_offsets` for the points it observed.

    Host function (NumPy/scipy, not traceable).

    Args:
        time: absolute times, JD (TDB), array ``[..., N]``.
        ra, dec: the event's ICRS position, degrees, scalars or ``time[..., 0]``-shaped.
        ephemeris: the spacecraft's :class:`Ephemeris` (:func:`read_ephemeris`).

    Returns:
        ``(delta_n, delta_e)``, NumPy float64 arrays shaped like ``time``, AU.

    Raises:
        ValueError: a time outside the ephemeris (beyond :data:`EPHEMERIS_MARGIN`), or a
            position at a celestial pole.
    """
    time = np.asarray(time, np.float64)
    lead = time.shape[:-1] if time.ndim else ()
    north, east = _checked_basis(ra, dec, lead, "satellite_offsets")
    p = ephemeris.position(time)
    return (-np.einsum("...nk,...k->...n", p, north), -np.einsum("...nk,...k->...n", p, east))


@float64_by_default
def parallax_trajectory(t, *, t0, u0, tE, pi_E_N, pi_E_E, delta_n, delta_e):
    r"""Source position :math:`(\tau, \beta)` in Einstein radii with annual parallax.

    ``tau`` along the lens-source relative motion, ``beta`` perpendicular to it (MulensModel's
    ``Trajectory`` ``x`` and ``y`` of a point lens; a binary lens rotates them by alpha).

    Args:
        t: times, days (any origin, the same as ``t0``).
        t0: time of closest approach, days; u0: impact parameter (Einstein radii, signed);
            tE: Einstein timescale, days (``<= 0`` or NaN gives NaN).
        pi_E_N, pi_E_E: north and east components of the microlensing parallax vector.
        delta_n, delta_e: :func:`earth_offsets` at ``t`` (AU), shaped like ``t``.

    Returns:
        ``(tau, beta)``, arrays shaped like ``t``; with zero offsets the rectilinear
        ``((t - t0)/tE, u0)``. Point-lens magnification:
        ``pspl_magnification(tau, t0=0, u0=beta, tE=1)``.
    """
    t = jnp.asarray(t)
    tE = jnp.asarray(tE, dtype=jnp.result_type(t, tE, float))
    tau = (t - t0) / jnp.where(tE > 0, tE, jnp.nan)
    dn, de = jnp.asarray(delta_n), jnp.asarray(delta_e)
    tau = tau + pi_E_N * dn + pi_E_E * de
    beta = u0 - pi_E_E * dn + pi_E_N * de
    return tau, beta
