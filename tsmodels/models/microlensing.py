r"""``PSPL``: point-source point-lens microlensing event (Paczynski 1986), MulensModel v3 conventions.

Flux in band :math:`b`: :math:`F = F_{s,b} A(t) + F_{b,b}` with the Paczynski magnification
:math:`A` of :func:`tsmodels.kernels.microlensing.pspl_magnification`. The source and blend
fluxes are linear nuisance parameters solved in closed form (weighted least squares) at every
evaluation, as MulensModel's ``FitData.fit_fluxes`` does; the chi2 is in flux space. Fluxes in
MulensModel's units follow from magnitudes with a 22 mag zero point
(:func:`tsmodels.kernels.microlensing.mag_to_flux`); any flux unit works, the fluxes scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.kernels.microlensing import pspl_magnification
from tsmodels.models.base import Model, banded_linear_solve

__all__ = ["PSPL"]


@dataclass(frozen=True)
class PSPL(Model):
    r"""Point-source point-lens microlensing light curve.

    Nonlinear parameters:

    * ``t0``: time of closest approach, days, on the batch's centred time axis (absolute time
      minus the object's ``t_ref``; add ``t_ref`` for the absolute epoch). Prior: uniform over
      ``t0_range`` (days).
    * ``u0``: impact parameter in Einstein radii, uniform on ``u0_range`` (default
      ``(1e-4, 3)``; positive, since a PSPL magnification depends only on :math:`|u_0|`).
    * ``tE``: Einstein timescale, days, log-uniform on ``tE_range`` (default ``(0.1, 1000)``).

    Linear parameters per band ``b``: ``source_flux_<b>`` and ``blend_flux_<b>`` (flux units of
    the batch), profiled in ``loglike``/``residuals``.
    """

    t0_range: tuple[float, float] = (-1e4, 1e4)
    u0_range: tuple[float, float] = (1e-4, 3.0)
    tE_range: tuple[float, float] = (0.1, 1000.0)
    n_starts: int = 3

    param_names = ("t0", "u0", "tE")

    @property
    def priors(self):
        return {"t0": dist.Uniform(*self.t0_range), "u0": dist.Uniform(*self.u0_range),
                "tE": dist.LogUniform(*self.tE_range)}

    def linear_names(self, bands):
        return tuple(n for b in bands for n in (f"source_flux_{b}", f"blend_flux_{b}"))

    def _basis(self, params, t):
        A = pspl_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"])
        return jnp.stack([A, jnp.ones_like(A)], axis=-1)

    def linear(self, params, lc):
        return banded_linear_solve(self._basis(params, jnp.where(lc.mask, lc.t, 0.0)), lc)[0]

    def residuals(self, params, lc):
        _, fitted = banded_linear_solve(self._basis(params, jnp.where(lc.mask, lc.t, 0.0)), lc)
        err = jnp.where(lc.mask, lc.flux_err, 1.0)
        return jnp.where(lc.mask, (lc.flux - fitted) / err, 0.0)

    def predict(self, params, lc, t=None, band=None):
        sol, fitted = banded_linear_solve(self._basis(params, jnp.where(lc.mask, lc.t, 0.0)), lc)
        if t is None:
            return fitted
        t = jnp.asarray(t)
        band = jnp.zeros(t.shape, jnp.int32) if band is None else jnp.asarray(band)
        coef = sol.coef.reshape(-1, 2)
        A = pspl_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"])
        return coef[band, 0] * A + coef[band, 1]

    def init(self, batch, n_starts):
        r"""Starts from the data: ``t0`` at the brightest point (relative to the baseline of its
        band), ``u0`` from the peak amplification :math:`A_{\max}` over the median baseline
        (:math:`u = \sqrt{2 A/\sqrt{A^2-1} - 2}`, no blending), ``tE`` from the time span over
        which the flux stays above half the peak excess; further starts scale ``tE`` by 3^k."""
        t, f, m, b = (np.asarray(batch.t), np.asarray(batch.flux), np.asarray(batch.mask),
                      np.asarray(batch.band))
        B = t.shape[0]
        out = {k: np.zeros((B, n_starts)) for k in self.param_names}
        for i in range(B):
            mi = m[i]
            base = np.zeros_like(f[i])
            for bb in np.unique(b[i][mi]):
                sel = mi & (b[i] == bb)
                base[sel] = np.median(f[i][sel])
            amp = np.where(mi, f[i] / np.where(base > 0, base, 1.0), -np.inf)
            j = int(np.argmax(amp))
            t0 = t[i, j] if np.isfinite(amp[j]) else 0.0
            amax = max(float(amp[j]) if np.isfinite(amp[j]) else 1.5, 1.0 + 1e-3)
            u0 = np.sqrt(max(2 * amax / np.sqrt(amax**2 - 1) - 2, 0.0))
            half = mi & (amp > 1 + 0.5 * (amax - 1))
            width = np.ptp(t[i][half]) if half.sum() > 1 else 1.0
            tE = max(width, 0.2)
            for k in range(n_starts):
                out["t0"][i, k] = np.clip(t0, *self.t0_range)
                out["u0"][i, k] = np.clip(u0, self.u0_range[0] * 1.01, self.u0_range[1] * 0.99)
                out["tE"][i, k] = np.clip(tE * 3.0 ** (k - n_starts // 2), self.tE_range[0] * 1.01,
                                          self.tE_range[1] * 0.99)
        return out
