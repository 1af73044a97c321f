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

from tsmodels.kernels.microlensing import fspl_magnification, pspl_magnification
from tsmodels.models.base import Model, banded_linear_solve

__all__ = ["PSPL", "FSPL"]


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

    def _magnification(self, params, t, band, bands):
        """Magnification at times ``t`` in bands ``band`` (indices into ``bands``)."""
        return pspl_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"])

    def _basis(self, params, lc):
        A = self._magnification(params, jnp.where(lc.mask, lc.t, 0.0), lc.band, lc.bands)
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
        A = self._magnification(params, t, band, lc.bands)
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


@dataclass(frozen=True)
class FSPL(PSPL):
    r"""Finite-source point-lens microlensing light curve (uniform or limb-darkened source).

    Magnification :func:`tsmodels.kernels.microlensing.fspl_magnification` (MulensModel v3
    conventions, exact for every ``u/rho``: the lens may cross the source). Flux in band ``b``:
    :math:`F = F_{s,b} A(t) + F_{b,b}`, source and blend fluxes solved linearly per band as in
    :class:`PSPL`.

    Nonlinear parameters: ``t0``, ``u0``, ``tE`` as in :class:`PSPL` (``u0`` uniform on
    ``u0_range``, default ``(0, 3)``: an FSPL magnification depends on :math:`|u_0|` only and
    is finite at ``u0 = 0``) and ``rho``, the source radius in Einstein radii, log-uniform on
    ``rho_range`` (default ``(1e-4, 0.5)``).

    Limb darkening is fixed, not fitted: ``limb_darkening`` is MulensModel's linear coefficient
    :math:`\Gamma` (``gamma``, :math:`u_\lambda = 3\Gamma/(2+\Gamma)`), either one number for
    every band or a mapping ``{band name: gamma}`` covering every band of the batch (stored as a
    sorted tuple of pairs, so the model stays hashable). With every coefficient 0 (the default)
    the cheaper uniform-source kernel is used; otherwise the limb-darkened kernel (33
    uniform-disk evaluations per point).

    Starts (``init``): :class:`PSPL`'s data-driven starts (peak time, unblended ``u0`` from the
    peak amplification, ``tE`` from the half-maximum width, scaled by 3^k), each combined with a
    small grid in ``rho``: a source crossed by the lens peaks at
    :math:`A_{\max} \approx \sqrt{1 + 4/\rho^2}`, so :math:`\rho_{\rm peak} = 2/\sqrt{A_{\max}^2-1}`
    times ``rho_factors``, plus a nearly point-like ``rho_range[0] * 3``. The ``n_candidates``
    combinations are screened by their likelihood and the best ``n_starts`` optimised.
    """

    u0_range: tuple[float, float] = (0.0, 3.0)
    rho_range: tuple[float, float] = (1e-4, 0.5)
    limb_darkening: float | tuple = 0.0
    rho_factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    n_starts: int = 4

    param_names = ("t0", "u0", "tE", "rho")

    def __post_init__(self):
        lo, hi = (float(v) for v in self.rho_range)
        if not (0.0 < lo < hi and np.isfinite(hi)):
            raise ValueError(f"FSPL: rho_range must satisfy 0 < low < high, got {self.rho_range!r}")
        ld = self.limb_darkening
        if isinstance(ld, dict):
            ld = tuple(sorted((str(k), float(v)) for k, v in ld.items()))
            object.__setattr__(self, "limb_darkening", ld)
        values = [v for _, v in ld] if isinstance(ld, tuple) else [ld]
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            raise TypeError("FSPL: limb_darkening must be a number or a mapping {band: gamma}, "
                            f"got {self.limb_darkening!r}") from None
        if not all(np.isfinite(values)):
            raise ValueError(f"FSPL: limb_darkening must be finite, got {self.limb_darkening!r}")
        if not isinstance(ld, tuple):
            object.__setattr__(self, "limb_darkening", float(ld))

    @property
    def n_candidates(self):
        return 3 * (len(self.rho_factors) + 1)

    @property
    def priors(self):
        return {**super().priors, "rho": dist.LogUniform(*self.rho_range)}

    def gammas(self, bands) -> tuple[float, ...]:
        """The limb-darkening coefficient of each band of ``bands`` (in that order)."""
        ld = self.limb_darkening
        if not isinstance(ld, tuple):
            return tuple(ld for _ in bands)
        table = dict(ld)
        missing = [b for b in bands if b not in table]
        if missing:
            raise ValueError(f"FSPL: limb_darkening gives no coefficient for band(s) {missing} "
                             f"(it has {sorted(table)})")
        return tuple(table[b] for b in bands)

    def check_batch(self, batch) -> None:
        super().check_batch(batch)
        self.gammas(batch.bands)

    def _magnification(self, params, t, band, bands):
        g = self.gammas(bands)
        if all(v == 0.0 for v in g):
            gamma = 0.0  # static: the uniform-source kernel
        elif len(set(g)) == 1:
            gamma = jnp.asarray(g[0])
        else:
            gamma = jnp.asarray(g)[jnp.clip(band, 0, len(g) - 1)]
        return fspl_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"],
                                  rho=params["rho"], limb_darkening=gamma)

    def init(self, batch, n_starts):
        r""":class:`PSPL`'s starts (3 values of ``tE``) times the ``rho`` grid (class docstring):
        ``3 * (len(rho_factors) + 1)`` candidates per object when ``n_starts`` asks for them all."""
        base = PSPL(t0_range=self.t0_range, u0_range=(max(self.u0_range[0], 1e-4), self.u0_range[1]),
                    tE_range=self.tE_range).init(batch, 3)
        f, m, b = np.asarray(batch.flux), np.asarray(batch.mask), np.asarray(batch.band)
        B = f.shape[0]
        lo, hi = self.rho_range
        rhos = np.zeros((B, len(self.rho_factors) + 1))
        for i in range(B):
            mi = m[i]
            amax = 1.5
            for bb in np.unique(b[i][mi]):
                sel = mi & (b[i] == bb)
                med = np.median(f[i][sel])
                if med > 0:
                    amax = max(amax, float(np.max(f[i][sel])) / med)
            rho_peak = 2.0 / np.sqrt(amax**2 - 1.0)
            rhos[i] = [*(rho_peak * k for k in self.rho_factors), 3.0 * lo]
        rhos = np.clip(rhos, lo * 1.01, hi * 0.99)
        cand = {k: np.repeat(v, rhos.shape[1], axis=1) for k, v in base.items()}
        cand["rho"] = np.tile(rhos, (1, 3))
        # a lens inside the source: u0 no larger than rho
        cand["u0"] = np.clip(np.minimum(cand["u0"], cand["rho"]), self.u0_range[0] + 1e-6,
                             self.u0_range[1] * 0.99)
        n = cand["rho"].shape[1]
        idx = np.arange(n_starts) % n
        return {k: v[:, idx] for k, v in cand.items()}
