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

References:
    Gould, A. 2004, ApJ 606, 319.
    Poleski, R. & Yee, J. C. 2019, Astronomy and Computing 26, 35 (MulensModel).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from tsmodels.kernels._precision import float64_by_default

__all__ = ["earth_offsets", "sky_basis", "parallax_trajectory"]

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
    north, east = sky_basis(np.broadcast_to(ra, lead), np.broadcast_to(dec, lead))
    if not np.all(np.isfinite(north)) or not np.all(np.isfinite(east)):
        raise ValueError("earth_offsets: ra/dec must be finite and not at a celestial pole")
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
