r"""Multiband Lomb-Scargle periodogram of ONE light curve (VanderPlas & Ivezić 2015), pure JAX.

At each frequency :math:`f` the model of a point :math:`n` observed in band :math:`b_n` is a
shared ("base") Fourier series plus a per-band one,

.. math::

    \hat y_n = \theta_0 + \sum_{h=1}^{m_0} [a_h \cos h\omega t_n + b_h \sin h\omega t_n]
    + \theta_{b_n} + \sum_{h=1}^{m_1} [a_{b_n h} \cos h\omega t_n + b_{b_n h} \sin h\omega t_n],

:math:`m_0` = ``nterms_base``, :math:`m_1` = ``nterms_band``, fitted by weighted least squares
with a ridge term added to the diagonal of the normal matrix :math:`M = X^T W X`:
``diag(M) += reg * trace(M)`` with ``reg`` = ``reg_base`` on the base columns and ``reg_band``
on the band columns (VanderPlas & Ivezić 2015, eq. 10-12; the "flexible" method of astropy's
``LombScargleMultiband``, whose conventions these are). The power in the standard normalization
is :math:`P = (\chi^2_{\rm ref} - \chi^2(f))/\chi^2_{\rm ref}` with :math:`\chi^2_{\rm ref}`
the weighted scatter of the data about their per-band weighted means (``center_data=True``) or
about zero; "model", "log" and "psd" follow as in :mod:`tsmodels.kernels.lombscargle`.

Normal equations are built from per-band trigonometric sums :math:`C^{(b)}_h = \sum_{n \in b}
\tilde w_n \cos h\omega t_n`, :math:`S^{(b)}_h` (:math:`h \le 2\max(m_0, m_1)`) and
:math:`YC^{(b)}_h, YS^{(b)}_h` (:math:`h \le \max(m_0, m_1)`), computed for all frequencies at
once by :func:`tsmodels.kernels.lombscargle.trig_sums` (exact factorized GEMM, or Press &
Rybicki FFT), never from an :math:`N \times M` design matrix per frequency. The points are first
gathered band by band into an ``(n_bands, band_size)`` layout, so that each band's sums run over
its own points only (cost ~ N per frequency, not n_bands x N). The band blocks of
:math:`M` are coupled only through the base block (an "arrow" matrix), so each band block is
eliminated by its own small Cholesky factorization and the base block by a Schur complement:
cost O(bands x (2 m_1 + 1)^3) per frequency, vectorized over bands and frequencies.

With ``reg_base=None`` and ``reg_band=None`` the base constant and the base harmonics
:math:`h \le m_1` are linear combinations of band columns; the Cholesky drops such dependent
columns (a pseudo-inverse), which gives the least-squares projection.

References:
    VanderPlas, J. T. & Ivezić, Ž. 2015, ApJ 812, 18.
    Zechmeister, M. & Kürster, M. 2009, A&A 496, 577.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from tsmodels.kernels._precision import float64_by_default
from tsmodels.kernels.lombscargle import (
    FrequencyGrid,
    _as_frequency,
    _yy_floor,
    normalize,
    trig_sums,
)

__all__ = ["power"]


def _chol(G, ref, eps):
    """Unrolled Cholesky of a symmetric PSD matrix given as nested lists of arrays (any shape);
    only the lower triangle ``G[j][i], j >= i`` is read.

    Pivots below ``eps * ref[i]`` mark a dependent column: its row of L is zeroed (the column is
    dropped). The diagonal of the returned L holds the reciprocals ``1 / L_ii`` (0 for a dropped
    column), so that solves multiply instead of divide. Returns ``(L, ok)``.
    """
    n = len(G)
    L = [[None] * n for _ in range(n)]
    oks = []
    for i in range(n):
        d = G[i][i]
        for k in range(i):
            d = d - L[i][k] ** 2
        ok = d > eps * jnp.abs(ref[i])
        inv = jnp.where(ok, lax.rsqrt(jnp.where(ok, d, 1.0)), 0.0)
        L[i][i] = inv
        oks.append(ok)
        for j in range(i + 1, n):
            lij = G[j][i]
            for k in range(i):
                lij = lij - L[j][k] * L[i][k]
            L[j][i] = lij * inv
        for k in range(i):
            L[i][k] = jnp.where(ok, L[i][k], 0.0)
    return L, oks


def _forward(L, oks, r):
    """z = L^{-1} r for L from :func:`_chol` (dropped rows give z = 0)."""
    z = []
    for i in range(len(r)):
        zi = r[i]
        for k in range(i):
            zi = zi - L[i][k] * z[k]
        z.append(zi * L[i][i])
    return z


def _basis(m):
    return [("1", 0)] + [("c", a) for a in range(1, m + 1)] + [("s", a) for a in range(1, m + 1)]


def _gram(bi, bj, C, S):
    """<u, v> for basis functions u = bi, v = bj (kinds '1', 'c', 's') from sums C[h], S[h]."""
    (ki, a), (kj, b) = bi, bj

    def Cf(d):
        return C[abs(d)]

    def Sf(d):
        return S[d] if d >= 0 else -S[-d]

    if ki == "1" and kj == "1":
        return C[0]
    if ki == "1":
        return C[b] if kj == "c" else S[b]
    if kj == "1":
        return C[a] if ki == "c" else S[a]
    if ki == "c" and kj == "c":
        return 0.5 * (Cf(a - b) + Cf(a + b))
    if ki == "s" and kj == "s":
        return 0.5 * (Cf(a - b) - Cf(a + b))
    if ki == "c":
        return 0.5 * (Sf(a + b) - Sf(a - b))
    return 0.5 * (Sf(a + b) + Sf(a - b))


def _band_sum(x):
    """Sum over the leading (band) axis as explicit adds of rows: XLA's CPU reduction over a
    non-contiguous axis is several times slower than elementwise adds that fuse."""
    out = x[0]
    for b in range(1, x.shape[0]):
        out = out + x[b]
    return out


def _quad_from_band_sums(Cb, Sb, YCb, YSb, *, m0, m1, rb0, rb1, regularized):
    r"""The explained weighted sum of squares :math:`r^T M^{-1} r` (normalized weights) per
    frequency, from the per-band sums (lists over harmonics of ``(n_bands, F)`` arrays)."""
    Ca = [_band_sum(c) for c in Cb]
    Sa = [_band_sum(s) for s in Sb]

    def rhs(k, YC, YS):
        kind, a = k
        return YC[0] if kind == "1" else (YC[a] if kind == "c" else YS[a])

    base = _basis(m0)
    if not regularized:                                # drop columns spanned by the band columns
        base = [k for k in base if k[0] != "1" and k[1] > m1]
    bandb = _basis(m1)
    eps = jnp.finfo(Cb[0].dtype).eps

    # band blocks, vectorized over bands: D_b, U_b^T (base x band), r_b
    # symmetric matrices: only the lower triangle (j <= i), which is all _chol reads
    D = [[_gram(u, v, Cb, Sb) + (rb1 if i == j else 0.0) if j <= i else None
          for j, v in enumerate(bandb)] for i, u in enumerate(bandb)]
    ref = [D[i][i] for i in range(len(bandb))]
    L, oks = _chol(D, ref, 64 * eps)
    zr = _forward(L, oks, [rhs(k, YCb, YSb) for k in bandb])
    quad = _band_sum(sum(z * z for z in zr))                                          # [F]
    if base:
        zu = [_forward(L, oks, [_gram(u, v, Cb, Sb) for v in bandb]) for u in base]
        A = [[_gram(u, v, Ca, Sa) + (rb0 if i == j else 0.0) if j <= i else None
              for j, v in enumerate(base)] for i, u in enumerate(base)]
        Sc = [[A[i][j] - _band_sum(sum(zu[i][k] * zu[j][k] for k in range(len(bandb))))
               if j <= i else None for j in range(len(base))] for i in range(len(base))]
        YCa = [_band_sum(c) for c in YCb]
        YSa = [_band_sum(s) for s in YSb]
        rt = [rhs(u, YCa, YSa) - _band_sum(sum(zu[i][k] * zr[k] for k in range(len(bandb))))
              for i, u in enumerate(base)]
        Ls, oks_s = _chol(Sc, [A[i][i] for i in range(len(base))], 1e3 * eps)
        zs = _forward(Ls, oks_s, rt)
        quad = quad + sum(z * z for z in zs)
    return quad


@float64_by_default
def power(t, y, dy, band, frequency, *, n_bands, mask=None, t_lo=None, nterms_base=1,
          nterms_band=1, reg_base=None, reg_band=1e-6, regularize_by_trace=True,
          center_data=True, normalization="standard", method="direct", band_size=None, block=128,
          chunk_size=32768, oversampling=6, extirpolation_order=12):
    r"""Multiband (VanderPlas & Ivezić 2015) Lomb-Scargle power of one light curve.

    Args:
        t: ``(n,)`` times, days (any origin; phases are reduced exactly).
        y: ``(n,)`` values (any linear unit).
        dy: ``(n,)`` 1-sigma uncertainties, or None for equal weights.
        band: ``(n,)`` int band index in ``[0, n_bands)``.
        frequency: ``(F,)`` frequencies (1/day) or a :class:`FrequencyGrid`.
        n_bands: number of bands (static); bands without points contribute nothing.
        mask: ``(n,)`` bool, True for real points (padded points contribute exactly nothing).
        t_lo: optional ``(n,)`` low part of the times.
        nterms_base, nterms_band: harmonics of the shared and of the per-band series (static).
        reg_base, reg_band: ridge factors (times trace(M)) for base and band columns, or None.
        regularize_by_trace: if False, ``reg_base``/``reg_band`` are added to diag(M) as they are
            (M in units of 1/dy^2), as astropy's option of that name.
        center_data: subtract the per-band weighted means first.
        normalization: "standard" (astropy's only one for multiband), "model", "log" or "psd".
        method: "direct" (exact) or "fast" (Press & Rybicki; needs a FrequencyGrid).
        band_size: static capacity S of the per-band point lists (default ``n``). The sums of
            band b run over that band's points only, gathered into an ``(n_bands, S)`` layout,
            so their cost is ``n_bands * S`` per frequency instead of ``n_bands * n``. It must be
            at least the largest number of real points in one band (points beyond it are not
            seen); :func:`tsmodels.periodogram.lombscargle_multiband` computes it from the data.

    Returns:
        ``(F,)`` power in the dtype of the inputs.
    """
    if nterms_base < 0 or nterms_band < 0 or (nterms_base == 0 and nterms_band == 0):
        raise ValueError("nterms_base and nterms_band must be >= 0 and not both 0, got "
                         f"{nterms_base}, {nterms_band}")
    dtype = jnp.result_type(t, y, float)
    if dy is not None:
        dtype = jnp.result_type(dtype, dy)
    t = jnp.asarray(t, dtype)
    y = jnp.asarray(y, dtype)
    mask = jnp.ones(t.shape, bool) if mask is None else jnp.asarray(mask, bool)
    if dy is None:
        w = mask.astype(dtype)
    else:
        dys = jnp.where(mask, jnp.asarray(dy, dtype), 1.0)
        w = jnp.where(mask, 1.0 / (dys * dys), 0.0)
    wsum = jnp.sum(w)
    wn = w / jnp.where(wsum > 0, wsum, 1.0)
    onehot = (jnp.asarray(band)[None, :] == jnp.arange(n_bands)[:, None]) & mask[None, :]
    wb = jnp.where(onehot, wn[None, :], 0.0)                                       # [B, n]
    y = jnp.where(mask, y, 0.0)
    yy_floor = _yy_floor(y)
    if center_data:
        Wb = jnp.sum(wb, axis=1)
        ymean_b = jnp.sum(wb * y[None, :], axis=1) / jnp.where(Wb > 0, Wb, 1.0)
        y = jnp.where(mask, y - jnp.sum(jnp.where(onehot, ymean_b[:, None], 0.0), axis=0), 0.0)
    t = jnp.where(mask, t, 0.0)
    if t_lo is not None:
        t_lo = jnp.where(mask, jnp.asarray(t_lo, dtype), 0.0)
    freq = _as_frequency(frequency, dtype)
    F = freq.n if isinstance(freq, FrequencyGrid) else freq.shape[0]

    m0, m1 = int(nterms_base), int(nterms_band)
    m = max(m0, m1)
    nb = n_bands
    # band-major layout: row b holds band b's real points (stable order), zero weight after them
    n = t.shape[0]
    S = n if band_size is None else max(1, min(int(band_size), n))
    key = jnp.where(mask, jnp.asarray(band), nb)
    order = jnp.argsort(key, stable=True)
    counts = jnp.sum(onehot, axis=1)                                                 # [nb]
    slot = jnp.arange(S)
    src = order[jnp.clip((jnp.cumsum(counts) - counts)[:, None] + slot[None, :], 0, n - 1)]
    valid = slot[None, :] < counts[:, None]                                          # [nb, S]
    tb = jnp.where(valid, t[src], 0.0)
    wbs = jnp.where(valid, wn[src], 0.0)
    ybs = jnp.where(valid, y[src], 0.0)
    tlb = None if t_lo is None else jnp.where(valid, t_lo[src], 0.0)

    def band_sums(tb, wbs, ybs, tlb):
        vecs = {h: (jnp.stack([wbs, wbs * ybs]) if h <= m else wbs[None])
                for h in range(1, 2 * m + 1)}
        return trig_sums(tb, vecs, freq, t_lo=tlb, method=method, block=block,
                         chunk_size=chunk_size, oversampling=oversampling,
                         extirpolation_order=extirpolation_order)

    sums = jax.vmap(band_sums, in_axes=(0, 0, 0, None if tlb is None else 0))(tb, wbs, ybs, tlb)
    # per-band sums [nb, F]
    W0 = jnp.broadcast_to(jnp.sum(wb, axis=1)[:, None], (nb, F))
    Cb = [W0] + [sums[h][0][:, 0] for h in range(1, 2 * m + 1)]
    Sb = [jnp.zeros_like(W0)] + [sums[h][1][:, 0] for h in range(1, 2 * m + 1)]
    Y0b = jnp.broadcast_to(jnp.sum(wb * y[None, :], axis=1)[:, None], (nb, F))
    YCb = [Y0b] + [sums[h][0][:, 1] for h in range(1, m + 1)]
    YSb = [jnp.zeros_like(W0)] + [sums[h][1][:, 1] for h in range(1, m + 1)]
    regularized = reg_base is not None or reg_band is not None
    if regularize_by_trace:
        trace = 2.0 + m0 + m1                           # trace(M) in normalized weights
    else:                                              # absolute ridge on M = X^T W X
        trace = 1.0 / jnp.where(wsum > 0, wsum, 1.0)
    quad = _quad_from_band_sums(Cb, Sb, YCb, YSb, m0=m0, m1=m1,
                                rb0=(reg_base or 0.0) * trace, rb1=(reg_band or 0.0) * trace,
                                regularized=regularized)
    YY = jnp.sum(wn * y * y)
    return normalize(quad, YY=YY, wsum=wsum, normalization=normalization,
                     yy_floor=yy_floor)
