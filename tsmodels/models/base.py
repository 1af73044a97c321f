"""The model protocol: what ``ts.fit`` and ``ts.sample`` need from a model, and nothing more.

A model describes ONE light curve; the inference engines in :mod:`tsmodels.fitting` vmap it over
objects, starts and chains. Nothing in ``tsmodels.fitting`` knows which physics a model has, so a
new model is a subclass of :class:`Model` (usually a frozen, hashable dataclass) providing:

``param_names``
    Tuple of the *nonlinear* parameter names, each a scalar. May be empty (a model whose only
    parameters are linear, e.g. :class:`~tsmodels.models.Constant`, is still fitted and sampled).
``priors`` (property)
    ``{name: numpyro distribution}`` in physical units, one scalar distribution per parameter.
    The bijection to unconstrained space is ``biject_to(prior.support)`` (numpyro); optimizers
    and samplers work on the unconstrained vector ``u`` (:meth:`Model.unpack`, :meth:`Model.pack`).
    ``ts.fit`` maximises the likelihood inside the prior's support (the prior only bounds it);
    ``ts.sample`` uses the prior.
``bounds(lc)`` (optional)
    ``{name: (lo, hi)}``: per-object limits (physical scalars computed from ONE light curve, pure
    JAX) that narrow the prior's support of an interval-supported parameter for that light curve
    (e.g. a timescale between the light curve's smallest spacing and 10x its baseline). The
    unconstrained map of a bounded parameter is then the interval bijection onto
    ``[max(lo, prior low), min(hi, prior high)]``, so ``ts.fit`` searches that box and
    ``ts.sample`` draws from the prior truncated to it. Default: no per-object limits.
``init(batch, n_starts)``
    Data-driven starting points on the host: ``{name: ndarray [B, n_starts]}`` (physical units)
    for the NumPy :class:`~tsmodels.lightcurves.LightCurveBatch` it is given. The model decides
    its multi-start rule (e.g. the best ``n_starts`` periodogram peaks). ``n_starts`` class
    attribute: the default number of starts. Always called on the thread that called
    ``ts.fit``/``ts.sample`` (never on the engine's worker threads), so it may use anything.
``loglike(params, lc)``
    Log-likelihood of one light curve (``lc.t, lc.flux, lc.flux_err, lc.band, lc.mask`` are
    ``[N]``; ``lc.bands`` is static), ``params`` a dict of scalars (physical). Pure JAX, static
    shapes, padded points (``mask`` False) contribute exactly nothing. Linear nuisance parameters
    are solved in closed form inside (profiled at their conditional optimum).
``residuals(params, lc)`` (optional)
    Whitened residuals ``[N]``, zero at masked points, with
    ``loglike == -0.5 * sum(residuals**2) + c(lc)`` where ``c`` does not depend on ``params``.
    When present, ``ts.fit(method="auto")`` uses Levenberg-Marquardt; otherwise L-BFGS.
``predict(params, lc, t=None, band=None)``
    Model flux at ``lc``'s own points, or at times ``t`` [M] (days relative to the object's
    ``t_ref``) and band indices ``band`` [M].
``linear(params, lc)`` (models with linear parameters)
    A :class:`LinearSolution`: the conditional weighted-least-squares solution of the ``K``
    linear coefficients given the nonlinear ``params``, its covariance (inverse Fisher matrix),
    ``log det`` of the Fisher matrix and which coefficients the data determine. Must be the same
    solution ``loglike`` profiles over. ``linear_names(bands)`` names the ``K`` coefficients.
``derived(params, coef, bands)`` (optional)
    ``{name: scalar}`` of reported quantities computed from the nonlinear parameters and the
    linear coefficients (e.g. per-band amplitude and phase); ``derived_names(bands)`` lists them.
    Default: the linear coefficients themselves.

With this, the engines obtain generically:

* Laplace errors of the nonlinear parameters (Hessian of ``-loglike`` in ``u``, mapped through
  the bijection), and of derived quantities by the delta method with the exact joint covariance
  of (nonlinear, linear) parameters of the Gaussian-linear model: the linear block is
  ``cov + J cov_u J^T`` with ``J = d coef / d u`` (autodiff through the solve);
* the marginal likelihood used by NUTS (:meth:`Model.marginal_loglike`): linear coefficients
  integrated out under a flat prior, ``loglike + n/2 log(2 pi) - 1/2 log det F``; posterior
  draws of the coefficients are then drawn exactly from their conditional Gaussian;
* the number of free parameters for AIC/BIC: ``len(param_names) + n_free``.

``meta_columns`` (optional)
    Names of the per-object columns the model reads from ``lc.meta`` (e.g. ``("z", "mwebv")``
    for a supernova model: redshift and Milky Way E(B-V)). ``ts.fit``/``ts.sample`` raise a
    ``ValueError`` naming any the batch lacks, and give an object whose value is NaN the status
    ``MISSING_META`` without fitting it (the other objects are unaffected). Inside ``loglike``
    and ``predict`` they are scalars: ``lc.meta["z"]``; ``lc.t_ref`` is the object's absolute
    reference epoch (MJD).
``check_batch(batch)`` (optional)
    Host-side check of a batch before fitting (e.g. a warning that a single-band model would
    pool several bands); the default checks ``meta_columns``.
``prepare_batch(batch)`` (optional)
    Host-side precomputation, after ``check_batch``: returns the batch the model is evaluated
    on, e.g. with per-point columns (:attr:`LightCurveBatch.points`, ``lc.points[name]`` is
    ``[N]`` inside ``loglike``) that need host libraries, such as Earth positions from an
    ephemeris. Called by ``ts.fit``/``ts.sample`` on the calling thread; the default returns
    the batch unchanged.

Models must be hashable (frozen dataclasses of hashable fields): the fitting layer caches one
compiled function per model and bucket shape.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

from tsmodels.kernels import linalg

__all__ = ["Model", "SingleBand", "LinearSolution", "PooledBandsWarning", "gaussian_norm",
           "banded_linear_solve", "pooled_bands"]


class PooledBandsWarning(UserWarning):
    """Warned when a single-band model or periodogram is given several bands to pool as one
    series (offsets and amplitudes that differ between bands then look like signal)."""


def pooled_bands(batch, band=None) -> tuple[str, ...]:
    """The bands with points in ``batch`` that a single-band computation with ``band`` (None:
    all points) would pool together: ``()`` when ``band`` is given or only one band has data."""
    if band is not None:
        return ()
    present = np.unique(np.asarray(batch.band)[np.asarray(batch.mask, bool)])
    return tuple(batch.bands[i] for i in present) if present.size > 1 else ()

LOG_2PI = float(np.log(2.0 * np.pi))


class LinearSolution(NamedTuple):
    """Closed-form solution of a model's linear coefficients given its nonlinear parameters.

    Attributes:
        coef: ``[K]`` weighted-least-squares coefficients (0 where not determined by the data).
        cov: ``[K, K]`` their conditional covariance, the inverse Fisher matrix ``F^-1``
            (identity blocks where not determined).
        logdet_fisher: scalar ``log det F`` over the determined coefficients.
        active: ``[K]`` bool, True where the data determine the coefficient with residual
            degrees of freedom left (e.g. the band has more points than coefficients); only
            active coefficients are reported, and integrated out by the sampler.
        n_free: scalar, number of coefficients fitted to data (counted by AIC/BIC); may exceed
            ``sum(active)`` when a sparse band is fitted exactly.
    """

    coef: Any
    cov: Any
    logdet_fisher: Any
    active: Any
    n_free: Any


def gaussian_norm(lc) -> Any:
    """``-sum(mask * (log(flux_err) + log(2 pi)/2))``: the Gaussian normalisation of ``lc``."""
    return -jnp.sum(jnp.where(lc.mask, jnp.log(lc.flux_err) + 0.5 * LOG_2PI, 0.0))


class Model:
    """Base class of tsmodels models (see the module docstring for the protocol).

    Subclasses set ``param_names`` and implement ``priors``, ``init`` (when they have nonlinear
    parameters), ``loglike`` (or ``residuals``, from which a Gaussian ``loglike`` follows) and
    ``predict``; models with linear parameters also implement ``linear`` and ``linear_names``.
    """

    #: Names of the nonlinear (scalar) parameters, in the order of the unconstrained vector.
    param_names: tuple[str, ...] = ()
    #: Default number of starting points per object for ``ts.fit``.
    n_starts: int = 1
    #: Per-object columns the model reads from ``lc.meta`` (see the module docstring).
    meta_columns: tuple[str, ...] = ()
    #: Width of the solver's blocks as a fraction of a chunk's lanes; None: the fitting
    #: layer's default (:func:`tsmodels.fitting.loop.compact_fraction`).
    compact_fraction = None
    #: Convergence tolerance of its fits when looser than the fitting layer's default
    #: (:func:`tsmodels.fitting.solvers.default_tol`); None: the default.
    fit_tol = None

    # ------------------------------------------------------------------ to implement
    @property
    def priors(self) -> dict:
        """``{name: numpyro distribution}`` for every name in ``param_names`` (physical units)."""
        if self.param_names:
            raise NotImplementedError(f"{type(self).__name__} must define priors")
        return {}

    def bounds(self, lc) -> dict:
        """Per-object limits ``{name: (lo, hi)}`` for one light curve (module docstring)."""
        return {}

    def init(self, batch, n_starts: int) -> dict[str, np.ndarray]:
        """Starting points ``{name: [B, n_starts]}`` (physical) for a NumPy batch."""
        if self.param_names:
            raise NotImplementedError(f"{type(self).__name__} must define init")
        return {}

    def loglike(self, params: dict, lc) -> Any:
        """Log-likelihood of one light curve. Default: Gaussian, from :meth:`residuals`."""
        if not self.has_residuals:
            raise NotImplementedError(f"{type(self).__name__} must define loglike or residuals")
        r = self.residuals(params, lc)
        return -0.5 * jnp.sum(r * r) + gaussian_norm(lc)

    def predict(self, params: dict, lc, t=None, band=None) -> Any:
        """Model flux at ``lc``'s points, or at ``t`` [M] in bands ``band`` [M]."""
        raise NotImplementedError(f"{type(self).__name__} must define predict")

    def linear_names(self, bands: tuple[str, ...]) -> tuple[str, ...]:
        """Names of the ``K`` linear coefficients for a batch with these bands."""
        return ()

    def linear(self, params: dict, lc) -> LinearSolution | None:
        """The conditional linear solution, or None for models without linear parameters."""
        return None

    def derived_names(self, bands: tuple[str, ...]) -> tuple[str, ...]:
        """Names of the quantities :meth:`derived` reports."""
        return self.linear_names(bands)

    def derived(self, params: dict, coef, bands: tuple[str, ...]) -> dict:
        """Reported quantities from nonlinear ``params`` and linear ``coef`` [K]."""
        return {name: coef[i] for i, name in enumerate(self.linear_names(bands))}

    def check_batch(self, batch) -> None:
        """Validate ``batch`` for this model on the host (called by ``ts.fit`` and ``ts.sample``).

        Raises:
            ValueError: naming the per-object columns of :attr:`meta_columns` the batch lacks.
        """
        missing = [c for c in self.meta_columns if c not in batch.meta]
        if missing:
            raise ValueError(
                f"{self.name} needs the per-object column(s) {missing}, which the batch lacks "
                f"(it has {sorted(batch.meta)}); add them with LightCurveBatch.from_pandas(..., "
                "meta=object_table) or batch.with_meta(...)")

    def prepare_batch(self, batch):
        """The batch this model is evaluated on (module docstring); default: ``batch``."""
        return batch

    def meta_ok(self, batch) -> np.ndarray:
        """``[B]`` bool: the object's :attr:`meta_columns` are all finite."""
        ok = np.ones(len(batch), bool)
        for c in self.meta_columns:
            ok &= np.isfinite(np.asarray(batch.meta[c], np.float64))
        return ok

    # ------------------------------------------------------------------ generic
    @property
    def name(self) -> str:
        """Short label used in result tables (class name by default)."""
        return type(self).__name__

    @property
    def has_residuals(self) -> bool:
        return callable(getattr(self, "residuals", None))

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def interval_params(self) -> tuple[bool, ...]:
        """Per parameter: whether its prior's support is a finite interval (so that its
        unconstrained value saturates at the interval's ends)."""
        out = []
        for n in self.param_names:
            sup = self.priors[n].support
            lo = getattr(sup, "lower_bound", None)
            hi = getattr(sup, "upper_bound", None)
            out.append(bool(lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)))
        return tuple(out)

    def bijections(self, lc=None) -> dict:
        """``{name: numpyro Transform}`` from unconstrained reals to each parameter's support.

        Without ``lc``: the prior's support (``biject_to(prior.support)``). With ``lc`` (one
        light curve), parameters named by :meth:`bounds` map onto the prior's support narrowed
        to that light curve's limits (where the limits leave an empty or non-finite interval,
        the prior's support is kept).
        """
        priors = self.priors
        missing = [n for n in self.param_names if n not in priors]
        if missing:
            raise ValueError(f"{type(self).__name__}.priors lacks {missing}")
        out = {n: biject_to(priors[n].support) for n in self.param_names}
        if lc is None:
            return out
        for n, (lo, hi) in self.bounds(lc).items():
            if n not in out:
                raise ValueError(f"{type(self).__name__}.bounds names {n!r}, not a parameter")
            sup = priors[n].support
            p_lo = getattr(sup, "lower_bound", None)
            p_hi = getattr(sup, "upper_bound", None)
            if p_lo is None or p_hi is None or not (np.isfinite(p_lo) and np.isfinite(p_hi)):
                raise ValueError(f"{type(self).__name__}.bounds: {n!r} needs a prior with an "
                                 f"interval support, got {sup}")
            lo = jnp.maximum(jnp.asarray(lo), p_lo)
            hi = jnp.minimum(jnp.asarray(hi), p_hi)
            ok = jnp.isfinite(lo) & jnp.isfinite(hi) & (hi > lo * (1 + 1e-6) + 1e-300)
            lo = jnp.where(ok, lo, p_lo)
            hi = jnp.where(ok, hi, p_hi)
            out[n] = biject_to(constraints.interval(lo, hi))
        return out

    def unpack(self, u, lc=None) -> dict:
        """Unconstrained vector ``u`` [P] -> physical parameter dict (per-object limits of
        ``lc`` applied when given; see :meth:`bijections`)."""
        tr = self.bijections(lc)
        return {n: tr[n](u[i]) for i, n in enumerate(self.param_names)}

    def pack(self, params: dict, lc=None) -> Any:
        """Physical parameter dict -> unconstrained vector ``u`` [P] (``[..., P]`` for arrays).

        With ``lc``, values outside that light curve's limits are first moved just inside them.
        """
        tr = self.bijections(lc)
        if not self.param_names:
            return jnp.zeros((0,))
        limited = () if lc is None else tuple(self.bounds(lc))
        cols = []
        for n in self.param_names:
            x = jnp.asarray(params[n])
            if n in limited:
                # the interval's interior: sigmoid(-+U) with U = log(1/eps) / 2 leaves a margin
                # of ~sqrt(eps) of its width, resolvable in the dtype
                x = jnp.asarray(x, jnp.result_type(x, float))
                big = 0.5 * float(np.log(1.0 / jnp.finfo(x.dtype).eps))
                x = jnp.clip(x, tr[n](jnp.asarray(-big, x.dtype)), tr[n](jnp.asarray(big, x.dtype)))
            cols.append(tr[n].inv(x))
        return jnp.stack(cols, axis=-1)

    def log_abs_det_jacobian(self, u, lc=None) -> Any:
        """``log |d params / d u|`` at ``u`` (for densities in unconstrained space)."""
        tr = self.bijections(lc)
        out = jnp.zeros((), dtype=jnp.result_type(u))
        for i, n in enumerate(self.param_names):
            out = out + tr[n].log_abs_det_jacobian(u[i], tr[n](u[i]))
        return out

    def log_prior(self, params: dict) -> Any:
        priors = self.priors
        out = 0.0
        for n in self.param_names:
            out = out + priors[n].log_prob(params[n])
        return jnp.asarray(out)

    def marginal_loglike(self, params: dict, lc) -> Any:
        """Likelihood with the linear coefficients integrated out under a flat prior."""
        ll = self.loglike(params, lc)
        sol = self.linear(params, lc)
        if sol is None:
            return ll
        n_active = jnp.sum(sol.active)
        return ll + 0.5 * n_active * LOG_2PI - 0.5 * sol.logdet_fisher

    def used_points(self, params: dict, lc) -> Any:
        """``[N]`` bool: the points the likelihood uses at ``params``. Every real point
        (``lc.mask``) by default; models with cuts (SALT's phase and rest-frame wavelength
        windows, its model coverage) exclude more. ``ts.fit`` reports their count as
        ``n_used``."""
        return lc.mask

    def chi2(self, params: dict, lc) -> Any:
        """``sum(((flux - model) / flux_err)**2)`` over real points (residuals if available)."""
        if self.has_residuals:
            r = self.residuals(params, lc)
        else:
            r = jnp.where(lc.mask, (lc.flux - self.predict(params, lc)) / lc.flux_err, 0.0)
        return jnp.sum(r * r)


class SingleBand:
    """Mixin of single-band models with a ``band`` field (a band name, or None for every point).

    ``_mask(lc)`` selects the band's real points; ``check_batch`` warns
    (:class:`PooledBandsWarning`) when ``band`` is None and the batch has several bands.
    """

    def _band_index(self, bands):
        if self.band is None:
            return None
        if self.band not in bands:
            raise ValueError(f"{self.name}: band {self.band!r} is not in the batch's bands {tuple(bands)}")
        return bands.index(self.band)

    def _mask(self, lc):
        b = self._band_index(lc.bands)
        return lc.mask if b is None else lc.mask & (lc.band == b)

    def check_batch(self, batch) -> None:
        super().check_batch(batch)
        self._band_index(batch.bands)
        pooled = pooled_bands(batch, self.band)
        if pooled:
            import warnings

            warnings.warn(
                f"{self.name}(band=None) fits the points of every band {pooled} as one light curve; "
                f"band offsets and amplitudes then look like variability. Pass band=... (one of "
                f"{pooled}) or use a multiband model (e.g. MultibandDRW).", PooledBandsWarning,
                stacklevel=3)


#: Bases of up to this many columns form their normal equations entry by entry.
_SMALL_BASIS = 4


def _normal_equations(wb, X, y):
    """Per-band ``X^T W_b X`` ``[nb, m, m]`` and ``X^T W_b y`` ``[nb, m]`` (``wb [nb, N]``).

    For small bases, one reduction over the points per entry: vmapped over fits and under
    forward-mode tangents, XLA's CPU runs the equivalent three-operand einsum as many tiny
    batched matrix products (for the 2-column supernova basis, the residuals with their
    Jacobian cost 4.7 us per fit that way and 1.5 us this way, 78 points).
    """
    m = X.shape[1]
    if m > _SMALL_BASIS:
        return jnp.einsum("bn,ni,nj->bij", wb, X, X), jnp.einsum("bn,ni,n->bi", wb, X, y)
    wx = [wb * X[:, i][None, :] for i in range(m)]
    f = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(i, m):
            f[i][j] = f[j][i] = jnp.sum(wx[i] * X[:, j][None, :], axis=-1)
    fisher = jnp.stack([jnp.stack(row, axis=-1) for row in f], axis=-2)
    rhs = jnp.stack([jnp.sum(w * y[None, :], axis=-1) for w in wx], axis=-1)
    return fisher, rhs


def _basis_times(X, coef, band, onehot):
    """``sum_i X[n, i] coef[band[n], i]`` per point, without a gather for small bases."""
    nb, m = coef.shape
    if m > _SMALL_BASIS:
        return jnp.sum(X * coef[band], axis=1)
    per_band = [sum(X[:, i] * coef[b, i] for i in range(m)) for b in range(nb)]
    if nb == 1:
        return per_band[0]
    return sum(jnp.where(onehot[b], per_band[b], 0.0) for b in range(nb))


def banded_linear_solve(X, lc, y=None, mask=None) -> tuple[LinearSolution, Any]:
    """Weighted least squares for per-band coefficients on a common basis.

    The model is ``y[n] = sum_i X[n, i] * beta[band[n], i]``: every band has its own ``m``
    coefficients on the same basis columns (a per-band offset: ``X = ones``; a per-band Fourier
    series; per-band source and blend fluxes ``X = [A(t), 1]``). Coefficients are ordered band
    by band: ``coef[b * m + i]``.

    A band with more than ``m`` real points is *active*. A band with no point has coefficients 0
    and unit covariance. A band with ``0 < count <= m`` points is fitted exactly (minimum-norm
    solution), so it constrains no nonlinear parameter; it is inactive: its coefficients are not
    reported and its Fisher determinant is left out of the marginal likelihood (with exactly
    ``m`` points that determinant vanishes at isolated nonlinear parameter values, which would
    make the flat-prior marginal posterior improper there); its ``min(count, m)`` fitted
    coefficients still count in ``n_free``. Every system carries a ridge of
    ``m * eps(dtype)`` times its mean diagonal (``eps**(2/3)`` for inactive bands), far below the
    statistical errors, so nearly degenerate samplings stay finite.

    Args:
        X: ``[N, m]`` basis evaluated at ``lc.t`` (finite at padded points).
        lc: one light curve (``flux, flux_err, band, mask`` ``[N]``; static ``bands``).
        y: ``[N]`` data to fit (default ``lc.flux``).
        mask: ``[N]`` points to fit (default ``lc.mask``; e.g. one band's points).

    Returns:
        ``(LinearSolution, fitted [N])``: the solution (``K = n_bands * m``) and the model
        values ``X beta`` at ``lc``'s points (0 at padded points).
    """
    nb = len(lc.bands)
    n, m = X.shape
    y = lc.flux if y is None else y
    mask = lc.mask if mask is None else mask
    dt = jnp.result_type(X, y)
    onehot = (lc.band[None, :] == jnp.arange(nb)[:, None]) & mask[None, :]  # [nb, N]
    w = jnp.where(mask, 1.0 / jnp.where(mask, lc.flux_err, 1.0) ** 2, 0.0)
    wb = jnp.where(onehot, w[None, :], 0.0).astype(dt)  # [nb, N]
    fisher, rhs = _normal_equations(wb, X, y)
    count = jnp.sum(onehot, axis=1)
    active_b = count > m
    any_b = count > 0
    eye = jnp.eye(m, dtype=dt)
    scale = jnp.trace(fisher, axis1=1, axis2=2) / m
    eps = jnp.finfo(dt).eps
    ridge = jnp.where(active_b, m * eps, eps ** (2.0 / 3.0))
    scale = jnp.where(any_b & (scale > 0), scale, 1.0)
    f_reg = jnp.where(any_b[:, None, None], fisher + (ridge * scale)[:, None, None] * eye, eye)
    chol = linalg.cholesky(f_reg)
    coef = linalg.cho_solve(chol, rhs)
    coef = jnp.where(any_b[:, None], coef, 0.0)
    cov_b = linalg.cho_inverse(chol)
    cov_b = jnp.where(active_b[:, None, None], cov_b, eye)
    logdet = jnp.sum(jnp.where(active_b[:, None], 2.0 * jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), 0.0))
    cov = jnp.einsum("bij,bc->bicj", cov_b, jnp.eye(nb, dtype=dt)).reshape(nb * m, nb * m)
    active = jnp.repeat(active_b, m)
    fitted = jnp.where(mask, _basis_times(X, coef, lc.band, onehot), 0.0)
    n_free = jnp.sum(jnp.minimum(count, m))
    return LinearSolution(coef.reshape(nb * m), cov, logdet, active, n_free), fitted
