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
* ``"newton"``: trust-region Newton on ``-loglike`` with its exact Hessian (forward-over-forward
  autodiff, cheap for the few parameters of a Gaussian-process or light-curve model): each step
  minimises the quadratic model within a ball of adaptive radius in unconstrained space (More &
  Sorensen 1983), so it is a full Newton step near the optimum (quadratic convergence) and stays
  safe in curved valleys and where ``H`` is not positive definite. A bounded parameter whose
  value sits at an end of its interval with the gradient pushing outwards is held there (an
  active bound). Converged when the Newton decrement ``g^T H^-1 g / 2`` (the decrease the full
  step predicts; a last full step is then taken) or an accepted step's decrease is below
  ``tol * max(|f_0|, 1)`` (``f_0`` the objective at the start), or the step or the radius is
  below ``tol * (|u| + tol)``; a radius that collapses on non-finite trial points is
  ``DIVERGED``.
* ``"lbfgs"``: optax's L-BFGS with zoom line search on ``-loglike``. Converged when the relative
  decrease of ``-loglike`` over an iteration is below ``tol`` or the step is below
  ``tol * (|u| + tol)``.

``method="auto"`` takes ``"lm"`` for models with residuals, ``"newton"`` for the others with up to
:data:`NEWTON_MAX_PARAMS` parameters, and ``"lbfgs"`` beyond.

Candidate screening: a model may propose more starting points than are worth optimising
(``n_candidates``, e.g. a grid of timescales); the log-likelihood is evaluated at all of them,
in the same compiled call, and only the ``n_starts`` best of each object are optimised.

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
similar shapes reuse the compilation. On a CPU the chunks run on one host thread per core
(:mod:`tsmodels._threads`); results do not depend on how the batch is cut.
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

from tsmodels import _threads
from tsmodels.config import compiled_cache, resolve_dtype
from tsmodels.fitting.results import (BAD_HESSIAN, DIVERGED, MAX_STEPS, NO_DATA, NONFINITE, OK,
                                      FitResult)
from tsmodels.lightcurves import bucket_lengths

__all__ = ["fit", "default_tol", "NEWTON_MAX_PARAMS"]

_LAM_MAX = 1e20
_RADIUS0 = 2.0  # initial trust radius of "newton" (unconstrained units: ~log scale)
_RADIUS_MAX = 100.0
#: ``method="auto"`` uses Newton (exact Hessian) up to this many nonlinear parameters.
NEWTON_MAX_PARAMS = 8


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
            r = model.residuals(model.unpack(v, lc), lc)
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


class NewtonState(NamedTuple):
    u: Any
    f: Any  # the objective: -loglike
    g: Any
    hess: Any
    radius: Any  # trust radius (Euclidean, unconstrained space)
    f_scale: Any  # max(|f|, 1) at the start: the scale of the tolerance on decreases
    done: Any
    status: Any
    n_iter: Any
    last_dec: Any  # decrease of the objective at the last accepted step


def _trust_step(g, hess, radius):
    """Minimiser of the quadratic model ``g.d + d.H.d / 2`` over ``|d| <= radius``.

    In the eigenbasis of ``H``, ``d(lam) = -(H + lam I)^-1 g`` with the smallest ``lam >=
    max(0, -lambda_min)`` that keeps ``|d| <= radius`` (More & Sorensen 1983; the "hard case" is
    left to the next iteration). ``lam`` solves ``1/|d(lam)| = 1/radius`` by safeguarded Newton
    steps on that nearly linear function. Returns ``(d, full)``, ``full`` True when ``d`` is the
    unrestricted Newton step (``H`` positive definite and its step inside the ball).
    """
    ev, V = jnp.linalg.eigh(hess)
    gt = V.T @ g
    tiny = jnp.finfo(g.dtype).tiny ** 0.5
    lam_lo = jnp.maximum(0.0, -ev[0]) * (1.0 + 1e-10) + tiny * (1.0 + jnp.max(jnp.abs(ev)))

    def norm(lam):
        return jnp.sqrt(jnp.sum((gt / (ev + lam)) ** 2))

    newton_ok = (ev[0] > 0) & (norm(0.0) <= radius)

    def body(_, lh):
        lo, hi, lam = lh
        den = ev + lam
        n = jnp.sqrt(jnp.sum((gt / den) ** 2))
        dn = -jnp.sum(gt * gt / den ** 3) / jnp.maximum(n, tiny)   # d|d|/dlam
        phi = 1.0 / jnp.maximum(n, tiny) - 1.0 / radius
        dphi = -dn / jnp.maximum(n, tiny) ** 2
        lo = jnp.where(phi < 0, lam, lo)
        hi = jnp.where(phi >= 0, lam, hi)
        nxt = lam - phi / jnp.where(dphi > 0, dphi, 1.0)
        bad = ~((nxt > lo) & (nxt < hi)) | ~jnp.isfinite(nxt)
        return lo, hi, jnp.where(bad, 0.5 * (lo + hi), nxt)

    hi0 = lam_lo + jnp.sqrt(jnp.sum(gt * gt)) / radius + jnp.max(jnp.abs(ev))
    _, _, lam = jax.lax.fori_loop(0, 30, body, (lam_lo, hi0, lam_lo))
    lam = jnp.where(newton_ok, 0.0, lam)
    return -V @ (gt / (ev + lam)), newton_ok


def _newton_solver(model, tol):
    interval = np.asarray(model.interval_params, bool)

    def at_edge(lc, u, g):
        """Coordinates pinned at an end of their interval: the physical value is within
        ``sqrt(eps) |end|`` of the end and descent (-g) points further out. They
        are held fixed (an active bound), so a maximum on a prior limit converges like an
        interior one instead of creeping towards the limit (the unconstrained value of a bounded
        parameter reaches its ends only at infinity)."""
        if not interval.any():
            return jnp.zeros(u.shape, bool)
        names = model.param_names
        x = model.unpack(u, lc)
        lo = model.unpack(jnp.full_like(u, -jnp.inf), lc)
        hi = model.unpack(jnp.full_like(u, jnp.inf), lc)
        eps = jnp.finfo(u.dtype).eps
        out = []
        for i, n in enumerate(names):
            if not interval[i]:
                out.append(jnp.zeros((), bool))
                continue
            near_hi = (hi[n] - x[n]) <= jnp.sqrt(eps) * jnp.abs(hi[n])
            near_lo = (x[n] - lo[n]) <= jnp.sqrt(eps) * jnp.abs(lo[n])
            out.append((near_hi & (g[i] < 0)) | (near_lo & (g[i] > 0)))
        return jnp.stack(out)

    def fgh(lc, u):
        """Objective, gradient and Hessian in one forward-over-forward pass."""
        def f(v):
            val = -model.loglike(model.unpack(v, lc), lc)
            return val, val

        def g(v):
            grad, val = jax.jacfwd(f, has_aux=True)(v)
            return grad, (grad, val)

        hess, (grad, val) = jax.jacfwd(g, has_aux=True)(u)
        return val, grad, 0.5 * (hess + hess.T)

    def init(lc, u):
        f, g, hess = fgh(lc, u)
        ok = jnp.isfinite(f) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(hess)) & jnp.all(jnp.isfinite(u))
        z = jnp.zeros((), f.dtype)
        f_scale = jnp.where(ok, jnp.maximum(jnp.abs(f), 1.0), 1.0)
        return NewtonState(u, f, g, hess, z + _RADIUS0, f_scale, ~ok,
                           jnp.where(ok, OK, NONFINITE).astype(jnp.int32), jnp.zeros((), jnp.int32),
                           z + jnp.inf)

    def step(lc, s):
        P = s.u.shape[0]
        eye = jnp.eye(P, dtype=s.u.dtype)
        # coordinates pinned at an interval end drop out of the step (g = 0, H = I there)
        free = ~at_edge(lc, s.u, s.g)
        both = free[:, None] & free[None, :]
        g = jnp.where(free, s.g, 0.0)
        hess = jnp.where(both, s.hess, eye)
        # the Newton decrement, where H is positive definite: the decrease the full step predicts
        ch0 = jnp.linalg.cholesky(hess)
        pd0 = jnp.all(jnp.isfinite(ch0))
        w0 = jax.scipy.linalg.solve_triangular(jnp.where(pd0, ch0, eye), g, lower=True)
        # decreases are judged against the objective's magnitude at the start (not the current
        # one, which a runaway objective inflates)
        ftol = tol * s.f_scale
        small_dec = pd0 & (0.5 * (w0 @ w0) <= ftol)
        delta, full = _trust_step(g, hess, s.radius)
        delta = jnp.where(free, delta, 0.0)
        # a step that is not finite, or vanishes (overflow) while the gradient does not, failed
        ok_step = jnp.all(jnp.isfinite(delta)) & (jnp.any(delta != 0) | jnp.all(g == 0))
        delta = jnp.where(ok_step, delta, 0.0)
        u_new = s.u + delta
        f_new, g_new, h_new = fgh(lc, u_new)
        pred = -(g @ delta + 0.5 * delta @ (hess @ delta))
        act = s.f - f_new
        finite = (jnp.isfinite(f_new) & jnp.all(jnp.isfinite(g_new)) & jnp.all(jnp.isfinite(h_new))
                  & jnp.all(jnp.isfinite(u_new)))
        rho = jnp.where(finite & (pred > 0), act / jnp.where(pred > 0, pred, 1.0), -1.0)
        # a last (full Newton) step once the decrement is below tolerance: it squares the error,
        # and is kept unless it worsens the objective beyond rounding
        polish = small_dec & (act >= -8 * jnp.finfo(act.dtype).eps * jnp.abs(s.f))
        accept = ok_step & finite & (((act > 0) & (rho > 1e-4)) | polish)
        dn = jnp.linalg.norm(delta)
        radius = jnp.where(rho < 0.25, 0.25 * dn,
                           jnp.where((rho > 0.75) & (dn > 0.8 * s.radius), 2.0 * s.radius, s.radius))
        radius = jnp.clip(radius, 0.0, _RADIUS_MAX)
        # a small decrease or step counts as convergence only after a full Newton step (one
        # kept small by the trust region, e.g. where H is not positive definite, does not)
        small_f = accept & full & (act <= ftol) & (pred <= ftol)
        small_x = accept & full & (dn <= tol * (jnp.linalg.norm(s.u) + tol))
        stuck = radius <= tol * (jnp.linalg.norm(s.u) + tol)
        new = NewtonState(
            u=jnp.where(accept, u_new, s.u), f=jnp.where(accept, f_new, s.f),
            g=jnp.where(accept, g_new, s.g), hess=jnp.where(accept, h_new, s.hess),
            radius=radius, f_scale=s.f_scale, done=small_dec | small_f | small_x | stuck,
            # the radius collapsed on non-finite steps or trial points: the objective runs away
            status=jnp.where(stuck & ~small_dec & ~(finite & ok_step), DIVERGED,
                             s.status).astype(jnp.int32),
            n_iter=s.n_iter + 1, last_dec=jnp.where(accept, act, s.last_dec))
        return _where_tree(s.done, s, new)

    return init, step, lambda s: s.f


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
        return lambda v: -model.loglike(model.unpack(v, lc), lc)

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
    n_keep: int = 0  # candidate screening: optimise the n_keep best starts (0: all)


_SOLVERS = {"lm": _lm_solver, "newton": _newton_solver, "lbfgs": _lbfgs_solver}


#: Lanes still iterating when the batch loop hands them to the compact loop: at most this
#: fraction of a chunk's lanes (see :func:`_run_solver`).
COMPACT_FRACTION = 0.125


def _prune(st, value, best, remaining):
    """Multi-start pruning: a start whose objective exceeds the best start of its object by more
    than it could still gain in the remaining steps at its last rate of decrease cannot become
    the best one; it stops, so it no longer holds the batch in the loop."""
    gap = value(st) - best
    prune = ~st.done & (st.n_iter >= 3) & (gap > 0) & (gap > remaining * st.last_dec)
    return st._replace(done=st.done | prune)


def _run_solver(model, opts: FitOptions, lcs, u0, live):
    """Optimise all lanes ``[B, S]``; returns the final per-lane states and the loop count.

    Two loops, so that a few slow lanes do not keep every lane of the chunk stepping:

    1. every lane steps together until at most ``COMPACT_FRACTION`` of them are still
       iterating (or ``max_steps``);
    2. those lanes are gathered into a ``COMPACT_FRACTION``-sized batch, which steps on alone
       until each has converged or spent its ``max_steps`` iterations (status ``MAX_STEPS``);
       they are then scattered back.

    A lane's result does not depend on which loop finished it (a lane's steps only read its
    own state and light curve).
    """
    init, step, value = _SOLVERS[opts.method](model, opts.tol)
    vinit = jax.vmap(jax.vmap(init, in_axes=(None, 0)), in_axes=(0, 0))
    vstep = jax.vmap(jax.vmap(step, in_axes=(None, 0)), in_axes=(0, 0))
    state = vinit(lcs, u0)
    state = state._replace(done=state.done | ~live)
    B, S = u0.shape[:2]
    L = B * S
    M = max(1, int(np.ceil(COMPACT_FRACTION * L)))

    def best_of(st):
        v = value(st)
        return jnp.min(jnp.where(jnp.isfinite(v), v, jnp.inf), axis=1, keepdims=True)

    def cond(carry):
        k, st = carry
        return (k < opts.max_steps) & (jnp.sum(~st.done) > (M if M < L else 0))

    def body(carry):
        k, st = carry
        st = vstep(lcs, st)
        return k + 1, _prune(st, value, best_of(st), opts.max_steps - (k + 1))

    n_loops, state = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state))
    if M >= L:
        return state, n_loops

    # compact loop over the (at most M) lanes left
    flat = jax.tree_util.tree_map(lambda a: a.reshape((L,) + a.shape[2:]), state)
    best = jnp.broadcast_to(best_of(state), (B, S)).reshape(L)
    order = jnp.argsort(flat.done, stable=True)[:M]        # unfinished lanes first
    take = ~flat.done[order]
    sub = jax.tree_util.tree_map(lambda a: a[order], flat)
    sub_lcs = jax.tree_util.tree_map(lambda a: a[order // S], lcs)
    sub_best = best[order]
    sub = sub._replace(done=sub.done | ~take)
    vstep1 = jax.vmap(step)

    def cond2(carry):
        k, st = carry
        return (k < opts.max_steps) & jnp.any(~st.done)

    def body2(carry):
        k, st = carry
        st = vstep1(sub_lcs, st)
        st = _prune(st, value, sub_best, opts.max_steps - st.n_iter)
        out = st.n_iter >= opts.max_steps
        st = st._replace(status=jnp.where(~st.done & out & (st.status == OK), MAX_STEPS, st.status),
                         done=st.done | out)
        return k + 1, st

    n2, sub = jax.lax.while_loop(cond2, body2, (n_loops, sub))
    flat = jax.tree_util.tree_map(
        lambda a, b: a.at[order].set(jnp.where(take.reshape((M,) + (1,) * (b.ndim - 1)), b, a[order])),
        flat, sub)
    state = jax.tree_util.tree_map(lambda a: a.reshape((B, S) + a.shape[1:]), flat)
    return state, n2


def _laplace(model, lc, u):
    """Everything reported at the optimum ``u`` of one light curve."""
    params = model.unpack(u, lc)
    P = model.n_params
    ll = model.loglike(params, lc)
    chi2 = model.chi2(params, lc)
    dt = jnp.result_type(ll)
    x = jnp.stack([params[n] for n in model.param_names]) if P else jnp.zeros((0,), dt)
    if P:
        if model.has_residuals:  # Gauss-Newton: the Fisher information J^T J
            jr = jax.jacfwd(lambda v: model.residuals(model.unpack(v, lc), lc))(u)
            hess = jr.T @ jr
        else:
            nll = lambda v: -model.loglike(model.unpack(v, lc), lc)  # noqa: E731
            # forward-over-forward for few parameters (cheaper through the long scans of the
            # state-space likelihoods), forward-over-reverse beyond
            hess = (jax.jacfwd(jax.jacfwd(nll)) if P <= NEWTON_MAX_PARAMS else jax.hessian(nll))(u)
        hess = 0.5 * (hess + hess.T)
        chol = jnp.linalg.cholesky(hess)
        hess_ok = jnp.all(jnp.isfinite(chol))
        cov_u = cho_solve((chol, True), jnp.eye(P, dtype=dt))
        cov_u = jnp.where(hess_ok, 0.5 * (cov_u + cov_u.T), jnp.nan)
        jx = jax.jacfwd(lambda v: jnp.stack([model.unpack(v, lc)[n] for n in model.param_names]))(u)
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


def pack_starts(model, lcs, x0):
    """Physical starts ``x0 [B, S, P]`` -> unconstrained ``[B, S, P]`` with each object's limits
    (non-finite results, e.g. from a non-finite start, become 0)."""
    names = model.param_names
    if not names:
        return x0
    u0 = jax.vmap(jax.vmap(lambda lc, x: model.pack({n: x[i] for i, n in enumerate(names)}, lc),
                           in_axes=(None, 0)))(lcs, x0)
    return jnp.where(jnp.isfinite(u0), u0, 0.0).astype(x0.dtype)


def _fit_chunk(model, opts: FitOptions, lcs, x0, valid):
    """Traced body of one chunk: lcs ``[B, N]``, physical starts x0 ``[B, S, P]``, valid ``[B]``."""
    B, S, P = x0.shape
    u0 = pack_starts(model, lcs, x0)
    has_data = valid & jnp.any(lcs.mask, axis=1)
    if P and 0 < opts.n_keep < S:  # candidate screening: keep the n_keep most likely starts
        ll0 = jax.vmap(jax.vmap(lambda lc, u: model.loglike(model.unpack(u, lc), lc),
                                in_axes=(None, 0)))(lcs, u0)
        _, keep = jax.lax.top_k(jnp.where(jnp.isfinite(ll0), ll0, -jnp.inf), opts.n_keep)
        u0 = jnp.take_along_axis(u0, keep[:, :, None], axis=1)
        S = opts.n_keep
    if P:
        live = jnp.broadcast_to(has_data[:, None], (B, S))
        state, n_loops = _run_solver(model, opts, lcs, u0, live)
        u_all = state.u
        ll_all = jax.vmap(jax.vmap(lambda lc, u: model.loglike(model.unpack(u, lc), lc),
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


@compiled_cache(maxsize=64)
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
        if model.has_residuals:
            return "lm"
        return "newton" if model.n_params <= NEWTON_MAX_PARAMS else "lbfgs"
    if method not in _SOLVERS:
        raise ValueError(f"method must be 'auto', 'lm', 'newton' or 'lbfgs', got {method!r}")
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


def starts_physical(model, sub, n_starts: int, dt, starts=None) -> np.ndarray:
    """Starts for a host sub-batch (``starts``, else ``model.init``) as physical ``[b, S, P]``;
    they are mapped to unconstrained space inside the compiled chunk (:func:`pack_starts`),
    where each object's limits are known."""
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
    return np.stack([np.broadcast_to(a, (b, S)) for a in arrs], axis=-1).astype(dt)


#: Smallest chunk the batch is cut into to give every worker thread some objects.
MIN_THREAD_CHUNK = 16
#: Length buckets holding fewer objects are merged with longer ones (``LightCurveBatch.bucket``):
#: a compiled fit costs seconds to tens of seconds, padding a few objects costs microseconds.
MIN_BUCKET_OBJECTS = 64


def thread_share(n: int, workers: int) -> int:
    """Objects per chunk that give each of ``workers`` threads a share of ``n`` objects (at least
    :data:`MIN_THREAD_CHUNK`; all ``n`` for one thread)."""
    return n if workers <= 1 else max(MIN_THREAD_CHUNK, -(-n // workers))


def iter_chunks(batch, batch_size: int | None, workers: int = 1):
    """``(positions, sub_batch, padded_size)`` for each chunk of ``batch``.

    With ``workers > 1`` and no ``batch_size``, chunks hold at most :func:`thread_share`
    objects, so that every worker thread gets a share.
    """
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if batch_size is None and workers > 1 and len(batch) > MIN_THREAD_CHUNK:
        batch_size = thread_share(len(batch), workers)
    for pos, sub in batch.bucket(batch_size, min_objects=MIN_BUCKET_OBJECTS):
        yield pos, sub, padded_size(len(sub), batch_size)


def run_chunk(model, opts: FitOptions, sub, size: int, n_starts: int, dt, starts=None,
              n_candidates: int = 0, jb=None) -> dict:
    """Fit one host sub-batch (padded to ``size`` objects); returns device arrays ``[size, ...]``.

    ``n_candidates > n_starts`` (and no explicit ``starts``): ``model.init`` proposes that many
    starts and the ``n_starts`` most likely are optimised. ``jb``: the sub-batch already on the
    device and padded (``pad_objects(sub.to_jax(dt), size)``), for callers that need it too.
    """
    b = len(sub)
    screen = starts is None and n_candidates > n_starts
    x0 = starts_physical(model, sub, n_candidates if screen else n_starts, dt, starts)
    if screen and x0.shape[1] > n_starts:
        opts = FitOptions(opts.method, opts.max_steps, opts.tol, n_keep=n_starts)
    x0 = np.concatenate([x0, np.broadcast_to(x0[:1], (size - b,) + x0.shape[1:])], axis=0) if size > b else x0
    if jb is None:
        jb = pad_objects(sub.to_jax(dt), size)
    valid = jnp.asarray(np.arange(size) < b)
    return compiled_fit(model, opts)(jb, jnp.asarray(x0, dtype=dt), valid)


def fit(model, batch, *, method: str = "auto", n_starts: int | None = None, max_steps: int = 200,
        tol: float | None = None, dtype=None, batch_size: int | None = None,
        init: dict | None = None, n_candidates: int | None = None,
        workers: int | None = None) -> FitResult:
    """Maximum-likelihood fit of ``model`` to every object of ``batch``.

    Args:
        model: a :class:`tsmodels.models.Model`.
        batch: a :class:`tsmodels.LightCurveBatch` (host arrays).
        method: ``"auto"`` (Levenberg-Marquardt when the model has ``residuals``, else Newton
            up to :data:`NEWTON_MAX_PARAMS` parameters, else L-BFGS), ``"lm"``, ``"newton"`` or
            ``"lbfgs"``. Models without nonlinear parameters are solved linearly.
        n_starts: starting points optimised per object (default: ``model.n_starts``).
        n_candidates: starting points proposed by ``model.init`` per object (default:
            ``model.n_candidates`` if the model sets it, else ``n_starts``); when larger than
            ``n_starts``, the log-likelihood is evaluated at every candidate and only the
            ``n_starts`` best are optimised.
        max_steps: iteration limit per object.
        tol: convergence tolerance (default :func:`default_tol` of ``dtype``).
        dtype: ``float64`` (default) or ``float32``.
        batch_size: at most this many objects per compiled call (bounds device memory).
        init: starting points ``{name: [B] or [B, S]}`` (physical units, batch order) to use
            instead of ``model.init`` (e.g. periods from a periodogram run); all are optimised.
        workers: host threads running chunks in parallel (default: one per CPU core on a CPU
            backend, 1 on an accelerator). Results do not depend on it.

    Returns:
        :class:`FitResult`, objects in the batch's order, NumPy arrays in ``dtype``.
    """
    check_model(model)
    dt = resolve_dtype(dtype)
    method = resolve_method(model, method)
    tol = default_tol(dt) if tol is None else float(tol)
    if int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    n_starts, n_candidates = resolve_starts(model, n_starts, n_candidates)
    workers = _threads.resolve_workers(workers)
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

    def work(chunk):
        pos, sub, size = chunk
        if not np.any(sub.mask):  # nothing to fit: rows stay NO_DATA, nothing compiled
            return pos, None
        starts = None if init is None else {n: v[pos] for n, v in init.items()}
        out = run_chunk(model, opts, sub, size, n_starts, dt, starts, n_candidates)
        res = {k: np.asarray(out[k])[:len(pos)] for k in acc}
        res["n_loops"] = int(out["n_loops"])
        return pos, res

    chunks = list(iter_chunks(batch, batch_size, workers))
    for pos, sub, _ in chunks:
        acc["ndata"][pos] = sub.n_obs
    for pos, out in _threads.run_chunks(work, chunks, workers, dt):
        if out is None:
            continue
        for k in acc:
            acc[k][pos] = out[k]
        n_loops.append(out["n_loops"])
    return build_fit_result(model, batch, acc, pnames, dnames, method, dt, {"n_loops": n_loops, "n_starts": n_starts})


def resolve_starts(model, n_starts, n_candidates) -> tuple[int, int]:
    """``(n_starts, n_candidates)`` from the arguments and the model's defaults (validated)."""
    n_starts = int(n_starts or getattr(model, "n_starts", 1))
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    if n_candidates is None:
        n_candidates = getattr(model, "n_candidates", None) or n_starts
    if int(n_candidates) != n_candidates or n_candidates < 1:
        raise ValueError(f"n_candidates must be a positive integer, got {n_candidates!r}")
    return n_starts, max(int(n_candidates), n_starts)


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
