r"""``BinaryLens``: binary-lens microlensing event, point or finite source, optional annual
parallax, MulensModel v3 conventions.

Flux in band :math:`b`: :math:`F = F_{s,b} A(t) + F_{b,b}` with the binary-lens magnification
:math:`A` of :func:`tsmodels.kernels.microlensing.binary_magnification_xy` (Witt 1990
polynomial, batched Aberth-Ehrlich roots) at the source positions of
:func:`tsmodels.kernels.microlensing.binary_trajectory`; with ``finite_source=True``, the
Gould (2008) hexadecapole approximation of
:func:`tsmodels.kernels.microlensing.binary_magnification_finite_xy`. The source and blend
fluxes, the likelihood, padding, ``predict`` and annual parallax are :class:`PSPL`'s: this
class only replaces the lens.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.kernels.microlensing import (binary_magnification_finite_xy, binary_magnification_xy,
                                           binary_trajectory)
from tsmodels.models.microlensing import PSPL

__all__ = ["BinaryLens"]

# Padded points are evaluated this many Einstein times from t0, in the kernel's far field
# (a point lens of the total mass): no root solving near a caustic, finite gradients.
_PAD_TAU = 1e4


@dataclass(frozen=True)
class BinaryLens(PSPL):
    r"""Binary-lens microlensing light curve (MulensModel v3 conventions).

    Nonlinear parameters (priors in brackets):

    * ``t0``: time of closest approach to the lenses' centre of mass, days on the batch's
      centred time axis (add ``t_ref`` for the absolute epoch) [uniform on ``t0_range``];
    * ``u0``: impact parameter to the centre of mass, Einstein radii of the total mass, either
      sign [uniform on ``u0_range``, default ``(-3, 3)``; without parallax
      :math:`(u_0, \alpha)` and :math:`(-u_0, -\alpha)` give the same light curve];
    * ``tE``: Einstein timescale of the total mass, days [log-uniform on ``tE_range``];
    * ``s``: projected separation of the bodies, Einstein radii [log-uniform on ``s_range``,
      default ``(0.1, 10)``];
    * ``q``: mass ratio :math:`m_2/m_1` of the body on the positive x axis to the one on the
      negative x axis [log-uniform on ``q_range``, default ``(1e-6, 1)``];
    * ``alpha``: angle of the binary axis to the trajectory, degrees, counter-clockwise,
      MulensModel v3 (Skowron et al. 2011 + 180 deg) [uniform on ``alpha_range``, default
      ``(0, 360)``];
    * with ``finite_source=True``, ``rho``: source radius in Einstein radii of the total mass
      [log-uniform on ``rho_range``, default ``(1e-4, 0.1)``];
    * with ``parallax=True``, ``pi_E_N`` and ``pi_E_E`` as in :class:`PSPL` (same options
      ``t0_par``, ``time_offset``, ``pi_E_range``, ``satellites`` for bands observed from a
      spacecraft; the batch needs ``ra``/``dec``). The parallax
      shifts :math:`(\tau, \beta)` before the rotation by ``alpha``, as in MulensModel's
      ``Trajectory``.

    Geometry: origin at the centre of mass, body 1 (mass :math:`1/(1+q)`) at
    :math:`-sq/(1+q)`, body 2 at :math:`s/(1+q)`, source at
    :math:`(x, y) = (-\tau\cos\alpha + \beta\sin\alpha, -\tau\sin\alpha - \beta\cos\alpha)`
    (:mod:`tsmodels.kernels.microlensing.binary`).

    Finite source: the hexadecapole expansion (Gould 2008) from 13 point-source evaluations per
    point, with the linear limb-darkening coefficient ``limb_darkening`` (MulensModel's
    :math:`\Gamma`, one value for all bands). It is an approximation for a source that does not
    straddle a caustic: :meth:`finite_source_valid` gives the per-point flag of the kernel.

    Linear parameters per band ``b``: ``source_flux_<b>`` and ``blend_flux_<b>``.

    Starts (:meth:`init`): ``t0``, ``u0`` and ``tE`` of a point-lens fit (:class:`PSPL`)
    combined with the grid
    ``s_grid x q_grid x alpha_grid`` (zero parallax; ``rho`` at ``rho_start``). By default
    (``n_starts=None``) every grid start is optimised (hopeless ones are pruned early):
    screening the grid by the likelihood at the start keeps the wrong basins, e.g. on a
    simulated s = 0.8, q = 0.02 event the best 6 or 16 of 64 starts miss the truth's basin
    and 32 find it. A smaller ``n_starts`` screens the grid to that many.
    """

    s_range: tuple[float, float] = (0.1, 10.0)
    q_range: tuple[float, float] = (1e-6, 1.0)
    alpha_range: tuple[float, float] = (0.0, 360.0)
    s_grid: tuple[float, ...] = (0.6, 0.85, 1.15, 1.6)
    q_grid: tuple[float, ...] = (1e-3, 1e-2)
    alpha_grid: tuple[float, ...] = tuple(22.5 + 45.0 * k for k in range(8))
    finite_source: bool = False
    rho_range: tuple[float, float] = (1e-4, 0.1)
    rho_start: float = 1e-3
    limb_darkening: float = 0.0
    n_starts: int | None = None

    _names = ("t0", "u0", "tE", "s", "q", "alpha")
    _u0_default = (-3.0, 3.0)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.finite_source, bool):
            raise TypeError(f"BinaryLens: finite_source must be True or False, got {self.finite_source!r}")
        for name in ("t0_range", "u0_range", "tE_range", "s_range", "q_range", "alpha_range", "rho_range"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not (lo < hi and np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError(f"BinaryLens: {name} must satisfy low < high (finite), got "
                                 f"{getattr(self, name)!r}")
            object.__setattr__(self, name, (lo, hi))
        for name in ("tE_range", "s_range", "q_range", "rho_range"):
            if not getattr(self, name)[0] > 0:
                raise ValueError(f"BinaryLens: {name} must be positive, got {getattr(self, name)!r}")
        for name, rng in (("s_grid", self.s_range), ("q_grid", self.q_range), ("alpha_grid", self.alpha_range)):
            grid = tuple(float(v) for v in getattr(self, name))
            if not grid or not all(rng[0] < v < rng[1] for v in grid):
                raise ValueError(f"BinaryLens: {name} must be non-empty and inside {rng}, got {grid!r}")
            object.__setattr__(self, name, grid)
        if self.n_starts is None:
            object.__setattr__(self, "n_starts", self.n_candidates)
        object.__setattr__(self, "rho_start", float(self.rho_start))
        if not self.rho_range[0] < self.rho_start < self.rho_range[1]:
            raise ValueError(f"BinaryLens: rho_start must lie inside rho_range {self.rho_range}, got "
                             f"{self.rho_start!r}")
        object.__setattr__(self, "limb_darkening", float(self.limb_darkening))
        if not np.isfinite(self.limb_darkening):
            raise ValueError(f"BinaryLens: limb_darkening must be finite, got {self.limb_darkening!r}")
        if self.limb_darkening != 0.0 and not self.finite_source:
            raise ValueError("BinaryLens: limb_darkening is an option of finite_source=True")

    @property
    def param_names(self):
        return (self._names + (("rho",) if self.finite_source else ())
                + (("pi_E_N", "pi_E_E") if self.parallax else ()))

    @property
    def n_candidates(self):
        return len(self.s_grid) * len(self.q_grid) * len(self.alpha_grid)

    @property
    def priors(self):
        out = {**super().priors, "s": dist.LogUniform(*self.s_range), "q": dist.LogUniform(*self.q_range),
               "alpha": dist.Uniform(*self.alpha_range)}
        if self.finite_source:
            out["rho"] = dist.LogUniform(*self.rho_range)
        return out

    # ------------------------------------------------------------------ lens
    def _pad_time(self, params):
        return params["t0"] + _PAD_TAU * params["tE"]

    def _positions(self, params, t, offsets=None):
        """Source positions ``(x, y)`` in the centre-of-mass frame at times ``t``."""
        if self.parallax:
            tau, beta = self._trajectory(params, t, offsets)
        else:
            tE = params["tE"]
            tau = (t - params["t0"]) / jnp.where(tE > 0, tE, jnp.nan)
            beta = jnp.broadcast_to(params["u0"], jnp.shape(tau))
        return binary_trajectory(tau, beta, alpha=params["alpha"])

    def _lens_xy(self, params, x, y):
        """``(A, valid)`` at source positions ``(x, y)``: the point-source kernel (valid
        everywhere) or the finite-source approximation with its flag."""
        if not self.finite_source:
            return binary_magnification_xy(x, y, s=params["s"], q=params["q"]), jnp.ones(jnp.shape(x), bool)
        return binary_magnification_finite_xy(x, y, s=params["s"], q=params["q"], rho=params["rho"],
                                              limb_darkening=self.limb_darkening)

    def _magnification(self, params, t, band, bands, offsets=None):
        return self._lens_xy(params, *self._positions(params, t, offsets))[0]

    def finite_source_valid(self, params, lc):
        """Per-point flag of the finite-source approximation for ONE light curve (``lc`` as the
        likelihood gets it, e.g. ``batch.to_jax()`` of one object; ``params`` its nonlinear
        parameters): True where the hexadecapole expansion is trusted
        (:func:`~tsmodels.kernels.microlensing.binary_magnification_finite_xy`), True on padded
        points; all True for a point source."""
        offsets = (lc.points["delta_n"], lc.points["delta_e"]) if self.parallax else None
        x, y = self._positions(params, jnp.where(lc.mask, lc.t, self._pad_time(params)), offsets)
        return self._lens_xy(params, x, y)[1] | ~lc.mask

    # ------------------------------------------------------------------ starts
    def point_lens_starts(self, batch) -> dict:
        """``{t0, u0, tE: [B, 1]}`` from a point-lens fit of the batch (:class:`PSPL`, no
        parallax) started from :class:`PSPL`'s data-driven ``t0`` and ``u0`` with its ``tE``
        times 3^k, k = -1..3 (a caustic spike makes the half-maximum width of the data far
        shorter than ``tE``); where that fit fails, the data-driven values."""
        from tsmodels.fitting.optimize import fit
        from tsmodels.fitting.results import OK

        point = self._point_starts(batch, 1)
        u_hi = max(abs(self.u0_range[0]), abs(self.u0_range[1]))
        pspl = PSPL(t0_range=self.t0_range, u0_range=(1e-4, u_hi), tE_range=self.tE_range)
        lo, hi = self.tE_range
        scales = 3.0 ** np.arange(-1, 4)
        init = {"t0": np.repeat(point["t0"], scales.size, 1), "u0": np.repeat(point["u0"], scales.size, 1),
                "tE": np.clip(point["tE"] * scales, lo * 1.01, hi * 0.99)}
        res = fit(pspl, batch, init=init)
        for k in ("t0", "u0", "tE"):
            v = np.asarray(res.values[k], np.float64)
            ok = (np.asarray(res.status) == OK) & np.isfinite(v)
            point[k] = np.where(ok[:, None], v[:, None], point[k])
        point["tE"] = np.clip(point["tE"], lo * 1.01, hi * 0.99)
        point["u0"] = np.clip(point["u0"], 1e-4, u_hi * 0.99)
        return point

    def init(self, batch, n_starts):
        r"""The point-lens start (``t0``, ``u0``, ``tE``: :meth:`point_lens_starts`) at every
        node of the ``(s, q, alpha)`` grid (``n_candidates`` of them), with zero parallax and
        ``rho`` at ``rho_start``; with fewer ``n_starts``, the first ones in grid order
        (``ts.fit`` asks for all of them and screens)."""
        point = self.point_lens_starts(batch)
        B = len(batch)
        grid = np.array([(s, q, a) for s in self.s_grid for q in self.q_grid for a in self.alpha_grid])
        idx = np.arange(n_starts) % len(grid)
        out = {k: np.repeat(point[k][:, :1], n_starts, axis=1) for k in ("t0", "u0", "tE")}
        for j, name in enumerate(("s", "q", "alpha")):
            out[name] = np.tile(grid[idx, j], (B, 1))
        if self.finite_source:
            out["rho"] = np.full((B, n_starts), self.rho_start)
        if self.parallax:
            out["pi_E_N"] = np.zeros((B, n_starts))
            out["pi_E_E"] = np.zeros((B, n_starts))
        return out
