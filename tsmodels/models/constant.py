"""``Constant``: a constant flux per band, the null model of variability."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from tsmodels.models.base import Model, banded_linear_solve

__all__ = ["Constant"]


@dataclass(frozen=True)
class Constant(Model):
    """Constant flux per band: ``flux = mean_b`` in band ``b``, Gaussian errors ``flux_err``.

    No nonlinear parameter; the per-band means ``mean_<band>`` are the inverse-variance weighted
    means (linear, solved in closed form). Its chi2 is the usual variability statistic, and
    ``ts.compare`` against a variable model gives a per-object AIC/BIC test of variability.
    """

    param_names = ()

    def linear_names(self, bands):
        return tuple(f"mean_{b}" for b in bands)

    def _basis(self, t):
        return jnp.ones(t.shape + (1,), dtype=jnp.result_type(t))

    def linear(self, params, lc):
        return banded_linear_solve(self._basis(lc.t), lc)[0]

    def residuals(self, params, lc):
        _, fitted = banded_linear_solve(self._basis(lc.t), lc)
        err = jnp.where(lc.mask, lc.flux_err, 1.0)
        return jnp.where(lc.mask, (lc.flux - fitted) / err, 0.0)

    def predict(self, params, lc, t=None, band=None):
        sol, fitted = banded_linear_solve(self._basis(lc.t), lc)
        if t is None:
            return fitted
        band = jnp.zeros(jnp.shape(t), jnp.int32) if band is None else jnp.asarray(band)
        return sol.coef[band]
