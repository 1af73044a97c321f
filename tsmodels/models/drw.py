"""Damped random walk models: ``DRW`` (one band) and ``MultibandDRW`` (shared timescale).

Both wrap the O(n) state-space kernels of :mod:`tsmodels.kernels.gp` for :func:`tsmodels.fit`
and :func:`tsmodels.sample`. Conventions: ``t`` in days (observed frame), ``sigma`` the rms of
the process in the unit of ``flux`` (magnitudes or fluxes), ``tau`` the damping timescale,
``SF_inf = sqrt(2) sigma`` reported as a derived quantity.

The constant mean is handled in one of two ways (``mean=``):

* ``"marginal"`` (default): integrated out analytically under a flat prior (Rybicki & Press 1992),
  the likelihood MacLeod et al. (2010) maximised; it reproduces their Stripe 82 catalogue
  (see tests/models/test_drw.py), whereas fixing the mean at the data's median biases tau low
  for short light curves.
* ``"profile"``: the mean is a linear parameter at its generalised-least-squares value (reported
  as ``mean`` with its error); ``ts.sample`` then integrates it out, which is the same posterior
  as ``"marginal"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.kernels import gp
from tsmodels.kernels.gp import _statespace as ss
from tsmodels.models.base import LinearSolution, Model

__all__ = ["DRW", "MultibandDRW", "drw_starts"]

_MEAN_MODES = ("marginal", "profile")


def drw_starts(batch, n_starts: int, *, band_index=None, tau_range=(0.1, 1e5)):
    """Data-driven DRW starting points ``(sigma [B, S], tau [B, S])`` on the host.

    ``sigma``: the excess rms ``sqrt(var(y) - <yerr^2>)`` (at least a quarter of ``std(y)``).
    ``tau``: log-spaced between 1/30 of the baseline and the baseline (one start: baseline/5),
    clipped to ``tau_range``: the range where the likelihood of a few-season light curve has its
    maxima (the smallest spacing to ~10x the baseline is the prior support, EzTao-like).
    """
    mask = np.asarray(batch.mask)
    if band_index is not None:
        mask = mask & (np.asarray(batch.band) == band_index)
    t = np.asarray(batch.t, np.float64)
    y = np.asarray(batch.flux, np.float64)
    e = np.asarray(batch.flux_err, np.float64)
    n = np.maximum(mask.sum(1), 1)
    mu = np.where(mask, y, 0).sum(1) / n
    var = np.where(mask, (y - mu[:, None]) ** 2, 0).sum(1) / n
    err2 = np.where(mask, e * e, 0).sum(1) / n
    sig = np.sqrt(np.maximum(var - err2, 0.0625 * var))
    sig = np.where(sig > 0, sig, np.where(err2 > 0, np.sqrt(err2), 1.0))
    span = np.where(mask, t, -np.inf).max(1) - np.where(mask, t, np.inf).min(1)
    span = np.where(np.isfinite(span) & (span > 0), span, 100.0)
    if n_starts == 1:
        frac = np.array([0.2])
    else:
        frac = np.logspace(math.log10(1 / 30), 0.0, n_starts)
    tau = np.clip(span[:, None] * frac[None, :], tau_range[0] * (1 + 1e-9), tau_range[1] * (1 - 1e-9))
    return np.repeat(sig[:, None], n_starts, axis=1), tau


def _check(mean, tau_range, sigma_range, who):
    if mean not in _MEAN_MODES:
        raise ValueError(f"{who}: mean must be one of {_MEAN_MODES}, got {mean!r}")
    for name, (lo, hi) in (("tau_range", tau_range), ("sigma_range", sigma_range)):
        if not (0 < lo < hi < math.inf):
            raise ValueError(f"{who}: {name} must satisfy 0 < min < max, got {(lo, hi)!r}")


@dataclass(frozen=True)
class DRW(Model):
    """Damped random walk ``k(dt) = sigma^2 exp(-|dt| / tau)`` plus a constant mean.

    Args:
        band: fit only this band's points (a name in the batch's ``bands``); None uses every
            point as one light curve (single-band data).
        mean: ``"marginal"`` or ``"profile"`` (module docstring).
        tau_range: support of the log-uniform prior on ``tau`` (days). Default 0.1 d to 1e5 d:
            wider than any light curve constrains (EzTao bounds tau per object between the
            smallest spacing and 10x the baseline; here the starts lie in that range and the
            likelihood decides).
        sigma_range: support of the log-uniform prior on ``sigma`` (unit of ``flux``).
        n_starts: default number of starts (log-spaced tau, :func:`drw_starts`).

    Parameters: ``sigma``, ``tau``. Derived: ``sf_inf`` (``sqrt(2) sigma``), and ``mean`` with
    ``mean="profile"``.
    """

    band: str | None = None
    mean: str = "marginal"
    tau_range: tuple[float, float] = (0.1, 1e5)
    sigma_range: tuple[float, float] = (1e-8, 1e8)
    n_starts: int = 3

    param_names = ("sigma", "tau")

    def __post_init__(self):
        _check(self.mean, self.tau_range, self.sigma_range, "DRW")

    @property
    def priors(self):
        return {"sigma": dist.LogUniform(*self.sigma_range), "tau": dist.LogUniform(*self.tau_range)}

    def _band_index(self, bands):
        if self.band is None:
            return None
        if self.band not in bands:
            raise ValueError(f"DRW: band {self.band!r} is not in the batch's bands {tuple(bands)}")
        return bands.index(self.band)

    def _mask(self, lc):
        b = self._band_index(lc.bands)
        return lc.mask if b is None else lc.mask & (lc.band == b)

    def _marginal(self, params, lc):
        mask = self._mask(lc)
        return gp.drw_loglike(lc.t, lc.flux, lc.flux_err, mask, sigma=params["sigma"],
                              tau=params["tau"], marginalize_mean=True)

    def _gls(self, params, lc):
        """``(marginal loglike, mu_hat, Var mu_hat, n)`` for the profile mode."""
        mask = self._mask(lc)
        dtype = jnp.result_type(lc.t, lc.flux)
        n = lc.t.shape[0]
        t = jnp.where(mask, lc.t, 0.0)
        dt, first = ss.steps(t, mask)
        F, Q = gp.drw._drw_ssm(dt, first, mask, sigma=jnp.asarray(params["sigma"], dtype),
                               tau=jnp.asarray(params["tau"], dtype))
        yc, shift = ss.centre(lc.flux, jnp.ones((n, 1), dtype), mask)
        y, R = ss.safe_observations(yc, lc.flux_err, mask)
        Y = jnp.stack([y, mask.astype(dtype)], axis=1)
        v, S = ss.innovations(F, Q, jnp.ones((n, 1), dtype), R, Y, mask)
        ll, mu_hat, M = ss.marginal_loglike(v, S, mask)
        return ll, mu_hat[0] + shift[0], 1.0 / M[0, 0], jnp.sum(mask)

    # ---------------------------------------------------------------- protocol
    def loglike(self, params, lc):
        if self.mean == "marginal":
            return self._marginal(params, lc)
        ll, _, var, n = self._gls(params, lc)
        # profiled at the GLS mean: marginal - 1/2 log 2 pi + 1/2 log M (one point has no noise
        # left to profile: the same convention, finite)
        return ll - 0.5 * jnp.where(n > 0, ss.LOG_2PI + jnp.log(var), 0.0)

    def linear_names(self, bands):
        return ("mean",) if self.mean == "profile" else ()

    def linear(self, params, lc):
        if self.mean != "profile":
            return None
        _, mu, var, n = self._gls(params, lc)
        active = n > 1
        return LinearSolution(coef=mu[None], cov=jnp.where(active, var, 1.0)[None, None],
                              logdet_fisher=jnp.where(n > 0, -jnp.log(var), 0.0),
                              active=active[None], n_free=jnp.minimum(n, 1))

    def derived_names(self, bands):
        return self.linear_names(bands) + ("sf_inf",)

    def derived(self, params, coef, bands):
        out = {"sf_inf": gp.drw_sf_inf(params["sigma"])}
        if self.mean == "profile":
            out = {"mean": coef[0], **out}
        return out

    def predict(self, params, lc, t=None, band=None):
        """Conditional mean of the process (GLS mean plus the DRW's conditional expectation)."""
        t_new = lc.t if t is None else jnp.asarray(t, jnp.result_type(lc.t))
        mu, _ = gp.drw_predict(lc.t, lc.flux, lc.flux_err, self._mask(lc), t_new=t_new,
                               sigma=params["sigma"], tau=params["tau"], marginalize_mean=True)
        return mu

    def init(self, batch, n_starts):
        sig, tau = drw_starts(batch, n_starts, band_index=self._band_index(batch.bands),
                              tau_range=self.tau_range)
        lo, hi = self.sigma_range
        return {"sigma": np.clip(sig, lo * (1 + 1e-9), hi * (1 - 1e-9)), "tau": tau}


@dataclass(frozen=True)
class MultibandDRW(Model):
    """One latent DRW seen in every band: shared ``tau``, per-band rms ``sigma_<band>``, per-band
    means integrated out (flat priors) — :func:`tsmodels.kernels.gp.drw_multiband_loglike`.

    Bands are perfectly correlated at zero lag (the documented inter-band choice of the kernel).
    Points in bands not listed in ``bands`` are ignored.

    Args:
        bands: the band names modelled, e.g. ``("u", "g", "r", "i", "z")``.
        tau_range, sigma_range, n_starts: as for :class:`DRW`.

    Parameters: ``tau``, ``sigma_<band>`` for each band. Derived: ``sf_inf_<band>``.
    """

    bands: tuple[str, ...] = ("g", "r", "i")
    tau_range: tuple[float, float] = (0.1, 1e5)
    sigma_range: tuple[float, float] = (1e-8, 1e8)
    n_starts: int = 3

    def __post_init__(self):
        _check("marginal", self.tau_range, self.sigma_range, "MultibandDRW")
        if len(self.bands) == 0 or len(set(self.bands)) != len(self.bands):
            raise ValueError(f"MultibandDRW: bands must be distinct names, got {self.bands!r}")
        object.__setattr__(self, "bands", tuple(self.bands))

    @property
    def param_names(self):
        return ("tau",) + tuple(f"sigma_{b}" for b in self.bands)

    @property
    def priors(self):
        out = {"tau": dist.LogUniform(*self.tau_range)}
        out.update({f"sigma_{b}": dist.LogUniform(*self.sigma_range) for b in self.bands})
        return out

    def _map(self, params, lc):
        """Per-batch-band sigma (1 for unmodelled bands) and the mask of modelled points."""
        dtype = jnp.result_type(lc.t, lc.flux)
        sig = jnp.stack([jnp.asarray(params[f"sigma_{b}"], dtype) if b in self.bands
                         else jnp.ones((), dtype) for b in lc.bands])
        known = jnp.array([b in self.bands for b in lc.bands])
        return sig, lc.mask & known[lc.band]

    def loglike(self, params, lc):
        sig, mask = self._map(params, lc)
        return gp.drw_multiband_loglike(lc.t, lc.flux, lc.flux_err, lc.band, mask, sigma=sig,
                                        tau=params["tau"], marginalize_mean=True)

    def derived_names(self, bands):
        return tuple(f"sf_inf_{b}" for b in self.bands)

    def derived(self, params, coef, bands):
        return {f"sf_inf_{b}": gp.drw_sf_inf(params[f"sigma_{b}"]) for b in self.bands}

    def predict(self, params, lc, t=None, band=None):
        sig, mask = self._map(params, lc)
        if t is None:
            t_new, b_new = lc.t, lc.band
        else:
            t_new = jnp.asarray(t, jnp.result_type(lc.t))
            b_new = jnp.zeros(t_new.shape, jnp.int32) if band is None else jnp.asarray(band)
        mu, _ = gp.drw_multiband_predict(lc.t, lc.flux, lc.flux_err, lc.band, mask, t_new=t_new,
                                         band_new=b_new, sigma=sig, tau=params["tau"],
                                         marginalize_mean=True)
        return mu

    def init(self, batch, n_starts):
        out = {}
        taus = []
        for b in self.bands:
            idx = batch.bands.index(b) if b in batch.bands else -1
            sig, tau = drw_starts(batch, n_starts, band_index=idx, tau_range=self.tau_range)
            out[f"sigma_{b}"] = np.clip(sig, self.sigma_range[0] * (1 + 1e-9),
                                        self.sigma_range[1] * (1 - 1e-9))
            taus.append(tau)
        out["tau"] = np.exp(np.mean(np.log(np.stack(taus)), axis=0))
        return out
