r"""False-alarm probabilities of Lomb-Scargle peaks, for ONE light curve (pure JAX).

The false-alarm probability (FAP) of a peak of height :math:`Z` is the probability that pure
Gaussian noise, sampled like the data, gives a periodogram whose maximum over
:math:`0 < f \le f_{\max}` exceeds :math:`Z`. Single-band formulas follow Baluev (2008), Table 1,
exactly as astropy implements them (same numbers):

* single frequency, :math:`N_K = N - 3` (dH = 1, dK = 3):
  standard :math:`(1-Z)^{N_K/2}`, model :math:`(1+Z)^{-N_K/2}`, log :math:`e^{-N_K Z/2}`,
  psd :math:`e^{-Z}`;
* ``naive``: :math:`1 - (1 - \mathrm{FAP}_1)^{N_{\rm eff}}`, :math:`N_{\rm eff} = f_{\max} T`;
* ``davies`` (upper bound): :math:`\mathrm{FAP}_1 + \tau(Z)`;
* ``baluev`` (alias-free approximation): :math:`1 - (1 - \mathrm{FAP}_1)\,e^{-\tau(Z)}`,

with :math:`\tau(Z) = \gamma(N_H)\,W\,(1-Z)^{(N_K-1)/2}\sqrt{N_H Z/2}` (standard normalization;
the others in Table 1), :math:`W = f_{\max} T_{\rm eff}`, :math:`T_{\rm eff} = \sqrt{4\pi\,
\mathrm{Var}(t)}` (weighted variance of the times), :math:`\gamma(N) = \sqrt{2/N}\,
\Gamma(N/2)/\Gamma((N-1)/2)`, :math:`N_H = N - 1`.

For a model with :math:`d` periodic parameters (``nterms`` harmonics, :math:`d = 2m`; or the
multiband model, :math:`d = 2 m_1 B + 2\max(0, m_0 - m_1)` for :math:`B` bands with data), the
same construction is generalized (:func:`fap_generalized`, standard normalization): under the
null hypothesis (per-band constants, :math:`N_H = N - B` degrees of freedom) the single-frequency
power is :math:`\mathrm{Beta}(d/2, N_K/2)` distributed, :math:`N_K = N_H - d`, and the expected
number of up-crossings of a :math:`\chi^2_d` process, :math:`\nu_d(u) = \nu_2(u)\,
(u/2)^{(d-2)/2}/\Gamma(d/2)` (Rice formula; Aronowich & Adler 1985), applied to Baluev's
finite-N form of :math:`\tau` (:math:`u = N_H Z`), gives

.. math::

    \tau_d(Z) = \gamma(N_H)\, W\, (1-Z)^{(N_K-1)/2} \frac{(N_H Z / 2)^{(d-1)/2}}{\Gamma(d/2)},

which is Baluev's :math:`\tau` for :math:`d = 2`; :math:`W` uses the harmonics' root-mean-square order. Like Baluev's, this is an upper-bound-type
approximation, accurate for small FAP and conservative for larger ones. Checked on pure-noise
simulations (tests): with ~30 points per band the empirical rate at nominal 1% and 5% is within
a factor 1.5; with ~15 points per band it is conservative by up to 1.6x at 5%.

References:
    Baluev, R. V. 2008, MNRAS 385, 1279.
    Davies, R. B. 2002, Biometrika 89, 484.
    VanderPlas, J. T. 2018, ApJS 236, 16 (§7.4).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import betainc, gammaln

__all__ = [
    "lightcurve_stats",
    "fap_single",
    "inv_fap_single",
    "tau_davies",
    "false_alarm_probability",
    "false_alarm_level",
    "fap_generalized",
    "METHODS",
]

METHODS = ("baluev", "davies", "naive", "single")


def lightcurve_stats(t, dy=None, mask=None):
    """Number of points, baseline (days) and weighted variance of the times (days^2).

    Weights are ``1/dy^2`` (equal if ``dy`` is None), as astropy's ``_weighted_var``.
    """
    t = jnp.asarray(t)
    mask = jnp.ones(t.shape, bool) if mask is None else jnp.asarray(mask, bool)
    if dy is None:
        w = mask.astype(t.dtype)
    else:
        dys = jnp.where(mask, jnp.asarray(dy, t.dtype), 1.0)
        w = jnp.where(mask, 1.0 / (dys * dys), 0.0)
    n = jnp.sum(mask).astype(t.dtype)
    ws = jnp.where(jnp.sum(w) > 0, jnp.sum(w), 1.0)
    t0 = jnp.sum(jnp.where(mask, t, 0.0)) / jnp.maximum(n, 1.0)
    tc = jnp.where(mask, t - t0, 0.0)
    mean = jnp.sum(w * tc) / ws
    var = jnp.sum(w * tc * tc) / ws - mean * mean
    tmax = jnp.max(jnp.where(mask, t, -jnp.inf))
    tmin = jnp.min(jnp.where(mask, t, jnp.inf))
    baseline = jnp.where(n > 0, tmax - tmin, 0.0)
    return n, baseline, var


def _gamma(n):
    n = jnp.maximum(n, 2.0)
    return jnp.sqrt(2.0 / n) * jnp.exp(gammaln(n / 2.0) - gammaln((n - 1.0) / 2.0))


def _pow(base, expo):
    """base ** expo for base in [0, inf), with 0 ** positive = 0 and no NaN (where-before-log)."""
    ok = base > 0
    return jnp.where(ok, jnp.exp(expo * jnp.log(jnp.where(ok, base, 1.0))), 0.0)


def fap_single(z, n, normalization="standard"):
    """Single-frequency false-alarm probability (Baluev 2008, Table 1; dK - dH = 2)."""
    nk = n - 3.0
    z = jnp.asarray(z)
    if normalization == "psd":
        return jnp.exp(-z)
    if normalization == "standard":
        return _pow(jnp.clip(1.0 - z, 0.0, 1.0), 0.5 * nk)
    if normalization == "model":
        return _pow(1.0 + z, -0.5 * nk)
    if normalization == "log":
        return jnp.exp(-0.5 * nk * z)
    raise ValueError(f"normalization must be standard, model, log or psd, got {normalization!r}")


def inv_fap_single(fap, n, normalization="standard"):
    """Inverse of :func:`fap_single`: the power level whose single-frequency FAP is ``fap``."""
    nk = n - 3.0
    fap = jnp.asarray(fap)
    lf = jnp.log(jnp.where(fap > 0, fap, jnp.finfo(fap.dtype).tiny))
    if normalization == "psd":
        return -lf
    if normalization == "standard":
        return 1.0 - jnp.exp(2.0 / nk * lf)
    if normalization == "model":
        return -1.0 + jnp.exp(-2.0 / nk * lf)
    if normalization == "log":
        return -2.0 / nk * lf
    raise ValueError(f"normalization must be standard, model, log or psd, got {normalization!r}")


def tau_davies(z, fmax, n, t_var, normalization="standard"):
    r""":math:`\tau(Z)`, the expected number of up-crossings (Baluev 2008, Table 1)."""
    nh, nk = n - 1.0, n - 3.0
    W = fmax * jnp.sqrt(4.0 * jnp.pi * jnp.maximum(t_var, 0.0))
    z = jnp.asarray(z)
    zp = jnp.maximum(z, 0.0)
    if normalization == "psd":
        return W * jnp.exp(-zp) * jnp.sqrt(zp)
    if normalization == "standard":
        return _gamma(nh) * W * _pow(jnp.clip(1.0 - zp, 0.0, 1.0), 0.5 * (nk - 1.0)) * jnp.sqrt(0.5 * nh * zp)
    if normalization == "model":
        return _gamma(nk) * W * _pow(1.0 + zp, -0.5 * nk) * jnp.sqrt(0.5 * nk * zp)
    if normalization == "log":
        return _gamma(nk) * W * jnp.exp(-0.5 * zp * (nk - 0.5)) * jnp.sqrt(nk * jnp.sinh(0.5 * zp))
    raise ValueError(f"normalization must be standard, model, log or psd, got {normalization!r}")


def false_alarm_probability(z, *, fmax, n, baseline, t_var, normalization="standard",
                            method="baluev"):
    """FAP of peak height(s) ``z`` for one light curve (astropy's methods and numbers).

    Args:
        z: peak power(s), any shape.
        fmax: highest frequency searched (1/day).
        n, baseline, t_var: from :func:`lightcurve_stats`.
        normalization: of the periodogram ``z`` comes from.
        method: "baluev" (default), "davies", "naive" or "single".
    """
    fs = fap_single(z, n, normalization)
    if method == "single":
        return fs
    if method == "naive":
        neff = fmax * baseline
        return -jnp.expm1(neff * jnp.log1p(-jnp.minimum(fs, 1.0 - jnp.finfo(fs.dtype).epsneg)))
    tau = tau_davies(z, fmax, n, t_var, normalization)
    if method == "davies":
        return fs + tau
    if method == "baluev":
        return -jnp.expm1(-tau) + fs * jnp.exp(-tau)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _bisect_level(fap_fn, p, normalization, iters):
    """Invert a decreasing FAP(z) by bisection on x in [0, 1), z = map(x) (traceable)."""
    def to_z(x):
        if normalization == "standard":
            return x
        if normalization == "model":
            return x / (1.0 - x)
        return -jnp.log1p(-x)                 # log and psd: z in [0, inf)

    p = jnp.asarray(p)
    lo = jnp.zeros_like(p)
    hi = jnp.ones_like(p) - jnp.finfo(p.dtype).epsneg
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        above = fap_fn(to_z(mid)) > p          # FAP still above target: level is higher
        lo = jnp.where(above, mid, lo)
        hi = jnp.where(above, hi, mid)
    return to_z(0.5 * (lo + hi))


def false_alarm_level(p, *, fmax, n, baseline, t_var, normalization="standard",
                      method="baluev"):
    """Power level whose FAP is ``p`` (inverse of :func:`false_alarm_probability`).

    "single" and "naive" are inverted in closed form (as astropy); "davies" and "baluev" by 64
    steps of bisection (resolution below float64 rounding of the level).
    """
    p = jnp.asarray(p)
    if method == "single":
        return inv_fap_single(p, n, normalization)
    if method == "naive":
        neff = fmax * baseline
        fs = -jnp.expm1(jnp.log1p(-p) / neff)
        return inv_fap_single(fs, n, normalization)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    iters = 64 if p.dtype == jnp.float64 else 32
    return _bisect_level(
        lambda z: false_alarm_probability(z, fmax=fmax, n=n, baseline=baseline, t_var=t_var,
                                          normalization=normalization, method=method),
        p, normalization, iters)


def fap_generalized(z, *, fmax, n, t_var, d, n_null=1, harmonic_rms=1.0):
    r"""Baluev-type FAP for a model with ``d`` periodic parameters (standard normalization).

    Args:
        z: peak power(s) (standard normalization).
        fmax: highest frequency searched (1/day).
        n: number of points; t_var: weighted variance of the times (days^2).
        d: number of periodic parameters (2 per harmonic and band block).
        n_null: parameters of the null model (1 single band; number of bands with data for the
            multiband periodogram).
        harmonic_rms: root-mean-square harmonic order of the components (scales W).

    Returns:
        :math:`1 - [1 - \mathrm{FAP}_1(Z)]\,e^{-\tau_d(Z)}`, see module docstring.
    """
    z = jnp.clip(jnp.asarray(z), 0.0, 1.0)
    nh = n - n_null
    nk = jnp.maximum(nh - d, 1.0)
    fs = betainc(0.5 * nk, 0.5 * d, 1.0 - z)                # P(Beta(d/2, nk/2) > z)
    W = fmax * jnp.sqrt(4.0 * jnp.pi * jnp.maximum(t_var, 0.0)) * harmonic_rms
    tau = (_gamma(nh) * W * _pow(1.0 - z, 0.5 * (nk - 1.0))
           * _pow(0.5 * nh * z, 0.5 * (d - 1.0)) * jnp.exp(-gammaln(0.5 * d)))
    return -jnp.expm1(-tau) + fs * jnp.exp(-tau)
