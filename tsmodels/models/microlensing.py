r"""``PSPL``: point-source point-lens microlensing event (Paczynski 1986), MulensModel v3 conventions.

Flux in band :math:`b`: :math:`F = F_{s,b} A(t) + F_{b,b}` with the Paczynski magnification
:math:`A` of :func:`tsmodels.kernels.microlensing.pspl_magnification`. The source and blend
fluxes are linear nuisance parameters solved in closed form (weighted least squares) at every
evaluation, as MulensModel's ``FitData.fit_fluxes`` does; the chi2 is in flux space. Fluxes in
MulensModel's units follow from magnitudes with a 22 mag zero point
(:func:`tsmodels.kernels.microlensing.mag_to_flux`); any flux unit works, the fluxes scale.

Annual parallax (``parallax=True``, both models) adds ``pi_E_N`` and ``pi_E_E``: the Earth's
projected offsets (:func:`tsmodels.kernels.microlensing.earth_offsets`, astropy's built-in
ephemeris) are computed once per light curve on the host by :meth:`PSPL.prepare_batch` from the
object's sky position (``ra``, ``dec`` per-object columns, degrees) and absolute times, and
bend the trajectory inside the likelihood
(:func:`tsmodels.kernels.microlensing.parallax_trajectory`). Satellite parallax
(``satellites={band: ephemeris}``) adds, for the points of those bands, the spacecraft's
projected offsets from the Earth (:func:`tsmodels.kernels.microlensing.satellite_offsets`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from tsmodels.kernels.microlensing import (Ephemeris, earth_offsets, fspl_magnification,
                                           parallax_trajectory, pspl_magnification, read_ephemeris,
                                           satellite_offsets)
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
      ``(1e-4, 3)``, positive, since without parallax a point-lens magnification depends only on
      :math:`|u_0|`; with parallax ``(-3, 3)``: the two signs are distinct solutions).
    * ``tE``: Einstein timescale, days, log-uniform on ``tE_range`` (default ``(0.1, 1000)``).
    * with ``parallax=True``, ``pi_E_N`` and ``pi_E_E``: north and east components of the
      microlensing parallax vector (dimensionless, in MulensModel's convention), each uniform
      on ``pi_E_range`` (default ``(-3, 3)``).

    Linear parameters per band ``b``: ``source_flux_<b>`` and ``blend_flux_<b>`` (flux units of
    the batch), profiled in ``loglike``/``residuals``.

    Parallax options:

    * ``t0_par``: the reference epoch of the parallax (MulensModel's ``t_0_par``), absolute, in
      the batch's time system: a number (the same for every object), the name of a per-object
      column, or ``None``: each object's brightest point (the data-driven ``t0`` start), which
      :meth:`parallax_epochs` reports. The fitted ``t0``, ``u0`` and ``tE`` refer to the frame
      moving with the Earth at ``t0_par``: compare with published fits at their ``t_0_par``.
    * ``time_offset``: days added to the batch's absolute times (``t + t_ref``) to give JD in
      the TDB scale (HJD or BJD, as MulensModel assumes): 0 for JD, 2400000.5 for MJD (Rubin).
    * the batch needs ``ra`` and ``dec`` (ICRS, degrees) per object; an object whose position
      is NaN gets the status ``MISSING_META``.
    * ``satellites``: satellite parallax (MulensModel's ``ephemerides_file`` of a dataset), a
      mapping from band (dataset) name to the spacecraft's ephemeris: a JPL Horizons file path
      (geocentric RA/Dec/delta table, :func:`~tsmodels.kernels.microlensing.read_ephemeris`) or
      an :class:`~tsmodels.kernels.microlensing.Ephemeris`. The points of those bands are seen
      from the spacecraft (its offsets are added to the Earth's); each band keeps its own source
      and blend fluxes. Every named band must be one of the batch's bands and every one of its
      points inside the ephemeris' time range (a ``ValueError`` otherwise).
    """

    t0_range: tuple[float, float] = (-1e4, 1e4)
    u0_range: tuple[float, float] | None = None
    tE_range: tuple[float, float] = (0.1, 1000.0)
    n_starts: int = 3
    parallax: bool = False
    t0_par: float | str | None = None
    time_offset: float = 0.0
    pi_E_range: tuple[float, float] = (-3.0, 3.0)
    satellites: object = ()

    _names = ("t0", "u0", "tE")
    _u0_default = (1e-4, 3.0)

    def __post_init__(self):
        if self.u0_range is None:
            object.__setattr__(self, "u0_range", (-3.0, 3.0) if self.parallax else self._u0_default)
        object.__setattr__(self, "u0_range", tuple(float(v) for v in self.u0_range))
        object.__setattr__(self, "pi_E_range", tuple(float(v) for v in self.pi_E_range))
        if not isinstance(self.parallax, bool):
            raise TypeError(f"{self.name}: parallax must be True or False, got {self.parallax!r}")
        if self.t0_par is not None and not self.parallax:
            raise ValueError(f"{self.name}: t0_par is an option of parallax=True")
        if self.t0_par is not None and not isinstance(self.t0_par, str):
            object.__setattr__(self, "t0_par", float(self.t0_par))
            if not np.isfinite(self.t0_par):
                raise ValueError(f"{self.name}: t0_par must be finite, got {self.t0_par!r}")
        lo, hi = self.pi_E_range
        if not lo < hi:
            raise ValueError(f"{self.name}: pi_E_range must satisfy low < high, got {self.pi_E_range!r}")
        sats = dict(self.satellites.items() if hasattr(self.satellites, "items") else self.satellites)
        if sats and not self.parallax:
            raise ValueError(f"{self.name}: satellites is an option of parallax=True")
        for band, eph in sats.items():
            if isinstance(eph, (str, os.PathLike)):
                sats[band] = read_ephemeris(eph)
            elif not isinstance(eph, Ephemeris):
                raise TypeError(f"{self.name}: satellites[{band!r}] must be an ephemeris file path or "
                                f"an Ephemeris, got {type(eph).__name__}")
        object.__setattr__(self, "satellites", tuple(sorted((str(b), e) for b, e in sats.items())))

    @property
    def param_names(self):
        return self._names + (("pi_E_N", "pi_E_E") if self.parallax else ())

    @property
    def meta_columns(self):
        if not self.parallax:
            return ()
        return ("ra", "dec") + ((self.t0_par,) if isinstance(self.t0_par, str) else ())

    @property
    def n_candidates(self):
        return 18 if self.parallax else None

    @property
    def priors(self):
        out = {"t0": dist.Uniform(*self.t0_range), "u0": dist.Uniform(*self.u0_range),
               "tE": dist.LogUniform(*self.tE_range)}
        if self.parallax:
            out.update(pi_E_N=dist.Uniform(*self.pi_E_range), pi_E_E=dist.Uniform(*self.pi_E_range))
        return out

    def linear_names(self, bands):
        return tuple(n for b in bands for n in (f"source_flux_{b}", f"blend_flux_{b}"))

    # ------------------------------------------------------------------ parallax (host)
    def parallax_epochs(self, batch) -> np.ndarray:
        """``[B]`` reference epochs ``t0_par`` of the parallax, absolute, in the batch's time
        system (class docstring); NaN where an object has no valid point."""
        if not self.parallax:
            raise ValueError(f"{self.name}: parallax_epochs needs parallax=True")
        t_ref = np.asarray(batch.t_ref, np.float64)
        if isinstance(self.t0_par, str):
            return np.asarray(batch.meta[self.t0_par], np.float64)
        if self.t0_par is not None:
            return np.full(len(batch), self.t0_par)
        peak = self._point_starts(batch, 1)["t0"][:, 0]
        has = np.asarray(batch.mask).any(axis=1)
        return np.where(has, peak + t_ref, np.nan)

    def prepare_batch(self, batch):
        """The batch with the Earth's projected offsets ``delta_n``, ``delta_e`` (AU) per point
        (:func:`~tsmodels.kernels.microlensing.earth_offsets` at ``t + t_ref + time_offset``) and
        the centred ``t0_par`` per object, the points of ``satellites`` bands with the spacecraft's
        offsets added (:func:`~tsmodels.kernels.microlensing.satellite_offsets`); unchanged
        without parallax."""
        if not self.parallax:
            return batch
        missing = [b for b, _ in self.satellites if b not in batch.bands]
        if missing:
            raise ValueError(f"{self.name}: satellites names bands {missing} that the batch does not "
                             f"have (its bands: {list(batch.bands)})")
        t = np.asarray(batch.t, np.float64)
        t_ref = np.asarray(batch.t_ref, np.float64)
        ra = np.asarray(batch.meta["ra"], np.float64)
        dec = np.asarray(batch.meta["dec"], np.float64)
        t0_par = self.parallax_epochs(batch)
        mask = np.asarray(batch.mask, bool)
        ok = np.isfinite(ra) & np.isfinite(dec) & np.isfinite(t0_par) & mask.any(axis=1)
        dn = np.zeros(t.shape)
        de = np.zeros(t.shape)
        if ok.any():
            absolute = t[ok] + t_ref[ok, None] + self.time_offset
            absolute = np.where(mask[ok], absolute, (t0_par[ok] + self.time_offset)[:, None])
            try:
                dn[ok], de[ok] = earth_offsets(absolute, ra[ok], dec[ok], t0_par[ok] + self.time_offset)
            except ValueError as err:
                raise ValueError(f"{self.name}(parallax=True): {err}; set time_offset (2400000.5 "
                                 "for MJD times)") from None
        if ok.any() and self.satellites:
            sn, se = self._satellite_shift(absolute, np.asarray(batch.band)[ok], mask[ok], ra[ok], dec[ok],
                                           batch.bands)
            dn[ok] += sn
            de[ok] += se
        centred = np.where(ok, t0_par - t_ref, 0.0)
        return batch.with_points(delta_n=dn, delta_e=de).with_meta(_t0_par=centred)

    # ------------------------------------------------------------------ likelihood
    def _trajectory(self, params, t, offsets):
        """``(tau, beta)`` at times ``t``; ``offsets`` the Earth's ``(delta_n, delta_e)``."""
        return parallax_trajectory(t, t0=params["t0"], u0=params["u0"], tE=params["tE"],
                                   pi_E_N=params["pi_E_N"], pi_E_E=params["pi_E_E"],
                                   delta_n=offsets[0], delta_e=offsets[1])

    def _lens(self, params, tau, beta, band, bands):
        """Magnification at source positions ``(tau, beta)`` (Einstein radii)."""
        return pspl_magnification(tau, t0=0.0, u0=beta, tE=1.0)

    def _magnification(self, params, t, band, bands, offsets=None):
        """Magnification at times ``t`` in bands ``band`` (indices into ``bands``)."""
        if not self.parallax:
            return pspl_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"])
        tau, beta = self._trajectory(params, t, offsets)
        return self._lens(params, tau, beta, band, bands)

    def _offsets_at(self, lc, t, band):
        """Earth (and, in ``satellites`` bands, spacecraft) offsets at new centred times ``t`` in
        bands ``band`` of ``lc`` (computed on the host)."""
        bands = lc.bands

        def host(t, band, t_ref, ra, dec, t0_par):
            t, t_ref = np.asarray(t, np.float64), np.asarray(t_ref, np.float64)
            absolute = t + t_ref[..., None] + self.time_offset
            dn, de = earth_offsets(absolute, ra, dec, np.asarray(t0_par, np.float64) + t_ref + self.time_offset)
            sn, se = self._satellite_shift(absolute, np.broadcast_to(band, t.shape), True, ra, dec, bands)
            dn, de = dn + sn, de + se
            return dn.astype(t.dtype), de.astype(t.dtype)

        shape = jax.ShapeDtypeStruct(t.shape, t.dtype)
        return jax.pure_callback(host, (shape, shape), t, jnp.broadcast_to(band, t.shape), lc.t_ref,
                                 lc.meta["ra"], lc.meta["dec"], lc.meta["_t0_par"],
                                 vmap_method="expand_dims")

    def _satellite_shift(self, absolute, band, where, ra, dec, bands):
        """Spacecraft offsets ``(delta_n, delta_e)`` (AU, zero elsewhere) at the points of the
        ``satellites`` bands where ``where``; ``absolute`` JD (TDB) ``[..., N]``, ``band`` indices
        into ``bands``, ``ra``/``dec`` per leading row (host)."""
        dn, de = np.zeros(absolute.shape), np.zeros(absolute.shape)
        ra_b = np.broadcast_to(ra, absolute.shape[:-1])
        dec_b = np.broadcast_to(dec, absolute.shape[:-1])
        for name, eph in self.satellites:
            sel = (band == bands.index(name)) & where if name in bands else False
            if np.any(sel):
                lead = np.nonzero(sel)[:-1]
                try:
                    sn, se = satellite_offsets(absolute[sel][:, None], ra_b[lead], dec_b[lead], eph)
                except ValueError as err:
                    raise ValueError(f"{self.name}: band {name!r}: {err}") from None
                dn[sel], de[sel] = sn[:, 0], se[:, 0]
        return dn, de

    def _pad_time(self, params):
        """Time at which padded points are evaluated (their flux is masked out)."""
        return 0.0

    def _basis(self, params, lc):
        offsets = (lc.points["delta_n"], lc.points["delta_e"]) if self.parallax else None
        A = self._magnification(params, jnp.where(lc.mask, lc.t, self._pad_time(params)), lc.band,
                                lc.bands, offsets)
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
        offsets = self._offsets_at(lc, t, band) if self.parallax else None
        A = self._magnification(params, t, band, lc.bands, offsets)
        return coef[band, 0] * A + coef[band, 1]

    def init(self, batch, n_starts):
        r"""Starts from the data: ``t0`` at the brightest point (relative to the baseline of its
        band), ``u0`` from the peak amplification :math:`A_{\max}` over the median baseline
        (:math:`u = \sqrt{2 A/\sqrt{A^2-1} - 2}`, no blending), ``tE`` from the time span over
        which the flux stays above half the peak excess; further starts scale ``tE`` by 3^k.
        With parallax, 3 such starts times both signs of ``u0`` times ``(pi_E_N, pi_E_E)`` in
        ``(0, 0), (+-0.2, 0)``: 18 candidates, screened by their likelihood."""
        if not self.parallax:
            return self._point_starts(batch, n_starts)
        cand = self._parallax_starts(self._point_starts(batch, 3), ((0.0, 0.0), (0.2, 0.0), (-0.2, 0.0)))
        n = cand["t0"].shape[1]
        idx = np.arange(n_starts) % n
        return {k: v[:, idx] for k, v in cand.items()}

    def _parallax_starts(self, cand, pi_grid):
        """Candidates ``cand`` (``[B, C]``) times both signs of ``u0`` times ``pi_grid``."""
        out = {}
        for sign in (1.0, -1.0):
            for pn, pe in pi_grid:
                part = dict(cand)
                part["u0"] = np.clip(sign * cand["u0"], self.u0_range[0] + 1e-6, self.u0_range[1] - 1e-6)
                part["pi_E_N"] = np.full_like(cand["t0"], pn)
                part["pi_E_E"] = np.full_like(cand["t0"], pe)
                for k, v in part.items():
                    out.setdefault(k, []).append(v)
        return {k: np.concatenate(v, axis=1) for k, v in out.items()}

    def _point_starts(self, batch, n_starts):
        """The rectilinear starts of :meth:`init` (``u0 > 0``), ``{t0, u0, tE: [B, n_starts]}``."""
        u_lo, u_hi = max(self.u0_range[0], 1e-4), self.u0_range[1]
        t, f, m, b = (np.asarray(batch.t), np.asarray(batch.flux), np.asarray(batch.mask),
                      np.asarray(batch.band))
        B = t.shape[0]
        out = {k: np.zeros((B, n_starts)) for k in ("t0", "u0", "tE")}
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
                out["u0"][i, k] = np.clip(u0, u_lo * 1.01, u_hi * 0.99)
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

    rho_range: tuple[float, float] = (1e-4, 0.5)
    limb_darkening: float | tuple = 0.0
    rho_factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    n_starts: int = 4

    _names = ("t0", "u0", "tE", "rho")
    _u0_default = (0.0, 3.0)

    def __post_init__(self):
        super().__post_init__()
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
        return 3 * (len(self.rho_factors) + 1) * (2 if self.parallax else 1)

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

    def _magnification(self, params, t, band, bands, offsets=None):
        if not self.parallax:
            return self._lens(params, None, None, band, bands, t=t)
        tau, beta = self._trajectory(params, t, offsets)
        return self._lens(params, tau, beta, band, bands)

    def _lens(self, params, tau, beta, band, bands, t=None):
        g = self.gammas(bands)
        if all(v == 0.0 for v in g):
            gamma = 0.0  # static: the uniform-source kernel
        elif len(set(g)) == 1:
            gamma = jnp.asarray(g[0])
        else:
            gamma = jnp.asarray(g)[jnp.clip(band, 0, len(g) - 1)]
        if t is not None:  # rectilinear: the kernel's own trajectory
            return fspl_magnification(t, t0=params["t0"], u0=params["u0"], tE=params["tE"],
                                      rho=params["rho"], limb_darkening=gamma)
        return fspl_magnification(tau, t0=0.0, u0=beta, tE=1.0, rho=params["rho"],
                                  limb_darkening=gamma)

    def init(self, batch, n_starts):
        r""":class:`PSPL`'s starts (3 values of ``tE``) times the ``rho`` grid (class docstring):
        ``3 * (len(rho_factors) + 1)`` candidates per object when ``n_starts`` asks for them all;
        with parallax, each with both signs of ``u0`` and zero parallax (twice as many)."""
        base = self._point_starts(batch, 3)
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
        cand["u0"] = np.clip(np.minimum(cand["u0"], cand["rho"]), max(self.u0_range[0], 0.0) + 1e-6,
                             self.u0_range[1] * 0.99)
        if self.parallax:
            cand = self._parallax_starts(cand, ((0.0, 0.0),))
        n = cand["rho"].shape[1]
        idx = np.arange(n_starts) % n
        return {k: v[:, idx] for k, v in cand.items()}
