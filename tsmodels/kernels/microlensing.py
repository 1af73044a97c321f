r"""Point-source point-lens (PSPL) microlensing of ONE light curve, pure JAX.

Conventions are those of MulensModel version 3 (Poleski & Yee 2019):

* magnification (Paczynski 1986)

  .. math::

      A(u) = \frac{u^2 + 2}{u \sqrt{u^2 + 4}}, \qquad
      u^2 = u_0^2 + \left(\frac{t - t_0}{t_E}\right)^2,

  with times ``t`` and ``t0`` in days on the same origin and ``tE`` in days; ``u0`` is in
  Einstein radii and may be negative (only :math:`|u_0|` enters a PSPL magnification);
* model flux in band :math:`b`: :math:`F = F_{s,b} A + F_{b,b}` (source and blend fluxes);
* magnitudes are converted to flux with a zero point of 22 mag,
  :math:`F = 10^{0.4 (22 - m)}`, :math:`\sigma_F = 0.4 \ln 10 \, F \sigma_m`, and the chi2 is
  computed in flux space (see :func:`mag_to_flux`).

References:
    Paczynski, B. 1986, ApJ 304, 1.
    Poleski, R. & Yee, J. C. 2019, Astronomy and Computing 26, 35 (MulensModel).
"""

from __future__ import annotations

import jax.numpy as jnp

from tsmodels.kernels._precision import float64_by_default

__all__ = ["pspl_magnification", "mag_to_flux", "linear_fluxes"]

MAG_ZEROPOINT = 22.0
"""Magnitude at which the flux is 1 (MulensModel's convention)."""


@float64_by_default
def pspl_magnification(t, *, t0, u0, tE):
    r"""Paczynski point-source point-lens magnification :math:`A(t)` (dimensionless, >= 1).

    Args:
        t: times in days (any origin, the same as ``t0``).
        t0: time of closest approach, days.
        u0: impact parameter in Einstein radii; negative values are allowed (MulensModel
            convention) and give the same magnification as :math:`|u_0|`.
        tE: Einstein timescale, days; ``tE <= 0`` or NaN gives NaN.

    Returns:
        :math:`A = (u^2 + 2) / (u \sqrt{u^2 + 4})` with
        :math:`u^2 = u_0^2 + ((t - t_0)/t_E)^2` (Paczynski 1986), shape of ``t``.
    """
    t = jnp.asarray(t)
    tE = jnp.asarray(tE, dtype=jnp.result_type(t, tE, float))
    tau = (t - t0) / jnp.where(tE > 0, tE, jnp.nan)
    u2 = jnp.asarray(u0) ** 2 + tau**2
    return (u2 + 2.0) / jnp.sqrt(u2 * (u2 + 4.0))


@float64_by_default
def mag_to_flux(mag, mag_err):
    r"""Magnitudes to fluxes with MulensModel's zero point (22 mag gives flux 1).

    Returns ``(flux, flux_err)`` with :math:`F = 10^{0.4 (22 - m)}` and
    :math:`\sigma_F = 0.4 \ln(10) F \sigma_m`.
    """
    mag = jnp.asarray(mag)
    flux = 10.0 ** (0.4 * (MAG_ZEROPOINT - mag))
    return flux, 0.4 * jnp.log(10.0) * flux * jnp.asarray(mag_err)


@float64_by_default
def linear_fluxes(mag, flux, flux_err, mask, band, *, n_bands=1):
    r"""Source and blend fluxes per band by weighted least squares, in closed form.

    For every band :math:`b` solves :math:`F_n = F_{s,b} A_n + F_{b,b}` for the points of that
    band (weights :math:`1/\sigma_n^2`, masked points ignored) with the 2x2 normal equations.

    Args:
        mag: magnification :math:`A_n` at each point (e.g. :func:`pspl_magnification`).
        flux, flux_err: fluxes and their errors (same units, e.g. from :func:`mag_to_flux`).
        mask: boolean, True for real points (padding is False).
        band: integer band index of each point, ``0 <= band < n_bands``.
        n_bands: number of bands (static).

    Returns:
        ``(source_flux, blend_flux, chi2, ok)``: arrays of shape ``(n_bands,)`` for the fluxes and
        ``ok`` (False for a band whose system is degenerate, e.g. fewer than two points or a
        constant magnification; its fluxes are then 0 and its points do not enter the chi2),
        and the total chi2 (scalar) of the masked points.
    """
    A = jnp.asarray(mag)
    dt = jnp.result_type(A, flux, flux_err)
    w = jnp.where(mask, 1.0 / jnp.where(mask, flux_err, 1.0) ** 2, 0.0).astype(dt)
    y = jnp.where(mask, flux, 0.0).astype(dt)
    A = jnp.where(mask, A, 0.0).astype(dt)
    onehot = (jnp.asarray(band)[:, None] == jnp.arange(n_bands)[None, :]).astype(dt)
    wb = w[:, None] * onehot
    S = wb.sum(0)
    Sa = (wb * A[:, None]).sum(0)
    Saa = (wb * (A * A)[:, None]).sum(0)
    Sy = (wb * y[:, None]).sum(0)
    Say = (wb * (A * y)[:, None]).sum(0)
    det = S * Saa - Sa * Sa
    scale = jnp.maximum(S * Saa, jnp.finfo(dt).tiny)
    ok = det > 1e3 * jnp.finfo(dt).eps * scale
    safe = jnp.where(ok, det, 1.0)
    fs = jnp.where(ok, (S * Say - Sa * Sy) / safe, 0.0)
    fb = jnp.where(ok, (Saa * Sy - Sa * Say) / safe, 0.0)
    bi = jnp.clip(jnp.asarray(band), 0, n_bands - 1)
    model = fs[bi] * A + fb[bi]
    use = mask & ok[bi]
    r = jnp.where(use, (y - model), 0.0)
    chi2 = jnp.sum(w * r * r)
    return fs, fb, chi2, ok
