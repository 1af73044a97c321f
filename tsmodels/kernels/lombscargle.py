r"""Generalized Lomb-Scargle periodogram of ONE light curve (pure JAX).

The periodogram at frequency :math:`f` is the weighted least-squares fit of a truncated Fourier
series (Zechmeister & Kürster 2009, "generalized" LS with a floating mean; VanderPlas 2018, §5)

.. math::

    \hat y(t) = \theta_0 + \sum_{h=1}^{m} \left[a_h \cos(2\pi h f t) + b_h \sin(2\pi h f t)\right],

with weights :math:`w_n = 1/\sigma_n^2`. With :math:`\chi^2_{\rm ref} = \sum_n w_n (y_n -
\bar y)^2` the weighted scatter about the weighted mean :math:`\bar y` and :math:`\chi^2(f)` the
residual of the fit, the normalizations are those of astropy's ``LombScargle``:

* ``standard``: :math:`P = 1 - \chi^2(f)/\chi^2_{\rm ref}` (between 0 and 1);
* ``model``: :math:`P = \chi^2_{\rm ref}/\chi^2(f) - 1`;
* ``log``: :math:`P = \ln[\chi^2_{\rm ref}/\chi^2(f)]`;
* ``psd``: :math:`P = \tfrac12[\chi^2_{\rm ref} - \chi^2(f)]` (units of :math:`y^2/\sigma^2`).

Everything is computed from weighted trigonometric sums (normalized weights
:math:`\tilde w_n = w_n / \sum w`)

.. math::

    C_h = \sum_n \tilde w_n \cos h\omega t_n,\quad S_h = \sum_n \tilde w_n \sin h\omega t_n
    \quad (h \le 2m), \qquad
    YC_h = \sum_n \tilde w_n y_n \cos h\omega t_n,\quad YS_h = \sum_n \tilde w_n y_n \sin h\omega
    t_n \quad (h \le m),

because products of harmonics are harmonics (:math:`\cos a\cos b = \tfrac12[\cos(a-b) +
\cos(a+b)]`, ...): the normal matrix of the fit is assembled from :math:`C_h, S_h` and solved per
frequency, so no :math:`N\times(2m+1)` design matrix is ever built. The constant term is
eliminated analytically (a Schur complement), the remaining :math:`2m \times 2m` system is solved
by an unrolled Cholesky factorization vectorized over frequencies.

Methods for the sums:

* ``"direct"`` (exact): on a regular grid :math:`f_{jK+k} = f_0 + (jK + k)\,\delta f` the phase
  factorizes, :math:`e^{i\omega t} = e^{2\pi i (f_0 + jK\delta f)t}\, e^{2\pi i k\,\delta f t}`,
  so each sum is a complex matrix product of a :math:`J\times N` table by an :math:`N\times K`
  table (one batched GEMM per group of harmonics, three real products per complex one, O(N F)
  multiply-adds at matrix-multiply speed, 2(J+K)N sines and cosines instead of 2NF, no
  recurrence and so no error growth). An arbitrary frequency array is handled by evaluating
  every phase (chunks of frequencies).
* ``"fast"``: Press & Rybicki (1989): each weighted point is "extirpolated" (reverse Lagrange
  interpolation of order ``extirpolation_order``) onto a regular grid of :math:`M` cells in the
  phase :math:`\delta f\,t \bmod 1`, M the smallest :math:`2^a 3^b 5^c \ge
  \text{oversampling}\cdot F`, and one FFT per sum gives all F frequencies: O(N + F log F). The
  error falls steeply with M/F: with the defaults (order 12, oversampling 6) it is 1e-6 to 1e-5
  of the standard power; with oversampling 5, 3e-5 to 1e-4.

Precision. Phases :math:`f t \bmod 1` are reduced exactly before any sine or cosine: products are
split with Dekker's (1971) error-free transformation (Veltkamp splitting), so
:math:`\mathrm{frac}(f t)` is correct to a rounding error of the result even when :math:`f t \sim
10^5` cycles in float32; grid frequencies are :math:`f_0 + m\,\delta f` with the integer
:math:`m` exact and :math:`f_0,\ \delta f` optionally given as high + low parts
(:class:`FrequencyGrid`), and times optionally as ``t + t_lo``. The data are centred on their
weighted mean before summing. The only remaining float32 error is the rounding of the sums.

References:
    Zechmeister, M. & Kürster, M. 2009, A&A 496, 577 (generalized LS).
    Press, W. H. & Rybicki, G. B. 1989, ApJ 338, 277 (extirpolation + FFT).
    VanderPlas, J. T. 2018, ApJS 236, 16 (review; astropy conventions).
    Dekker, T. J. 1971, Numer. Math. 18, 224 (error-free products).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax import lax

from tsmodels.kernels import linalg
from tsmodels.kernels._precision import float64_by_default

__all__ = [
    "FrequencyGrid",
    "power",
    "trig_sums",
    "power_from_sums",
    "model",
    "NORMALIZATIONS",
    "METHODS",
]

NORMALIZATIONS = ("standard", "model", "log", "psd")
METHODS = ("direct", "fast")
_TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------- grids
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FrequencyGrid:
    r"""A regular frequency grid :math:`f_m = f_0 + m\,\delta f`, :math:`m = 0 \ldots n-1` (1/day).

    ``f0`` and ``df`` may carry low parts (``f0 = f0 + f0_lo`` exactly), so that a float32 kernel
    sees the float64 grid a host computed (see :meth:`from_float64`). ``n`` is static.
    """

    f0: jax.Array | float
    df: jax.Array | float
    n: int = dataclasses.field(metadata=dict(static=True))
    f0_lo: jax.Array | float = 0.0
    df_lo: jax.Array | float = 0.0

    @classmethod
    def from_float64(cls, f0: float, df: float, n: int, dtype) -> "FrequencyGrid":
        """Split float64 ``f0``, ``df`` into ``dtype`` high and low parts (host-side numbers)."""
        import numpy as np

        dt = np.dtype(dtype)
        f0_hi, df_hi = dt.type(f0), dt.type(df)
        return cls(f0=f0_hi, df=df_hi, n=int(n),
                   f0_lo=dt.type(float(f0) - float(f0_hi)), df_lo=dt.type(float(df) - float(df_hi)))

    def frequencies(self) -> jax.Array:
        """The grid as an ``[n]`` array (in the dtype of ``f0``)."""
        m = jnp.arange(self.n, dtype=jnp.result_type(self.f0, float))
        return (self.f0 + self.f0_lo) + m * (self.df + self.df_lo)


# --------------------------------------------------------------------------------------- phases
def _split(a):
    """Veltkamp split a = hi + lo, each with at most half the mantissa bits (exact)."""
    bits = jnp.finfo(a.dtype).nmant + 1
    c = (2.0 ** ((bits + 1) // 2) + 1.0) * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a, b):
    """Dekker's error-free product: ``a * b = p + e`` exactly (barring under/overflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _frac(x):
    """x minus its nearest integer, in [-1/2, 1/2]."""
    return x - jnp.round(x)


def _frac_mul(a, b):
    """frac(a * b) accurate to the rounding of the result, for any magnitude of a * b."""
    p, e = _two_prod(a, b)
    return _frac(_frac(p) + e)


def _grid_phase(t, t_lo, grid: FrequencyGrid, m):
    r"""Phase in cycles, :math:`\mathrm{frac}[(f_0 + m\,\delta f)(t + t_{\rm lo})]`, broadcast.

    ``m`` holds exact integers (floats). Error: a few roundings of numbers below one, whatever
    :math:`f t` is.
    """
    d_hi, d_err = _two_prod(grid.df, t)                    # df_hi * t = d_hi + d_err exactly
    d_err = d_err + grid.df_lo * t                          # df * t = d_hi + d_err
    a = _frac_mul(grid.f0, t) + grid.f0_lo * t
    b = _frac_mul(m, d_hi) + m * d_err
    ph = a + b
    if t_lo is not None:
        ph = ph + ((grid.f0 + grid.f0_lo) + m * (grid.df + grid.df_lo)) * t_lo
    return _frac(ph)


def _array_phase(t, t_lo, f):
    """frac(f * (t + t_lo)) for arbitrary frequencies f (broadcast)."""
    ph = _frac_mul(f, t)
    if t_lo is not None:
        ph = ph + f * t_lo
    return _frac(ph)


def _cis_cycles(phase):
    r"""cos and sin of :math:`2\pi\phi` for a reduced phase :math:`\phi \in [-1/2, 1/2]` cycles.

    Octant reduction (exact: :math:`r = \phi - q/4`, :math:`|r| \le 1/8`) and Taylor polynomials
    of :math:`x = 2\pi r`, :math:`|x| \le \pi/4`, to the dtype's precision (degree 17/16 in
    float64, 9/10 in float32: truncation below 1e-16 resp. 2e-9). Several times faster than
    XLA's general-argument ``sin``/``cos`` on CPU and fusible.
    """
    q = jnp.floor(4.0 * phase + 0.5)
    r = phase - 0.25 * q
    x = _TWO_PI * r
    x2 = x * x
    ns, nc = (8, 8) if jnp.finfo(phase.dtype).bits > 32 else (4, 5)
    s = jnp.full_like(x, (-1) ** ns / math.factorial(2 * ns + 1))
    for k in range(ns - 1, -1, -1):
        s = s * x2 + (-1) ** k / math.factorial(2 * k + 1)
    s = s * x
    c = jnp.full_like(x, (-1) ** nc / math.factorial(2 * nc))
    for k in range(nc - 1, -1, -1):
        c = c * x2 + (-1) ** k / math.factorial(2 * k)
    qm = q - 4.0 * jnp.floor(0.25 * q)               # quadrant 0..3 of the angle x + q pi/2
    odd = (qm == 1.0) | (qm == 3.0)
    cc = jnp.where(odd, s, c)
    ss = jnp.where(odd, c, s)
    return jnp.where((qm == 1.0) | (qm == 2.0), -cc, cc), jnp.where(qm >= 2.0, -ss, ss)


def _cis(phase, h):
    """cos and sin of 2 pi h phase (phase in cycles, h a static integer)."""
    return _cis_cycles(_frac(h * phase))


def _cis_powers(c, s, hs):
    """{h: (cos h x, sin h x)} for the static harmonics ``hs`` from cos x, sin x by complex
    multiplication (error ~ h roundings)."""
    out = {1: (c, s)}
    for h in range(2, max(hs) + 1):
        cp, sp = out[h - 1]
        out[h] = (cp * c - sp * s, sp * c + cp * s)
    return {h: out[h] for h in hs}


def _mm(a, b):
    return jnp.matmul(a, b, precision=lax.Precision.HIGHEST)


def _chunks(n, size):
    """Split n items into the fewest chunks of at most ``size``, evenly: (chunk, n_chunks)."""
    n = int(n)
    n_chunks = -(-n // max(1, min(int(size), n)))
    return -(-n // n_chunks), n_chunks


# --------------------------------------------------------------------------------------- sums
def _freeze(x):
    """Identity, computed as a (tiny, exact) contraction with the 2 x 2 identity on the last axis.

    XLA duplicates cheap elementwise producers into every consumer; a table of sines feeding a
    broadcast product would be recomputed for each product entry. A dot's result is always
    materialized, so the factor tables are computed once.
    """
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    return lax.dot_general(x, eye, (((x.ndim - 1,), (0,)), ((), ())),
                           precision=lax.Precision.HIGHEST)


def _harmonic_groups(vecs):
    """Harmonics grouped by how many vectors they sum, so that each group is one batched
    operation whatever the number of harmonics: ``[(hs, (H_g, V, n) stacked vectors)]``."""
    by_count = {}
    for h in sorted(vecs):
        by_count.setdefault(int(vecs[h].shape[0]), []).append(h)
    return [(tuple(hs), jnp.stack([vecs[h] for h in hs]))
            for _, hs in sorted(by_count.items(), reverse=True)]


def _cis_harmonics(phase, hs):
    r"""cos and sin of :math:`2\pi h\phi` for a reduced phase :math:`\phi` (cycles) and each
    static harmonic ``h`` in ``hs``: ``(H, *phase.shape)`` arrays. ``h * phase`` is rounded once
    (error ``h`` ulps of 1/2 at most), then reduced exactly."""
    h = jnp.asarray(hs, phase.dtype).reshape((-1,) + (1,) * phase.ndim)
    return _cis_cycles(_frac(h * phase))


def _cis_table(t, t_lo, grid, m0, step, count, hs):
    r"""cos and sin of :math:`2\pi h (f_0 + (m_0 + i\,\mathrm{step})\delta f) t` for ``i <
    count`` and each static harmonic ``h`` in ``hs``: ``(H, count, n)`` arrays.

    Two-level factorization ``i = i_1 c_2 + i_2``: exact phases, sines and cosines only for the
    ``c_1 + c_2`` factors; the table is their complex product (error: a few roundings).
    """
    dt = t.dtype
    n = t.shape[-1]
    H = len(hs)
    c2 = max(1, int(math.ceil(math.sqrt(count))))
    c1 = -(-count // c2)
    tt = t[None, :]
    tl = None if t_lo is None else t_lo[None, :]
    i1 = (jnp.arange(c1, dtype=dt) * (c2 * step))[:, None]
    i2 = (jnp.arange(c2, dtype=dt) * step)[:, None]
    zero = FrequencyGrid(f0=jnp.zeros((), dt), df=grid.df, n=grid.n, f0_lo=jnp.zeros((), dt),
                         df_lo=grid.df_lo)
    ph = jnp.concatenate([_grid_phase(tt, tl, grid, m0 + i1),                          # [c1, n]
                          _grid_phase(tt, tl, zero, i2)])                              # [c2, n]
    frozen = _freeze(jnp.stack(_cis_harmonics(ph, hs), axis=-1))                    # [H, c1+c2, n, 2]
    ca, sa = frozen[:, :c1, None, :, 0], frozen[:, :c1, None, :, 1]
    cb, sb = frozen[:, None, c1:, :, 0], frozen[:, None, c1:, :, 1]
    c = (ca * cb - sa * sb).reshape(H, c1 * c2, n)[:, :count]
    s = (sa * cb + ca * sb).reshape(H, c1 * c2, n)[:, :count]
    return c, s


def _unstack(groups, res, F):
    """``{h: (cos, sin)}`` from per-group results ``[(c, s)]`` of shape ``(chunks, H_g, V, m)``."""
    out = {}
    for (hs, _), (c, s) in zip(groups, res):
        def flat(a):                                     # [chunks, H, V, m] -> [H, V, chunks*m]
            return jnp.moveaxis(a, 0, 2).reshape(a.shape[1], a.shape[2], -1)[..., :F]
        c, s = flat(c), flat(s)
        for i, h in enumerate(hs):
            out[h] = (c[i], s[i])
    return out


def _sums_grid_direct(t, t_lo, vecs, grid, *, block, chunk_size):
    r"""Exact sums on a regular grid via the J x K phase factorization (see module docstring).

    The complex product :math:`(a + ib)(c + id)` of the left table :math:`v e^{iA_j t}` and the
    right table :math:`e^{iB_k t}` is summed with three real matrix products instead of four
    (Gauss): :math:`k_1 = (a + b) c`, :math:`k_2 = a (d - c)`, :math:`k_3 = b (c + d)`, real part
    :math:`k_1 - k_3`, imaginary part :math:`k_1 + k_2` (rounding error of the same order, a few
    ulps of :math:`\sum |v|`). All harmonics with the same number of vectors form one batched
    product.
    """
    F = grid.n
    K = max(1, min(int(block), F))
    J = -(-F // K)
    jc, n_chunks = _chunks(J, max(1, chunk_size // K))
    dt = t.dtype
    N = t.shape[-1]
    zero = FrequencyGrid(f0=jnp.zeros((), dt), df=grid.df, n=F, f0_lo=jnp.zeros((), dt),
                         df_lo=grid.df_lo)
    groups = _harmonic_groups(vecs)
    hs = tuple(h for g, _ in groups for h in g)
    cb, sb = _cis_table(t, t_lo, zero, 0.0, 1, K, hs)                                # [H, K, N]
    rhs = jnp.swapaxes(jnp.stack([cb, sb - cb, cb + sb]), -1, -2)                     # [3, H, N, K]

    def one_chunk(c):
        m0 = (c * (jc * K)).astype(dt)
        ca, sa = _cis_table(t, t_lo, grid, m0, K, jc, hs)                             # [H, jc, N]
        out, o = [], 0
        for g, v in groups:                                                          # [Hg, V, N]
            hg, nv = len(g), v.shape[1]
            a = v[:, :, None, :] * ca[o:o + hg, None]                                 # [Hg, V, jc, N]
            b = v[:, :, None, :] * sa[o:o + hg, None]
            lhs = jnp.stack([a + b, a, b]).reshape(3, hg, nv * jc, N)
            p = _mm(lhs, rhs[:, o:o + hg]).reshape(3, hg, nv, jc * K)
            out.append((p[0] - p[2], p[0] + p[1]))
            o += hg
        return out

    return _unstack(groups, lax.map(one_chunk, jnp.arange(n_chunks)), F)


def _sums_array_direct(t, t_lo, vecs, frequency, *, chunk_size):
    """Exact sums at arbitrary frequencies, evaluating every phase (frequency chunks)."""
    F = frequency.shape[0]
    fc, n_chunks = _chunks(F, chunk_size)
    fpad = jnp.concatenate([frequency, jnp.full((fc * n_chunks - F,), frequency[-1])])
    groups = _harmonic_groups(vecs)

    def one_chunk(f):
        ph = _array_phase(t[None, :], None if t_lo is None else t_lo[None, :], f[:, None])
        tabs = _cis_powers(*_cis_cycles(ph), tuple(h for g, _ in groups for h in g))
        out = []
        for g, v in groups:                                                          # [Hg, V, N]
            out.append((jnp.stack([_mm(v[i], tabs[h][0].T) for i, h in enumerate(g)]),
                        jnp.stack([_mm(v[i], tabs[h][1].T) for i, h in enumerate(g)])))
        return out

    return _unstack(groups, lax.map(one_chunk, fpad.reshape(n_chunks, fc)), F)


def _lagrange_weights(delta, order):
    """Weights of the ``order`` grid points i0 .. i0+order-1 for a point at i0 + delta."""
    ws = []
    for p in range(order):
        w = jnp.ones_like(delta)
        for q in range(order):
            if q != p:
                w = w * (delta - q) / (p - q)
        ws.append(w)
    return jnp.stack(ws, axis=-1)                                                      # [..., order]


def _fft_size(n):
    """The smallest 2^a 3^b 5^c >= n (FFTs of such sizes are as fast per point as powers of 2;
    the next power of two can be 1.6 times larger)."""
    best = 1 << max(int(n - 1).bit_length(), 0)
    p2 = 1
    while p2 < best:
        p3 = p2
        while p3 < best:
            p5 = p3
            while p5 < n:
                p5 *= 5
            best = min(best, p5)
            p3 *= 3
        p2 *= 2
    return best


def _sums_grid_fast(t, t_lo, vecs, grid, *, oversampling, order):
    """Press & Rybicki (1989) sums: extirpolation onto an FFT grid, then one FFT per sum."""
    F = grid.n
    M = _fft_size(max(int(math.ceil(oversampling * F)), 2 * order))
    dt = t.dtype
    cdt = jnp.result_type(dt, jnp.complex64)
    tl = t_lo
    f0 = FrequencyGrid(f0=grid.f0, df=jnp.zeros((), dt), n=F, f0_lo=grid.f0_lo,
                       df_lo=jnp.zeros((), dt))
    ph_f0 = _grid_phase(t, tl, f0, jnp.zeros((), dt))                                  # f0 t
    zero = FrequencyGrid(f0=jnp.zeros((), dt), df=grid.df, n=F, f0_lo=jnp.zeros((), dt),
                         df_lo=grid.df_lo)
    ph_df = _grid_phase(t, tl, zero, jnp.ones((), dt))                                 # df t

    def one_harmonic(v, c0, s0, x):
        u = v.astype(cdt) * (c0 + 1j * s0).astype(cdt)                                 # [V, N]
        i0 = jnp.floor(x) - (order // 2 - 1)
        lw = _lagrange_weights(x - i0, order)                                          # [N, order]
        idx = (i0[:, None].astype(jnp.int32) + jnp.arange(order)[None, :]) % M          # [N, order]
        contrib = u[:, :, None] * lw[None].astype(cdt)                                 # [V, N, order]
        grid_vals = jnp.zeros((v.shape[0], M), cdt).at[:, idx.reshape(-1)].add(
            contrib.reshape(v.shape[0], -1))
        s = jnp.fft.ifft(grid_vals, axis=-1)[:, :F] * M
        return s.real, s.imag

    groups = _harmonic_groups(vecs)
    res = []
    for g, v in groups:
        c0, s0 = _cis_harmonics(ph_f0, g)                                              # [Hg, N]
        h = jnp.asarray(g, dt)[:, None]
        x = (h * ph_df) % 1.0 * M                                                      # cells
        c, s = jax.vmap(one_harmonic)(v, c0, s0, x)                                    # [Hg, V, F]
        res.append((c[None], s[None]))
    return _unstack(groups, res, F)


@float64_by_default
def trig_sums(t, vecs, frequency, *, t_lo=None, method="direct", block=128, chunk_size=32768,
              oversampling=6, extirpolation_order=12):
    r"""Weighted sums :math:`\sum_n v_n \cos(2\pi h f t_n)` and :math:`\sum_n v_n \sin(\ldots)`.

    Args:
        t: ``(n,)`` times, days (any origin; phases are reduced exactly).
        vecs: dict ``{h: (V_h, n) array}``: for each harmonic ``h`` (static int >= 1) the
            vectors to sum.
        frequency: ``(F,)`` array (1/day), or a :class:`FrequencyGrid` (required by "fast").
        t_lo: optional ``(n,)`` low part of the times (``t + t_lo``).
        method: "direct" (exact) or "fast" (Press & Rybicki, grid only).
        block: K of the J x K factorization (direct on a grid).
        chunk_size: frequencies per step of ``lax.map`` (bounds memory).
        oversampling, extirpolation_order: FFT grid size factor and Lagrange order ("fast").

    Returns:
        dict ``{h: (cos_sums, sin_sums)}``, each ``(V_h, F)``.
    """
    t = jnp.asarray(t)
    frequency = _as_frequency(frequency, t.dtype)
    if method == "fast":
        if not isinstance(frequency, FrequencyGrid):
            raise TypeError("method='fast' needs a regular FrequencyGrid, not a frequency array")
        return _sums_grid_fast(t, t_lo, vecs, frequency, oversampling=oversampling,
                               order=extirpolation_order)
    if method != "direct":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(frequency, FrequencyGrid):
        return _sums_grid_direct(t, t_lo, vecs, frequency, block=block, chunk_size=chunk_size)
    return _sums_array_direct(t, t_lo, vecs, frequency, chunk_size=chunk_size)


# --------------------------------------------------------------------------------------- solve
def _quadform_spd(G, r, eps):
    r""":math:`r^T G^{-1} r` for a symmetric positive semi-definite G given as nested lists of
    arrays (unrolled Cholesky, vectorized over the arrays' shape). A pivot that falls below
    ``eps`` times its diagonal entry (a column dependent on the previous ones, e.g. at f = 0) is
    dropped, i.e. the pseudo-inverse is used there (where-before-divide, so no NaN)."""
    n = len(r)
    L = [[None] * n for _ in range(n)]
    z = [None] * n
    q = jnp.zeros_like(r[0])
    for i in range(n):
        d = G[i][i] - sum((L[i][k] ** 2 for k in range(i)), jnp.zeros_like(r[0]))
        ok = d > eps * jnp.abs(G[i][i])
        sd = jnp.sqrt(jnp.where(ok, d, 1.0))
        L[i][i] = sd
        zi = r[i] - sum((L[i][k] * z[k] for k in range(i)), jnp.zeros_like(r[0]))
        z[i] = jnp.where(ok, zi / sd, 0.0)
        q = q + z[i] ** 2
        for j in range(i + 1, n):
            lij = G[j][i] - sum((L[j][k] * L[i][k] for k in range(i)), jnp.zeros_like(r[0]))
            L[j][i] = jnp.where(ok, lij / sd, 0.0)
    return q


@float64_by_default
def power_from_sums(C, S, YC, YS, *, Y0, YY, wsum, nterms, fit_mean, normalization,
                    yy_floor=0.0):
    r"""Periodogram from the normalized-weight sums (see module docstring).

    Args:
        C, S: lists indexed by harmonic ``h = 0 .. 2*nterms`` of ``(F,)`` arrays
            (:math:`C_0 = 1, S_0 = 0`).
        YC, YS: lists indexed by ``h = 0 .. nterms`` (index 0 unused).
        Y0: :math:`\sum \tilde w y` (0 for centred data), scalar.
        YY: :math:`\sum \tilde w y^2`, scalar.
        wsum: :math:`\sum_n w_n` (unnormalized), scalar; used by "psd".

    Returns:
        ``(F,)`` power in the requested normalization.
    """
    m = nterms

    def Cf(d):
        return C[abs(d)]

    def Sf(d):
        return S[d] if d >= 0 else -S[-d]

    idx = [("c", a) for a in range(1, m + 1)] + [("s", a) for a in range(1, m + 1)]
    G = [[None] * len(idx) for _ in idx]
    for i, (ki, a) in enumerate(idx):
        for j, (kj, b) in enumerate(idx):
            if ki == "c" and kj == "c":
                G[i][j] = 0.5 * (Cf(a - b) + Cf(a + b))
            elif ki == "s" and kj == "s":
                G[i][j] = 0.5 * (Cf(a - b) - Cf(a + b))
            elif ki == "c":                      # cos(a) sin(b)
                G[i][j] = 0.5 * (Sf(a + b) - Sf(a - b))
            else:                                # sin(a) cos(b)
                G[i][j] = 0.5 * (Sf(a + b) + Sf(a - b))
    r = [YC[a] if k == "c" else YS[a] for k, a in idx]
    q0 = jnp.zeros_like(C[1])
    if fit_mean:
        g = [C[a] if k == "c" else S[a] for k, a in idx]
        G = [[G[i][j] - g[i] * g[j] for j in range(len(idx))] for i in range(len(idx))]
        r = [r[i] - Y0 * g[i] for i in range(len(idx))]
        q0 = q0 + Y0 ** 2
    eps = 64 * jnp.finfo(C[1].dtype).eps
    p = q0 + _quadform_spd(G, r, eps)
    return normalize(p, YY=YY, wsum=wsum, normalization=normalization, yy_floor=yy_floor)


def normalize(p, *, YY, wsum, normalization, yy_floor=0.0):
    r"""Convert :math:`p = (\chi^2_{\rm ref} - \chi^2)/\sum w` into a normalization.

    ``YY`` is :math:`\chi^2_{\rm ref}/\sum w`. A light curve with no scatter (``YY <=
    yy_floor``, rounding level) or no point gives zero power, not NaN or noise.
    """
    ok = YY > yy_floor
    yy = jnp.where(ok, YY, 1.0)
    if normalization == "standard":
        out = p / yy
    elif normalization == "model":
        den = yy - p
        good = ok & (den > 0)
        out = jnp.where(good, p / jnp.where(good, den, 1.0), jnp.inf)
    elif normalization == "log":
        x = jnp.where(ok, p / yy, 0.0)
        safe = x < 1
        out = jnp.where(safe, -jnp.log1p(-jnp.where(safe, x, 0.0)), jnp.inf)
    elif normalization == "psd":
        return 0.5 * wsum * p
    else:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    return jnp.where(ok, out, 0.0)


# --------------------------------------------------------------------------------------- inputs
def _prepare(t, y, dy, mask, *, center):
    """Common input handling: dtype, mask, weights, centring (where-before-divide)."""
    dtype = jnp.result_type(t, y, float)
    if dy is not None:
        dtype = jnp.result_type(dtype, dy)
    t = jnp.asarray(t, dtype)
    y = jnp.asarray(y, dtype)
    if mask is None:
        mask = jnp.ones(t.shape, bool)
    mask = jnp.asarray(mask, bool)
    if dy is None:
        w = mask.astype(dtype)
    else:
        dy = jnp.asarray(dy, dtype)
        dys = jnp.where(mask, dy, 1.0)
        w = jnp.where(mask, 1.0 / (dys * dys), 0.0)
    wsum = jnp.sum(w)
    wn = w / jnp.where(wsum > 0, wsum, 1.0)
    y = jnp.where(mask, y, 0.0)
    if center:
        y = jnp.where(mask, y - jnp.sum(wn * y), 0.0)
    t = jnp.where(mask, t, 0.0)
    return t, y, w, wn, wsum, mask, dtype


def _yy_floor(y):
    """Rounding level of the weighted scatter of y (before centring): below it y is constant."""
    return 64 * jnp.finfo(y.dtype).eps ** 2 * jnp.max(jnp.abs(y)) ** 2 + jnp.finfo(y.dtype).tiny


def _as_frequency(frequency, dtype):
    if isinstance(frequency, FrequencyGrid):
        return FrequencyGrid(f0=jnp.asarray(frequency.f0, dtype), df=jnp.asarray(frequency.df, dtype),
                             n=frequency.n, f0_lo=jnp.asarray(frequency.f0_lo, dtype),
                             df_lo=jnp.asarray(frequency.df_lo, dtype))
    return jnp.atleast_1d(jnp.asarray(frequency, dtype))


def _check_options(nterms, normalization, fit_mean):
    if int(nterms) != nterms or nterms < 1:
        raise ValueError(f"nterms must be an integer >= 1, got {nterms!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


# --------------------------------------------------------------------------------------- public
@float64_by_default
def power(t, y, dy, frequency, *, mask=None, t_lo=None, nterms=1, normalization="standard",
          fit_mean=True, center_data=True, method="direct", block=128, chunk_size=32768,
          oversampling=6, extirpolation_order=12):
    r"""Generalized Lomb-Scargle power of one light curve (the quantity of astropy's LombScargle).

    Args:
        t: ``(n,)`` times, days (relative to a reference epoch; see ``t_lo``).
        y: ``(n,)`` values (any linear unit).
        dy: ``(n,)`` 1-sigma uncertainties (same unit as y), or None for equal weights.
        frequency: ``(F,)`` frequencies in cycles/day, or a :class:`FrequencyGrid` (regular grid:
            the fast GEMM form of "direct", required by "fast").
        mask: ``(n,)`` bool, True for real points; padded points contribute exactly nothing.
        t_lo: optional ``(n,)`` low part of the times (``t + t_lo``, for float32 accuracy).
        nterms: number of harmonics m (static).
        normalization: "standard", "model", "log" or "psd" (see module docstring).
        fit_mean: fit a constant together with the harmonics (floating-mean LS).
        center_data: subtract the weighted mean of y first (always done when fit_mean).
        method: "direct" (exact) or "fast" (Press & Rybicki extirpolation + FFT; error 1e-6 to
            1e-5 of the standard power with the default oversampling 6 and order 12).
        block, chunk_size: J x K factorization block and frequencies per ``lax.map`` step.
        oversampling, extirpolation_order: FFT grid factor and Lagrange order ("fast").

    Returns:
        ``(F,)`` power, in the dtype of the inputs.
    """
    _check_options(nterms, normalization, fit_mean)
    t, y0, w, wn, wsum, mask, dtype = _prepare(t, y, dy, mask, center=False)
    yy_floor = _yy_floor(y0)
    _, y, *_ = _prepare(t, y, dy, mask, center=bool(center_data or fit_mean))
    if t_lo is not None:
        t_lo = jnp.where(mask, jnp.asarray(t_lo, dtype), 0.0)
    freq = _as_frequency(frequency, dtype)
    m = int(nterms)
    vecs = {}
    for h in range(1, 2 * m + 1):
        rows = [wn]
        if h <= m:
            rows.append(wn * y)
        if rows:
            vecs[h] = jnp.stack(rows)
    sums = trig_sums(t, vecs, freq, t_lo=t_lo, method=method, block=block, chunk_size=chunk_size,
                     oversampling=oversampling, extirpolation_order=extirpolation_order)
    F = freq.n if isinstance(freq, FrequencyGrid) else freq.shape[0]
    one = jnp.ones((F,), dtype)
    C, S, YC, YS = [one], [0.0 * one], [None], [None]
    for h in range(1, 2 * m + 1):
        c, s = sums[h]
        C.append(c[0])
        S.append(s[0])
        if h <= m:
            YC.append(c[-1])
            YS.append(s[-1])
    Y0 = jnp.sum(wn * y)
    YY = jnp.sum(wn * y * y)
    return power_from_sums(C, S, YC, YS, Y0=Y0, YY=YY, wsum=wsum, nterms=m, fit_mean=fit_mean,
                           normalization=normalization, yy_floor=yy_floor)


def design_matrix(t, frequency, *, nterms=1, bias=True):
    """``(n, bias + 2 nterms)`` columns ``[1, sin(2 pi f t), cos(2 pi f t), sin(4 pi f t), ...]``
    (astropy's order), for one scalar frequency (cycles/day)."""
    t = jnp.asarray(t)
    f = jnp.asarray(frequency, t.dtype)
    ph = _array_phase(t, None, f)
    cols = [jnp.ones_like(t)] if bias else []
    for h in range(1, nterms + 1):
        c, s = _cis(ph, h)
        cols += [s, c]
    return jnp.stack(cols, axis=-1)


def model_parameters(t, y, dy, frequency, *, mask=None, nterms=1, fit_mean=True, center_data=True):
    """Best-fit coefficients ``theta`` of :func:`design_matrix` at one frequency (weighted least
    squares; as astropy's ``LombScargle.model_parameters``), and the subtracted mean of y.

    Returns:
        ``(theta (bias + 2 nterms,), y_mean scalar)``.
    """
    center = bool(center_data)
    dtype = jnp.result_type(t, y, float)
    t_, y_, w, wn, wsum, mask, dtype = _prepare(t, y, dy, mask, center=False)
    y_mean = jnp.sum(wn * y_) if center else jnp.zeros((), dtype)
    yc = jnp.where(mask, y_ - y_mean, 0.0)
    X = design_matrix(jnp.asarray(t, dtype), frequency, nterms=nterms, bias=fit_mean)
    Xw = X * w[:, None]
    A = Xw.T @ X
    b = Xw.T @ yc
    return linalg.spd_solve(A, b), y_mean


@float64_by_default
def model(t, y, dy, frequency, t_fit, *, mask=None, nterms=1, fit_mean=True, center_data=True):
    r"""The best-fit Fourier model at one frequency, evaluated at ``t_fit`` (``(m,)`` days, same
    origin as ``t``): :math:`\bar y + X(t_{\rm fit})\,\theta`."""
    theta, y_mean = model_parameters(t, y, dy, frequency, mask=mask, nterms=nterms,
                                     fit_mean=fit_mean, center_data=center_data)
    X = design_matrix(jnp.asarray(t_fit, theta.dtype), frequency, nterms=nterms, bias=fit_mean)
    return y_mean + X @ theta
