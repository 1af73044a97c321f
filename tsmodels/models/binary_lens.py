r"""``BinaryLens``: point-source binary-lens microlensing event, MulensModel v3 conventions.

Flux in band :math:`b`: :math:`F = F_{s,b} A(t) + F_{b,b}` with the binary-lens magnification
:math:`A` of :func:`tsmodels.kernels.microlensing.binary_magnification` (Witt 1990 polynomial,
batched Aberth-Ehrlich roots). The source and blend fluxes are linear nuisance parameters
solved in closed form per band at every evaluation (:func:`tsmodels.models.base.banded_linear_solve`
on the basis ``[A(t), 1]``, the same solve as :class:`~tsmodels.models.PSPL`); the chi2 is in
flux space.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.kernels.microlensing import binary_magnification
from tsmodels.models.base import Model, banded_linear_solve
from tsmodels.models.microlensing import PSPL

__all__ = ["BinaryLens"]


@dataclass(frozen=True)
class BinaryLens(Model):
    r"""Point-source binary-lens microlensing light curve (MulensModel v3 conventions).

    Nonlinear parameters (priors in brackets):

    * ``t0``: time of closest approach to the lenses' centre of mass, days on the batch's
      centred time axis (add ``t_ref`` for the absolute epoch) [uniform on ``t0_range``];
    * ``u0``: impact parameter to the centre of mass, Einstein radii of the total mass, either
      sign [uniform on ``u0_range``, default ``(-3, 3)``; :math:`(u_0, \alpha)` and
      :math:`(-u_0, -\alpha)` give the same light curve];
    * ``tE``: Einstein timescale of the total mass, days [log-uniform on ``tE_range``];
    * ``s``: projected separation of the bodies, Einstein radii [log-uniform on ``s_range``,
      default ``(0.1, 10)``];
    * ``q``: mass ratio :math:`m_2/m_1` of the body on the positive x axis to the one on the
      negative x axis [log-uniform on ``q_range``, default ``(1e-6, 1)``];
    * ``alpha``: angle of the binary axis to the trajectory, degrees, counter-clockwise,
      MulensModel v3 (Skowron et al. 2011 + 180 deg) [uniform on ``alpha_range``, default
      ``(0, 360)``].

    Geometry: origin at the centre of mass, body 1 (mass :math:`1/(1+q)`) at
    :math:`-sq/(1+q)`, body 2 at :math:`s/(1+q)`, source at
    :math:`(x, y) = (-\tau\cos\alpha + u_0\sin\alpha, -\tau\sin\alpha - u_0\cos\alpha)`
    (:mod:`tsmodels.kernels.microlensing.binary`).

    Linear parameters per band ``b``: ``source_flux_<b>`` and ``blend_flux_<b>``.

    Starts (:meth:`init`): :class:`PSPL`'s data-driven ``t0``, ``u0`` (unblended, from the peak
    amplification) and ``tE`` (half-maximum width) combined with the grid
    ``s_grid x q_grid x alpha_grid``; ``n_candidates`` (the grid size) are screened by their
    likelihood and the best ``n_starts`` optimised.
    """

    t0_range: tuple[float, float] = (-1e4, 1e4)
    u0_range: tuple[float, float] = (-3.0, 3.0)
    tE_range: tuple[float, float] = (0.1, 1000.0)
    s_range: tuple[float, float] = (0.1, 10.0)
    q_range: tuple[float, float] = (1e-6, 1.0)
    alpha_range: tuple[float, float] = (0.0, 360.0)
    s_grid: tuple[float, ...] = (0.6, 0.85, 1.15, 1.6)
    q_grid: tuple[float, ...] = (1e-3, 1e-2)
    alpha_grid: tuple[float, ...] = tuple(22.5 + 45.0 * k for k in range(8))
    n_starts: int = 6

    param_names = ("t0", "u0", "tE", "s", "q", "alpha")

    def __post_init__(self):
        for name in ("t0_range", "u0_range", "tE_range", "s_range", "q_range", "alpha_range"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not (lo < hi and np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError(f"BinaryLens: {name} must satisfy low < high (finite), got "
                                 f"{getattr(self, name)!r}")
            object.__setattr__(self, name, (lo, hi))
        for name in ("tE_range", "s_range", "q_range"):
            if not getattr(self, name)[0] > 0:
                raise ValueError(f"BinaryLens: {name} must be positive, got {getattr(self, name)!r}")
        for name, rng in (("s_grid", self.s_range), ("q_grid", self.q_range), ("alpha_grid", self.alpha_range)):
            grid = tuple(float(v) for v in getattr(self, name))
            if not grid or not all(rng[0] < v < rng[1] for v in grid):
                raise ValueError(f"BinaryLens: {name} must be non-empty and inside {rng}, got {grid!r}")
            object.__setattr__(self, name, grid)

    @property
    def n_candidates(self):
        return len(self.s_grid) * len(self.q_grid) * len(self.alpha_grid)

    @property
    def priors(self):
        return {"t0": dist.Uniform(*self.t0_range), "u0": dist.Uniform(*self.u0_range),
                "tE": dist.LogUniform(*self.tE_range), "s": dist.LogUniform(*self.s_range),
                "q": dist.LogUniform(*self.q_range), "alpha": dist.Uniform(*self.alpha_range)}

    def linear_names(self, bands):
        return tuple(n for b in bands for n in (f"source_flux_{b}", f"blend_flux_{b}"))

    def _magnification(self, params, t):
        return binary_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"],
                                    s=params["s"], q=params["q"], alpha=params["alpha"])

    def _basis(self, params, lc):
        A = self._magnification(params, jnp.where(lc.mask, lc.t, params["t0"]))
        return jnp.stack([A, jnp.ones_like(A)], axis=-1)

    def linear(self, params, lc):
        return banded_linear_solve(self._basis(params, lc), lc)[0]

    def residuals(self, params, lc):
        _, fitted = banded_linear_solve(self._basis(params, lc), lc)
        err = jnp.where(lc.mask, lc.flux_err, 1.0)
        return jnp.where(lc.mask, (lc.flux - fitted) / err, 0.0)

    def predict(self, params, lc, t=None, band=None):
        sol, fitted = banded_linear_solve(self._basis(params, lc), lc)
        if t is None:
            return fitted
        t = jnp.asarray(t)
        band = jnp.zeros(t.shape, jnp.int32) if band is None else jnp.asarray(band)
        coef = sol.coef.reshape(-1, 2)
        return coef[band, 0] * self._magnification(params, t) + coef[band, 1]

    def init(self, batch, n_starts):
        r""":class:`PSPL`'s first data-driven start (``t0``, ``u0``, ``tE``) at every node of the
        ``(s, q, alpha)`` grid (``n_candidates`` of them); with fewer ``n_starts``, the first
        ones in grid order (``ts.fit`` asks for all of them and screens)."""
        pspl = PSPL(t0_range=self.t0_range, u0_range=(max(self.u0_range[0], 1e-4), self.u0_range[1]),
                    tE_range=self.tE_range).init(batch, 1)
        B = len(batch)
        grid = np.array([(s, q, a) for s in self.s_grid for q in self.q_grid for a in self.alpha_grid])
        idx = np.arange(n_starts) % len(grid)
        out = {k: np.repeat(pspl[k][:, :1], n_starts, axis=1) for k in ("t0", "u0", "tE")}
        for j, name in enumerate(("s", "q", "alpha")):
            out[name] = np.tile(grid[idx, j], (B, 1))
        return out
