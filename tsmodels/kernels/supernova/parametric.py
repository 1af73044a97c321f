"""Parametric supernova light curves: Bazin et al. (2009) and Villar et al. (2019).

Both follow the definitions of the ``light-curve`` package (``light_curve.BazinFit.model`` and
``light_curve.VillarFit.model``, parameters in the same order and with the same names), to
which they agree to ~1e-15 relative in float64 (tests/kernels/test_supernova_parametric.py).
Like ``light-curve``, the functions use the absolute values of the amplitude, the timescales and
(Villar) the plateau parameters, so a parameter's sign never matters; the models of
:mod:`tsmodels.models.parametric_sn` keep them positive.

Units: ``t``, ``t0`` and every timescale in days (``t`` relative to any origin, the same as
``t0``'s); ``amplitude`` and ``baseline`` in the light curve's flux unit (linear flux, not
magnitudes), which is the unit of the result.

Numerics: the rise is the logistic sigmoid ``1 / (1 + exp(-x / tau_rise))`` evaluated in a form
that neither overflows nor gives ``inf * 0`` far from the peak; the Bazin product is formed in
log space, and the branch of Villar's piecewise decline that is not taken is evaluated at a
harmless argument (so its gradient is finite too).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tsmodels.kernels._precision import float64_by_default

__all__ = ["bazin_flux", "villar_flux"]


def _args(t, *params):
    dt = jnp.result_type(t, *params, float)
    return (jnp.asarray(t, dt),) + tuple(jnp.asarray(p, dt) for p in params)


@float64_by_default
def bazin_flux(t, *, amplitude, baseline, t0, rise_time, fall_time):
    """Bazin et al. (2009) supernova light curve.

    ``f(t) = A exp(-(t - t0) / tau_fall) / (1 + exp(-(t - t0) / tau_rise)) + B``

    Bazin G. et al. 2009, A&A 499, 653 (Eq. 1, with the sign of the rise exponent corrected as
    in ``light-curve``'s ``BazinFit``). ``A`` is what ``light-curve`` calls the (half)
    amplitude: the peak flux above the baseline is ``A`` times a factor that depends on
    ``tau_rise / tau_fall`` (1/2 at ``t = t0`` when ``tau_fall`` is long); the peak lies at
    ``t0 + tau_rise ln(tau_fall / tau_rise - 1)`` when ``tau_fall > tau_rise``.

    Args:
        t: ``(n,)`` times, days.
        amplitude: ``A``, flux unit (its absolute value is used, as in ``light-curve``).
        baseline: ``B``, flux unit.
        t0: reference time, days (same origin as ``t``).
        rise_time: ``tau_rise`` > 0, days (absolute value used).
        fall_time: ``tau_fall`` > 0, days (absolute value used).

    Returns:
        ``(n,)`` flux, in the dtype of the inputs.
    """
    t, a, b, t0, tr, tf = _args(t, amplitude, baseline, t0, rise_time, fall_time)
    x = t - t0
    # exp(-x/tf) / (1 + exp(-x/tr)) = exp(-x/tf - softplus(-x/tr)): finite for any x
    log_shape = -x / jnp.abs(tf) - jax.nn.softplus(-x / jnp.abs(tr))
    return jnp.abs(a) * jnp.exp(log_shape) + b


@float64_by_default
def villar_flux(t, *, amplitude, baseline, t0, rise_time, fall_time, plateau_slope,
                plateau_duration):
    """Villar et al. (2019) supernova light curve, in ``light-curve``'s parametrisation.

    With ``x = t - t0``::

        f(t) = c + A / (1 + exp(-x / tau_rise)) * (1 - nu x / gamma)                     x < gamma
        f(t) = c + A / (1 + exp(-x / tau_rise)) * (1 - nu) exp(-(x - gamma) / tau_fall)  x >= gamma

    Villar V. A. et al. 2019, ApJ 884, 83 (Eq. 1). ``light-curve`` (``VillarFit``) replaces the
    paper's plateau slope ``beta`` (flux per day) by the dimensionless
    ``nu = -beta gamma / A``, the fractional decline over the plateau, with ``nu`` in ``[0, 1)``
    (the flux is continuous at ``x = gamma``), and requires ``A, gamma, tau_rise, tau_fall > 0``;
    like it, absolute values of ``A, tau_rise, tau_fall, nu, gamma`` are used.

    Args:
        t: ``(n,)`` times, days.
        amplitude: ``A``, flux unit.
        baseline: ``c``, flux unit.
        t0: reference time (the rise's midpoint), days, same origin as ``t``.
        rise_time: ``tau_rise``, days.
        fall_time: ``tau_fall``, days.
        plateau_slope: ``nu`` in ``[0, 1)``, dimensionless.
        plateau_duration: ``gamma`` > 0, days.

    Returns:
        ``(n,)`` flux, in the dtype of the inputs.
    """
    t, a, c, t0, tr, tf, nu, g = _args(t, amplitude, baseline, t0, rise_time, fall_time,
                                       plateau_slope, plateau_duration)
    tr, tf, nu, g = jnp.abs(tr), jnp.abs(tf), jnp.abs(nu), jnp.abs(g)
    x = t - t0
    rise = jax.nn.sigmoid(x / tr)
    after = x >= g
    plateau = 1.0 - nu * jnp.where(after, 0.0, x) / g
    decline = (1.0 - nu) * jnp.exp(-jnp.where(after, x - g, 0.0) / tf)
    return c + jnp.abs(a) * rise * jnp.where(after, decline, plateau)
