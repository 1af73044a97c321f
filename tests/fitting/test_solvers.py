"""ts.fit internals shared by every model: the trust-region Newton solver, candidate screening,
the block-stepped rounds for slow lanes, per-object parameter limits, and worker threads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tsmodels import engine
from tsmodels.fitting import fit, loop, sample
from tsmodels.kernels import linalg
from tsmodels.fitting.results import MAX_STEPS, OK
from tsmodels.fitting.solvers import default_tol

from _jitter import Jitter, jitter_batch  # tests/fitting/_jitter.py


def _scipy_mle(batch, i):
    """Reference maximum likelihood of one object with scipy (Nelder-Mead, tight tolerances)."""
    from scipy.optimize import minimize

    m = batch.mask[i]
    y, e = batch.flux[i][m], batch.flux_err[i][m]

    def nll(p):
        var = e ** 2 + p[1] ** 2
        return 0.5 * np.sum((y - p[0]) ** 2 / var + np.log(2 * np.pi * var))

    r = minimize(nll, [np.mean(y), np.std(y)], method="Nelder-Mead",
                 options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    return r.x, -r.fun


# ------------------------------------------------------------------------------ Newton
def test_newton_is_the_default_and_agrees_with_scipy_and_lbfgs(rng):
    batch, _ = jitter_batch(rng, 12)
    res = fit(Jitter(), batch)
    assert res.method == "newton" and np.all(res.status == OK) and res.converged.all()
    assert res.n_iter.max() <= 15
    for i in range(4):
        x, ll = _scipy_mle(batch, i)
        np.testing.assert_allclose([res.values["mean"][i], abs(res.values["s"][i])], [x[0], abs(x[1])],
                                   rtol=1e-6)
        np.testing.assert_allclose(res.loglike[i], ll, rtol=1e-12, atol=1e-9)
    lb = fit(Jitter(), batch, method="lbfgs")
    np.testing.assert_allclose(lb.loglike, res.loglike, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(lb.values["s"], res.values["s"], rtol=1e-4)


def test_trust_step_solves_the_subproblem(rng):
    """Inside the ball: the Newton step; on it: |d| = radius (to 1e-3, ample for a trust region)
    and (H + lam I) d = -g, lam >= 0, H + lam I positive semidefinite (also for indefinite H)."""
    for P in (1, 2, 4):
        for _ in range(5):
            A = rng.normal(size=(P, P))
            H = A @ A.T + rng.uniform(-2, 2) * np.eye(P)
            g = rng.normal(size=P)
            for radius in (1e-3, 0.3, 1e3):
                d, full = linalg.trust_region_step(jnp.asarray(g), jnp.asarray(H), jnp.asarray(radius))
                d = np.asarray(d)
                ev = np.linalg.eigvalsh(H)
                newton = np.linalg.solve(H, -g) if ev[0] > 0 else None
                if newton is not None and np.linalg.norm(newton) <= radius:
                    np.testing.assert_allclose(d, newton, rtol=1e-8)
                    assert bool(full)
                    continue
                assert not bool(full)
                assert np.linalg.norm(d) == pytest.approx(radius, rel=1e-3)
                # lam from (H + lam I) d = -g, along d
                lam = -(g + H @ d) @ d / (d @ d)
                np.testing.assert_allclose(H @ d + lam * d, -g, atol=1e-7 * (1 + np.abs(g).max()))
                assert lam >= -1e-9 and ev[0] + lam >= -1e-7


def test_maximum_on_a_prior_limit_is_held_there_and_converges(rng):
    """s's prior is Uniform(1e-3, 1): objects whose scatter is larger end at the limit, flagged
    converged, after few iterations (no creeping towards the limit), the others are unaffected."""
    batch, s_true = jitter_batch(rng, 6, s_true=[0.5, 4.0, 0.2, 5.0, 0.6, 3.0])
    res = fit(Jitter(s_max=1.0), batch)
    at = s_true > 1.0
    np.testing.assert_allclose(res.values["s"][at], 1.0, rtol=1e-7)
    assert res.converged.all() and res.n_iter.max() <= 30
    free = fit(Jitter(), batch)
    ok = free.values["s"] < 0.99
    np.testing.assert_allclose(res.values["s"][ok], free.values["s"][ok], rtol=1e-6)


# ------------------------------------------------------------------------------ candidates
def test_candidate_screening_optimises_the_most_likely_starts(rng):
    batch, _ = jitter_batch(rng, 10)
    model = Jitter()
    many = fit(model, batch, n_starts=1, n_candidates=8)
    # the same as optimising, from model.init's 8 candidates, the one with the highest likelihood
    cands = model.init(batch, 8)
    jb = batch.to_jax("float64")
    ll = np.array([[float(model.loglike({"mean": cands["mean"][i, k], "s": cands["s"][i, k]},
                                        jax.tree_util.tree_map(lambda a: a[i], jb)))
                    for k in range(8)] for i in range(len(batch))])
    best = ll.argmax(1)
    pick = {n: v[np.arange(len(batch)), best] for n, v in cands.items()}
    ref = fit(model, batch, init=pick)
    for n in ("mean", "s"):
        np.testing.assert_array_equal(many.values[n], ref.values[n])
    np.testing.assert_array_equal(many.n_iter, ref.n_iter)
    with pytest.raises(ValueError, match="n_candidates must be a positive integer, got 0"):
        fit(model, batch, n_candidates=0)


# ------------------------------------------------------------------------------ block rounds
class _WideJitter(Jitter):
    compact_fraction = 1.0


def test_blocks_and_threads_do_not_change_results(rng, monkeypatch):
    """A lane's result does not depend on the block that stepped it, on the chunking or on the
    number of worker threads; every lane keeps its max_steps budget. (The blocks
    are compiled for different shapes, so the last bits may differ: XLA may order a lane's sums
    differently; values agree far below the optimizer's tolerance.)"""
    batch, _ = jitter_batch(rng, 40, n=60)
    model = Jitter(n_starts=3)
    ref = fit(model, batch, workers=1)
    wide = _WideJitter(n_starts=3)  # its own block width: one block of every lane
    assert loop.compact_fraction(wide) == 1.0 and loop.compact_fraction(model) == loop.COMPACT_FRACTION
    one = fit(wide, batch, workers=1)
    assert {static[1].compact for (name, static) in engine._PROGRAMS
            if name == "fit" and static[0] == wide} == {1.0}
    monkeypatch.setattr(loop, "COMPACT_FRACTION", 0.03)  # blocks of 4 lanes
    tiny = fit(model, batch, workers=2, batch_size=20)
    for other in (one, tiny):
        for n in ("mean", "s"):
            np.testing.assert_allclose(other.values[n], ref.values[n], rtol=1e-9)
            np.testing.assert_allclose(other.errors[n], ref.errors[n], rtol=1e-6)
        np.testing.assert_allclose(other.loglike, ref.loglike, rtol=1e-13)
        np.testing.assert_array_equal(other.status, ref.status)
    short = fit(model, batch, max_steps=3)
    assert (short.n_iter <= 3).all() and (short.status[~short.converged] == MAX_STEPS).all()


def test_starts_that_join_a_better_start_stop(rng):
    """The starts of the unimodal Jitter likelihood all run into the same minimum: once one
    reaches the point of its object's best start (within ``loop._SAME_BASIN``) it stops,
    counted in ``n_pruned``, and the optimum is the exhaustive multi-start's."""
    batch, _ = jitter_batch(rng, 40, n=60)
    model = Jitter(n_starts=3)
    default = fit(model, batch)
    exhaustive = fit(model, batch, prune=False)
    assert np.all(exhaustive.n_pruned == 0)
    assert np.mean(default.n_pruned == 2) >= 0.9, default.n_pruned  # both followers joined
    np.testing.assert_allclose(default.loglike, exhaustive.loglike, rtol=1e-12)
    for n in ("mean", "s"):
        assert np.all(np.abs(default.values[n] - exhaustive.values[n]) < 1e-6 * default.errors[n])


class _LooseJitter(Jitter):
    fit_tol = 1e-6


def test_a_model_can_loosen_the_tolerance(rng):
    """A model's ``fit_tol`` replaces the default tolerance where it is looser (float32 keeps
    its own 1e-5) and reaches the compiled program; an explicit ``tol`` still wins."""
    loose = _LooseJitter()
    assert default_tol(np.float64) == default_tol(np.float64, Jitter()) == 1e-10
    assert default_tol(np.float64, loose) == 1e-6 and default_tol(np.float32, loose) == 1e-5
    batch, _ = jitter_batch(rng, 8, n=60)
    fit(loose, batch)
    fit(loose, batch, tol=1e-9)
    assert {static[1].tol for (name, static) in engine._PROGRAMS
            if name == "fit" and static[0] == loose} == {1e-6, 1e-9}


def test_workers_argument(rng):
    batch, _ = jitter_batch(rng, 40, n=60)
    assert engine.default_workers() >= 1
    with pytest.raises(ValueError, match="workers must be a positive integer or None, got 0"):
        fit(Jitter(), batch, workers=0)
    chunks = engine.plan(batch, workers=2)
    assert len(chunks) == 2 and sorted(np.concatenate([c.positions for c in chunks])) == list(range(40))


# ------------------------------------------------------------------------------ per-object limits
def test_per_object_limits_map_pack_and_fit(rng):
    batch, s_true = jitter_batch(rng, 8, s_true=[0.5, 1.0, 8.0, 9.0, 2.0, 1.0, 7.0, 0.5])
    model = Jitter(limit_s=True)
    jb = batch.to_jax("float64")
    lc = jax.tree_util.tree_map(lambda a: a[2], jb)
    lo, hi = model.bounds(lc)["s"]
    # the unconstrained map of s is onto (lo, hi) for this light curve, and its ends are finite
    tr = model.bijections(lc)["s"]
    np.testing.assert_allclose([tr(-jnp.inf), tr(jnp.inf)], [lo, hi], rtol=1e-12)
    u = model.pack({"mean": 50.0, "s": 0.3 * hi}, lc)
    np.testing.assert_allclose(model.unpack(u, lc)["s"], 0.3 * hi, rtol=1e-12)
    # a value beyond the limit is moved just inside it
    np.testing.assert_allclose(model.unpack(model.pack({"mean": 50.0, "s": 10 * hi}, lc), lc)["s"], hi,
                               rtol=1e-7)
    jac = jax.jacfwd(lambda v: jnp.stack([model.unpack(v, lc)["mean"], model.unpack(v, lc)["s"]]))(u)
    np.testing.assert_allclose(model.log_abs_det_jacobian(u, lc), np.log(abs(np.linalg.det(jac))),
                               rtol=1e-10)
    res = fit(model, batch)
    sd = np.array([np.std(batch.flux[i][batch.mask[i]]) for i in range(len(batch))])
    assert np.all(res.values["s"] <= 0.5 * sd * (1 + 1e-9)) and res.converged.all()
    capped = res.values["s"] >= 0.5 * sd * (1 - 1e-6)
    free = fit(Jitter(), batch)
    assert capped.any() and np.all(free.values["s"][capped] > 0.5 * sd[capped])
    np.testing.assert_allclose(res.values["s"][~capped], free.values["s"][~capped], rtol=1e-6)


def test_sampling_respects_per_object_limits(rng):
    batch, _ = jitter_batch(rng, 4, n=40, s_true=[6.0, 1.0, 6.0, 2.0])
    model = Jitter(limit_s=True)
    post = sample(model, batch, num_warmup=150, num_samples=150, num_chains=2, keep_samples=True)
    sd = np.array([np.std(batch.flux[i][batch.mask[i]]) for i in range(len(batch))])
    assert np.all(post.samples["s"] <= 0.5 * sd[:, None, None] * (1 + 1e-9))
    assert np.all(post.status == OK)
