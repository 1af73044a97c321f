r"""Small dense linear algebra written as plain XLA operations (no LAPACK calls).

Every matrix that tsmodels factorises is small (a few to 25 rows: Hessians of a handful of
parameters, normal equations of per-band coefficients, Kalman state covariances) and comes in
large batches (objects x starts x frequencies). The functions here take ``[..., m, m]`` arrays
and are made of elementwise operations that XLA fuses and vectorises over the leading axes; they
differentiate like any ``jnp`` code and run the same on CPU and GPU.

Why not ``jnp.linalg``: on a CPU, jaxlib runs batched LAPACK calls (``potrf``, ``trsm``,
``getrf``, ``syevd``, ...) by splitting the batch over XLA's intra-op thread pool and **blocking
the pool thread that runs the call until the pieces finish**. When as many such calls run at
once as the pool has threads (two chunks of a batch on the two cores of a laptop, or two
independent calls inside one compiled program), no thread is left to run the pieces and the
process deadlocks (observed with jaxlib 0.10.2 on a 2-core machine: ``tsmodels demo`` hung in
its MultibandDRW fit). Programs made of XLA's own operations never block a pool thread, so the
execution engine (:mod:`tsmodels.engine`) refuses LAPACK in what it runs in parallel, and the
kernels use this module instead. It is also faster for these sizes: one LAPACK call per 3x3
matrix costs more than the arithmetic.

Sizes up to :data:`UNROLL_MAX` are unrolled at trace time (scalar recurrences over the leading
axes); larger ones loop over columns with ``lax.fori_loop`` (same arithmetic, smaller programs).

Conventions: ``L`` is lower triangular with ``L L^T = A``; right-hand sides are ``[..., m]``
vectors or ``[..., m, k]`` matrices (``matrix_rhs`` decides by the rank, as ``jnp.linalg``).
A matrix that is not positive definite gives NaN (Cholesky) instead of raising; a singular one
gives inf/NaN (``solve``), so callers test ``isfinite`` inside ``jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tsmodels.kernels._precision import float64_by_default

__all__ = ["UNROLL_MAX", "cholesky", "psd_sqrt", "tri_solve", "cho_solve", "cho_inverse",
           "spd_solve", "solve", "logdet_from_cholesky", "trust_region_step"]

#: Matrices up to this size are factorised by unrolled scalar recurrences.
UNROLL_MAX = 12


def _is_vector(L, b):
    """Whether ``b`` is a (batch of) vector(s) ``[..., m]`` for ``L [..., m, m]``: one fewer
    dimension, the last one ``m``, and leading axes that broadcast (else ``[..., m, k]``)."""
    if b.ndim != L.ndim - 1 or b.shape[-1] != L.shape[-1]:
        return False
    try:
        jnp.broadcast_shapes(b.shape[:-1], L.shape[:-2])
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------ Cholesky
def _pivot(s, semidefinite):
    """Diagonal entry ``d`` of the factor and the ``1/d`` that scales its column, from the
    remaining pivot ``s``: NaN where ``s <= 0`` (not positive definite); for a semi-definite
    factor, ``d = sqrt(max(s, 0))`` and the column set to zero where ``d`` is negligible."""
    if semidefinite:
        d = jnp.sqrt(jnp.maximum(s, 0.0))
        tiny = jnp.finfo(s.dtype).tiny
        return d, jnp.where(d > jnp.sqrt(tiny), 1.0 / jnp.where(d > 0, d, 1.0), 0.0)
    d = jnp.where(s > 0, jnp.sqrt(jnp.where(s > 0, s, 1.0)), jnp.nan)
    return d, 1.0 / d


def _cholesky_unrolled(a, semidefinite):
    m = a.shape[-1]
    L = [[None] * m for _ in range(m)]
    for j in range(m):
        s = a[..., j, j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        d, inv = _pivot(s, semidefinite)
        L[j][j] = d
        for i in range(j + 1, m):
            s = a[..., i, j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = s * inv
    zero = jnp.zeros_like(a[..., 0, 0])
    return jnp.stack([jnp.stack([L[i][j] if j <= i else zero for j in range(m)], -1)
                      for i in range(m)], -2)


def _cholesky_loop(a, semidefinite):
    m = a.shape[-1]
    idx = jnp.arange(m)

    def body(j, L):
        # column j from the columns < j already in L (zeros elsewhere)
        row_j = jnp.take(L, j, axis=-2)                            # [..., m]  (L[j, :])
        s = jnp.take(a, j, axis=-1) - jnp.einsum("...ik,...k->...i", L, row_j)   # a[:, j] - L L[j]^T
        djj = jnp.take(s, j, axis=-1)
        d, inv = _pivot(djj, semidefinite)
        col = jnp.where(idx == j, d[..., None], jnp.where(idx > j, s * inv[..., None], 0.0))
        return L + jnp.where(idx[None, :] == j, col[..., :, None], 0.0)

    return jax.lax.fori_loop(0, m, body, jnp.zeros_like(a))


@float64_by_default
def cholesky(a):
    """Lower Cholesky factor of symmetric positive definite matrices ``[..., m, m]``.

    Only the lower triangle of ``a`` is read. Entries are NaN where ``a`` is not positive
    definite, singular included (a pivot <= 0), so ``jnp.all(jnp.isfinite(L))`` tests
    definiteness inside ``jit``.
    """
    return _factor(a, False)


@float64_by_default
def psd_sqrt(a):
    """A lower-triangular ``L`` with ``L L^T = a`` for positive SEMI-definite ``a`` [..., m, m].

    A Cholesky factorisation that sets a column to zero where its pivot is zero (rank loss, or
    a negative rounding error), so it stays finite for singular covariances, e.g. the noise of
    a state-space step with fewer noise sources than states. Used to draw correlated normals.
    """
    return _factor(a, True)


def _factor(a, semi):
    a = jnp.asarray(a)
    return (_cholesky_unrolled if a.shape[-1] <= UNROLL_MAX else _cholesky_loop)(a, semi)


@float64_by_default
def logdet_from_cholesky(L):
    """``log det A`` from ``L`` = :func:`cholesky` ``(A)``."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


# ------------------------------------------------------------------------------------ triangular
def _tri_unrolled(L, b, lower, transpose):
    """Solve ``op(L) x = b`` with b ``[..., m, k]`` (unrolled). ``op`` = L or L^T."""
    m = L.shape[-1]
    x = [None] * m
    # L^T x = b with L lower is an upper-triangular system read column-wise from L
    forward = lower != transpose
    order = range(m) if forward else range(m - 1, -1, -1)
    for i in order:
        s = b[..., i, :]
        deps = range(i) if forward else range(i + 1, m)
        for k in deps:
            lik = L[..., k, i] if transpose else L[..., i, k]
            s = s - lik[..., None] * x[k]
        x[i] = s / L[..., i, i][..., None]
    return jnp.stack(x, -2)


def _tri_loop(L, b, lower, transpose):
    m = L.shape[-1]
    A = jnp.swapaxes(L, -1, -2) if transpose else L
    forward = lower != transpose
    idx = jnp.arange(m)

    def body(step, x):
        i = step if forward else m - 1 - step
        row = jnp.take(A, i, axis=-2)                                  # [..., m]
        known = (idx < i) if forward else (idx > i)
        s = jnp.take(b, i, axis=-2) - jnp.einsum("...k,...kj->...j", jnp.where(known, row, 0.0), x)
        xi = s / jnp.take(row, i, axis=-1)[..., None]
        return jnp.where((idx == i)[:, None], xi[..., None, :], x)

    return jax.lax.fori_loop(0, m, body, jnp.zeros_like(b))


@float64_by_default
def tri_solve(L, b, *, lower: bool = True, transpose: bool = False):
    """Solve ``L x = b`` (or ``L^T x = b`` with ``transpose=True``) for triangular ``L``.

    Args:
        L: ``[..., m, m]`` triangular (the other triangle is ignored).
        b: ``[..., m]`` or ``[..., m, k]``.
        lower: whether ``L`` is lower (True) or upper triangular.
        transpose: solve with ``L^T``.
    """
    L = jnp.asarray(L)
    b = jnp.asarray(b)
    vec = _is_vector(L, b)
    bb = b[..., None] if vec else b
    dt = jnp.result_type(L, bb)
    L, bb = L.astype(dt), bb.astype(dt)
    bb = jnp.broadcast_to(bb, jnp.broadcast_shapes(L.shape[:-2], bb.shape[:-2]) + bb.shape[-2:])
    fn = _tri_unrolled if L.shape[-1] <= UNROLL_MAX else _tri_loop
    x = fn(L, bb, lower, transpose)
    return x[..., 0] if vec else x


@float64_by_default
def cho_solve(L, b):
    """Solve ``A x = b`` given ``L`` = :func:`cholesky` ``(A)``; ``b`` is ``[..., m]`` or ``[..., m, k]``."""
    return tri_solve(L, tri_solve(L, b, lower=True), lower=True, transpose=True)


@float64_by_default
def cho_inverse(L):
    """``A^-1`` ``[..., m, m]`` given ``L`` = :func:`cholesky` ``(A)`` (exactly symmetric)."""
    L = jnp.asarray(L)
    m = L.shape[-1]
    eye = jnp.broadcast_to(jnp.eye(m, dtype=L.dtype), L.shape)
    inv = cho_solve(L, eye)
    return 0.5 * (inv + jnp.swapaxes(inv, -1, -2))


@float64_by_default
def spd_solve(a, b):
    """Solve ``a x = b`` for symmetric positive definite ``a`` (NaN where it is not)."""
    return cho_solve(cholesky(a), b)


# ------------------------------------------------------------------------------------ general
@float64_by_default
def solve(a, b):
    """Solve ``a x = b`` for general square ``a`` [..., m, m] by Gaussian elimination with
    partial pivoting (row swaps chosen by the largest remaining pivot, as LAPACK ``getrf``).

    ``b`` is ``[..., m]`` or ``[..., m, k]``; a singular ``a`` gives inf/NaN. Loops over the ``m``
    columns with ``lax.fori_loop`` for ``m > UNROLL_MAX``.
    """
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    vec = _is_vector(a, b)
    bb = b[..., None] if vec else b
    dt = jnp.result_type(a, bb)
    batch = jnp.broadcast_shapes(a.shape[:-2], bb.shape[:-2])
    m = a.shape[-1]
    k = bb.shape[-1]
    aug = jnp.concatenate([jnp.broadcast_to(a.astype(dt), batch + (m, m)),
                           jnp.broadcast_to(bb.astype(dt), batch + (m, k))], axis=-1)
    rows = jnp.arange(m)

    def eliminate(j, A):
        col = jnp.take(A, j, axis=-1)                                # [..., m]
        cand = jnp.where(rows >= j, jnp.abs(col), -1.0)
        p = jnp.argmax(cand, axis=-1)                                # pivot row
        row_j = jnp.take(A, j, axis=-2)
        row_p = jnp.take_along_axis(A, p[..., None, None], axis=-2)[..., 0, :]
        is_j = (rows == j)[:, None]
        is_p = rows[:, None] == p[..., None, None]
        A = jnp.where(is_j, row_p[..., None, :], jnp.where(is_p, row_j[..., None, :], A))
        piv = jnp.take(row_p, j, axis=-1)
        f = jnp.where(rows > j, jnp.take(A, j, axis=-1) / piv[..., None], 0.0)
        return A - f[..., :, None] * row_p[..., None, :]

    if m <= UNROLL_MAX:
        for j in range(m):
            aug = eliminate(j, aug)
    else:
        aug = jax.lax.fori_loop(0, m, eliminate, aug)
    U = aug[..., :m]
    x = tri_solve(U, aug[..., m:], lower=False)
    return x[..., 0] if vec else x


# ------------------------------------------------------------------------------------ trust region
@float64_by_default
def trust_region_step(g, hess, radius, *, iterations: int = 30):
    """Minimiser of the quadratic model ``g.d + d.H.d / 2`` over the ball ``|d| <= radius``.

    More & Sorensen (1983): ``d(lam) = -(H + lam I)^-1 g`` with the smallest ``lam >= 0`` that
    makes ``H + lam I`` positive definite and ``|d| <= radius``; ``lam`` solves the secular
    equation ``1/|d(lam)| = 1/radius`` by safeguarded Newton steps (each one Cholesky
    factorisation of ``H + lam I``), kept inside a bracket ``[lo, hi]`` that starts from
    Gershgorin bounds on the eigenvalues of ``H`` and is bisected when a step leaves it or a
    factorisation fails. The "hard case" (``g`` orthogonal to the lowest eigenvector) is left to
    the trust-region iteration, which shrinks or grows the radius.

    Args:
        g: ``[P]`` gradient; hess: ``[P, P]`` symmetric Hessian; radius: scalar > 0.
        iterations: fixed number of bracket/Newton iterations (static).

    Returns:
        ``(d, full)``: the step, and whether it is the unrestricted Newton step (``H`` positive
        definite and ``|H^-1 g| <= radius``).
    """
    P = g.shape[-1]
    dt = g.dtype
    eye = jnp.eye(P, dtype=dt)
    L0 = cholesky(hess)
    d0 = -cho_solve(L0, g)
    n0 = jnp.sqrt(jnp.sum(d0 * d0))
    newton_ok = jnp.all(jnp.isfinite(L0)) & jnp.all(jnp.isfinite(d0)) & (n0 <= radius)

    off = jnp.sum(jnp.abs(hess), axis=-1) - jnp.abs(jnp.diagonal(hess))
    diag = jnp.diagonal(hess)
    ev_lo = jnp.min(diag - off)                 # Gershgorin: every eigenvalue >= ev_lo
    ev_hi = jnp.max(diag + off)                 # ... and <= ev_hi
    gn = jnp.sqrt(jnp.sum(g * g))
    tiny = jnp.finfo(dt).tiny ** 0.5
    scale = jnp.maximum(jnp.maximum(jnp.abs(ev_lo), jnp.abs(ev_hi)), tiny)
    # lam >= -lambda_min >= -min(diag); and |d(lam)| <= gn / (lam + lambda_min) <= radius for
    # lam >= gn / radius - ev_lo
    lo0 = jnp.maximum(0.0, jnp.maximum(-jnp.min(diag), gn / radius - ev_hi))
    hi0 = jnp.maximum(0.0, gn / radius - ev_lo) + tiny * scale
    hi0 = jnp.maximum(hi0, lo0 * (1.0 + 1e-12) + tiny * scale)

    def body(_, c):
        lo, hi, lam = c
        L = cholesky(hess + lam * eye)
        pd = jnp.all(jnp.isfinite(L))
        Ls = jnp.where(pd, L, eye)
        d = -cho_solve(Ls, g)
        n = jnp.sqrt(jnp.sum(d * d))
        q = tri_solve(Ls, d)
        qn2 = jnp.sum(q * q)
        # phi(lam) = 1/|d| - 1/radius is increasing and nearly linear in lam
        too_small = ~pd | (n > radius)          # lam below the solution (or H + lam I not PD)
        lo = jnp.where(too_small, lam, lo)
        hi = jnp.where(too_small, hi, lam)
        nxt = lam + (n * n / jnp.maximum(qn2, tiny)) * (n - radius) / radius
        bad = ~pd | ~jnp.isfinite(nxt) | (nxt <= lo) | (nxt >= hi)
        mid = jnp.where(lo > 0, jnp.sqrt(lo * hi), 0.5 * (lo + hi))
        mid = jnp.where((mid <= lo) | (mid >= hi), 0.5 * (lo + hi), mid)
        return lo, hi, jnp.where(bad, mid, nxt)

    start = jnp.maximum(lo0, jnp.minimum(hi0, gn / radius))
    lo, hi, lam = jax.lax.fori_loop(0, iterations, body, (lo0, hi0, start))
    # the last lam may sit just below the solution (|d| slightly > radius): take the bracket's
    # upper end, which always factorises and gives |d| <= radius
    L = cholesky(hess + lam * eye)
    d = -cho_solve(jnp.where(jnp.all(jnp.isfinite(L)), L, eye), g)
    n = jnp.sqrt(jnp.sum(d * d))
    ok = jnp.all(jnp.isfinite(L)) & jnp.all(jnp.isfinite(d)) & (n <= radius * (1.0 + 1e-6))
    Lh = cholesky(hess + hi * eye)
    dh = -cho_solve(jnp.where(jnp.all(jnp.isfinite(Lh)), Lh, eye), g)
    d = jnp.where(ok, d, dh)
    # rescale onto the sphere when rounding left it a hair outside
    n = jnp.sqrt(jnp.sum(d * d))
    d = jnp.where(n > radius, d * (radius / jnp.maximum(n, tiny)), d)
    return jnp.where(newton_ok, d0, d), newton_ok
