"""Per-lane solvers of ``ts.fit``: Levenberg-Marquardt, trust-region Newton, L-BFGS.

Every object of a batch, and every starting point of every object, is one *lane*. A solver is a
triple of pure per-lane functions ``init(lc, u) -> state``, ``step(lc, state) -> state`` and
``value(state) -> objective``, with a NamedTuple state carrying at least ``u, done, status,
n_iter, last_dec`` (the decrease at the last accepted step). For Levenberg-Marquardt and
Newton, ``init`` only sets the state up (``n_iter = -1``) and the first ``step`` evaluates the
start with the code that evaluates every trial point, so a compiled loop holds that expensive
code (a Jacobian, a Hessian) once rather than twice; the iteration loop
(:mod:`tsmodels.fitting.loop`) vmaps them over starts and objects. A lane that is done is frozen
(``step`` returns it unchanged), so an object's result never depends on its neighbours.

Solvers work on the unconstrained vector ``u`` (the model's bijections map it to the prior
support):

* ``"lm"``: Levenberg-Marquardt on the model's whitened ``residuals`` (Jacobian by forward-mode
  autodiff; Marquardt diagonal scaling; Nielsen's damping update). Converged when the actual and
  predicted relative reductions of the cost are both below ``tol``, or the step is below
  ``tol * (|u| + tol)``, or the damping grows past 1e20 (no descent direction left). The state
  keeps the Jacobian at ``u``, so the Gauss-Newton Hessian ``J^T J`` of the Laplace errors is
  not recomputed.
* ``"newton"``: trust-region Newton on ``-loglike`` with its exact Hessian (forward-over-forward
  autodiff, cheap for the few parameters of a Gaussian-process or light-curve model): each step
  minimises the quadratic model within a ball of adaptive radius in unconstrained space (More &
  Sorensen 1983, :func:`tsmodels.kernels.linalg.trust_region_step`), so it is a full Newton step
  near the optimum (quadratic convergence) and stays safe in curved valleys and where ``H`` is
  not positive definite. A bounded parameter whose value sits at an end of its interval with the
  gradient pushing outwards is held there (an active bound). Converged when the Newton decrement
  ``g^T H^-1 g / 2`` (the decrease the full step predicts; a last full step is then taken) or an
  accepted step's decrease is below ``tol * max(|f_0|, 1)`` (``f_0`` the objective at the
  start), or the step or the radius is below ``tol * (|u| + tol)``; a radius that collapses on
  non-finite trial points is ``DIVERGED``. The state keeps the Hessian at ``u`` (reused by the
  Laplace errors).
* ``"lbfgs"``: optax's L-BFGS with zoom line search on ``-loglike``. Converged when the relative
  decrease of ``-loglike`` over an iteration is below ``tol`` or the step is below
  ``tol * (|u| + tol)``.

All linear algebra is :mod:`tsmodels.kernels.linalg` (no LAPACK calls; see there why).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tsmodels.fitting.results import DIVERGED, NONFINITE, OK
from tsmodels.kernels import linalg

__all__ = ["SOLVERS", "LMState", "NewtonState", "LBFGSState", "NEWTON_MAX_PARAMS", "default_tol",
           "gauss_newton_hessian"]

_LAM_MAX = 1e20
_RADIUS0 = 2.0  # initial trust radius of "newton" (unconstrained units: ~log scale)
_RADIUS_MAX = 100.0
#: ``method="auto"`` uses Newton (exact Hessian) up to this many nonlinear parameters.
NEWTON_MAX_PARAMS = 8


def default_tol(dtype, model=None) -> float:
    """Default convergence tolerance: 1e-10 in float64, 1e-5 in float32, or ``model.fit_tol``
    where the model sets a looser one (not None)."""
    tol = 1e-5 if np.dtype(dtype) == np.dtype("float32") else 1e-10
    own = getattr(model, "fit_tol", None)
    return tol if own is None else max(tol, float(own))


def _where_tree(cond, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)


def gauss_newton_hessian(state) -> Any:
    """The Hessian of the objective carried by a solver state at its ``u`` (``J^T J`` for
    Levenberg-Marquardt, the exact Hessian for Newton), or None (L-BFGS carries none)."""
    if isinstance(state, LMState):
        return jnp.swapaxes(state.jac, -1, -2) @ state.jac
    if isinstance(state, NewtonState):
        return state.hess
    return None


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

    def evaluated(u, r, jac):
        """The state at a start, once its residuals and Jacobian are known."""
        cost = 0.5 * jnp.sum(r * r)
        ok = jnp.isfinite(cost) & jnp.all(jnp.isfinite(jac)) & jnp.all(jnp.isfinite(u))
        z = jnp.zeros((), cost.dtype)
        return LMState(u, r, jac, cost, z + 1e-3, z + 2.0, ~ok,
                       jnp.where(ok, OK, NONFINITE).astype(jnp.int32), jnp.zeros((), jnp.int32), z + jnp.inf)

    def init(lc, u):
        # not evaluated yet (n_iter = -1): the first step evaluates the start with the same
        # residual-and-Jacobian code as every trial point, so the program holds it once
        n = lc.t.shape[0]
        z = jnp.zeros((), u.dtype)
        return LMState(u, jnp.zeros((n,), u.dtype), jnp.zeros((n, u.shape[0]), u.dtype), z + jnp.inf,
                       z + 1e-3, z + 2.0, jnp.zeros((), bool), jnp.full((), OK, jnp.int32),
                       jnp.full((), -1, jnp.int32), z + jnp.inf)

    def step(lc, s):
        fresh = s.n_iter < 0
        a = s.jac.T @ s.jac
        g = s.jac.T @ s.r
        d = jnp.diagonal(a)
        d = jnp.maximum(d, jnp.finfo(d.dtype).eps * jnp.maximum(jnp.max(d), 1.0))
        # a + lam diag(d) is positive definite for lam > 0 (a = J^T J); a failed factorisation
        # gives a non-finite step, which is rejected like any other (lam then grows)
        delta = linalg.spd_solve(a + s.lam * jnp.diag(d), -g)
        delta = jnp.where(fresh, 0.0, delta)
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
        new = _where_tree(fresh, evaluated(s.u, r_new, jac_new), new)
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

    def evaluated(u, f, g, hess):
        """The state at a start, once its objective, gradient and Hessian are known."""
        ok = jnp.isfinite(f) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(hess)) & jnp.all(jnp.isfinite(u))
        z = jnp.zeros((), f.dtype)
        f_scale = jnp.where(ok, jnp.maximum(jnp.abs(f), 1.0), 1.0)
        return NewtonState(u, f, g, hess, z + _RADIUS0, f_scale, ~ok,
                           jnp.where(ok, OK, NONFINITE).astype(jnp.int32), jnp.zeros((), jnp.int32),
                           z + jnp.inf)

    def init(lc, u):
        # not evaluated yet (n_iter = -1): the first step evaluates the start with the same
        # objective-gradient-Hessian code as every trial point, so the program holds it once
        P = u.shape[0]
        z = jnp.zeros((), u.dtype)
        return NewtonState(u, z + jnp.inf, jnp.zeros((P,), u.dtype), jnp.eye(P, dtype=u.dtype),
                           z + _RADIUS0, z + 1.0, jnp.zeros((), bool), jnp.full((), OK, jnp.int32),
                           jnp.full((), -1, jnp.int32), z + jnp.inf)

    def step(lc, s):
        fresh = s.n_iter < 0
        P = s.u.shape[0]
        eye = jnp.eye(P, dtype=s.u.dtype)
        # coordinates pinned at an interval end drop out of the step (g = 0, H = I there)
        free = ~at_edge(lc, s.u, s.g)
        both = free[:, None] & free[None, :]
        g = jnp.where(free, s.g, 0.0)
        hess = jnp.where(both, s.hess, eye)
        # the Newton decrement, where H is positive definite: the decrease the full step predicts
        ch0 = linalg.cholesky(hess)
        pd0 = jnp.all(jnp.isfinite(ch0))
        w0 = linalg.tri_solve(jnp.where(pd0, ch0, eye), g)
        # decreases are judged against the objective's magnitude at the start (not the current
        # one, which a runaway objective inflates)
        ftol = tol * s.f_scale
        small_dec = pd0 & (0.5 * (w0 @ w0) <= ftol)
        delta, full = linalg.trust_region_step(g, hess, s.radius)
        delta = jnp.where(free, delta, 0.0)
        # a step that is not finite, or vanishes (overflow) while the gradient does not, failed
        ok_step = jnp.all(jnp.isfinite(delta)) & (jnp.any(delta != 0) | jnp.all(g == 0))
        delta = jnp.where(ok_step & ~fresh, delta, 0.0)
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
        new = _where_tree(fresh, evaluated(s.u, f_new, g_new, h_new), new)
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


#: ``method`` name -> solver factory ``(model, tol) -> (init, step, value)``.
SOLVERS = {"lm": _lm_solver, "newton": _newton_solver, "lbfgs": _lbfgs_solver}
