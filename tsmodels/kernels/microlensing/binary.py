r"""Point-source binary-lens microlensing of ONE light curve, pure JAX, in MulensModel (version 3)
conventions.

Geometry (MulensModel's ``Trajectory``, Skowron et al. 2011 appendix A with alpha shifted by
180 degrees; checked numerically against MulensModel in ``tests/kernels/test_binary_lens.py``):

* lengths are in units of the Einstein radius of the TOTAL lens mass;
* the origin is the lenses' centre of mass, the binary axis is the x axis;
* body 1 (mass fraction :math:`m_1 = 1/(1+q)`) sits at :math:`x_1 = -s q/(1+q)` and body 2
  (mass fraction :math:`m_2 = q/(1+q)`) at :math:`x_2 = +s/(1+q)`: :math:`q = m_2/m_1` and,
  for :math:`q < 1`, the heavier body is on the negative x axis; ``s`` is the projected
  separation of the two bodies;
* the source at time ``t``, with :math:`\tau = (t - t_0)/t_E` and :math:`\beta = u_0`, is at

  .. math::

      x = -\tau\cos\alpha + \beta\sin\alpha, \qquad y = -\tau\sin\alpha - \beta\cos\alpha,

  ``alpha`` in degrees, counter-clockwise: the source moves along :math:`(-\cos\alpha,
  -\sin\alpha)` and passes the centre of mass at :math:`u_0 (\sin\alpha, -\cos\alpha)`
  (its closest approach to the centre of mass). :math:`(u_0, \alpha)` and
  :math:`(-u_0, -\alpha)` give mirror-image trajectories (:math:`y \to -y`) and the same
  magnification.

Magnification (Witt 1990; Witt & Mao 1995). With complex positions, the lens equation

.. math::

    \zeta = z - \frac{m_1}{\bar z - \bar z_1} - \frac{m_2}{\bar z - \bar z_2}

maps an image position :math:`z` to the source position :math:`\zeta = x + iy`. Eliminating
:math:`\bar z` with the conjugate equation gives a complex polynomial of degree five in
:math:`z` whose roots contain every image (three or five) and, with three images, two spurious
roots. The roots are found by a fixed number of simultaneous Aberth-Ehrlich iterations started
on circles whose radii come from the Newton polygon of the coefficients (Bini 1996), polished
by one Newton step on the lens equation itself, and an image is kept where it satisfies the
lens equation (:func:`binary_images`). The magnification is

.. math::

    A = \sum_{\text{images}} \frac{1}{|\det J|}, \qquad
    \det J = 1 - \left|\frac{m_1}{(\bar z - \bar z_1)^2} + \frac{m_2}{(\bar z - \bar z_2)^2}\right|^2 .

Finite source (:func:`binary_magnification_finite_xy`, :func:`binary_magnification_finite`):
the Gould (2008) quadrupole and hexadecapole expansion of the disc-averaged magnification from
13 point-source magnifications on circles of radius rho/2 and rho, with a per-point flag where
the expansion can be trusted (same image count on and around the disc, small truncation-error
estimate); uniform or linearly limb-darkened sources (MulensModel's ``gamma``).

Everything is traceable (no host call, no Python branch on values, static shapes) and runs in
float64 or float32, under ``jit``/``vmap``/``grad``. Derivatives flow through the final Newton
step only (the Aberth iterations are under ``stop_gradient``), which gives the exact implicit
derivative of each image position; gradients are finite wherever the source is off a caustic.

References:
    Witt, H. J. 1990, A&A 236, 311.
    Witt, H. J. & Mao, S. 1995, ApJ 447, L105.
    Aberth, O. 1973, Math. Comp. 27, 339; Ehrlich, L. W. 1967, Comm. ACM 10, 107.
    Gould, A. 2008, ApJ 681, 1593 (quadrupole and hexadecapole).
    Bini, D. A. 1996, Numerical Algorithms 13, 179.
    Skowron, J. et al. 2011, ApJ 738, 87 (appendix A: the conventions).
    Poleski, R. & Yee, J. C. 2019, Astronomy and Computing 26, 35 (MulensModel).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

from tsmodels.kernels._precision import float64_by_default

__all__ = ["binary_magnification", "binary_magnification_xy", "binary_trajectory", "binary_images",
           "binary_magnification_finite", "binary_magnification_finite_xy"]

N_ABERTH = 20
"""Aberth-Ehrlich iterations (all five roots at once). Started on the Newton-polygon circles,
the roots of 24,000 random, near-caustic, near-body and distant source positions (s from 0.1
to 10, q from 1e-6 to 100) all converge to 1e-8 relative within 20 iterations (16 leave 0.05%
of the near-caustic ones unconverged, 12 leave 1.5%); near-double roots (an image pair about
to merge at a fold) converge only linearly, and the final Newton step on the lens equation
completes them."""

FAR = {"float64": 100.0, "float32": 20.0}
r"""Source distance from the centre of mass, in units of ``max(1, s)``, beyond which the images
are taken from the far-field limit (:func:`_far_field`) instead of the polynomial, per dtype:
there the far-field form departs from the polynomial's answer by less than 1e-8 (float64,
100) and 2e-6 (float32, 20) in ``A``, while the polynomial's roots would span many decades
(measured on random (s, q), ``tests/kernels/test_binary_lens.py``)."""


def _far_field(x, y, s, q):
    r"""Magnification of a distant source: the major image of the total mass at the centre of
    mass plus the minor image of each body on its own,
    :math:`A = A_+(u) + \sum_i A_-(|\zeta - x_i|/\sqrt{m_i})`, with the point-lens
    :math:`A_\pm(u) = (A(u) \pm 1)/2`. (A single point lens of the total mass would get the minor
    images wrong: for q = 1 it overestimates :math:`A - 1` by a third.)"""
    m1 = 1.0 / (1.0 + q)
    m2 = q / (1.0 + q)
    out = 0.5 * (_paczynski(x * x + y * y) + 1.0)
    for m, xi in ((m1, -s * q / (1.0 + q)), (m2, s / (1.0 + q))):
        out = out + 0.5 * (_paczynski(((x - xi) ** 2 + y * y) / m) - 1.0)
    return out


def _paczynski(u2):
    return (u2 + 2.0) / jnp.sqrt(u2 * (u2 + 4.0))


def _tolerance(dt):
    """Lens-equation tolerance of an image (image-plane units, see :func:`binary_images`)."""
    return 1e-10 if dt == jnp.float64 else 1e-5


def _poly_mul(a, b):
    """Product of two polynomials given as lists of coefficients (lowest degree first)."""
    out = [None] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            term = ai * bj
            out[i + j] = term if out[i + j] is None else out[i + j] + term
    return out


def _coefficients(w, s, m1, m2):
    r"""Coefficients (lowest degree first) of the degree-5 polynomial of the lens equation in the
    frame centred on body 2 (body 1 at :math:`-s`), source at :math:`w`.

    With :math:`\bar z = \bar w + m_1/(z+s) + m_2/z = N/D`, :math:`D = z(z+s)`,
    :math:`N = \bar w D + m_1 z + m_2 (z+s)` and :math:`Q = N + sD`, the lens equation
    :math:`w = z - m_1 D/Q - m_2 D/N` becomes :math:`(z - w) N Q - D (m_1 N + m_2 Q) = 0`.
    """
    wc = jnp.conj(w)
    zero = jnp.zeros_like(w)
    N = [m2 * s + zero, wc * s + 1.0, wc]
    D = [zero, s + zero, 1.0 + zero]
    Q = [N[0], N[1] + s * s, wc + s]
    left = _poly_mul(_poly_mul([-w, 1.0 + zero], N), Q)
    right = _poly_mul(D, [m1 * n + m2 * k for n, k in zip(N, Q)])
    return [left[k] - (right[k] if k < len(right) else 0.0) for k in range(6)]


def _initial_roots(coef):
    r"""Starting points of the Aberth iterations: for root slot :math:`k` (0..4) the radius
    :math:`\exp(-\sigma_k)`, with :math:`\sigma_k` the slope on :math:`[k, k+1]` of the upper
    convex hull of :math:`(j, \log|a_j|)` (Newton polygon; :math:`\sigma_k =
    \min_{i\le k}\max_{j > k}(\log|a_j| - \log|a_i|)/(j - i)`), at angles
    :math:`2\pi k/5 + 0.4` (Bini 1996)."""
    dt = jnp.real(coef[0]).dtype
    tiny = jnp.finfo(dt).tiny
    logs = [jnp.log(jnp.abs(c) + tiny) for c in coef]
    out = []
    for k in range(5):
        best = None
        for i in range(k + 1):
            steepest = None
            for j in range(k + 1, 6):
                slope = (logs[j] - logs[i]) / (j - i)
                steepest = slope if steepest is None else jnp.maximum(steepest, slope)
            best = steepest if best is None else jnp.minimum(best, steepest)
        angle = 2.0 * jnp.pi * k / 5.0 + 0.4
        out.append(jnp.exp(-best) * jnp.exp(1j * jnp.asarray(angle, dt)))
    return jnp.stack(out, axis=-1)


def _aberth(coef, n_iter=N_ABERTH):
    """All five roots ``[..., 5]`` of the polynomial with coefficients ``coef`` (list of six
    ``[...]`` complex arrays, lowest degree first) by ``n_iter`` Aberth-Ehrlich iterations."""
    lead = coef[5]
    lead = jnp.where(lead == 0, jnp.ones_like(lead), lead)
    monic = [c / lead for c in coef[:5]]
    z0 = _initial_roots(coef)
    a = [c[..., None] for c in monic]
    eye = jnp.eye(5, dtype=bool)

    def step(z, _):
        p = jnp.ones_like(z)
        dp = jnp.zeros_like(z)
        for k in range(4, -1, -1):
            dp = dp * z + p
            p = p * z + a[k]
        diff = z[..., :, None] - z[..., None, :]
        safe = jnp.where(eye | (diff == 0), 1.0, diff)
        rep = jnp.sum(jnp.where(eye | (diff == 0), 0.0, 1.0 / safe), axis=-1)
        dp_ok = dp != 0
        ratio = p / jnp.where(dp_ok, dp, 1.0)
        denom = 1.0 - ratio * rep
        corr = ratio / jnp.where(denom != 0, denom, 1.0)
        corr = jnp.where(dp_ok & jnp.isfinite(corr), corr, 0.0)
        return z - corr, None

    z, _ = lax.scan(step, z0, None, length=n_iter)
    return z


def _lens_map(z, w, s, m1, m2):
    """Residual ``w - zeta(z)`` of the lens equation (frame of body 2) and
    ``K = d zeta / d conj(z)`` at images ``z``."""
    zc = jnp.conj(z)
    d1 = zc + s
    d2 = zc
    d1 = jnp.where(d1 == 0, jnp.ones_like(d1), d1)
    d2 = jnp.where(d2 == 0, jnp.ones_like(d2), d2)
    resid = w - (z - m1 / d1 - m2 / d2)
    K = m1 / (d1 * d1) + m2 / (d2 * d2)
    return resid, K


def _images(x, y, s, q):
    """Images in the frame of the lighter body (see :func:`binary_images`); returns
    ``(z [..., 5] frame of body 2 after mirroring, keep [..., 5], det [..., 5], flip, shift)``."""
    dt = jnp.result_type(x, y, s, q, float)
    x, y, s, q = (jnp.asarray(v, dt) for v in (x, y, s, q))
    cdt = jnp.result_type(dt, jnp.complex64)
    # q > 1: mirror x -> -x so that the body at +s/(1+q) is the lighter one
    flip = q > 1.0
    qq = jnp.where(flip, 1.0 / jnp.where(flip, q, 1.0), q)
    xs = jnp.where(flip, -x, x)
    m1 = 1.0 / (1.0 + qq)
    m2 = qq / (1.0 + qq)
    shift = s / (1.0 + qq)  # position of the lighter body in the centre-of-mass frame
    w = (xs - shift) + 1j * y
    w = w.astype(cdt)
    # a source exactly on a body sends a spurious root to infinity: nudge it off
    nudge = 64.0 * jnp.finfo(dt).eps * jnp.maximum(1.0, s)
    w = jnp.where(jnp.abs(w) < nudge, w + nudge, w)
    w = jnp.where(jnp.abs(w + s) < nudge, w + nudge, w)
    coef = _coefficients(w, s, m1, m2)
    z0 = _aberth([lax.stop_gradient(c) for c in coef])
    z0 = lax.stop_gradient(z0)
    sb, m1b, m2b, wb = (v[..., None] for v in (s, m1, m2, w))
    resid, K = _lens_map(z0, wb, sb, m1b, m2b)
    det = 1.0 - jnp.real(K * jnp.conj(K))
    # one Newton step on the lens equation: delta zeta = dz + K conj(dz)
    safe_det = jnp.where(det != 0, det, 1.0)
    dz = (resid - K * jnp.conj(resid)) / safe_det
    scale = 1.0 + jnp.abs(wb)
    small = (jnp.abs(dz) <= 1e-2 * scale) & (det != 0)
    z = z0 + jnp.where(small, dz, 0.0)
    resid, K = _lens_map(z, wb, sb, m1b, m2b)
    det = 1.0 - jnp.real(K * jnp.conj(K))
    err = jnp.abs(resid) / (1.0 + jnp.abs(K))
    keep = err <= _tolerance(dt) * scale
    return z, keep, det, flip, shift, err


@float64_by_default
def binary_images(x, y, *, s, q):
    r"""Images of a point source behind a binary lens (MulensModel v3 geometry, module docstring).

    Args:
        x, y: source position in Einstein radii of the total mass, centre-of-mass frame, body 1
            (mass :math:`1/(1+q)`) at :math:`(-sq/(1+q), 0)`, body 2 at :math:`(s/(1+q), 0)`
            (arrays of one shape ``[...]``).
        s: separation of the bodies, Einstein radii (> 0).
        q: mass ratio :math:`m_2/m_1` (> 0; either side of 1).

    Returns:
        ``(z, is_image, det)``: the five roots of the Witt (1990) polynomial as complex image
        positions ``[..., 5]`` in the same centre-of-mass frame; ``is_image [..., 5]``, True for
        a root that satisfies the lens equation, :math:`|\zeta - \zeta(z)|/(1 + |K|) \le
        \mathrm{tol}\,(1 + |w|)` (:math:`K = \partial\zeta/\partial\bar z`, so the left side
        is the image-position error; :math:`w` the source position from the lighter body;
        tol 1e-10 in float64, 1e-5 in float32, after the Newton step); ``det [..., 5]``, the Jacobian determinant
        :math:`1 - |K|^2` at each root (its sign is the image parity). Three or five roots are
        images except for sources within about tol of a caustic.
    """
    z, keep, det, flip, shift, _ = _images(x, y, s, q)
    z = z + shift[..., None]
    z = jnp.where(flip[..., None], -jnp.conj(z), z)
    return z, keep, det


@float64_by_default
def binary_magnification_xy(x, y, *, s, q):
    r"""Point-source binary-lens magnification at source positions ``(x, y)``
    (dimensionless, >= 1), for any trajectory (rectilinear, parallax, orbital motion).

    :math:`A = \sum 1/|\det J|` over the images of :func:`binary_images` (Witt 1990 polynomial,
    Aberth-Ehrlich roots); beyond :data:`FAR` ``* max(1, s)`` from the centre of mass the
    point-lens magnification of the total mass. ``s <= 0``, ``q <= 0`` or NaN give NaN.

    Args:
        x, y: source position in Einstein radii of the total mass, MulensModel's centre-of-mass
            frame (module docstring), broadcastable to one shape.
        s: separation of the bodies in Einstein radii (scalar or broadcastable).
        q: mass ratio :math:`m_2/m_1`, body 2 being the one at positive x.

    Returns:
        :math:`A`, the broadcast shape of ``x``, ``y``, ``s``, ``q``.

    Accuracy (tests against MulensModel ``Model.get_magnification`` with the ``point_source``
    method, i.e. VBMicrolensing's ``BinaryMag0``): relative 1e-6 or better in float64 away from
    caustics (observed ~1e-12); see the tests for the measured error near caustics and in
    float32.
    """
    dt = jnp.result_type(x, y, s, q, float)
    x, y, s, q = jnp.broadcast_arrays(*(jnp.asarray(v, dt) for v in (x, y, s, q)))
    bad = ~((s > 0) & (q > 0) & jnp.isfinite(x) & jnp.isfinite(y))
    x = jnp.where(bad, 0.0, x)
    y = jnp.where(bad, 0.5, y)
    s = jnp.where(bad, 1.0, s)
    q = jnp.where(bad, 0.5, q)
    far = x * x + y * y > (FAR[jnp.dtype(dt).name] * jnp.maximum(1.0, s)) ** 2
    A, _ = _point_source(x, y, s, q, far)
    return jnp.where(bad, jnp.nan, A)


def _point_source(x, y, s, q, far):
    """Point-source magnification of :func:`binary_magnification_xy` on valid inputs (arrays of
    one shape), with the far-field form where ``far`` is True; also the number of images (3
    where ``far``)."""
    dt = x.dtype
    xn = jnp.where(far, 0.0, x)
    yn = jnp.where(far, 0.5, y)
    _, keep, det, _, _, _ = _images(xn, yn, s, q)
    safe = jnp.where(keep & (det != 0), det, 1.0)
    near = jnp.sum(jnp.where(keep & (det != 0), 1.0 / jnp.abs(safe), 0.0), axis=-1)
    xf = jnp.where(far, x, FAR[jnp.dtype(dt).name] * 2.0 * jnp.maximum(1.0, s))
    point = _far_field(xf, jnp.where(far, y, 0.0), s, q)
    A = jnp.where(far, point, near)
    count = jnp.where(far, 3, jnp.sum(keep, axis=-1))
    return A, count


@float64_by_default
def binary_trajectory(tau, beta, *, alpha):
    r"""Source position ``(x, y)`` in the binary's centre-of-mass frame from the trajectory
    coordinates :math:`(\tau, \beta)` (MulensModel's ``Trajectory``, module docstring):
    :math:`x = -\tau\cos\alpha + \beta\sin\alpha`, :math:`y = -\tau\sin\alpha - \beta\cos\alpha`.

    Args:
        tau: :math:`(t - t_0)/t_E` plus any parallax shift along the motion.
        beta: :math:`u_0` plus any parallax shift across it (Einstein radii).
        alpha: angle of the binary axis to the source trajectory, degrees, counter-clockwise
            (MulensModel v3, Skowron et al. 2011 + 180 deg).
    """
    dt = jnp.result_type(tau, beta, alpha, float)
    a = jnp.deg2rad(jnp.asarray(alpha, dt))
    c, sn = jnp.cos(a), jnp.sin(a)
    tau, beta = jnp.asarray(tau, dt), jnp.asarray(beta, dt)
    return -tau * c + beta * sn, -tau * sn - beta * c


@float64_by_default
def binary_magnification(t, *, t0, u0, tE, s, q, alpha):
    r"""Point-source binary-lens magnification :math:`A(t)` on a rectilinear trajectory, in
    MulensModel v3 conventions (module docstring; MulensModel's ``Model({'t_0', 'u_0', 't_E',
    's', 'q', 'alpha'})`` with the ``point_source`` method).

    Args:
        t: times in days (any origin, the same as ``t0``).
        t0: time of closest approach to the lenses' centre of mass, days.
        u0: impact parameter to the centre of mass, Einstein radii of the total mass (either
            sign; module docstring for its direction).
        tE: Einstein timescale of the total mass, days; ``tE <= 0`` or NaN gives NaN.
        s: projected separation of the two bodies, Einstein radii; ``s <= 0`` gives NaN.
        q: mass ratio :math:`m_2/m_1` (> 0; body 2 at positive x, heavier body 1 on the
            negative x axis for q < 1); ``q <= 0`` gives NaN.
        alpha: angle between the binary axis and the source trajectory, degrees,
            counter-clockwise, MulensModel v3 (Skowron et al. 2011 + 180 deg).

    Returns:
        :math:`A(t)` (:func:`binary_magnification_xy` at the source positions of
        :func:`binary_trajectory`), shape of ``t``.
    """
    t = jnp.asarray(t)
    x, y = _rectilinear(t, t0, u0, tE, alpha, jnp.result_type(t, tE, s, q, float))
    return binary_magnification_xy(x, y, s=s, q=q)


def _rectilinear(t, t0, u0, tE, alpha, dt):
    """Source positions ``(x, y)`` on the rectilinear trajectory, in dtype ``dt``; NaN where
    ``tE <= 0``."""
    tE = jnp.asarray(tE, dt)
    tau = (t - t0) / jnp.where(tE > 0, tE, jnp.nan)
    return binary_trajectory(tau, jnp.asarray(u0, dt), alpha=alpha)


# ---------------------------------------------------------------------------------------------
# Finite source: Gould (2008) quadrupole and hexadecapole
# ---------------------------------------------------------------------------------------------

GUARD = 1.1
"""Radius, in units of rho, of the ring of eight extra source positions (at 22.5 + 45 k degrees)
where only the number of images is checked (see :func:`binary_magnification_finite_xy`)."""

MULTIPOLE_TOL = {"quadrupole": 5e-4, "hexadecapole": 1e-3}
"""Largest truncation-error estimate, relative to the point-source magnification, of a point
flagged valid, per ``order`` (see :func:`binary_magnification_finite_xy`). With these values a
valid point is within 1e-3 (relative) of the exact finite-source magnification: on 2,400 random
discs of radius 3e-4 to 3e-2 at 0.1 to 30 radii from a caustic (s from 0.5 to 2.5, q from 1e-4
to 1, Gamma 0 and 0.5) the largest error of a valid point against a 24 x 48 polar-grid integral
of :func:`binary_magnification_xy` over the disc was 4.2e-4 (quadrupole) and 1.9e-4
(hexadecapole), and no disc within 1.09 radii of a caustic was valid."""


def _sample_offsets(dt):
    """Unit offsets ``(dx, dy)`` of the 21 source positions, in units of rho: the centre; four at
    rho/2 and four at rho along the axes (Gould's '+'); four at rho on the diagonals ('x'); eight
    at :data:`GUARD` rho between those directions."""
    ang = [0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi]
    rad = [0.0] + [0.5] * 4 + [1.0] * 4 + [1.0] * 4 + [GUARD] * 8
    phi = ([0.0] + ang + ang + [a + 0.25 * math.pi for a in ang]
           + [(k + 0.5) * 0.25 * math.pi for k in range(8)])
    dx = [r * math.cos(p) for r, p in zip(rad, phi)]
    dy = [r * math.sin(p) for r, p in zip(rad, phi)]
    return jnp.asarray(dx, dt), jnp.asarray(dy, dt)


def _multipole(x, y, s, q, rho, gamma):
    """Terms of the Gould (2008) expansion on valid inputs of one broadcast shape ``[...]``:
    ``(A0, quad, hexa, s4, same)`` (see :func:`binary_magnification_finite_xy`)."""
    dt = x.dtype
    dx, dy = _sample_offsets(dt)
    xs = x[..., None] + rho[..., None] * dx
    ys = y[..., None] + rho[..., None] * dy
    sb, qb = (jnp.broadcast_to(v[..., None], xs.shape) for v in (s, q))
    # one branch (polynomial or far field) for the whole disc, chosen at its centre
    lim = FAR[jnp.dtype(dt).name] * jnp.maximum(1.0, s)
    far = jnp.broadcast_to((x * x + y * y > lim * lim)[..., None], xs.shape)
    A, count = _point_source(xs, ys, sb, qb, far)
    A0 = A[..., 0]
    d = A - A0[..., None]
    half_plus = jnp.mean(d[..., 1:5], axis=-1)
    plus = jnp.mean(d[..., 5:9], axis=-1)
    cross = jnp.mean(d[..., 9:13], axis=-1)
    # ring averages: <A>(r) - A0 = a2 (r/rho)^2 + a4 (r/rho)^4 + ..., the '+' ring also holds the
    # cos(4 phi) term c4 (r/rho)^4, the 'x' ring -c4 (r/rho)^4
    a2 = (16.0 * half_plus - plus) / 3.0
    a4 = 0.5 * (plus + cross) - a2
    c4 = 0.5 * (plus - cross)
    quad = 0.5 * a2 * (1.0 - 0.2 * gamma)
    hexa = a4 * (1.0 - 11.0 * gamma / 35.0) / 3.0
    s4 = jnp.abs(a4) + jnp.abs(c4)
    same = jnp.all(count == count[..., :1], axis=-1)
    return A0, quad, hexa, s4, same


@float64_by_default
def binary_magnification_finite_xy(x, y, *, s, q, rho, limb_darkening=0.0, order="hexadecapole"):
    r"""Finite-source binary-lens magnification in the quadrupole or hexadecapole approximation
    (Gould 2008), with a per-point flag where the approximation holds.

    The source is a disc of radius ``rho`` centred on ``(x, y)`` with MulensModel's linear limb
    darkening :math:`I(r) \propto 1 - \Gamma(1 - \tfrac32\sqrt{1 - r^2/\rho^2})`
    (``limb_darkening`` = :math:`\Gamma`, MulensModel's ``gamma`` as in
    ``Model.set_limb_coeff_gamma`` and :func:`~tsmodels.kernels.microlensing.fspl_magnification`;
    :math:`u_\lambda = 3\Gamma/(2+\Gamma)`). With :math:`A` the point-source magnification
    (:func:`binary_magnification_xy`), :math:`A_0` its value at the centre and
    :math:`\bar A(r)` its mean on the circle of radius r around the centre,
    :math:`\bar A(r) = A_0 + a_2 (r/\rho)^2 + a_4 (r/\rho)^4 + O(r^6)` (only the azimuthally
    symmetric part of the Taylor series survives the mean). Averaging over the disc with the
    brightness profile, :math:`\langle r^2\rangle = \tfrac12\rho^2(1 - \Gamma/5)` and
    :math:`\langle r^4\rangle = \tfrac13\rho^4(1 - 11\Gamma/35)`, gives

    .. math::

        A_\mathrm{fs} = A_0 + \tfrac12 a_2 (1 - \Gamma/5) + \tfrac13 a_4 (1 - 11\Gamma/35)
                        + O(\rho^6)

    (the last term is dropped for ``order="quadrupole"``). Following Gould (2008) eqs. 7-9,
    with :math:`A_{r,+}` the mean of :math:`A - A_0` at the four points :math:`r` away along
    the axes and :math:`A_{r,\times}` the same on the diagonals,
    :math:`a_2 = (16 A_{\rho/2,+} - A_{\rho,+})/3` and
    :math:`a_4 = (A_{\rho,+} + A_{\rho,\times})/2 - a_2`, from 13 point-source magnifications.

    Note on MulensModel (checked in ``tests/kernels/test_binary_finite.py``): its
    ``quadrupole`` and ``hexadecapole`` methods use the same 13 points and the same
    :math:`a_2, a_4` and :math:`\Gamma` factors but add :math:`a_2(1 - \Gamma/5)` and
    :math:`a_4(1 - 11\Gamma/35)`, i.e. twice the quadrupole and three times the hexadecapole
    term of the disc average above; a dense integral over the disc (and MulensModel's own
    ``VBBL`` method) agrees with the factors 1/2 and 1/3 used here.

    Validity flag. ``valid`` is True where both hold:

    * the number of images is the same at the 13 points and at 8 more points on a circle of
      radius :data:`GUARD` ``* rho`` (at 22.5 + 45 k degrees, between the other directions), so
      that a straight fold caustic within 1.08 rho of the centre changes the count somewhere
      (a caustic crossing the disc is not described by the expansion);
    * the truncation-error estimate
      :math:`\epsilon = \max(\tfrac13(|a_4| + |c_4|),\ 4\,q_2^2/A_0) / A_0` is at most
      :data:`MULTIPOLE_TOL` ``[order]`` (5e-4 quadrupole, 1e-3 hexadecapole), with
      :math:`c_4 = (A_{\rho,+} - A_{\rho,\times})/2` the :math:`\cos 4\phi` part of the fourth
      order (so that an accidental zero of :math:`a_4` does not pass) and
      :math:`q_2 = \tfrac12 a_2(1-\Gamma/5)` the quadrupole term (:math:`4q_2^2/A_0` is about
      the hexadecapole term of a fold-like :math:`A \propto (d - x)^{-1/2}`: it catches a disc whose
      expansion converges slowly while the 13-point :math:`a_4` happens to be small).

    Where ``valid`` is True the result is within 1e-3 relative of the exact finite-source
    magnification (measured worst cases in :data:`MULTIPOLE_TOL`); elsewhere it is still
    returned (finite wherever the point-source magnification is) but should be replaced by a
    full finite-source calculation.

    Args:
        x, y: centre of the source in Einstein radii of the total mass, MulensModel's
            centre-of-mass frame (module docstring).
        s: separation of the bodies in Einstein radii (> 0).
        q: mass ratio :math:`m_2/m_1` (> 0).
        rho: source radius in Einstein radii of the total mass; ``rho <= 0`` or NaN gives NaN.
        limb_darkening: :math:`\Gamma` (MulensModel's ``gamma``), 0 for a uniform source.
        order: ``"quadrupole"`` or ``"hexadecapole"`` (static).

    Returns:
        ``(magnification, valid)``, both of the broadcast shape of the inputs; ``valid`` is
        False where the magnification is NaN. Cost: 21 point-source evaluations per point.

    References:
        Gould, A. 2008, ApJ 681, 1593.
    """
    if order not in MULTIPOLE_TOL:
        raise ValueError(f"binary_magnification_finite_xy: order must be 'quadrupole' or "
                         f"'hexadecapole', got {order!r}")
    dt = jnp.result_type(x, y, s, q, rho, limb_darkening, float)
    x, y, s, q, rho, gamma = jnp.broadcast_arrays(
        *(jnp.asarray(v, dt) for v in (x, y, s, q, rho, limb_darkening)))
    bad = ~((s > 0) & (q > 0) & (rho > 0) & jnp.isfinite(x) & jnp.isfinite(y) & jnp.isfinite(rho)
            & jnp.isfinite(gamma))
    x = jnp.where(bad, 0.0, x)
    y = jnp.where(bad, 0.5, y)
    s = jnp.where(bad, 1.0, s)
    q = jnp.where(bad, 0.5, q)
    rho = jnp.where(bad, 1e-3, rho)
    gamma = jnp.where(bad, 0.0, gamma)
    A0, quad, hexa, s4, same = _multipole(x, y, s, q, rho, gamma)
    A = A0 + quad
    if order == "hexadecapole":
        A = A + hexa
    est = jnp.maximum(s4 / 3.0, 4.0 * quad * quad / A0) / A0
    valid = same & (est <= MULTIPOLE_TOL[order]) & jnp.isfinite(A) & ~bad
    return jnp.where(bad, jnp.nan, A), valid


@float64_by_default
def binary_magnification_finite(t, *, t0, u0, tE, s, q, alpha, rho, limb_darkening=0.0,
                                order="hexadecapole"):
    r"""Finite-source binary-lens magnification on a rectilinear trajectory in the Gould (2008)
    quadrupole or hexadecapole approximation, with its validity flag: MulensModel's
    ``Model({'t_0', 'u_0', 't_E', 's', 'q', 'alpha', 'rho'})`` geometry (module docstring),
    :func:`binary_magnification_finite_xy` at the source positions of
    :func:`binary_trajectory`.

    Args:
        t: times in days (any origin, the same as ``t0``).
        t0, u0, tE, s, q, alpha: as in :func:`binary_magnification` (``tE <= 0`` gives NaN).
        rho: source radius in Einstein radii of the total mass (``rho <= 0`` or NaN gives NaN).
        limb_darkening: linear limb-darkening coefficient :math:`\Gamma` (MulensModel's
            ``gamma``); a scalar or an array broadcastable to ``t``.
        order: ``"quadrupole"`` or ``"hexadecapole"`` (static).

    Returns:
        ``(magnification, valid)``, shape of ``t``; ``valid`` as in
        :func:`binary_magnification_finite_xy` (within 1e-3 relative of the exact finite-source
        magnification where True).
    """
    t = jnp.asarray(t)
    x, y = _rectilinear(t, t0, u0, tE, alpha, jnp.result_type(t, tE, s, q, rho, float))
    return binary_magnification_finite_xy(x, y, s=s, q=q, rho=rho, limb_darkening=limb_darkening,
                                          order=order)
