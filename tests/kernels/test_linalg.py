"""tsmodels.kernels.linalg: small dense linear algebra without LAPACK, against NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from tsmodels import engine
from tsmodels.kernels import linalg


def _spd(rng, batch, m):
    a = rng.normal(size=batch + (m, m + 2))
    return a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(m)


# m = 13 and 25 take the fori_loop paths (> UNROLL_MAX)
@pytest.mark.parametrize("m", [1, 2, 3, 5, 12, 13, 25])
def test_cholesky_and_solves_match_numpy(rng, m):
    spd = _spd(rng, (4,), m)
    b = rng.normal(size=(4, m))
    B = rng.normal(size=(4, m, 3))
    L = linalg.cholesky(jnp.asarray(spd))
    np.testing.assert_allclose(L, np.linalg.cholesky(spd), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(linalg.cho_solve(L, b), np.linalg.solve(spd, b[..., None])[..., 0], rtol=1e-8)
    np.testing.assert_allclose(linalg.cho_solve(L, B), np.linalg.solve(spd, B), rtol=1e-8)
    np.testing.assert_allclose(linalg.cho_inverse(L), np.linalg.inv(spd), rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(linalg.spd_solve(spd, b), np.linalg.solve(spd, b[..., None])[..., 0], rtol=1e-8)
    np.testing.assert_allclose(linalg.logdet_from_cholesky(L), np.linalg.slogdet(spd)[1], rtol=1e-12)
    Ln = np.linalg.cholesky(spd)
    for lower, transpose in ((True, False), (True, True)):
        A = np.swapaxes(Ln, -1, -2) if transpose else Ln
        np.testing.assert_allclose(linalg.tri_solve(Ln, B, lower=lower, transpose=transpose),
                                   np.linalg.solve(A, B), rtol=1e-8)
    U = np.swapaxes(Ln, -1, -2)
    np.testing.assert_allclose(linalg.tri_solve(U, b, lower=False), np.linalg.solve(U, b[..., None])[..., 0],
                               rtol=1e-8)


@pytest.mark.parametrize("m", [1, 3, 6, 9, 16, 25])
def test_general_solve_matches_numpy_with_pivoting(rng, m):
    a = rng.normal(size=(5, m, m))
    if m > 1:
        a[:, 0, 0] = 0.0  # needs a row swap
    b = rng.normal(size=(5, m))
    np.testing.assert_allclose(linalg.solve(a, b), np.linalg.solve(a, b[..., None])[..., 0], rtol=1e-8, atol=1e-10)
    B = rng.normal(size=(m, 2))  # broadcast right-hand side
    np.testing.assert_allclose(linalg.solve(a, B), np.linalg.solve(a, B), rtol=1e-8, atol=1e-10)


def test_not_positive_definite_gives_nan_and_singular_gives_nonfinite():
    bad = jnp.array([[1.0, 2.0], [2.0, 1.0]])
    assert not np.all(np.isfinite(linalg.cholesky(bad)))
    assert not np.all(np.isfinite(linalg.solve(jnp.zeros((3, 3)), jnp.ones(3))))


def test_psd_sqrt_of_a_rank_deficient_covariance(rng):
    v = rng.normal(size=(4, 2))
    q = v @ v.T  # rank 2
    L = np.asarray(linalg.psd_sqrt(jnp.asarray(q)))
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L @ L.T, q, atol=1e-10)
    np.testing.assert_allclose(linalg.psd_sqrt(jnp.zeros((3, 3))), 0.0)


def test_gradients_match_finite_differences(rng):
    spd = jnp.asarray(_spd(rng, (), 4))
    b = jnp.asarray(rng.normal(size=4))
    check_grads(lambda a, y: linalg.spd_solve(0.5 * (a + a.T), y), (spd, b), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: linalg.logdet_from_cholesky(linalg.cholesky(0.5 * (a + a.T))), (spd,), order=2)
    check_grads(lambda a, y: linalg.solve(a, y), (spd + 0.3 * jnp.eye(4), b), order=1)


def test_float32_accuracy(rng):
    spd = _spd(rng, (8,), 6)
    b = rng.normal(size=(8, 6))
    x32 = linalg.spd_solve(jnp.asarray(spd, jnp.float32), jnp.asarray(b, jnp.float32))
    assert x32.dtype == jnp.float32
    ref = np.linalg.solve(spd, b[..., None])[..., 0]
    cond = np.linalg.cond(spd)
    assert np.max(np.abs(np.asarray(x32) - ref) / np.abs(ref).max(-1, keepdims=True)) < 10 * cond.max() * 1.2e-7


def test_trust_region_step_hard_ends():
    """g = 0 at a saddle: no step (left to the trust-region iteration); a tiny radius: a step of
    that length along -g (steepest descent); huge radius and PD H: the Newton step."""
    H = jnp.array([[2.0, 0.0], [0.0, -1.0]])
    d, full = linalg.trust_region_step(jnp.zeros(2), H, jnp.asarray(1.0))
    np.testing.assert_allclose(d, 0.0)
    g = jnp.array([1.0, 2.0])
    d, full = linalg.trust_region_step(g, jnp.eye(2) * 3.0, jnp.asarray(1e-6))
    np.testing.assert_allclose(np.linalg.norm(d), 1e-6, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(d) / np.linalg.norm(d), -np.asarray(g) / np.linalg.norm(g), atol=1e-3)
    d, full = linalg.trust_region_step(g, jnp.eye(2) * 3.0, jnp.asarray(1e3))
    assert bool(full)
    np.testing.assert_allclose(d, -np.asarray(g) / 3.0, rtol=1e-12)


def test_no_lapack_in_the_compiled_programs(rng):
    """The point of the module: what it compiles to has no (blocking) LAPACK custom call, while
    jnp.linalg's equivalents do (so the audit is shown to detect them)."""
    spd = jnp.asarray(_spd(rng, (64,), 5))
    b = jnp.asarray(rng.normal(size=(64, 5)))

    def ours(a, y):
        L = linalg.cholesky(a)
        return (linalg.cho_solve(L, y), linalg.solve(a, y), linalg.psd_sqrt(a),
                linalg.trust_region_step(y[0], a[0], 1.0)[0])

    def theirs(a, y):
        return jnp.linalg.solve(a, y[..., None]), jnp.linalg.cholesky(a), jnp.linalg.eigh(a)[0]

    assert engine.blocking_calls(jax.jit(ours).lower(spd, b).as_text()) == []
    found = engine.blocking_calls(jax.jit(theirs).lower(spd, b).as_text())
    assert any("potrf" in f for f in found) and any("getrf" in f for f in found), found
