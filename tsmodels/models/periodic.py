"""``FourierSeries``: a multiband Fourier series at a fixed or free period."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.models.base import Model, banded_linear_solve

__all__ = ["FourierSeries", "fourier_basis", "grid_starts"]


def fourier_basis(t, frequency, nterms: int):
    """``[N, 2 nterms + 1]`` columns ``1, cos(2 pi k f t), sin(2 pi k f t)`` for k = 1..nterms.

    The phase ``f t`` (cycles) is reduced to ``[-1/2, 1/2]`` before the harmonics are formed, so
    ``sin``/``cos`` always see small arguments; in float32 the remaining error is that of the
    product ``f t`` itself, ``~6e-8 |f t|`` cycles (1e-3 rad at 3000 cycles), which is the
    accuracy of the float32 path at high frequency times long baselines.
    """
    ph = frequency * t
    ph = ph - jnp.round(ph)
    k = jnp.arange(1, nterms + 1, dtype=ph.dtype)
    arg = (2.0 * jnp.pi) * ph[:, None] * k[None, :]
    cols = [jnp.ones_like(ph)[:, None]]
    cs = jnp.stack([jnp.cos(arg), jnp.sin(arg)], axis=-1).reshape(ph.shape[0], 2 * nterms)
    return jnp.concatenate(cols + [cs], axis=1)


@dataclass(frozen=True)
class FourierSeries(Model):
    """Multiband Fourier series with a shared period and per-band shapes.

    In band ``b``::

        flux(t) = mean_b + sum_{k=1..nterms} [a_kb cos(2 pi k t / P) + b_kb sin(2 pi k t / P)]
                = mean_b + sum_k amp{k}_b cos(2 pi k t / P + phase{k}_b)

    with ``t`` in days relative to the object's ``t_ref`` (so phases refer to ``t_ref``),
    ``amp = hypot(a, b)`` and ``phase = atan2(-b, a)`` in radians. Means and Fourier coefficients
    are linear and solved per band by weighted least squares inside the likelihood; only the
    period is nonlinear.

    Args:
        nterms: number of harmonics.
        period: fixed period in days (then the model has no nonlinear parameter and a fit is a
            single linear solve), or None to fit it.
        period_range: ``(min, max)`` days: the support of the log-uniform prior on ``period``
            and the range of the starting-point search.
        oversample: frequency-grid points per periodogram peak width ``1 / baseline`` in the
            starting-point search.
        n_starts: default number of starts: the highest distinct peaks of the grid search.

    Parameters (free period): ``period`` (days). Derived per band: ``mean_<band>``,
    ``amp<k>_<band>``, ``phase<k>_<band>``.

    Precision: in float32 the phase ``t / P`` is rounded to ~6e-8 of its value, so on 10-year
    baselines (1e4 cycles) fitted periods are within ~1 sigma of the float64 fit (0.1 sigma on
    1-year baselines; tests/fitting/test_optimize.py); use float64 (the default) for period
    work on long baselines.

    The starting points come from a grid search over frequency of the same per-band
    least-squares chi2 (a multiband, multi-harmonic Lomb-Scargle periodogram from
    :mod:`tsmodels.periodogram`, see :func:`grid_starts`); the ``n_starts`` highest distinct
    peaks are the starts.
    """

    nterms: int = 1
    period: float | None = None
    period_range: tuple[float, float] = (0.1, 100.0)
    oversample: float = 5.0
    n_starts: int = 3

    def __post_init__(self):
        if int(self.nterms) != self.nterms or self.nterms < 1:
            raise ValueError(f"FourierSeries: nterms must be a positive integer, got {self.nterms!r}")
        if self.period is not None and not (math.isfinite(self.period) and self.period > 0):
            raise ValueError(f"FourierSeries: period must be a positive finite number, got {self.period!r}")
        lo, hi = self.period_range
        if not (0 < lo < hi < math.inf):
            raise ValueError(f"FourierSeries: period_range must satisfy 0 < min < max, got {self.period_range!r}")
        object.__setattr__(self, "period_range", (float(lo), float(hi)))

    @property
    def name(self) -> str:
        return f"FourierSeries{self.nterms}"

    @property
    def param_names(self):
        return () if self.period is not None else ("period",)

    @property
    def priors(self):
        if self.period is not None:
            return {}
        return {"period": dist.LogUniform(*self.period_range)}

    # ---------------------------------------------------------------- linear part
    def _frequency(self, params):
        if self.period is not None:
            return 1.0 / self.period
        return 1.0 / params["period"]

    def _solve(self, params, lc):
        X = fourier_basis(lc.t, self._frequency(params), self.nterms)
        return banded_linear_solve(X, lc)

    def linear_names(self, bands):
        names = []
        for b in bands:
            names.append(f"mean_{b}")
            for k in range(1, self.nterms + 1):
                names += [f"a{k}_{b}", f"b{k}_{b}"]
        return tuple(names)

    def linear(self, params, lc):
        return self._solve(params, lc)[0]

    def derived_names(self, bands):
        names = []
        for b in bands:
            names.append(f"mean_{b}")
            for k in range(1, self.nterms + 1):
                names += [f"amp{k}_{b}", f"phase{k}_{b}"]
        return tuple(names)

    def derived(self, params, coef, bands):
        m = 2 * self.nterms + 1
        out = {}
        for j, b in enumerate(bands):
            c = coef[j * m : (j + 1) * m]
            out[f"mean_{b}"] = c[0]
            for k in range(1, self.nterms + 1):
                a, s = c[2 * k - 1], c[2 * k]
                out[f"amp{k}_{b}"] = jnp.sqrt(a * a + s * s)
                out[f"phase{k}_{b}"] = jnp.arctan2(-s, a)
        return out

    # ---------------------------------------------------------------- likelihood
    def residuals(self, params, lc):
        _, fitted = self._solve(params, lc)
        err = jnp.where(lc.mask, lc.flux_err, 1.0)
        return jnp.where(lc.mask, (lc.flux - fitted) / err, 0.0)

    def predict(self, params, lc, t=None, band=None):
        sol, fitted = self._solve(params, lc)
        if t is None:
            return fitted
        t = jnp.asarray(t, dtype=jnp.result_type(lc.t))
        band = jnp.zeros(t.shape, jnp.int32) if band is None else jnp.asarray(band)
        X = fourier_basis(t, self._frequency(params), self.nterms)
        coef = sol.coef.reshape(len(lc.bands), -1)
        return jnp.sum(X * coef[band], axis=1)

    # ---------------------------------------------------------------- starts
    def init(self, batch, n_starts):
        if self.period is not None:
            return {}
        lo, hi = self.period_range
        periods = grid_starts(batch, nterms=self.nterms, fmin=1.0 / hi, fmax=1.0 / lo,
                              oversample=self.oversample, n_peaks=n_starts)
        return {"period": np.clip(periods, lo * (1 + 1e-9), hi * (1 - 1e-9))}


# ------------------------------------------------------------------------ grid search
def grid_starts(batch, *, nterms: int, fmin: float, fmax: float, oversample: float,
                n_peaks: int) -> np.ndarray:
    """Best ``n_peaks`` periods ``[B, n_peaks]`` of a multiband Fourier-series periodogram.

    The periodogram is :func:`tsmodels.periodogram.lombscargle_multiband` with no shared base
    terms and ``nterms`` harmonics plus an offset per band (``nterms_base=0``,
    ``nterms_band=nterms``): at each frequency, the same per-band weighted least-squares fit as
    the model's likelihood, so its peaks rank frequencies by the model's chi2. Each object's grid
    runs from ``fmin`` to ``fmax`` with spacing ``1 / (oversample * T)``, ``T`` the object's OWN
    baseline rounded up to a power of two days: the starts of an object depend on its light
    curve only, never on the other objects of its batch (objects sharing ``T`` share one
    periodogram call). :func:`tsmodels.periodogram.best_periods` gives the highest distinct
    peaks, best first (the best one repeated when there are fewer). Objects with fewer than two
    points get the geometric middle of the period range. Computed in the current precision.
    """
    from tsmodels import periodogram

    B = len(batch)
    mid = 1.0 / np.sqrt(fmin * fmax)
    out = np.full((B, n_peaks), mid)
    mask = np.asarray(batch.mask)
    t = np.asarray(batch.t)
    tmax = np.where(mask, t, -np.inf).max(axis=1, initial=-np.inf)
    tmin = np.where(mask, t, np.inf).min(axis=1, initial=np.inf)
    use = np.flatnonzero(tmax > tmin)
    if use.size == 0:
        return out
    span = np.maximum(tmax[use] - tmin[use], 1.0 / fmax)
    span = 2.0 ** np.ceil(np.log2(span))
    dt = jax.dtypes.canonicalize_dtype(jnp.float64)
    for T in np.unique(span):
        sel = use[span == T]
        df = 1.0 / (oversample * T)
        freq = fmin + df * np.arange(int(np.ceil((fmax - fmin) / df)) + 1)
        freq, power = periodogram.lombscargle_multiband(
            batch[sel], freq, nterms_base=0, nterms_band=nterms, method="direct", dtype=dt)
        peaks = periodogram.best_periods(freq, power, k=n_peaks)
        per = np.asarray(peaks.period, dtype=np.float64)
        per = np.where(np.isfinite(per), per, per[:, :1])
        out[sel] = np.where(np.isfinite(per), per, mid)
    return out
