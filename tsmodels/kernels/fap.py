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

For a model with :math:`d` periodic parameters (``nterms`` harmonics; or the multiband model
of VanderPlas & Ivezić 2015) the same construction is generalized (:func:`fap_generalized`,
standard normalization). Under the null hypothesis (Gaussian noise about the null model: one
constant, or one constant per band; :math:`N_H = N - n_{\rm null}` degrees of freedom) the
single-frequency power is :math:`\mathrm{Beta}(d/2, N_K/2)` distributed, :math:`N_K = N_H - d`,
and the power as a function of frequency is :math:`Z(f) = |P_f u|^2` for a direction :math:`u`
uniform on the sphere of the :math:`N_H`-dimensional residual space and :math:`P_f` the
projection onto the :math:`d` periodic columns. The Rice formula for the expected number of
up-crossings of that finite-N process (Baluev 2008 derives the :math:`d = 2` case) gives

.. math::

    \tau_d(Z) = W\,\frac{\Gamma(N_H/2)}{\Gamma((N_K+1)/2)\,\Gamma(d/2)}\,
    Z^{(d-1)/2} (1-Z)^{(N_K-1)/2},
    \qquad W = (f_{\max} - f_{\min}) \sqrt{4\pi\,\overline{\mathrm{Var}}(t)},

where :math:`4\pi^2 \overline{\mathrm{Var}}(t)` is the mean, over the :math:`d` periodic
components, of their large-N rate :math:`4\pi^2 h^2 \mathrm{Var}_b(t)` (harmonic :math:`h`,
weighted variance of the times of the points the component fits: band :math:`b` for per-band
terms, the pooled within-band variance for shared ones). For :math:`d = 2` and one band this is
Baluev's :math:`\tau` exactly (:math:`\Gamma((N_K+1)/2) = \Gamma((N_H-1)/2)`). Counting
(:func:`multiband_stats`): :math:`n_{\rm null}` = bands with data; a band with :math:`n_b`
points carries :math:`d_b = \min(2 m_1, n_b - 1)` periodic components (:math:`m_1` =
``nterms_band``), plus :math:`2\max(0, m_0 - m_1)` shared ones; a band with
:math:`n_b - 1 \le 2 m_1` is fitted exactly at every frequency, so its components do not move
with :math:`f` and add nothing to :math:`W`.

The periodogram is searched on a grid of step :math:`\delta f`, whose maximum misses the
continuous maximum: near a high peak :math:`Z(f) \approx Z_{\max} e^{-\lambda \epsilon^2}`
(:math:`\lambda = 4\pi^2\overline{\mathrm{Var}}(t)`, :math:`\epsilon` the offset of the
peak from the nearest grid point, uniform on :math:`[-\delta f/2, \delta f/2]`), so the grid
sees a crossing of :math:`Z` only if the continuous process crosses
:math:`Z e^{\lambda\epsilon^2}`: :math:`\tau_{\rm grid}(Z) = \langle \tau_d(Z
e^{\lambda\epsilon^2}) \rangle_\epsilon` (8-point Gauss-Legendre average). Then
:math:`\mathrm{FAP} = 1 - [1 - \mathrm{FAP}_1(Z)]\, e^{-\tau_{\rm grid}(Z)}` (Baluev's
alias-free form). Like Baluev's, this counts up-crossings, so it is accurate for small FAP and
conservative where crossings cluster (larger FAP, strongly gapped sampling, aliases).

Range of validity, checked on pure-noise simulations (``tests/kernels/test_fap.py``: 6000 noise
objects per case; default model ``nterms_base = nterms_band = 1``, ``reg_band = 1e-6``; grids of
5 samples per peak): the empirical rate at nominal 1% and 5% is 0.8-1.0x nominal for uniformly
random times (3 bands x 15 or 30 points, 6 bands x 10 or 15), and 0.7-1.15x for the LSST-like
cadence of :mod:`tsmodels.simulate` (6-8 month seasons, one visit per night, 1 or 3 years,
searched to 2-3 cycles/day, i.e. through the daily aliases) with 3 bands x 15-30 or 6 bands x
10-20 points, also with LSST's unequal visit fractions (3 years, 120 visits: 8 u to 26 r or i
points). The shared-sinusoid model (``nterms_band = 0``, the search model of
:func:`tsmodels.periodogram.find_periods`) is within 1.0-1.2x on grids of 2 to 20 samples per
peak. Outside this range (fewer than ~10 points in most bands, a strong ridge that shrinks the
band terms, other normalizations) it has not been checked; the permutation bootstrap of
:func:`tsmodels.periodogram.false_alarm_probability` is exact there.

References:
    Baluev, R. V. 2008, MNRAS 385, 1279.
    Davies, R. B. 2002, Biometrika 89, 484.
    VanderPlas, J. T. 2018, ApJS 236, 16 (§7.4).
    VanderPlas, J. T. & Ivezić, Ž. 2015, ApJ 812, 18.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import betainc, gammaln

from tsmodels.kernels._precision import float64_by_default

__all__ = [
    "lightcurve_stats",
    "fap_single",
    "inv_fap_single",
    "tau_davies",
    "false_alarm_probability",
    "false_alarm_level",
    "fap_generalized",
    "tau_generalized",
    "multiband_stats",
    "METHODS",
]

METHODS = ("baluev", "davies", "naive", "single")


def _time_weights(t, dy, mask):
    """``(t, mask, w)``: the times, the mask (all True if None) and the weights ``1/dy^2`` at
    real points (1 if ``dy`` is None; 0 at padded points)."""
    t = jnp.asarray(t)
    mask = jnp.ones(t.shape, bool) if mask is None else jnp.asarray(mask, bool)
    if dy is None:
        return t, mask, mask.astype(t.dtype)
    dys = jnp.where(mask, jnp.asarray(dy, t.dtype), 1.0)
    return t, mask, jnp.where(mask, 1.0 / (dys * dys), 0.0)


@float64_by_default
def lightcurve_stats(t, dy=None, mask=None):
    """Number of points, baseline (days) and weighted variance of the times (days^2).

    Weights are ``1/dy^2`` (equal if ``dy`` is None), as astropy's ``_weighted_var``.
    """
    t, mask, w = _time_weights(t, dy, mask)
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


@float64_by_default
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


@float64_by_default
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


@float64_by_default
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


@float64_by_default
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


@float64_by_default
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


# 8-point Gauss-Legendre nodes and weights on [0, 1] (average over the grid offset).
_GL_X = (0.019855071751231912, 0.10166676129318664, 0.2372337950418355, 0.4082826787521751,
         0.5917173212478248, 0.7627662049581645, 0.8983332387068134, 0.9801449282487681)
_GL_W = (0.05061426814518853, 0.11119051722668721, 0.15685332293894344, 0.18134189168918083,
         0.18134189168918083, 0.15685332293894344, 0.11119051722668721, 0.05061426814518853)


@float64_by_default
def tau_generalized(z, *, fmax, n, t_var, d, n_null=1, harmonic_rms=1.0, fmin=0.0):
    r""":math:`\tau_d(Z)`, expected up-crossings of level ``z`` in ``[fmin, fmax]`` (module
    docstring; continuous frequency). Arguments as :func:`fap_generalized`."""
    z = jnp.clip(jnp.asarray(z), 0.0, 1.0)
    nh = jnp.maximum(n - n_null, 1.0)
    nk = jnp.maximum(nh - d, 1.0)
    W = (fmax - fmin) * jnp.sqrt(4.0 * jnp.pi * jnp.maximum(t_var, 0.0)) * harmonic_rms
    lg = gammaln(0.5 * nh) - gammaln(0.5 * (nk + 1.0)) - gammaln(0.5 * d)
    return W * jnp.exp(lg) * _pow(z, 0.5 * (d - 1.0)) * _pow(1.0 - z, 0.5 * (nk - 1.0))


@float64_by_default
def fap_generalized(z, *, fmax, n, t_var, d, n_null=1, harmonic_rms=1.0, fmin=0.0, df=0.0):
    r"""Baluev-type FAP for a model with ``d`` periodic parameters (standard normalization).

    :math:`1 - [1 - \mathrm{FAP}_1(Z)]\,e^{-\tau_{\rm grid}(Z)}` with
    :math:`\mathrm{FAP}_1` the :math:`\mathrm{Beta}(d/2, N_K/2)` tail and
    :math:`\tau_{\rm grid}` the grid-averaged :math:`\tau_d` of the module docstring (Baluev
    2008 generalized to ``d`` periodic parameters). With ``d = 2, n_null = 1, fmin = 0, df = 0``
    it equals Baluev's (astropy's) single-band formula.

    Args:
        z: peak power(s) (standard normalization), any shape.
        fmax: highest frequency searched (1/day).
        n: number of points.
        t_var: weighted variance of the times (days^2), or for several components the mean of
            ``h^2 Var_b(t)`` over them (:func:`multiband_stats`; then ``harmonic_rms = 1``).
        d: number of periodic parameters (2 per harmonic and band block).
        n_null: parameters of the null model (1 single band; number of bands with data for the
            multiband periodogram).
        harmonic_rms: root-mean-square harmonic order of the components (scales W; default 1).
        fmin: lowest frequency searched (1/day; default 0, Baluev's convention).
        df: grid step (1/day) of the periodogram the peak was taken from; 0 (default) for the
            maximum over continuous frequency (exact refinement, or an irregular grid).

    Returns:
        FAP, the shape of ``z``.
    """
    z = jnp.clip(jnp.asarray(z), 0.0, 1.0)
    nh = jnp.maximum(n - n_null, 1.0)
    nk = jnp.maximum(nh - d, 1.0)
    fs = betainc(0.5 * nk, 0.5 * d, 1.0 - z)                # P(Beta(d/2, nk/2) > z)
    lam = 4.0 * jnp.pi ** 2 * jnp.maximum(t_var, 0.0) * harmonic_rms ** 2
    tau = jnp.zeros_like(z)
    for x, w in zip(_GL_X, _GL_W):
        eps = 0.5 * df * x
        zs = jnp.minimum(z * jnp.exp(lam * eps * eps), 1.0)
        tau = tau + w * tau_generalized(zs, fmax=fmax, n=n, t_var=t_var, d=d, n_null=n_null,
                                        harmonic_rms=harmonic_rms, fmin=fmin)
    return -jnp.expm1(-tau) + fs * jnp.exp(-tau)


@float64_by_default
def multiband_stats(t, dy, band, mask=None, *, n_bands, nterms_base=1, nterms_band=1):
    r"""The inputs of :func:`fap_generalized` for a multiband periodogram of one light curve.

    Counts (module docstring): ``n_null`` = bands with data; a band with :math:`n_b` points has
    :math:`d_b = \min(2 m_1, n_b - 1)` periodic components, and the shared series
    :math:`2\max(0, m_0 - m_1)` more; ``d`` is their sum (at most :math:`N - n_{\rm null} - 1`).
    ``t_var`` is the mean over components of :math:`h^2\,\mathrm{Var}(t)`: for band
    harmonics the weighted variance of band b's times, 0 for a band fitted exactly
    (:math:`n_b - 1 \le 2 m_1`); for shared harmonics the pooled within-band variance
    :math:`\sum_b w_b \mathrm{Var}_b / \sum_b w_b` (bands with 2 points or more). A single
    band with ``nterms_base = 0, nterms_band = m`` is the single-band ``nterms = m`` model.

    Args:
        t: ``(n,)`` times, days; dy: ``(n,)`` uncertainties or None (equal weights).
        band: ``(n,)`` int band index in ``[0, n_bands)``; mask: ``(n,)`` bool.
        n_bands, nterms_base, nterms_band: the periodogram's model (static).

    Returns:
        ``(n, n_null, d, t_var)`` as scalars (``t_var`` in days^2).
    """
    t, mask, w = _time_weights(t, dy, mask)
    m0, m1 = int(nterms_base), int(nterms_band)
    onehot = (jnp.asarray(band)[None, :] == jnp.arange(n_bands)[:, None]) & mask[None, :]
    wb = jnp.where(onehot, w[None, :], 0.0)                                   # [nb, n]
    nb_pts = jnp.sum(onehot, axis=1).astype(t.dtype)                          # [nb]
    Wb = jnp.sum(wb, axis=1)
    Wsafe = jnp.where(Wb > 0, Wb, 1.0)
    t0 = jnp.sum(jnp.where(mask, t, 0.0)) / jnp.maximum(jnp.sum(mask), 1)
    tc = jnp.where(mask, t - t0, 0.0)
    mean_b = jnp.sum(wb * tc[None, :], axis=1) / Wsafe
    var_b = jnp.maximum(jnp.sum(wb * (tc[None, :] - mean_b[:, None]) ** 2, axis=1) / Wsafe, 0.0)
    var_b = jnp.where(Wb > 0, var_b, 0.0)
    n = jnp.sum(nb_pts)
    n_null = jnp.sum(nb_pts > 0).astype(t.dtype)
    d_b = jnp.clip(nb_pts - 1.0, 0.0, 2.0 * m1)
    free = nb_pts - 1.0 > 2.0 * m1                              # band not fitted exactly
    h2_band = sum(h * h for h in range(1, m1 + 1))              # per band: 2 components per h
    lam_sum = jnp.sum(jnp.where(free, 2.0 * h2_band * var_b, 0.0))
    d = jnp.sum(d_b)
    extra = [h for h in range(m1 + 1, m0 + 1)]
    if extra:
        pooled_w = jnp.where(nb_pts >= 2, Wb, 0.0)
        pooled_sum = jnp.sum(pooled_w)
        var_pool = jnp.sum(pooled_w * var_b) / jnp.where(pooled_sum > 0, pooled_sum, 1.0)
        d = d + 2.0 * len(extra)
        lam_sum = lam_sum + 2.0 * sum(h * h for h in extra) * var_pool
    t_var = lam_sum / jnp.maximum(d, 1.0)
    d = jnp.maximum(jnp.minimum(d, n - n_null - 1.0), 1.0)
    return n, n_null, d, t_var
