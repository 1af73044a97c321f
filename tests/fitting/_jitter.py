"""A small non-least-squares test model shared by the fitting tests: constant flux with extra
scatter, ``flux ~ N(mean, flux_err^2 + s^2)``, and a batch simulated from it."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

import tsmodels as ts
from tsmodels.models import Model


@dataclass(frozen=True)
class Jitter(Model):
    """The variance depends on a parameter, so this is not a least-squares model (``ts.fit``
    uses Newton). ``s`` has an interval prior, so it can take per-object limits."""

    tag: str = ""  # a distinct value makes a distinct model (and compiled-function cache entry)
    s_max: float = 1e3
    limit_s: bool = False  # per-object limit: s <= std(flux) / 2
    n_starts: int = 1

    param_names = ("mean", "s")

    @property
    def priors(self):
        return {"mean": dist.Normal(0.0, 1e4), "s": dist.Uniform(1e-3, self.s_max)}

    def bounds(self, lc):
        if not self.limit_s:
            return {}
        n = jnp.sum(lc.mask)
        mu = jnp.sum(jnp.where(lc.mask, lc.flux, 0.0)) / n
        sd = jnp.sqrt(jnp.sum(jnp.where(lc.mask, (lc.flux - mu) ** 2, 0.0)) / n)
        return {"s": (1e-3, 0.5 * sd)}

    def init(self, batch, n_starts):
        mask = np.asarray(batch.mask)
        y = np.where(mask, batch.flux, np.nan)
        has = mask.any(axis=1)
        y = np.where(has[:, None], y, 0.0)  # objects without points: neutral starts
        mean = np.where(has, np.nanmedian(y, axis=1), 0.0)
        s = np.where(has, np.nanstd(y, axis=1), 1.0)
        grid = np.linspace(0.2, 1.5, n_starts) if n_starts > 1 else np.ones(1)
        return {"mean": np.repeat(mean[:, None], n_starts, 1), "s": s[:, None] * grid[None, :]}

    def loglike(self, params, lc):
        var = lc.flux_err ** 2 + params["s"] ** 2
        r2 = (lc.flux - params["mean"]) ** 2 / var
        return -0.5 * jnp.sum(jnp.where(lc.mask, r2 + jnp.log(2 * jnp.pi * var), 0.0))

    def predict(self, params, lc, t=None, band=None):
        return jnp.full(lc.t.shape if t is None else jnp.shape(t), params["mean"])


def jitter_batch(rng, B, n=150, s_true=None):
    """``(batch, s_true)``: B objects of n points over 100 days, mean 50, errors U(0.5, 1.5),
    extra scatter ``s_true`` (default U(2, 6))."""
    s_true = rng.uniform(2.0, 6.0, B) if s_true is None else np.asarray(s_true, float)
    t = [np.sort(rng.uniform(0, 100, n)) + 60000 for _ in range(B)]
    e = [rng.uniform(0.5, 1.5, n) for _ in range(B)]
    f = [50.0 + rng.normal(0, np.sqrt(e[i] ** 2 + s_true[i] ** 2)) for i in range(B)]
    return ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e), s_true
