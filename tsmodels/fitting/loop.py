"""The iteration loop of ``ts.fit``: screening, multi-start, pruning, compaction, best start.

:func:`fit_chunk` is the traced body of one chunk of objects, compiled once per (model, options,
shape) by the execution engine (:mod:`tsmodels.engine`) and shared by ``ts.fit`` and
``ts.sample`` (which places its chains at this optimum):

1. starts (physical) are mapped to unconstrained space with each object's limits;
2. **candidate screening**: when a model proposes more candidates than starts are optimised
   (``n_keep``), the log-likelihood is evaluated at every candidate and only the ``n_keep``
   best of each object are optimised;
3. the solver (:mod:`tsmodels.fitting.solvers`) steps every lane (object x start) in rounds of
   one ``lax.while_loop``, each round stepping only the lanes still iterating, gathered into
   blocks (:func:`run_solver`); **multi-start pruning** stops a start whose objective exceeds
   that of its object's best start by more than it could still gain in the remaining steps at
   its last rate of decrease, and a start that has joined its object's best start (the same
   point within 1e-3 in unconstrained units, where it could only follow it to the same
   minimum) (``FitOptions.prune``);
4. the best start per object (lowest finite objective) is kept, and :func:`laplace` reports
   values and errors there, reusing the solver's Hessian (for a parameter run to an end of its
   interval, from the curvature in physical parameters: :func:`physical_fallback`).

Both heuristics are counted per object in the result (``n_screened``: candidates not
optimised; ``n_pruned``: optimised starts stopped early), and both can be switched off
(``n_candidates=n_starts``, ``prune=False``) for an exhaustive multi-start.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from tsmodels.fitting.laplace import laplace, physical_fallback
from tsmodels.fitting.results import BAD_HESSIAN, DIVERGED, MAX_STEPS, NO_DATA, NONFINITE, OK
from tsmodels.fitting.solvers import SOLVERS, gauss_newton_hessian

__all__ = ["FitOptions", "COMPACT_FRACTION", "compact_fraction", "fit_chunk", "run_solver", "pack_starts"]

#: Default width of the blocks in which the solver steps the unfinished lanes: this fraction of
#: a chunk's lanes (see :func:`run_solver`). Narrow blocks make the last rounds cheap, when a few
#: slow lanes (a start creeping along a degenerate valley, e.g. a supernova whose rise precedes
#: the data) are all that still iterates: on 1,000 single-band Bazin fits 1/32 was 1.7x faster
#: than 1/8, on 200 SALT2 fits 1.3x, on 400 PSPL fits 2x. A model whose likelihood runs a
#: sequential scan over its points pays the scan's per-step overhead once per block and may
#: set wider blocks (its ``compact_fraction``: DRW, DHO and CARMA keep 1/8).
COMPACT_FRACTION = 1.0 / 32.0


def compact_fraction(model) -> float:
    """The block width of ``model``'s fits: its ``compact_fraction`` attribute when it sets one
    (not None), else :data:`COMPACT_FRACTION`."""
    frac = getattr(model, "compact_fraction", None)
    return COMPACT_FRACTION if frac is None else float(frac)


@dataclass(frozen=True)
class FitOptions:
    """Static options of a compiled fit (part of its cache key)."""

    method: str
    max_steps: int
    tol: float
    n_keep: int = 0  # candidate screening: optimise the n_keep best starts (0: all)
    prune: bool = True  # multi-start pruning
    compact: float = COMPACT_FRACTION  # block width of the solver rounds (fraction of the lanes)


#: Two starts of one object closer than this (max over the unconstrained parameters, relative
#: to 1 + |u|) are in the same basin: the worse one is pruned. On 1,000 single-band Bazin fits
#: of 2 starts, 98% of the second starts joined the first (1.1-1.2x faster, the same chi2).
_SAME_BASIN = 1e-3


def _prune(st, value, best, remaining, enabled):
    """Multi-start pruning: a start whose objective exceeds the best start of its object by more
    than it could still gain in the remaining steps at its last rate of decrease cannot become
    the best one (if its rate does not grow); it stops, so it no longer holds the batch in the
    loop. So does a start that has reached the point of the object's currently best start
    (:data:`_SAME_BASIN`). Returns the new state and which lanes were pruned now."""
    if not enabled:
        return st, jnp.zeros(st.done.shape, bool)
    v = value(st)
    gap = v - best
    prune = ~st.done & (st.n_iter >= 3) & (gap > 0) & (gap > remaining * st.last_dec)
    # a start that has joined a better start of its object (the same point within _SAME_BASIN,
    # unconstrained units) would only follow it to the same minimum
    vf = jnp.where(jnp.isfinite(v), v, jnp.inf)
    lead = jnp.argmin(vf, axis=1)
    u_lead = jnp.take_along_axis(st.u, lead[:, None, None], axis=1)
    near = jnp.max(jnp.abs(st.u - u_lead), axis=2) <= _SAME_BASIN * (1.0 + jnp.max(jnp.abs(u_lead), axis=2))
    S = st.u.shape[1]
    joined = ~st.done & near & (jnp.arange(S)[None, :] != lead[:, None]) & (st.n_iter >= 1)
    prune = prune | joined
    return st._replace(done=st.done | prune), prune


def run_solver(model, opts: FitOptions, lcs, u0, live):
    """Optimise all lanes ``[B, S]``; returns ``(states, pruned [B, S], rounds)``.

    Each *round* steps every lane still iterating once; rounds repeat until every lane has
    converged, been pruned or spent its ``max_steps`` iterations (status ``MAX_STEPS``). Within a
    round the unfinished lanes are gathered into blocks of ``M = ceil(opts.compact * B * S)``
    lanes (default :data:`COMPACT_FRACTION` of them) and the blocks are stepped one after
    another, so that

    * a round costs in proportion to the lanes still iterating: a few slow lanes do not keep
      every lane of the chunk stepping;
    * the compiled program holds the solver's step (a Jacobian or a Hessian: most of what there
      is to compile) once, at one width, rather than once per loop.

    A lane's result does not depend on which block stepped it (a lane's steps only read its own
    state and light curve).
    """
    init, step, value = SOLVERS[opts.method](model, opts.tol)
    vinit = jax.vmap(jax.vmap(init, in_axes=(None, 0)), in_axes=(0, 0))
    vstep = jax.vmap(step)
    state = vinit(lcs, u0)
    state = state._replace(done=state.done | ~live)
    B, S = u0.shape[:2]
    L = B * S
    M = min(L, max(1, int(np.ceil(opts.compact * L))))
    flat = lambda tree: jax.tree_util.tree_map(lambda a: a.reshape((L,) + a.shape[2:]), tree)  # noqa: E731
    lanes = lambda tree: jax.tree_util.tree_map(lambda a: a.reshape((B, S) + a.shape[1:]), tree)  # noqa: E731

    def best_of(st):
        v = value(st)
        return jnp.min(jnp.where(jnp.isfinite(v), v, jnp.inf), axis=1, keepdims=True)

    # the first round of "lm" and "newton" evaluates the starts (their init is lazy, n_iter -1)
    lazy = opts.method in ("lm", "newton")
    rounds = opts.max_steps + (1 if lazy else 0)

    def block(carry):
        j, st, order, n_act = carry
        pos = j * M + jnp.arange(M)
        take = pos < n_act
        idx = jnp.where(take, order[jnp.minimum(pos, L - 1)], L)   # L: nothing to write back
        safe = jnp.minimum(idx, L - 1)
        sub = jax.tree_util.tree_map(lambda a: a[safe], st)
        sub = sub._replace(done=sub.done | ~take)
        sub_lcs = jax.tree_util.tree_map(lambda a: a[safe // S], lcs)
        sub = vstep(sub_lcs, sub)
        st = jax.tree_util.tree_map(lambda a, b: a.at[idx].set(b, mode="drop"), st, sub)
        return j + 1, st, order, n_act

    def cond(carry):
        k, st, _ = carry
        return (k < rounds) & jnp.any(~st.done)

    def body(carry):
        k, st, pruned = carry
        order = jnp.argsort(st.done, stable=True)              # unfinished lanes first
        n_act = jnp.sum(~st.done)
        n_blocks = (n_act + M - 1) // M
        _, st, _, _ = jax.lax.while_loop(lambda c: c[0] < n_blocks, block,
                                         (jnp.zeros((), n_blocks.dtype), st, order, n_act))
        st = lanes(st)
        st, now = _prune(st, value, best_of(st), opts.max_steps - st.n_iter, opts.prune)
        out = st.n_iter >= opts.max_steps
        st = st._replace(status=jnp.where(~st.done & out & (st.status == OK), MAX_STEPS, st.status),
                         done=st.done | out)
        return k + 1, flat(st), pruned | flat(now)

    n_rounds, state, pruned = jax.lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), flat(state), jnp.zeros(L, bool)))
    return lanes(state), pruned.reshape(B, S), n_rounds


def pack_starts(model, lcs, x0):
    """Physical starts ``x0 [B, S, P]`` -> unconstrained ``[B, S, P]`` with each object's limits
    (non-finite results, e.g. from a non-finite start, become 0)."""
    names = model.param_names
    if not names:
        return x0
    u0 = jax.vmap(jax.vmap(lambda lc, x: model.pack({n: x[i] for i, n in enumerate(names)}, lc),
                           in_axes=(None, 0)))(lcs, x0)
    return jnp.where(jnp.isfinite(u0), u0, 0.0).astype(x0.dtype)


def fit_chunk(model, opts: FitOptions, lcs, x0, valid):
    """Traced body of one chunk: lcs ``[B, N]``, physical starts x0 ``[B, S, P]``, valid ``[B]``
    (False for the dummy objects that pad the chunk to its compiled size).

    Returns a dict of ``[B, ...]`` arrays: the :func:`laplace` outputs at the best start, and
    ``u, converged, n_iter, status, ndata, n_screened, n_pruned, n_loops``.
    """
    B, S, P = x0.shape
    u0 = pack_starts(model, lcs, x0)
    has_data = valid & jnp.any(lcs.mask, axis=1)
    n_screened = jnp.zeros(B, jnp.int32)
    if P and 0 < opts.n_keep < S:  # candidate screening: keep the n_keep most likely starts
        ll0 = jax.vmap(jax.vmap(lambda lc, u: model.loglike(model.unpack(u, lc), lc),
                                in_axes=(None, 0)))(lcs, u0)
        _, keep = jax.lax.top_k(jnp.where(jnp.isfinite(ll0), ll0, -jnp.inf), opts.n_keep)
        u0 = jnp.take_along_axis(u0, keep[:, :, None], axis=1)
        n_screened = jnp.full(B, S - opts.n_keep, jnp.int32)
        S = opts.n_keep
    hess = None
    if P:
        live = jnp.broadcast_to(has_data[:, None], (B, S))
        state, pruned, n_loops = run_solver(model, opts, lcs, u0, live)
        _, _, value = SOLVERS[opts.method](model, opts.tol)
        v = value(state)
        score = jnp.where(jnp.isfinite(v) & (state.status != NONFINITE), -v, -jnp.inf)
        best = jnp.argmax(score, axis=1)
        pick = lambda a: jnp.take_along_axis(a, best.reshape((B,) + (1,) * (a.ndim - 1)), axis=1)[:, 0]  # noqa: E731
        u = pick(state.u)
        conv = pick(state.done & (state.status == OK))
        n_iter = pick(state.n_iter)
        opt_status = pick(state.status)
        any_finite = jnp.any(jnp.isfinite(score), axis=1)
        opt_status = jnp.where(any_finite, jnp.where(opt_status == NONFINITE, OK, opt_status), NONFINITE)
        conv = conv & any_finite
        n_pruned = jnp.sum(pruned & live, axis=1).astype(jnp.int32)
        # the solver's Hessian at the optimum, when it is the one the Laplace errors use
        # (Gauss-Newton for models with residuals, exact otherwise)
        h = gauss_newton_hessian(state)
        if h is not None and (opts.method == "lm") == model.has_residuals:
            hess = pick(h)
    else:
        n_loops = jnp.zeros((), jnp.int32)
        u = jnp.zeros((B, 0), lcs.t.dtype)
        conv = jnp.ones(B, bool)
        n_iter = jnp.zeros(B, jnp.int32)
        opt_status = jnp.zeros(B, jnp.int32)
        n_pruned = jnp.zeros(B, jnp.int32)
    if hess is None:
        out = jax.vmap(lambda lc, uu: laplace(model, lc, uu))(lcs, u)
    else:
        out = jax.vmap(lambda lc, uu, hh: laplace(model, lc, uu, hh))(lcs, u, hess)
    out = physical_fallback(model, lcs, u, out, has_data)
    ll_ok = jnp.isfinite(out["loglike"])
    status = jnp.where(
        ~has_data, NO_DATA,
        jnp.where((opt_status == NONFINITE) | ~ll_ok, NONFINITE,
                  jnp.where(opt_status == DIVERGED, DIVERGED,
                            jnp.where(~conv, MAX_STEPS,
                                      jnp.where(~out["hess_ok"], BAD_HESSIAN, OK))))).astype(jnp.int32)
    out.update(u=u, converged=conv & has_data, n_iter=n_iter, status=status,
               ndata=jnp.sum(lcs.mask, axis=1).astype(jnp.int32), n_loops=n_loops,
               n_used=jnp.where(has_data, out["n_used"], 0),
               n_screened=jnp.where(has_data, n_screened, 0), n_pruned=jnp.where(has_data, n_pruned, 0))
    return out
