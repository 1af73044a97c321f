"""Milky Way dust: the Fitzpatrick (1999) extinction curve.

``A_lambda = E(B-V) (k(x) + R_V)`` with ``x = 1e4 / lambda`` (inverse microns, ``lambda`` in
Angstrom) and ``k(x) = E(lambda - V) / E(B-V)``:

* ultraviolet, ``lambda < 2700 A`` (``x > 1e4 / 2700``): the Fitzpatrick & Massa (1990) form
  ``k = c1 + c2 x + c3 D(x) + c4 F(x)``, ``D = x^2 / ((x^2 - x0^2)^2 + x^2 gamma^2)``,
  ``F = 0.5392 (x - c5)^2 + 0.05644 (x - c5)^3`` for ``x >= c5`` (else 0), with
  ``x0 = 4.596``, ``gamma = 0.99``, ``c3 = 3.23``, ``c4 = 0.41``, ``c5 = 5.9``,
  ``c2 = -0.824 + 4.717 / R_V``, ``c1 = 2.030 - 3.007 c2``;
* optical and infrared: a natural cubic spline in ``x`` (second derivative zero at both ends)
  through ``k`` at the anchor points ``x = 0`` and ``1e4 / (26500, 12200, 6000, 5470, 4670,
  4110, 2700, 2600)`` A; the optical anchors are E. Fitzpatrick's updated values (those of the
  IDL astrolib routine ``FM_UNRED``), the last two come from the UV form.

This is the curve of the ``extinction`` package's ``Fitzpatrick99`` (used by sncosmo's
``F99Dust``), to which it agrees to rounding (tests/kernels/test_salt.py compares the two). It is
defined for 909.09 A to 6 microns (the UV form's claimed validity starts at 1150 A).

References:
    Fitzpatrick E. L. 1999, PASP 111, 63.
    Fitzpatrick E. L. & Massa D. 1990, ApJS 72, 163.
"""

from __future__ import annotations

import jax.numpy as jnp

from tsmodels.kernels._precision import float64_by_default

__all__ = ["f99_extinction", "f99_curve"]

_X0 = 4.596
_GAMMA = 0.99
_C3 = 3.23
_C4 = 0.41
_C5 = 5.9
_X_UV = 1e4 / 2700.0
_ANCHOR_WAVE = (26500.0, 12200.0, 6000.0, 5470.0, 4670.0, 4110.0, 2700.0, 2600.0)


def _uv_k(x, r_v):
    c2 = -0.824 + 4.717 / r_v
    c1 = 2.030 - 3.007 * c2
    x2 = x * x
    y = x2 - _X0 * _X0
    d = x2 / (y * y + x2 * _GAMMA * _GAMMA)
    yb = jnp.maximum(x - _C5, 0.0)
    return c1 + c2 * x + _C3 * d + _C4 * (0.5392 * yb * yb + 0.05644 * yb * yb * yb)


def _anchors(r_v, dtype):
    xk = jnp.concatenate([jnp.zeros(1, dtype), 1e4 / jnp.asarray(_ANCHOR_WAVE, dtype)])
    rv2 = r_v * r_v
    optical = jnp.stack([
        -r_v,
        0.26469 * r_v / 3.1 - r_v,
        0.82925 * r_v / 3.1 - r_v,
        -0.422809 + 1.00270 * r_v + 2.13572e-04 * rv2 - r_v,
        -5.13540e-02 + 1.00216 * r_v - 7.35778e-05 * rv2 - r_v,
        0.700127 + 1.00184 * r_v - 3.32598e-05 * rv2 - r_v,
        (1.19456 + 1.01707 * r_v - 5.46959e-03 * rv2 + 7.97809e-04 * rv2 * r_v
         - 4.45636e-05 * rv2 * rv2 - r_v),
    ])
    # the two UV anchors use the UV form without its far-UV curvature term (x < c5 there)
    kk = jnp.concatenate([optical, _uv_k(xk[7:], r_v)])
    return xk, kk


def _natural_spline(xk, yk):
    """Second derivatives of the natural cubic spline through (xk, yk): a small dense solve of
    the standard tridiagonal system (9 knots)."""
    h = jnp.diff(xk)
    rhs = 6.0 * (jnp.diff(yk[1:]) / h[1:] - jnp.diff(yk[:-1]) / h[:-1])
    a = (jnp.diag(2.0 * (h[:-1] + h[1:])) + jnp.diag(h[1:-1], 1) + jnp.diag(h[1:-1], -1))
    m_inner = jnp.linalg.solve(a, rhs)
    zero = jnp.zeros(1, xk.dtype)
    return jnp.concatenate([zero, m_inner, zero])


def _spline_eval(x, xk, yk, m):
    i = jnp.clip(jnp.searchsorted(xk, x, side="right") - 1, 0, xk.shape[0] - 2)
    x_lo, x_hi = xk[i], xk[i + 1]
    h = x_hi - x_lo
    a = (x_hi - x) / h
    b = (x - x_lo) / h
    return (a * yk[i] + b * yk[i + 1]
            + ((a ** 3 - a) * m[i] + (b ** 3 - b) * m[i + 1]) * h * h / 6.0)


@float64_by_default
def f99_curve(wave, *, r_v=3.1):
    """Fitzpatrick (1999) ``A_lambda / E(B-V)`` (see the module docstring).

    Args:
        wave: ``(n,)`` wavelengths, Angstrom (909.09 A to 60000 A).
        r_v: ``R_V = A_V / E(B-V)`` (default 3.1).

    Returns:
        ``(n,)`` extinction per unit ``E(B-V)``, magnitudes, in the dtype of ``wave``.
    """
    dt = jnp.result_type(wave, float)
    wave = jnp.asarray(wave, dt)
    r_v = jnp.asarray(r_v, dt)
    x = 1e4 / wave
    xk, kk = _anchors(r_v, dt)
    m = _natural_spline(xk, kk)
    uv = x >= _X_UV
    k_opt = _spline_eval(jnp.where(uv, 0.0, x), xk, kk, m)
    k_uv = _uv_k(jnp.where(uv, x, 2.0 * _X_UV), r_v)
    return jnp.where(uv, k_uv, k_opt) + r_v


@float64_by_default
def f99_extinction(wave, *, ebv, r_v=3.1):
    """Fitzpatrick (1999) extinction ``A_lambda = E(B-V) (k(x) + R_V)``, magnitudes.

    The flux through the dust is ``flux * 10**(-0.4 * A_lambda)``, as in the ``extinction``
    package's ``apply`` and sncosmo's ``F99Dust``.

    Args:
        wave: ``(n,)`` wavelengths, Angstrom.
        ebv: colour excess ``E(B-V)``, magnitudes.
        r_v: ``R_V`` (default 3.1).

    Returns:
        ``(n,)`` ``A_lambda`` in magnitudes.
    """
    return jnp.asarray(ebv) * f99_curve(wave, r_v=r_v)
