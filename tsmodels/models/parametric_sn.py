"""Parametric supernova models: ``Bazin`` (Bazin et al. 2009) and ``Villar`` (Villar et al. 2019).

Both are multiband by default: the timing parameters are shared by every band and each band has
its own amplitude and baseline. In band ``b``::

    flux(t) = amplitude_b * S(t; t0, rise_time, fall_time[, plateau_slope, plateau_duration])
              + baseline_b

with ``S`` the kernel of :mod:`tsmodels.kernels.supernova.parametric` at unit amplitude and zero
baseline (the definitions of the ``light-curve`` package). The amplitudes and baselines are
linear: they are solved per band by weighted least squares inside the likelihood
(:func:`~tsmodels.models.base.banded_linear_solve` on the basis ``[S(t), 1]``), so the fitted
nonlinear parameters are only the timing ones and ``ts.fit`` uses Levenberg-Marquardt on
:meth:`residuals`. The linear amplitude is not forced positive (a band with a negative amplitude
is a dip); ``light-curve`` uses ``|A|``, which is the same for positive amplitudes.

``band="r"`` fits one band's points only (a per-band fit, as ``light-curve``'s ``BazinFit`` does);
the other bands' points are ignored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.kernels.supernova import bazin_flux, villar_flux
from tsmodels.models.base import Model, SingleBand, banded_linear_solve

__all__ = ["Bazin", "Villar", "sn_starts"]


def sn_starts(batch, n_starts: int, *, band_index=None) -> dict[str, np.ndarray]:
    """Data-driven starts ``{t_peak, rise_time, fall_time}`` ``[B, n_starts]`` on the host.

    Per object: the band with the largest peak flux above its median (the brightest band) gives
    the peak time ``t_peak`` (time of its largest flux) and the width ``w`` (time between the first
    and last points above half that peak, at least 1 day). Starts: ``rise_time = w / 6`` and
    ``fall_time = w / 2`` times the factors ``(1, 1)``, ``(0.5, 2)``, ``(2, 0.5)``, ``(1, 4)``, ...
    (cycled for ``n_starts``). Objects without points get ``t_peak = 0``, ``w = 30`` days.
    """
    mask = np.asarray(batch.mask, bool)
    if band_index is not None:
        mask = mask & (np.asarray(batch.band) == band_index)
    t = np.asarray(batch.t, np.float64)
    y = np.asarray(batch.flux, np.float64)
    band = np.asarray(batch.band)
    B = t.shape[0]
    t_peak = np.zeros(B)
    width = np.full(B, 30.0)
    best = np.full(B, -np.inf)
    # one pass per band over every object at once; the first band (in index order) with the
    # largest height wins, as in a loop over the bands present
    for b in np.unique(band[mask]):
        sel = mask & (band == b)
        has = sel.any(axis=1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # objects without this band: NaN
            base = np.nanmedian(np.where(sel, y, np.nan), axis=1)
        ys = np.where(sel, y, -np.inf)
        k = np.argmax(ys, axis=1)
        h = np.where(has, ys[np.arange(B), k] - base, -np.inf)
        win = has & (h > best)
        above = sel & (y - base[:, None] >= 0.5 * h[:, None])
        span = (np.max(np.where(above, t, -np.inf), axis=1) - np.min(np.where(above, t, np.inf), axis=1))
        w = np.where(h > 0, np.maximum(span, 1.0), 30.0)
        best = np.where(win, h, best)
        t_peak = np.where(win, t[np.arange(B), k], t_peak)
        width = np.where(win, w, width)
    factors = [(1.0, 1.0), (0.5, 2.0), (2.0, 0.5), (1.0, 4.0), (0.5, 0.5), (2.0, 2.0)]
    fr = np.array([factors[k % len(factors)][0] for k in range(n_starts)])
    ff = np.array([factors[k % len(factors)][1] for k in range(n_starts)])
    rise = (width / 6.0)[:, None] * fr[None, :]
    fall = (width / 2.0)[:, None] * ff[None, :]
    return {"t_peak": np.repeat(t_peak[:, None], n_starts, 1), "rise_time": rise, "fall_time": fall}


class _ParametricSN(SingleBand, Model):
    """Shared machinery of :class:`Bazin` and :class:`Villar` (see the module docstring)."""

    def _shape(self, params, t):
        raise NotImplementedError

    def _solve(self, params, lc):
        mask = self._mask(lc)
        s = self._shape(params, lc.t)
        X = jnp.stack([s, jnp.ones_like(s)], axis=1)
        sol, fitted = banded_linear_solve(X, lc, mask=mask)
        return sol, fitted, mask

    def bounds(self, lc):
        """``t0`` within ``t0_margin`` days of the first and last real points."""
        mask = self._mask(lc)
        big = jnp.asarray(1e30, jnp.result_type(lc.t))
        tmin = jnp.min(jnp.where(mask, lc.t, big))
        tmax = jnp.max(jnp.where(mask, lc.t, -big))
        return {"t0": (tmin - self.t0_margin, tmax + self.t0_margin)}

    def check_batch(self, batch) -> None:
        Model.check_batch(self, batch)
        self._band_index(batch.bands)  # a per-band model with band=None fits every band jointly

    def linear_names(self, bands):
        return tuple(n for b in bands for n in (f"amplitude_{b}", f"baseline_{b}"))

    def linear(self, params, lc):
        return self._solve(params, lc)[0]

    def residuals(self, params, lc):
        _, fitted, mask = self._solve(params, lc)
        err = jnp.where(mask, lc.flux_err, 1.0)
        return jnp.where(mask, (lc.flux - fitted) / err, 0.0)

    def predict(self, params, lc, t=None, band=None):
        sol, fitted, _ = self._solve(params, lc)
        if t is None:
            return jnp.where(lc.mask, self._predict_at(params, sol, lc.t, lc.band, len(lc.bands)), 0.0)
        t = jnp.asarray(t, dtype=jnp.result_type(lc.t))
        if band is None:
            b = self._band_index(lc.bands)
            band = jnp.full(t.shape, 0 if b is None else b, jnp.int32)
        return self._predict_at(params, sol, t, jnp.asarray(band), len(lc.bands))

    def _predict_at(self, params, sol, t, band, nb):
        coef = sol.coef.reshape(nb, 2)
        return coef[band, 0] * self._shape(params, t) + coef[band, 1]

    def _common_priors(self):
        return {"t0": dist.Uniform(-self.t0_range, self.t0_range),
                "rise_time": dist.LogUniform(*self.rise_range),
                "fall_time": dist.LogUniform(*self.fall_range)}

    def _timing_starts(self, batch, n_starts):
        s = sn_starts(batch, n_starts, band_index=self._band_index(batch.bands))
        rise = np.clip(s["rise_time"], self.rise_range[0] * 1.01, self.rise_range[1] * 0.99)
        fall = np.clip(s["fall_time"], self.fall_range[0] * 1.01, self.fall_range[1] * 0.99)
        return s["t_peak"], rise, fall


@dataclass(frozen=True)
class Bazin(_ParametricSN):
    """Bazin et al. (2009) supernova model, shared timing and per-band amplitude and baseline.

    In band ``b``: ``flux = amplitude_b exp(-(t - t0)/fall_time) / (1 + exp(-(t - t0)/rise_time))
    + baseline_b`` (:func:`tsmodels.kernels.supernova.bazin_flux`; ``t`` and ``t0`` in days
    relative to the object's ``t_ref``).

    Args:
        band: fit only this band (a name in the batch's ``bands``); None fits all bands jointly.
        t0_range: ``t0`` prior ``Uniform(-t0_range, t0_range)`` days (times are centred on the
            object's mean time); each object further limits ``t0`` to ``t0_margin`` days beyond
            its first and last points.
        t0_margin: see ``t0_range``.
        rise_range: ``(min, max)`` days, support of the log-uniform prior on ``rise_time``.
        fall_range: ``(min, max)`` days, support of the log-uniform prior on ``fall_time``.
        n_starts: default number of starts optimised per object; 2, the most likely of
            ``n_candidates``.
        n_candidates: default number of candidate starts (:func:`sn_starts`) whose likelihood
            is evaluated; 6. Optimising 3 of the candidates without screening, about 1 in 8
            single-band fits of simulated SNe stopped at a secondary minimum; the 2 most likely
            of 6 reach the same chi2 as all 6 optimised (on 1,000 simulated single-band SNe of
            ``benchmarks/bench_supernova.py``: largest difference 0.04) at 2.6 times the speed.

    Parameters: ``t0``, ``rise_time``, ``fall_time`` (days). Linear (derived) per band:
    ``amplitude_<band>``, ``baseline_<band>`` (flux unit).

    Starts: the peak of the brightest band at ``t_peak`` and its half-maximum width ``w``;
    ``rise_time ~ w / 6``, ``fall_time ~ w / 2`` and ``t0 = t_peak - rise_time ln(fall/rise - 1)``
    (the Bazin peak lies at ``t0 + rise ln(fall / rise - 1)``).
    """

    band: str | None = None
    t0_range: float = 1e4
    t0_margin: float = 100.0
    rise_range: tuple[float, float] = (0.05, 200.0)
    fall_range: tuple[float, float] = (0.5, 2000.0)
    n_starts: int = 2
    n_candidates: int = 6
    #: solver blocks of 1/128 of the lanes (the default is 1/32): a step of three parameters is
    #: cheap, and narrow blocks make the many rounds of the few slowest lanes (a rise before the
    #: first point) cheaper: 5235 -> 6942 fits/s on 1,000 simulated single-band SNe, warm.
    #: (Villar keeps the default: 10% faster at 1/128, within the noise, and its flat plateau
    #: valleys end a few fits at a point that depends on the compiled width's rounding.)
    compact_fraction = 1.0 / 128.0
    #: convergence tolerance 1e-8 (relative decrease of the cost, scipy's default ftol) rather
    #: than the fitting layer's 1e-10 in float64: the fits whose rise precedes the data creep
    #: along a flat valley and stopped there after up to 131 iterations instead of 59, for chi2
    #: changes below 0.01 (none of 1,000 simulated single-band SNe changed by more)
    fit_tol = 1e-8

    param_names = ("t0", "rise_time", "fall_time")

    @property
    def priors(self):
        return self._common_priors()

    def _shape(self, params, t):
        return bazin_flux(t, amplitude=1.0, baseline=0.0, t0=params["t0"],
                          rise_time=params["rise_time"], fall_time=params["fall_time"])

    def init(self, batch, n_starts):
        t_peak, rise, fall = self._timing_starts(batch, n_starts)
        t0 = t_peak - rise * np.log(np.maximum(fall / rise - 1.0, 1.0))
        return {"t0": t0, "rise_time": rise, "fall_time": fall}


@dataclass(frozen=True)
class Villar(_ParametricSN):
    """Villar et al. (2019) supernova model, shared timing and plateau, per-band amplitude and
    baseline.

    In band ``b``: ``flux = amplitude_b V(t) + baseline_b`` with ``V`` the Villar shape at unit
    amplitude (:func:`tsmodels.kernels.supernova.villar_flux`, ``light-curve``'s
    parametrisation: ``plateau_slope`` is the dimensionless ``nu`` in ``[0, 1)``, the fractional
    decline over the plateau of length ``plateau_duration`` = ``gamma`` days).

    Args:
        band, t0_range, t0_margin, rise_range, fall_range: as for :class:`Bazin`.
        n_starts: default number of starts (:func:`sn_starts`), all optimised; 6. Screening
            them as :class:`Bazin` does loses the best minimum: optimising the 4 most likely of
            8 candidates, 113 of 1,000 simulated single-band SNe ended more than 1 in chi2 above
            the fit of all 6. A quick fit at ``light-curve``'s budget (its ``VillarFit`` runs
            one start for 10 iterations) is ``ts.fit(Villar(), batch, n_starts=1,
            max_steps=10)``: about 12 times faster, with light-curve's quality rather than the
            default's (on the 1,000 simulated single-band SNe of
            ``benchmarks/bench_supernova.py``, median reduced chi2 1.118, light-curve's 1.118,
            the default's 0.991); unconverged fits have status ``MAX_STEPS``.
        plateau_range: ``(min, max)`` days, support of the log-uniform prior on
            ``plateau_duration`` (``light-curve`` allows ``gamma >= 0``; the log-uniform prior
            keeps it strictly positive).

    Parameters: ``t0``, ``rise_time``, ``fall_time``, ``plateau_slope`` (prior
    ``Uniform(0, 1)``), ``plateau_duration``. Linear per band: ``amplitude_<band>``,
    ``baseline_<band>``.

    Starts: as for :class:`Bazin`, with ``t0 = t_peak - rise_time``, ``plateau_slope = 0.2`` and
    ``plateau_duration = fall_time / 2`` (at least 1 day).

    The likelihood is multimodal (t0, plateau and fall time trade off): on 8 simulated
    single-band SNe, 1 fit ended at a higher chi2 than ``light-curve``'s ``VillarFit("lmsder")``
    (9.63 vs 8.13) and only 1 of 8 reached the same minimum; fit several starts or check chi2.
    """

    band: str | None = None
    t0_range: float = 1e4
    t0_margin: float = 100.0
    rise_range: tuple[float, float] = (0.05, 200.0)
    fall_range: tuple[float, float] = (0.5, 2000.0)
    plateau_range: tuple[float, float] = (0.1, 500.0)
    n_starts: int = 6

    param_names = ("t0", "rise_time", "fall_time", "plateau_slope", "plateau_duration")

    @property
    def priors(self):
        p = self._common_priors()
        p["plateau_slope"] = dist.Uniform(0.0, 1.0)
        p["plateau_duration"] = dist.LogUniform(*self.plateau_range)
        return p

    def _shape(self, params, t):
        return villar_flux(t, amplitude=1.0, baseline=0.0, t0=params["t0"],
                           rise_time=params["rise_time"], fall_time=params["fall_time"],
                           plateau_slope=params["plateau_slope"],
                           plateau_duration=params["plateau_duration"])

    def init(self, batch, n_starts):
        t_peak, rise, fall = self._timing_starts(batch, n_starts)
        gamma = np.clip(np.maximum(fall / 2.0, 1.0), self.plateau_range[0] * 1.01,
                        self.plateau_range[1] * 0.99)
        return {"t0": t_peak - rise, "rise_time": rise, "fall_time": fall,
                "plateau_slope": np.full_like(rise, 0.2), "plateau_duration": gamma}
