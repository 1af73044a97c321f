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

import math

import jax.numpy as jnp
from jax import lax

from tsmodels.kernels._precision import float64_by_default

__all__ = ["pspl_magnification", "fspl_magnification", "mag_to_flux", "linear_fluxes"]

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


# ---------------------------------------------------------------------------------------------
# Finite source, point lens (FSPL)
# ---------------------------------------------------------------------------------------------

_CEL_STEPS = 10
"""Iterations of Bulirsch's ``cel`` (an AGM-like, quadratically convergent loop): from
``1 - m`` and ``1 - n`` as small as 1e-32 (the limb crossing in float64) ten give the three
complete integrals to 1e-14 (checked against scipy's Carlson functions)."""

_N_FAR = 8
"""Midpoint nodes on [0, pi/2] of the far-from-the-lens form (u >= 2 rho), see
:func:`_uniform_far`: an even, pi-periodic analytic integrand whose nearest complex singularity
lies at Im(phi) >= acosh(2), so the error is below exp(-4 * 8 * 1.32) ~ 1e-18."""

_FAR = 2.0
"""``u / rho`` above which the uniform disk uses :func:`_uniform_far` instead of Witt & Mao."""

_N_LD = 16
"""Gauss-Legendre nodes on each side of the kink of the limb-darkening integral."""

_LD_POWER = 3
"""Node clustering ``psi = psi_k +- L w**3`` at the kink ``psi_k`` of the limb-darkening integral
(there the integrand behaves as ``x log|x|``; after the map as ``w**5 log w``)."""


def _complete_elliptic(one_m, one_n):
    r"""Complete elliptic integrals :math:`K(m), E(m), \Pi(n, m)` (parameter convention, as
    scipy's ``ellipk``) from ``1 - m`` and ``1 - n`` (both > 0), by Bulirsch's general complete
    integral (Bulirsch 1969, Numer. Math. 13, 305; the form of Numerical Recipes' ``cel``)

    .. math::

        \mathrm{cel}(k_c, p, a, b) = \int_0^{\pi/2}
            \frac{a\cos^2\theta + b\sin^2\theta}
                 {(\cos^2\theta + p\sin^2\theta)\sqrt{\cos^2\theta + k_c^2\sin^2\theta}}d\theta,

    with :math:`k_c = \sqrt{1-m}`: :math:`K = \mathrm{cel}(k_c, 1, 1, 1)`,
    :math:`E = \mathrm{cel}(k_c, 1, 1, k_c^2)`, :math:`\Pi(n, m) = \mathrm{cel}(k_c, 1-n, 1, 1)`.
    The three run together (a leading axis of 3) for :data:`_CEL_STEPS` iterations of a
    ``lax.scan`` (small compiled programs, also for second derivatives): only additions,
    products, quotients and square roots, no branch.
    """
    kc = jnp.sqrt(one_m)
    one = jnp.ones_like(kc)
    qc = jnp.stack([kc, kc, kc])
    p = jnp.sqrt(jnp.stack([one, one, one_n]))
    a = jnp.stack([one, one, one])
    b = jnp.stack([one, one_m, one]) / p

    def step(carry, _):
        a, b, p, qc, e, em = carry
        g = e / p
        a, b = a + b / p, 2.0 * (b + a * g)
        p = g + p
        em = em + qc
        qc = 2.0 * jnp.sqrt(e)
        return (a, b, p, qc, qc * em, em), None

    init = (a, b, p, qc, qc, jnp.ones_like(qc))
    (a, b, p, qc, e, em), _ = lax.scan(step, init, None, length=_CEL_STEPS)
    out = 0.5 * jnp.pi * (b + a * em) / (em * (em + p))
    return out[0], out[1], out[2]


def _uniform_near(u, rho):
    r"""Uniform-disk magnification, Witt & Mao (1994) eq. 9 with complete elliptic integrals
    (MulensModel's ``finite_source_uniform_WittMao94``, exact integrals instead of tables).

    With :math:`n = 4u\rho/(u+\rho)^2` and :math:`m = 4n/(4 + (u-\rho)^2)`,

    .. math::

        \pi A = \frac{(u+\rho)\sqrt{4+(u-\rho)^2}}{2\rho^2} E(m)
              - \frac{(u-\rho)(8 + u^2 - \rho^2)}{2\rho^2\sqrt{4+(u-\rho)^2}} K(m)
              + \frac{2(u-\rho)^2(1+\rho^2)}{\rho^2(u+\rho)\sqrt{4+(u-\rho)^2}} \Pi(n, m),

    valid inside (u < rho) and outside the source; ``1 - m`` and ``1 - n`` are formed without
    cancellation. At ``u == rho`` (to ``eps`` in ``(u - rho)/(u + rho)``) the limit
    :math:`\pi A = 2/\rho + (1+\rho^2)(\pi/2 + \arcsin\frac{\rho^2-1}{\rho^2+1})/\rho^2
    = 2/\rho + 2(1+\rho^2)\arctan(\rho)/\rho^2` is used.
    The three terms are each of order :math:`(u/\rho)^2 A`, so relative rounding grows as
    :math:`(u/\rho)^2`: this form is used for u < 2 rho only.
    """
    dt = jnp.result_type(u, rho)
    eps = jnp.finfo(dt).eps
    d = u - rho
    s = u + rho
    xr = d / s
    edge = jnp.abs(xr) < eps
    d = jnp.where(edge, 0.5 * rho, d)  # safe values at the edge (the limit is used there)
    s = jnp.where(edge, 2.5 * rho, s)
    q = jnp.sqrt(4.0 + d * d)
    one_n = (d / s) ** 2
    one_m = one_n * (4.0 + s * s) / (q * q)
    K, E, P = _complete_elliptic(one_m, one_n)
    r2 = rho * rho
    a1 = 0.5 * s * q / r2
    a2 = -d * (4.0 + 0.5 * d * s) / (r2 * q)
    a3 = 2.0 * d * d * (1.0 + r2) / (r2 * s * q)
    out = (a1 * E + a2 * K + a3 * P) / jnp.pi
    # pi/2 + arcsin((rho^2 - 1)/(rho^2 + 1)) = 2 arctan(rho), without the cancellation
    at_edge = (2.0 / rho + 2.0 * (1.0 + r2) * jnp.arctan(rho) / r2) / jnp.pi
    return jnp.where(edge, at_edge, out)


def _uniform_far(u, rho):
    r"""Uniform-disk magnification for u > rho as a smooth one-dimensional integral.

    Lee et al. (2009) eq. 7 writes :math:`\pi\rho^2 A = \int_0^{\theta_m} [F(u_+) - F(u_-)]
    d\theta` with :math:`F(r) = r\sqrt{r^2+4}`, :math:`u_\pm = u\cos\theta \pm
    \sqrt{\rho^2 - u^2\sin^2\theta}` and :math:`\sin\theta_m = \rho/u`. Substituting
    :math:`u \sin\theta = \rho\sin\phi` removes the square-root end point and writing
    :math:`F(a) - F(b) = (a^2-b^2)(a^2+b^2+4)/(F(a)+F(b))` removes the cancellation:

    .. math::

        A = \frac{4}{\pi}\int_0^{\pi/2} \cos^2\phi\,
            \frac{a^2 + b^2 + 4}{a\sqrt{a^2+4} + b\sqrt{b^2+4}}\,d\phi,\quad
        a, b = c \pm \rho\cos\phi,\ c = \sqrt{u^2 - \rho^2\sin^2\phi},

    an even, pi-periodic analytic integrand, integrated by the midpoint rule on
    :data:`_N_FAR` nodes (exponential convergence). Tends to the Paczynski magnification as
    rho -> 0; every term is positive, so float32 keeps its full relative precision.
    """
    dt = jnp.result_type(u, rho)
    phi = (jnp.arange(_N_FAR, dtype=dt) + 0.5) * (0.5 * jnp.pi / _N_FAR)
    cp, sp = jnp.cos(phi), jnp.sin(phi)
    u = u[..., None]
    rho = rho[..., None]
    c = jnp.sqrt((u - rho * sp) * (u + rho * sp))
    a = c + rho * cp
    b = (u - rho) * (u + rho) / (c + rho * cp)  # c - rho cos(phi) without cancellation
    f = cp * cp * (a * a + b * b + 4.0) / (a * jnp.sqrt(a * a + 4.0) + b * jnp.sqrt(b * b + 4.0))
    return (2.0 / _N_FAR) * jnp.sum(f, axis=-1)


def _uniform_disk(u, rho):
    """Uniform-disk magnification at lens-source separation ``u >= 0`` for radius ``rho > 0``
    (arrays of one shape): Witt & Mao for u < 2 rho, the smooth integral beyond."""
    far = u >= _FAR * rho
    u_near = jnp.where(far, rho, u)
    u_far = jnp.where(far, u, _FAR * rho)
    return jnp.where(far, _uniform_far(u_far, rho), _uniform_near(u_near, rho))


def _gauss_legendre_01(n):
    """Gauss-Legendre nodes and weights on [0, 1] as Python floats (Newton on the Legendre
    recurrence, done once at import)."""
    nodes, weights = [], []
    for i in range(n):
        x = math.cos(math.pi * (i + 0.75) / (n + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = n * (x * p1 - p0) / (x * x - 1.0)
            dx = p1 / dp
            x -= dx
            if abs(dx) < 1e-16:
                break
        p0, p1 = 1.0, x
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        dp = n * (x * p1 - p0) / (x * x - 1.0)
        nodes.append(0.5 * (1.0 - x))
        weights.append(1.0 / ((1.0 - x * x) * dp * dp))
    return tuple(nodes), tuple(weights)


_GL_NODES, _GL_WEIGHTS = _gauss_legendre_01(_N_LD)


def _limb_darkened(u, rho, gamma):
    r"""Linearly limb-darkened source, as annuli of uniform disks (Bozza et al. 2018 eqs. 16-19,
    taken to the continuum limit and integrated by parts).

    With MulensModel's surface brightness :math:`I(r) = 1 - \Gamma(1 - \tfrac32\sqrt{1-r^2})`
    (unit total flux, r in units of rho) and :math:`A_0(u; R)` the uniform-disk magnification
    of radius R,

    .. math::

        A = (1 - \Gamma) A_0(u; \rho) + \tfrac32 \Gamma \int_0^{\pi/2}
            \sin^3\psi\, A_0(u; \rho\sin\psi)\, d\psi ,

    (substituting :math:`r = \sin\psi`). The integrand is smooth except at the disk that passes
    through the lens, :math:`\sin\psi_k = u/\rho`, where it behaves as :math:`x\log|x|`: the
    integral is split there and each side uses :data:`_N_LD` Gauss-Legendre nodes clustered at
    :math:`\psi_k` by :math:`\psi = \psi_k \mp L w^3`. For u >= rho the upper side is empty and
    the lower one is clustered at pi/2 (the near-singularity for u just above rho).
    """
    dt = jnp.result_type(u, rho, gamma)
    gamma = jnp.broadcast_to(gamma, u.shape)[..., None]
    w = jnp.asarray(_GL_NODES, dt)
    wt = jnp.asarray(_GL_WEIGHTS, dt)
    p = _LD_POWER
    inside = u < rho
    z = jnp.where(inside, u / rho, 0.5)
    psi_k = jnp.where(inside, jnp.arcsin(z), 0.5 * jnp.pi)
    lo_len = psi_k[..., None]
    hi_len = (0.5 * jnp.pi - psi_k)[..., None]
    wp = w**p
    jac = p * w ** (p - 1) * wt
    psi = jnp.concatenate([psi_k[..., None] - lo_len * wp, psi_k[..., None] + hi_len * wp], axis=-1)
    weight = jnp.concatenate([lo_len * jac, hi_len * jac], axis=-1)
    sinp = jnp.sin(psi)
    # the whole disk (first column) and the 2 x _N_LD inner disks in one evaluation
    one = jnp.ones_like(u)[..., None]
    sinp = jnp.concatenate([one, sinp], axis=-1)
    coef = jnp.concatenate([(1.0 - gamma) * one, 1.5 * gamma * weight * sinp[..., 1:] ** 3], axis=-1)
    radius = rho[..., None] * sinp
    ok = radius > 0
    radius = jnp.where(ok, radius, rho[..., None])
    uu = jnp.broadcast_to(u[..., None], radius.shape)
    a0 = _uniform_disk(uu, radius)
    return jnp.sum(jnp.where(ok, coef * a0, 0.0), axis=-1)


@float64_by_default
def fspl_magnification(t, *, t0, u0, tE, rho, limb_darkening=0.0):
    r"""Finite-source point-lens magnification :math:`A(t)` of a uniform or linearly
    limb-darkened source (MulensModel v3 conventions; dimensionless).

    The source is a disk of radius ``rho`` (Einstein radii) whose centre passes the lens at
    :math:`u(t) = \sqrt{u_0^2 + ((t-t_0)/t_E)^2}` (as in :func:`pspl_magnification`). Its
    surface brightness is :math:`I(r) \propto 1 - \Gamma(1 - \tfrac32\sqrt{1 - r^2/\rho^2})`,
    with ``limb_darkening`` = :math:`\Gamma`, MulensModel's ``gamma``
    (``Model.set_limb_coeff_gamma``); the usual linear coefficient :math:`u_\lambda` of
    :math:`I \propto 1 - u_\lambda(1 - \sqrt{1 - r^2/\rho^2})` is
    :math:`u_\lambda = 3\Gamma/(2 + \Gamma)`, i.e. :math:`\Gamma = 2u_\lambda/(3 - u_\lambda)`.

    Method (exact for every ``u/rho``, including the lens inside the source and the limb
    crossing ``u == rho``; fixed work per point, no branching on values):

    * uniform source: for ``u < 2 rho`` Witt & Mao (1994) eq. 9, with the complete elliptic
      integrals of the first, second and third kind from Bulirsch's ``cel`` (10 AGM-like
      iterations, no branch); for ``u >= 2 rho`` the same magnification
      as Lee et al. (2009) eq. 7 rewritten as a smooth, cancellation-free integral and summed on
      8 midpoint nodes (see ``_uniform_far``). Both are computed at every point, one is kept.
    * limb darkening: the brightness profile as nested uniform disks (annuli; Bozza et al. 2018),
      :math:`A = (1-\Gamma)A_0(\rho) + \tfrac32\Gamma\int_0^{\pi/2}\sin^3\psi\,A_0(\rho\sin\psi)
      d\psi`, with 2 x 16 Gauss-Legendre nodes split and clustered at the kink where the disk of
      radius :math:`\rho\sin\psi` passes through the lens. Cost: 33 uniform-disk evaluations
      per point instead of 1. If ``limb_darkening`` is the Python number 0 (a static value, the
      default) this integral is skipped; a traced or array value always computes it.

    Accuracy (tests against MulensModel and a brute-force 2-D integral, u/rho from 1e-3 to 100,
    rho from 1e-4 to 0.1): relative error 3e-14 (uniform) and 3e-10 (gamma 0.3, 0.6) in
    float64; float32 within 6e-7 of float64. Cost per point: uniform ~ one 10-step loop on 3
    integrals plus 8 quadrature nodes; limb darkened 33 times that. Gradients in t0, u0, tE,
    rho and ``limb_darkening`` are finite (at u == rho the uniform magnification has a
    logarithmically divergent slope; there the gradient is that of the limit formula, which
    does not depend on u).

    Args:
        t: times in days (any origin, the same as ``t0``).
        t0: time of closest approach, days.
        u0: impact parameter in Einstein radii (either sign; only :math:`|u_0|` matters).
        tE: Einstein timescale, days; ``tE <= 0`` or NaN gives NaN.
        rho: source radius in Einstein radii; ``rho <= 0`` or NaN gives NaN (the point-source
            limit is :func:`pspl_magnification`).
        limb_darkening: MulensModel's linear limb-darkening coefficient :math:`\Gamma` (``gamma``),
            0 for a uniform source; physical profiles have :math:`0 \le \Gamma \le 1`. A scalar
            or an array broadcastable to ``t`` (e.g. one value per point from its band).

    Returns:
        :math:`A(t)`, shape of ``t``.

    References:
        Witt, H. J. & Mao, S. 1994, ApJ 430, 505.
        Lee, C.-H., Riffeser, A., Seitz, S. & Bender, R. 2009, ApJ 695, 200.
        Bozza, V. et al. 2018, MNRAS 479, 5157.
        Bulirsch, R. 1969, Numerische Mathematik 13, 305.
    """
    t = jnp.asarray(t)
    dt = jnp.result_type(t, tE, rho, float)
    tE = jnp.asarray(tE, dtype=dt)
    rho = jnp.asarray(rho, dtype=dt)
    tau = (t - t0) / jnp.where(tE > 0, tE, jnp.nan)
    u2 = jnp.asarray(u0, dt) ** 2 + tau**2
    pos = u2 > 0
    u = jnp.where(pos, jnp.sqrt(jnp.where(pos, u2, 1.0)), 0.0)
    bad = ~(rho > 0)
    r = jnp.broadcast_to(jnp.where(bad, 1.0, rho), u.shape)
    static_zero = isinstance(limb_darkening, (int, float)) and limb_darkening == 0
    if static_zero:
        A = _uniform_disk(u, r)
    else:
        A = _limb_darkened(u, r, jnp.asarray(limb_darkening, dt))
    return jnp.where(bad, jnp.nan, A)
