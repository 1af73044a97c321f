"""Batched maximum-likelihood fitting: ``ts.fit``.

Every object of a batch, and every starting point of every object, is one *lane*; a solver is a
pair of pure per-lane functions ``init(lc, u) -> state`` and ``step(lc, state) -> state`` (a
NamedTuple state with ``u, done, status, n_iter``), vmapped over starts and objects. One
``lax.while_loop`` advances all lanes together and stops as soon as every lane is done (or at
``max_steps``); a lane that is done is frozen (its state no longer changes), so the result of an
object never depends on the other objects of its batch.

Solvers work on the unconstrained vector ``u`` (the model's bijections map it to the prior
support):

* ``"lm"``: Levenberg-Marquardt on the model's whitened ``residuals`` (Jacobian by forward-mode
  autodiff; Marquardt diagonal scaling; Nielsen's damping update). Converged when the actual and
  predicted relative reductions of the cost are both below ``tol``, or the step is below
  ``tol * (|u| + tol)``, or the damping grows past 1e20 (no descent direction left).
* ``"lbfgs"``: optax's L-BFGS with zoom line search on ``-loglike``. Converged when the relative
  decrease of ``-loglike`` over an iteration is below ``tol`` or the step is below
  ``tol * (|u| + tol)``.

Multi-start pruning: a start whose objective exceeds that of its object's best start by more
than it could still gain in the remaining steps at its last rate of decrease stops early (it can
never be the retained start, and it would otherwise keep the whole batch iterating).

After the loop the best start per object (highest finite log-likelihood) is kept, and the
Laplace approximation gives errors: ``cov_u = H^-1`` with ``H`` the Hessian of ``-loglike`` in
``u`` (for residual models its Gauss-Newton form ``J^T J``, the Fisher information, as
least-squares fitters report), mapped to physical parameters with the bijection's Jacobian, and
to derived quantities
(linear parameters and functions of them) by the delta method with the exact joint covariance
of the Gaussian-linear model (see :mod:`tsmodels.models.base`).

One compiled function exists per (model, options) and per padded shape: batches are split by
``LightCurveBatch.bucket`` into length buckets, and the object axis of each chunk is padded (with
fully masked dummy objects) to a rung of ``bucket_lengths`` (at most ``batch_size``), so batches of
similar shapes reuse the compilation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.linalg import cho_solve

from tsmodels.config import precision, resolve_dtype
from tsmodels.fitting.results import (BAD_HESSIAN, DIVERGED, MAX_STEPS, NO_DATA, NONFINITE, OK,
                                      FitResult)
from tsmodels.lightcurves import bucket_lengths

__all__ = ["fit", "default_tol"]

_LAM_MAX = 1e20


def default_tol(dtype) -> float:
    """Default convergence tolerance: 1e-10 in float64, 1e-5 in float32."""
    return 1e-5 if resolve_dtype(dtype) == np.dtype("float32") else 1e-10


def _where_tree(cond, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


# ------------------------------------------------------------------------------------ solvers
class LMState(NamedTuple):
    u: Any
    r: Any
    jac: Any
    cost: Any  # the objective: 0.5 * sum(r^2)
    lam: Any
    nu: Any
    done: Any
    status: Any
    n_iter: Any
    last_dec: Any  # decrease of the objective at the last accepted step


def _lm_solver(model, tol):
    def res_jac(lc, u):
        def f(v):
            r = model.residuals(model.unpack(v), lc)
            return r, r

        jac, r = jax.jacfwd(f, has_aux=True)(u)
        return r, jac

    def init(lc, u):
        r, jac = res_jac(lc, u)
        cost = 0.5 * jnp.sum(r * r)
        ok = jnp.isfinite(cost) & jnp.all(jnp.isfinite(jac)) & jnp.all(jnp.isfinite(u))
        z = jnp.zeros((), cost.dtype)
        return LMState(u, r, jac, cost, z + 1e-3, z + 2.0, ~ok,
                       jnp.where(ok, OK, NONFINITE).astype(jnp.int32), jnp.zeros((), jnp.int32), z + jnp.inf)

    def step(lc, s):
        a = s.jac.T @ s.jac
        g = s.jac.T @ s.r
        d = jnp.diagonal(a)
        d = jnp.maximum(d, jnp.finfo(d.dtype).eps * jnp.maximum(jnp.max(d), 1.0))
        delta = jnp.linalg.solve(a + s.lam * jnp.diag(d), -g)
        u_new = s.u + delta
        r_new, jac_new = res_jac(lc, u_new)
        cost_new = 0.5 * jnp.sum(r_new * r_new)
        pred = -(g @ delta + 0.5 * delta @ (a @ delta))
        act = s.cost - cost_new
        finite = jnp.isfinite(cost_new) & jnp.all(jnp.isfinite(jac_new)) & jnp.all(jnp.isfinite(u_new))
        rho = act / jnp.where(pred > 0, pred, 1.0)
        accept = finite & (act > 0) & (pred > 0)
        lam = jnp.where(accept, s.lam * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), s.lam * s.nu)
        nu = jnp.where(accept, 2.0, 2.0 * s.nu)
        small_f = accept & (act <= tol * cost_new) & (pred <= tol * s.cost)
        small_x = jnp.linalg.norm(delta) <= tol * (jnp.linalg.norm(s.u) + tol)
        stuck = lam > _LAM_MAX
        new = LMState(
            u=jnp.where(accept, u_new, s.u), r=jnp.where(accept, r_new, s.r),
            jac=jnp.where(accept, jac_new, s.jac), cost=jnp.where(accept, cost_new, s.cost),
            lam=jnp.minimum(lam, 2 * _LAM_MAX), nu=jnp.minimum(nu, 2 * _LAM_MAX),
            done=small_f | small_x | stuck, status=s.status, n_iter=s.n_iter + 1,
            last_dec=jnp.where(accept, act, s.last_dec))
        return _where_tree(s.done, s, new)

    return init, step, lambda s: s.cost


class LBFGSState(NamedTuple):
    u: Any
    opt: Any
    f: Any  # the objective: -loglike
    done: Any
    status: Any
    n_iter: Any
    last_dec: Any  # decrease of the objective at the last iteration


def _lbfgs_solver(model, tol):
    opt = optax.lbfgs()

    def objective(lc):
        return lambda v: -model.loglike(model.unpack(v), lc)

    def init(lc, u):
        f = objective(lc)(u)
        ok = jnp.isfinite(f) & jnp.all(jnp.isfinite(u))
        return LBFGSState(u, opt.init(u), f, ~ok, jnp.where(ok, OK, NONFINITE).astype(jnp.int32),
                          jnp.zeros((), jnp.int32), jnp.full((), jnp.inf, f.dtype))

    def step(lc, s):
        fun = objective(lc)
        value, grad = optax.value_and_grad_from_state(fun)(s.u, state=s.opt)
        updates, opt_state = opt.update(grad, s.opt, s.u, value=value, grad=grad, value_fn=fun)
        u_new = s.u + updates
        f_new = optax.tree_utils.tree_get(opt_state, "value")
        finite = jnp.isfinite(f_new) & jnp.all(jnp.isfinite(u_new))
        small_f = jnp.abs(s.f - f_new) <= tol * (jnp.abs(f_new) + tol)
        small_x = jnp.linalg.norm(updates) <= tol * (jnp.linalg.norm(s.u) + tol)
        new = LBFGSState(
            u=jnp.where(finite, u_new, s.u), opt=_where_tree(finite, opt_state, s.opt),
            f=jnp.where(finite, f_new, s.f), done=~finite | (finite & (small_f | small_x)),
            status=jnp.where(finite, s.status, DIVERGED).astype(jnp.int32), n_iter=s.n_iter + 1,
            last_dec=jnp.where(finite, s.f - f_new, s.last_dec))
        return _where_tree(s.done, s, new)

    return init, step, lambda s: s.f


# ------------------------------------------------------------------------------------ engine
@dataclass(frozen=True)
class FitOptions:
    method: str
    max_steps: int
    tol: float


def _run_solver(model, opts: FitOptions, lcs, u0, live):
    """Optimise all lanes ``[B, S]``; returns the final per-lane states and the loop count."""
    if opts.method == "lm":
        init, step, value = _lm_solver(model, opts.tol)
    else:
        init, step, value = _lbfgs_solver(model, opts.tol)
    vinit = jax.vmap(jax.vmap(init, in_axes=(None, 0)), in_axes=(0, 0))
    vstep = jax.vmap(jax.vmap(step, in_axes=(None, 0)), in_axes=(0, 0))
    state = vinit(lcs, u0)
    state = state._replace(done=state.done | ~live)

    def cond(carry):
        k, st = carry
        return (k < opts.max_steps) & jnp.any(~st.done)

    def body(carry):
        k, st = carry
        st = vstep(lcs, st)
        # multi-start pruning: a start whose objective exceeds the best start of its object by
        # more than it could still gain in the remaining steps at its last rate of decrease
        # cannot become the best one; it stops, so it no longer holds the batch in the loop
        v = value(st)
        best = jnp.min(jnp.where(jnp.isfinite(v), v, jnp.inf), axis=1, keepdims=True)
        gap = v - best
        remaining = opts.max_steps - (k + 1)
        prune = ~st.done & (st.n_iter >= 3) & (gap > 0) & (gap > remaining * st.last_dec)
        return k + 1, st._replace(done=st.done | prune)

    n_loops, state = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state))
    return state, n_loops


def _laplace(model, lc, u):
    """Everything reported at the optimum ``u`` of one light curve."""
    params = model.unpack(u)
    P = model.n_params
    ll = model.loglike(params, lc)
    chi2 = model.chi2(params, lc)
    dt = jnp.result_type(ll)
    x = jnp.stack([params[n] for n in model.param_names]) if P else jnp.zeros((0,), dt)
    if P:
        if model.has_residuals:  # Gauss-Newton: the Fisher information J^T J
            jr = jax.jacfwd(lambda v: model.residuals(model.unpack(v), lc))(u)
            hess = jr.T @ jr
        else:
            hess = jax.hessian(lambda v: -model.loglike(model.unpack(v), lc))(u)
        hess = 0.5 * (hess + hess.T)
        chol = jnp.linalg.cholesky(hess)
        hess_ok = jnp.all(jnp.isfinite(chol))
        cov_u = cho_solve((chol, True), jnp.eye(P, dtype=dt))
        cov_u = jnp.where(hess_ok, 0.5 * (cov_u + cov_u.T), jnp.nan)
        jx = jax.jacfwd(lambda v: jnp.stack([model.unpack(v)[n] for n in model.param_names]))(u)
        cov_x = jx @ cov_u @ jx.T
    else:
        hess_ok = jnp.asarray(True)
        cov_u = cov_x = jnp.zeros((0, 0), dt)
    out = dict(loglike=ll, chi2=chi2, x=x, cov_x=cov_x, cov_u=cov_u, hess_ok=hess_ok)

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
        jb = jax.jacfwd(lambda v: model.linear(model.unpack(v), lc).coef)(u) if P else jnp.zeros((coef.shape[0], 0), dt)
        cu_jb = cov_u @ jb.T  # [P, K]
        sigma = jnp.block([[cov_u, cu_jb], [cu_jb.T, sol.cov + jb @ cu_jb]])
    if dnames:
        K = coef.shape[0]
        coef_safe = jnp.where(active, coef, 1.0)

        def dfun(z):
            d = model.derived(model.unpack(z[:P]), z[P:], bands)
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


def _fit_chunk(model, opts: FitOptions, lcs, u0, valid):
    """Traced body of one chunk: lcs ``[B, N]``, u0 ``[B, S, P]``, valid ``[B]``."""
    B, S, P = u0.shape
    has_data = valid & jnp.any(lcs.mask, axis=1)
    if P:
        live = jnp.broadcast_to(has_data[:, None], (B, S))
        state, n_loops = _run_solver(model, opts, lcs, u0, live)
        u_all = state.u
        ll_all = jax.vmap(jax.vmap(lambda lc, u: model.loglike(model.unpack(u), lc),
                                   in_axes=(None, 0)))(lcs, u_all)
        score = jnp.where(jnp.isfinite(ll_all) & (state.status != NONFINITE), ll_all, -jnp.inf)
        best = jnp.argmax(score, axis=1)
        pick = lambda a: jnp.take_along_axis(a, best.reshape((B,) + (1,) * (a.ndim - 1)), axis=1)[:, 0]  # noqa: E731
        u = pick(u_all)
        conv = pick(state.done & (state.status == OK)) if S else jnp.zeros(B, bool)
        n_iter = pick(state.n_iter)
        opt_status = pick(state.status)
        any_finite = jnp.any(jnp.isfinite(score), axis=1)
        opt_status = jnp.where(any_finite, jnp.where(opt_status == NONFINITE, OK, opt_status), NONFINITE)
        conv = conv & any_finite
    else:
        n_loops = jnp.zeros((), jnp.int32)
        u = jnp.zeros((B, 0), lcs.t.dtype)
        conv = jnp.ones(B, bool)
        n_iter = jnp.zeros(B, jnp.int32)
        opt_status = jnp.zeros(B, jnp.int32)
    out = jax.vmap(functools.partial(_laplace, model))(lcs, u)
    ll_ok = jnp.isfinite(out["loglike"])
    status = jnp.where(
        ~has_data, NO_DATA,
        jnp.where((opt_status == NONFINITE) | ~ll_ok, NONFINITE,
                  jnp.where(opt_status == DIVERGED, DIVERGED,
                            jnp.where(~conv, MAX_STEPS,
                                      jnp.where(~out["hess_ok"], BAD_HESSIAN, OK))))).astype(jnp.int32)
    out.update(u=u, converged=conv & has_data, n_iter=n_iter, status=status,
               ndata=jnp.sum(lcs.mask, axis=1).astype(jnp.int32), n_loops=n_loops)
    return out


@functools.lru_cache(maxsize=64)
def _compiled_cached(model, opts):
    return jax.jit(functools.partial(_fit_chunk, model, opts))


def compiled_fit(model, opts: FitOptions):
    """The jitted chunk function for (model, opts) (cached when the model is hashable)."""
    try:
        return _compiled_cached(model, opts)
    except TypeError:  # unhashable model: compile per call
        return jax.jit(functools.partial(_fit_chunk, model, opts))


# ------------------------------------------------------------------------------------ host side
def check_model(model) -> None:
    for attr in ("param_names", "loglike", "init", "unpack", "linear_names", "derived_names"):
        if not hasattr(model, attr):
            raise TypeError(f"{type(model).__name__} does not follow the model protocol: no {attr!r} "
                            "(subclass tsmodels.models.Model)")


def resolve_method(model, method: str) -> str:
    if model.n_params == 0:
        return "linear"
    if method == "auto":
        return "lm" if model.has_residuals else "lbfgs"
    if method not in ("lm", "lbfgs"):
        raise ValueError(f"method must be 'auto', 'lm' or 'lbfgs', got {method!r}")
    if method == "lm" and not model.has_residuals:
        raise ValueError(f"method='lm' needs residuals, which {type(model).__name__} does not define")
    return method


def padded_size(b: int, batch_size: int | None) -> int:
    """Rung of ``bucket_lengths`` holding ``b`` objects, capped at ``batch_size``."""
    rungs = bucket_lengths(max(b, 1))
    size = int(rungs[np.searchsorted(rungs, b)])
    return min(size, batch_size) if batch_size else size


def pad_objects(jb, size: int):
    """Pad a JAX batch's object axis to ``size`` with fully masked copies of its first object."""
    b = jb.t.shape[0]
    if size == b:
        return jb

    def pad(x):
        extra = jnp.broadcast_to(x[:1], (size - b,) + x.shape[1:])
        return jnp.concatenate([x, extra], axis=0)

    out = jax.tree_util.tree_map(pad, jb)
    out.mask = out.mask.at[b:].set(False)
    return out


def starts_unconstrained(model, sub, n_starts: int, dt, starts=None) -> np.ndarray:
    """Starts for a host sub-batch (``starts``, else ``model.init``) as unconstrained ``[b, S, P]``."""
    P = model.n_params
    b = len(sub)
    if P == 0:
        return np.zeros((b, 1, 0), dtype=dt)
    if starts is None:
        starts = model.init(sub, n_starts)
    arrs = []
    for n in model.param_names:
        if n not in starts:
            raise ValueError(f"{type(model).__name__}.init returned no starts for {n!r}")
        a = np.asarray(starts[n], dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.shape[0] != b:
            raise ValueError(f"{type(model).__name__}.init: {n!r} has shape {a.shape}, expected ({b}, S)")
        arrs.append(a)
    S = max(a.shape[1] for a in arrs)
    arrs = [np.broadcast_to(a, (b, S)) for a in arrs]
    phys = {n: jnp.asarray(a, dtype=dt) for n, a in zip(model.param_names, arrs)}
    u = np.asarray(model.pack(phys), dtype=dt)
    return np.where(np.isfinite(u), u, 0.0)


def iter_chunks(batch, batch_size: int | None):
    """``(positions, sub_batch, padded_size)`` for each chunk of ``batch``."""
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    for pos, sub in batch.bucket(batch_size):
        yield pos, sub, padded_size(len(sub), batch_size)


def run_chunk(model, opts: FitOptions, sub, size: int, n_starts: int, dt, starts=None) -> dict:
    """Fit one host sub-batch (padded to ``size`` objects); returns device arrays ``[size, ...]``."""
    b = len(sub)
    u0 = starts_unconstrained(model, sub, n_starts, dt, starts)
    u0 = np.concatenate([u0, np.broadcast_to(u0[:1], (size - b,) + u0.shape[1:])], axis=0) if size > b else u0
    jb = pad_objects(sub.to_jax(dt), size)
    valid = jnp.asarray(np.arange(size) < b)
    return compiled_fit(model, opts)(jb, jnp.asarray(u0, dtype=dt), valid)


def fit(model, batch, *, method: str = "auto", n_starts: int | None = None, max_steps: int = 200,
        tol: float | None = None, dtype=None, batch_size: int | None = None,
        init: dict | None = None) -> FitResult:
    """Maximum-likelihood fit of ``model`` to every object of ``batch``.

    Args:
        model: a :class:`tsmodels.models.Model`.
        batch: a :class:`tsmodels.LightCurveBatch` (host arrays).
        method: ``"auto"`` (Levenberg-Marquardt when the model has ``residuals``, else L-BFGS),
            ``"lm"`` or ``"lbfgs"``. Models without nonlinear parameters are solved linearly.
        n_starts: starting points per object (default: ``model.n_starts``), from ``model.init``.
        max_steps: iteration limit per object.
        tol: convergence tolerance (default :func:`default_tol` of ``dtype``).
        dtype: ``float64`` (default) or ``float32``.
        batch_size: at most this many objects per compiled call (bounds device memory).
        init: starting points ``{name: [B] or [B, S]}`` (physical units, batch order) to use
            instead of ``model.init`` (e.g. periods from a periodogram run).

    Returns:
        :class:`FitResult`, objects in the batch's order, NumPy arrays in ``dtype``.
    """
    check_model(model)
    dt = resolve_dtype(dtype)
    method = resolve_method(model, method)
    tol = default_tol(dt) if tol is None else float(tol)
    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    n_starts = int(n_starts or getattr(model, "n_starts", 1))
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    opts = FitOptions(method=method if method != "linear" else "lm", max_steps=int(max_steps), tol=tol)
    B = len(batch)
    P = model.n_params
    pnames = tuple(model.param_names)
    dnames = tuple(model.derived_names(batch.bands))
    D = len(dnames)
    acc = dict(
        x=np.full((B, P), np.nan, dt), cov_x=np.full((B, P, P), np.nan, dt),
        derived=np.full((B, D), np.nan, dt), derived_err=np.full((B, D), np.nan, dt),
        loglike=np.full(B, np.nan, dt), chi2=np.full(B, np.nan, dt), ndata=np.zeros(B, np.int64),
        n_linear=np.zeros(B, np.int64), converged=np.zeros(B, bool), n_iter=np.zeros(B, np.int64),
        status=np.full(B, NO_DATA, np.int64))
    n_loops = []
    if init is not None:
        init = {n: np.asarray(init[n], dtype=np.float64).reshape(B, -1) if n in init else None for n in pnames}
        missing = [n for n, v in init.items() if v is None]
        if missing:
            raise ValueError(f"init lacks starting values for {missing}")
    with precision(dt):
        for pos, sub, size in iter_chunks(batch, batch_size):
            acc["ndata"][pos] = sub.n_obs
            if not np.any(sub.mask):  # nothing to fit: rows stay NO_DATA, nothing compiled
                continue
            starts = None if init is None else {n: v[pos] for n, v in init.items()}
            out = run_chunk(model, opts, sub, size, n_starts, dt, starts)
            b = len(pos)
            for k in acc:
                acc[k][pos] = np.asarray(out[k])[:b]
            n_loops.append(int(out["n_loops"]))
    return build_fit_result(model, batch, acc, pnames, dnames, method, dt, {"n_loops": n_loops, "n_starts": n_starts})


def build_fit_result(model, batch, acc, pnames, dnames, method, dt, info) -> FitResult:
    st = acc["status"]
    bad = (st == NO_DATA) | (st == NONFINITE)
    P = len(pnames)
    x, cov = acc["x"], acc["cov_x"]
    x[bad] = np.nan
    cov[bad] = np.nan
    err = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0)) if P else np.zeros((len(st), 0))
    err = np.where(np.isfinite(np.diagonal(cov, axis1=1, axis2=2)), err, np.nan) if P else err
    dval, derr = acc["derived"], acc["derived_err"]
    dval[bad] = np.nan
    derr[bad] = np.nan
    values = {n: x[:, i] for i, n in enumerate(pnames)}
    values.update({n: dval[:, i] for i, n in enumerate(dnames)})
    errors = {n: err[:, i] for i, n in enumerate(pnames)}
    errors.update({n: derr[:, i] for i, n in enumerate(dnames)})
    ll = np.where(bad, np.nan, acc["loglike"])
    chi2 = np.where(bad, np.nan, acc["chi2"])
    return FitResult(
        model_name=model.name, ids=np.asarray(batch.ids), param_names=pnames, derived_names=dnames,
        values=values, errors=errors, cov=cov, loglike=ll, chi2=chi2, ndata=acc["ndata"],
        n_params=P + acc["n_linear"], converged=acc["converged"], n_iter=acc["n_iter"], status=st,
        method=method, dtype=np.dtype(dt).name, info=info)
