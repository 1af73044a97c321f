"""Laplace errors at the optimum of ``ts.fit``.

``cov_u = H^-1`` with ``H`` the Hessian of ``-loglike`` in the model's unconstrained space (for
models with residuals its Gauss-Newton form ``J^T J``, the Fisher information, as least-squares
fitters report), mapped to physical parameters with the bijection's Jacobian, and to derived
quantities (linear parameters and functions of them) by the delta method with the exact joint
covariance of the Gaussian-linear model (see :mod:`tsmodels.models.base`). When the solver
already holds ``H`` at the optimum (Newton, Levenberg-Marquardt) it is passed in rather than
differentiated again, so the compiled fit carries one Hessian, not two.

A parameter that the optimiser ran to an end of its interval (a Villar plateau slope at 0, say)
sits where the bijection's derivative underflows: its column of the unconstrained Jacobian is 0
and ``H`` is singular although the likelihood is well curved in the parameter itself. For models
with residuals, :func:`physical_fallback` then takes the errors from the Gauss-Newton Hessian in
the physical parameters (the bound ignored, as least-squares fitters report), for those objects
only; the others keep the unconstrained result unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tsmodels.fitting.solvers import NEWTON_MAX_PARAMS
from tsmodels.kernels import linalg

__all__ = ["laplace", "physical_fallback"]


def laplace(model, lc, u, hess=None):
    """Everything reported at the optimum ``u`` of one light curve.

    Args:
        model: the model; lc: one light curve; u: ``[P]`` unconstrained optimum.
        hess: the Hessian of the objective at ``u`` in unconstrained space when the solver
            already has it (:func:`tsmodels.fitting.solvers.gauss_newton_hessian`: ``J^T J`` for
            models with residuals, the exact Hessian of ``-loglike`` otherwise), else None.

    Returns:
        dict of ``loglike, chi2, x [P], cov_x [P, P], cov_u [P, P], hess_ok, n_linear,
        n_used, derived [D], derived_err [D]``.
    """
    params = model.unpack(u, lc)
    P = model.n_params
    ll = model.loglike(params, lc)
    chi2 = model.chi2(params, lc)
    dt = jnp.result_type(ll)
    x = jnp.stack([params[n] for n in model.param_names]) if P else jnp.zeros((0,), dt)
    if P:
        if hess is not None:
            pass
        elif model.has_residuals:  # Gauss-Newton: the Fisher information J^T J
            jr = jax.jacfwd(lambda v: model.residuals(model.unpack(v, lc), lc))(u)
            hess = jr.T @ jr
        else:
            nll = lambda v: -model.loglike(model.unpack(v, lc), lc)  # noqa: E731
            # forward-over-forward for few parameters (cheaper through the long scans of the
            # state-space likelihoods), forward-over-reverse beyond
            hess = (jax.jacfwd(jax.jacfwd(nll)) if P <= NEWTON_MAX_PARAMS else jax.hessian(nll))(u)
        hess = 0.5 * (hess + hess.T)
        chol = linalg.cholesky(hess)
        hess_ok = jnp.all(jnp.isfinite(chol))
        cov_u = jnp.where(hess_ok, linalg.cho_inverse(jnp.where(hess_ok, chol, jnp.eye(P, dtype=dt))), jnp.nan)
        jx = jax.jacfwd(lambda v: jnp.stack([model.unpack(v, lc)[n] for n in model.param_names]))(u)
        cov_x = jx @ cov_u @ jx.T
    else:
        hess_ok = jnp.asarray(True)
        cov_u = cov_x = jnp.zeros((0, 0), dt)
    out = dict(loglike=ll, chi2=chi2, x=x, cov_x=cov_x, cov_u=cov_u, hess_ok=hess_ok,
               n_used=jnp.sum(model.used_points(params, lc)).astype(jnp.int32))

    bands = lc.bands
    sol = model.linear(params, lc) if model.linear_names(bands) else None
    dnames = model.derived_names(bands)
    if sol is None:
        out["n_linear"] = jnp.zeros((), jnp.int32)
        active = jnp.zeros((0,), bool)
        coef = jnp.zeros((0,), dt)
        sigma = cov_u
    else:
        out["n_linear"] = jnp.asarray(sol.n_free).astype(jnp.int32)
        active = sol.active
        coef = sol.coef
        jb = jax.jacfwd(lambda v: model.linear(model.unpack(v, lc), lc).coef)(u) if P else jnp.zeros((coef.shape[0], 0), dt)
        cu_jb = cov_u @ jb.T  # [P, K]
        sigma = jnp.block([[cov_u, cu_jb], [cu_jb.T, sol.cov + jb @ cu_jb]])
    if dnames:
        K = coef.shape[0]
        coef_safe = jnp.where(active, coef, 1.0)

        def dfun(z):
            d = model.derived(model.unpack(z[:P], lc), z[P:], bands)
            return jnp.stack([jnp.asarray(d[n], dt) for n in dnames])

        z = jnp.concatenate([u, coef_safe])
        dval = dfun(z)
        jd = jax.jacfwd(dfun)(z)
        dvar = jnp.einsum("di,ij,dj->d", jd, sigma, jd)
        dep_inactive = jnp.any((jd[:, P:] != 0) & ~active[None, :], axis=1) if K else jnp.zeros(len(dnames), bool)
        out["derived"] = jnp.where(dep_inactive, jnp.nan, dval)
        out["derived_err"] = jnp.where(dep_inactive, jnp.nan, jnp.sqrt(jnp.maximum(dvar, 0.0)))
    else:
        out["derived"] = jnp.zeros((0,), dt)
        out["derived_err"] = jnp.zeros((0,), dt)
    return out


class _Physical:
    """``model`` with its parameters as their own coordinates: ``unpack`` is the identity, so
    :func:`laplace` differentiates in the physical parameters (everything else is the model's)."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def unpack(self, u, lc=None):
        return {n: u[i] for i, n in enumerate(self._model.param_names)}


def physical_fallback(model, lcs, u, out, live):
    """Laplace results ``out`` (vmapped :func:`laplace` over objects ``lcs`` at optima
    ``u [B, P]``) with the errors of the objects whose unconstrained Hessian is not positive
    definite (``live`` ones only) recomputed from the Gauss-Newton Hessian in the physical
    parameters, where that one is (see the module docstring). ``cov_u`` of those objects is
    ``cov_x / (d_i d_j)`` with ``d = dx/du``: infinite along a parameter at its bound (``ts.sample``
    then whitens that parameter with unit scale). Models without residuals, or chunks where
    every Hessian is fine, return ``out`` unchanged (the second pass runs only when needed)."""
    if not model.param_names or not model.has_residuals:
        return out
    view = _Physical(model)

    def redo(out):
        alt = jax.vmap(lambda lc, x: laplace(view, lc, x))(lcs, out["x"])

        def dxdu(lc, uu):
            tr = model.bijections(lc)
            return jnp.stack([jnp.exp(tr[n].log_abs_det_jacobian(uu[i], tr[n](uu[i])))
                              for i, n in enumerate(model.param_names)])

        d = jax.vmap(dxdu)(lcs, u)
        cov_u = alt["cov_x"] / (d[:, :, None] * d[:, None, :])
        alt = dict(alt, cov_u=jnp.where(jnp.isfinite(cov_u), cov_u, jnp.inf))
        use = ~out["hess_ok"] & alt["hess_ok"] & live
        merged = dict(out)
        for k in ("cov_x", "cov_u", "hess_ok", "derived", "derived_err"):
            sel = use.reshape(use.shape + (1,) * (out[k].ndim - 1))
            merged[k] = jnp.where(sel, alt[k], out[k]).astype(out[k].dtype)
        return merged

    return jax.lax.cond(jnp.any(~out["hess_ok"] & live), redo, lambda o: dict(o), out)
