"""PSPL microlensing kernels against MulensModel (version 3) on random parameters and on two
public OGLE events (data in tests/data/microlensing)."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts

ml = ts.kernels.microlensing
MulensModel = pytest.importorskip("MulensModel")
DATA = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "microlensing"


def _mm_magnification(t, t0, u0, tE):
    model = MulensModel.Model({"t_0": t0, "u_0": u0, "t_E": tE})
    return model.get_magnification(t)


def test_magnification_matches_mulensmodel(rng):
    """``MulensModel.Model({t_0, u_0, t_E}).get_magnification(time)`` (PointLens), 40 random
    (t0, u0, tE) sets including negative u0, 200 absolute HJDs each: relative difference < 1e-6
    in float64 (observed 4e-16) and < 1e-5 in float32 (observed 2e-7) on centred times."""
    worst64 = worst32 = 0.0
    for _ in range(40):
        t0 = 2455000.0 + rng.uniform(-500, 500)
        u0 = rng.uniform(0.001, 1.5) * rng.choice([-1.0, 1.0])
        tE = 10 ** rng.uniform(0, 2.5)
        t = t0 + rng.uniform(-4, 4, 200) * tE
        ref = _mm_magnification(t, t0, u0, tE)
        got = np.asarray(ml.pspl_magnification(t, t0=t0, u0=u0, tE=tE))
        worst64 = max(worst64, np.max(np.abs(got / ref - 1)))
        got32 = np.asarray(ml.pspl_magnification(jnp.asarray(t - t0, jnp.float32), t0=jnp.float32(0),
                                                 u0=jnp.float32(u0), tE=jnp.float32(tE)))
        assert got32.dtype == np.float32
        worst32 = max(worst32, np.max(np.abs(got32 / ref - 1)))
    assert worst64 < 1e-6
    assert worst32 < 1e-5


def test_bad_timescale_gives_nan():
    for tE in (0.0, -3.0, np.nan):
        assert np.all(np.isnan(np.asarray(ml.pspl_magnification(np.arange(3.0), t0=1.0, u0=0.1, tE=tE))))


def _load(name, add=2450000.0):
    d = np.loadtxt(DATA / name)
    return d[:, 0] + add, d[:, 1], d[:, 2]


def _chi2_ours(t, mag, err, t0, u0, tE, pad=0):
    flux, ferr = ml.mag_to_flux(mag, err)
    flux, ferr = np.asarray(flux), np.asarray(ferr)
    mask = np.ones(t.size, bool)
    if pad:
        t, flux, ferr = (np.concatenate([a, np.full(pad, v)]) for a, v in ((t, t0), (flux, 1e9), (ferr, 1e-9)))
        mask = np.concatenate([mask, np.zeros(pad, bool)])
    A = ml.pspl_magnification(t - t0, t0=0.0, u0=u0, tE=tE)
    return ml.linear_fluxes(A, flux, ferr, mask, np.zeros(t.size, np.int32), n_bands=1)


def _chi2_mm(t, mag, err, t0, u0, tE):
    data = MulensModel.MulensData(data_list=[t, mag, err], phot_fmt="mag")
    model = MulensModel.Model({"t_0": t0, "u_0": u0, "t_E": tE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MulensModel.FitData(model=model, dataset=data)
        fit.fit_fluxes()
        fit.update()
    return fit.chi2, fit.source_flux, fit.blend_flux


@pytest.mark.parametrize("name,add,pars,quoted", [
    ("phot_ob08092_O4.dat", 2450000.0, (2455379.57091, 0.5230, 17.940), 427.20),
    ("starBLG234.6.I.218982.dat", 2450000.0, (2453628.27945, 0.37463, 101.97260), 1359.36),
])
def test_chi2_with_linear_fluxes_matches_mulensmodel(name, add, pars, quoted):
    """Magnitudes to flux with a 22 mag zero point, chi2 in flux space with source and blend
    fluxes solved linearly: the same chi2 (to 0.01) and fluxes as MulensModel's ``FitData``, and
    the published chi2 (to 0.1). Padding (mask False) changes nothing."""
    t, mag, err = _load(name, add)
    fs, fb, chi2, ok = _chi2_ours(t, mag, err, *pars)
    ref, rfs, rfb = _chi2_mm(t, mag, err, *pars)
    assert bool(ok[0])
    assert abs(float(chi2) - ref) < 0.01
    assert abs(float(chi2) - quoted) < 0.1
    np.testing.assert_allclose(float(fs[0]), rfs, rtol=1e-8)
    np.testing.assert_allclose(float(fb[0]), rfb, rtol=1e-7, atol=1e-8 * abs(rfs))
    fs2, fb2, chi22, _ = _chi2_ours(t, mag, err, *pars, pad=17)
    np.testing.assert_allclose(float(chi22), float(chi2), rtol=1e-12)


def test_degenerate_band_is_flagged_and_traceable(rng):
    """A band with no point gives zero fluxes, ok False and no chi2 contribution; jit/vmap keep
    the caller's dtype; the chi2 gradient in (t0, u0, tE) is finite and matches differences."""
    t = np.linspace(-30, 30, 60)
    A = np.asarray(ml.pspl_magnification(t, t0=0.0, u0=0.3, tE=10.0))
    flux = 2.0 * A + 1.0 + rng.normal(0, 0.01, t.size)
    err = np.full(t.size, 0.01)
    fs, fb, chi2, ok = ml.linear_fluxes(A, flux, err, np.ones(t.size, bool), np.zeros(t.size, np.int32), n_bands=2)
    assert list(np.asarray(ok)) == [True, False] and float(fs[1]) == 0.0 and float(fb[1]) == 0.0
    np.testing.assert_allclose([float(fs[0]), float(fb[0])], [2.0, 1.0], atol=0.02)

    def f(p):
        a = ml.pspl_magnification(t, t0=p[0], u0=p[1], tE=p[2])
        return ml.linear_fluxes(a, flux, err, np.ones(t.size, bool), np.zeros(t.size, np.int32))[2]

    f = jax.jit(f)
    p = np.array([0.3, 0.25, 11.0])
    g = np.asarray(jax.jit(jax.grad(f))(p))
    assert np.all(np.isfinite(g))
    h = 1e-6
    fd = [(float(f(p + h * e)) - float(f(p - h * e))) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    f32 = jax.jit(jax.vmap(lambda t0: ml.pspl_magnification(jnp.asarray(t, jnp.float32), t0=t0, u0=0.3, tE=10.0)))
    assert f32(jnp.zeros(2, jnp.float32)).dtype == jnp.float32


# ------------------------------------------------------------------------------ FSPL
# u/rho over the range of the brief (1e-3 .. 100), dense around the limb crossing u = rho
Z_GRID = np.array([1e-3, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0, 1.001, 1.01, 1.1, 1.5, 2.0, 3.0, 10.0, 100.0])
RHO_GRID = (1e-4, 1e-3, 1e-2, 0.1)


def _g(x):
    return (x * x + 2.0) / np.sqrt(x * x + 4.0)


@functools.lru_cache(maxsize=None)
def _leggauss(n):
    return np.polynomial.legendre.leggauss(n)


def _brute_force(u, rho, gamma=0.0, n=400):
    """Magnification of a linearly limb-darkened disk by direct 2-D quadrature (NumPy), in polar
    coordinates centred on the lens: along each line through the lens, ``|x| A_pspl(|x|) =
    (x^2 + 2)/sqrt(x^2 + 4)`` is smooth, and the chord ``x = c + h cos(beta)`` makes the limb
    profile ``sqrt(1 - d^2/rho^2) = h sin(beta)/rho`` smooth too. Lines: angle theta on
    [0, pi) (midpoint rule, periodic) for u < rho; Gauss-Legendre split at pi/2 for u == rho;
    for u > rho the substitution u sin(theta) = rho sin(phi). ``n`` x ``n`` nodes; n = 400 and
    800 agree to 3e-14 (uniform) and 5e-10 (limb darkened) on the grid of these tests."""
    xb, wb = _leggauss(n)
    beta, wbeta = 0.5 * np.pi * (xb + 1.0), 0.5 * np.pi * wb
    if u < rho:
        th = (np.arange(n) + 0.5) * np.pi / n
        c, h, jac = u * np.cos(th), np.sqrt(rho**2 - (u * np.sin(th)) ** 2), np.full(n, np.pi / n)
    elif u == rho:
        xa, wa = _leggauss(n // 2)
        th = np.concatenate([0.25 * np.pi * (xa + 1), 0.5 * np.pi + 0.25 * np.pi * (xa + 1)])
        c, h, jac = u * np.cos(th), rho * np.abs(np.cos(th)), np.concatenate([0.25 * np.pi * wa] * 2)
    else:
        ph = -0.5 * np.pi + (np.arange(n) + 0.5) * np.pi / n
        c, h = np.sqrt(u**2 - (rho * np.sin(ph)) ** 2), rho * np.cos(ph)
        jac = np.pi / n * rho * np.cos(ph) / c
    x = c[:, None] + h[:, None] * np.cos(beta)[None, :]
    hs = h[:, None] * np.sin(beta)[None, :]
    prof = 1.0 - gamma + 1.5 * gamma * hs / rho
    return float(np.sum(jac * np.sum(wbeta[None, :] * hs * prof * _g(x), axis=1)) / (np.pi * rho**2))


def _mm_fspl(u0, tau, rho, method, gamma=None, t0=2455000.0, tE=20.0):
    """MulensModel v3 magnification with ``method`` over all epochs (``set_magnification_methods``),
    limb darkening through ``set_limb_coeff_gamma('I', gamma)`` and ``bandpass='I'``."""
    out = []
    for u0_, tau_ in zip(np.atleast_1d(u0), np.atleast_1d(tau)):  # one model per point: scalar u0
        model = MulensModel.Model({"t_0": t0, "u_0": float(u0_), "t_E": tE, "rho": rho})
        model.set_magnification_methods([t0 - 1e6, method, t0 + 1e6])
        t = np.array([t0 + tau_ * tE])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if gamma is None:
                out.append(model.get_magnification(t)[0])
            else:
                model.set_limb_coeff_gamma("I", gamma)
                out.append(model.get_magnification(t, bandpass="I")[0])
    return np.array(out)


def _grid_points(rng, rho):
    """(u0, tau) giving u = z rho for every z of Z_GRID (both signs of u0, random direction);
    z = 1 exactly with tau = 0 so that u == rho to the last bit."""
    alpha = rng.uniform(0, 0.5 * np.pi, Z_GRID.size)
    alpha[Z_GRID == 1.0] = 0.0
    sign = np.where(np.arange(Z_GRID.size) % 2 == 0, 1.0, -1.0)
    u0 = sign * Z_GRID * rho * np.cos(alpha)
    tau = Z_GRID * rho * np.sin(alpha)
    return u0, tau, np.hypot(u0, tau)


@functools.partial(jax.jit, static_argnames="uniform")
def _jit_fspl(t, u0, tE, rho, gamma, uniform):
    return ml.fspl_magnification(t, t0=jnp.zeros((), t.dtype), u0=u0, tE=tE, rho=rho,
                                 limb_darkening=0.0 if uniform else gamma)


def _ours(u0, tau, rho, gamma=0.0, dtype=np.float64, tE=20.0):
    """Ours (jitted, one compiled shape per dtype and source kind) at u0 [n], t = tau tE."""
    t = np.asarray(tau, dtype) * dtype(tE)
    return np.asarray(_jit_fspl(jnp.asarray(t), jnp.asarray(u0, dtype), jnp.asarray(tE, dtype),
                                jnp.asarray(rho, dtype), jnp.asarray(gamma, dtype), uniform=gamma == 0))


@pytest.fixture
def wm94_exact(monkeypatch):
    """MulensModel's ``finite_source_uniform_WittMao94`` with its interpolation tables of the
    elliptic integrals bypassed (its own fallbacks: scipy ``ellipk``/``ellipe`` and sympy's
    ``elliptic_pi``): the tables limit the shipped method to ~1e-5 near the source and up to
    7e-3 at u/rho = 20-100 (measured against the brute force), far from 1e-6."""
    from scipy.special import ellipe, ellipk

    cls = MulensModel.pointlens.FiniteSourceUniformWittMao94Magnification
    monkeypatch.setattr(cls, "_get_ellipk", lambda self, k: ellipk(k))
    monkeypatch.setattr(cls, "_get_ellipe", lambda self, k: ellipe(k))
    monkeypatch.setattr(cls, "_get_ellip3", lambda self, n, k: float(MulensModel.pointlens.ellip3(n, k)))


def test_fspl_uniform_matches_mulensmodel(rng, wm94_exact):
    """Uniform source, u/rho from 1e-3 to 100 (and exactly 1), rho from 1e-4 to 0.1, both signs
    of u0; relative differences < 1e-6 against, per region, the MulensModel method that is
    accurate there (each checked against the brute-force 2-D integral):

    * u < rho: ``finite_source_uniform_Lee09`` (exact inside the source: ours within 2.3e-7 of it; outside
      it is off by up to 1.5e-4, its Simpson rule meeting the square-root end point);
    * u >= rho, rho <= 1e-3: ``finite_source_uniform_Gould94`` (an expansion in rho, accurate to
      1.3e-7 at rho = 1e-3 but 1e-3 at rho = 0.1);
    * u >= rho, rho >= 1e-3: ``finite_source_uniform_WittMao94`` with exact elliptic integrals
      (fixture ``wm94_exact``; its own u == rho limit at the limb crossing).

    Ours against the brute force: observed 3e-14; against Gould94 3e-7 (its expansion error)."""
    worst = {}
    for rho in RHO_GRID:
        u0, tau, u = _grid_points(rng, rho)
        ours = _ours(u0, tau, rho)
        bf = np.array([_brute_force(a, rho) for a in u])
        out = u >= rho
        refs = {"brute force": (bf, np.ones(u.size, bool)),
                "finite_source_uniform_Lee09": (_mm_fspl(u0, tau, rho, "finite_source_uniform_Lee09"), u < rho)}
        if rho <= 1e-3:
            refs["finite_source_uniform_Gould94"] = (_mm_fspl(u0, tau, rho, "finite_source_uniform_Gould94"), out)
        if rho >= 1e-3:
            wm = np.full(u.size, np.nan)
            wm[out] = _mm_fspl(u0[out], tau[out], rho, "finite_source_uniform_WittMao94")
            refs["finite_source_uniform_WittMao94 (exact integrals)"] = (wm, out)
        for name, (ref, sel) in refs.items():
            err = np.max(np.abs(ours[sel] / ref[sel] - 1.0))
            worst[name] = max(worst.get(name, 0.0), err)
            # and the MulensModel method itself against the brute force, where it is used
            assert np.max(np.abs(ref[sel] / bf[sel] - 1.0)) < 1e-6, (name, rho)
    assert all(v < 1e-6 for v in worst.values()), worst
    assert worst["brute force"] < 1e-12, worst


def test_fspl_limb_darkening_matches_mulensmodel_and_brute_force(rng):
    """Linear limb darkening, gamma in {0.3, 0.6} (MulensModel's ``gamma``), same grid:

    * brute-force 2-D integral (the accurate reference): < 1e-6 everywhere (observed 2e-10,
      at u slightly above rho where both quadratures converge slowest);
    * ``finite_source_LD_Yoo04`` for rho <= 1e-3 (an expansion in rho, accurate to 1.2e-7 at
      rho = 1e-3): < 1e-6 at every u including inside the source and u == rho (observed 2.6e-7);
    * ``finite_source_LD_WittMao94`` (30 uniform annuli) is itself off by up to 6.4e-3 (its
      annuli sum), and ``finite_source_LD_Lee09`` by 6e-6 inside and 2e-4 outside the source
      (it raises at u == rho); they disagree with each other by more than 1e-6, so ours is
      checked against them only to their own accuracy: < 1e-2 and < 3e-4."""
    worst_bf = worst_yoo = 0.0
    n_wm = 0
    for rho in RHO_GRID:
        u0, tau, u = _grid_points(rng, rho)
        for gamma in (0.3, 0.6):
            ours = _ours(u0, tau, rho, gamma)
            bf = np.array([_brute_force(a, rho, gamma) for a in u])
            worst_bf = max(worst_bf, np.max(np.abs(ours / bf - 1)))
            if rho <= 1e-3:
                yoo = _mm_fspl(u0, tau, rho, "finite_source_LD_Yoo04", gamma)
                worst_yoo = max(worst_yoo, np.max(np.abs(ours / yoo - 1)))
            if rho == 1e-2:
                for i in range(u.size):
                    try:  # NaN (a ValueError) where u falls on one of its annuli, e.g. u = 0.1 rho
                        wm = _mm_fspl(u0[i], tau[i], rho, "finite_source_LD_WittMao94", gamma)[0]
                    except ValueError:
                        continue
                    n_wm += 1
                    assert abs(ours[i] / wm - 1) < 1e-2
                sel = u != rho
                lee = _mm_fspl(u0[sel], tau[sel], rho, "finite_source_LD_Lee09", gamma)
                assert np.max(np.abs(ours[sel] / lee - 1)) < 3e-4
    assert worst_bf < 1e-6, worst_bf
    assert worst_yoo < 1e-6, worst_yoo
    assert n_wm >= 20


def test_fspl_float32_and_pspl_limit(rng):
    """float32 (every input float32, times centred on t0) against float64 over the grid, for
    gamma in {0, 0.3}: relative difference < 1e-5 (observed 5.4e-7 uniform, 4.7e-7 limb
    darkened, largest at u within 1e-3 of rho where the slope is steepest). PSPL limit: for rho = 1e-5 and u >= 100 rho the magnification
    equals ``pspl_magnification`` to (rho/u)^2."""
    worst = 0.0
    for rho in RHO_GRID:
        u0, tau, _ = _grid_points(rng, rho)
        for gamma in (0.0, 0.3):
            a64 = _ours(u0, tau, rho, gamma)
            a32 = _ours(u0, tau, rho, gamma, dtype=np.float32)
            assert a32.dtype == np.float32
            worst = max(worst, np.max(np.abs(a32 / a64 - 1)))
    assert worst < 1e-5, worst
    rho = 1e-5
    t = np.linspace(-30, 30, 301)
    for u0 in (1e-3, -0.1, 0.5):
        ps = np.asarray(ml.pspl_magnification(t, t0=0.1, u0=u0, tE=15.0))
        u = np.hypot(u0, (t - 0.1) / 15.0)
        for gamma in (0.0, 0.6):
            fs = np.asarray(ml.fspl_magnification(t, t0=0.1, u0=u0, tE=15.0, rho=rho, limb_darkening=gamma))
            assert np.all(np.abs(fs / ps - 1) < (rho / u) ** 2)


def test_fspl_traceable_gradients_and_bad_input():
    """jit equals eager, vmap equals a loop; gradients in (t0, u0, tE, rho, gamma) are finite
    and match central differences on a light curve whose lens crosses the source (points at u
    within 1e-3 rho of the limb left out of the comparison, where the slope diverges
    logarithmically); the lens at the source centre (u = 0) and on its limb (u == rho) give
    finite values and gradients; rho <= 0 or NaN gives NaN."""
    t = np.linspace(-0.3, 0.3, 41)
    p = np.array([0.013, 0.004, 12.0, 0.01, 0.4])

    def mag(q, tt=t):
        return ml.fspl_magnification(tt, t0=q[0], u0=q[1], tE=q[2], rho=q[3], limb_darkening=q[4])

    eager = np.asarray(mag(p))
    jmag = jax.jit(mag)
    np.testing.assert_allclose(np.asarray(jmag(p)), eager, rtol=1e-13)
    qs = np.stack([p, p * np.array([1.0, -1.0, 1.1, 0.8, 0.5])])
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(mag))(qs)), np.stack([np.asarray(jmag(q)) for q in qs]),
                               rtol=1e-13)

    u = np.hypot(p[1], (t - p[0]) / p[2])
    keep = np.abs(u / p[3] - 1) > 1e-3
    jac = np.asarray(jax.jit(jax.jacfwd(mag))(p))
    assert np.all(np.isfinite(jac))
    for k in range(5):
        h = 1e-6 * abs(p[k])
        fd = (np.asarray(jmag(p + h * np.eye(5)[k])) - np.asarray(jmag(p - h * np.eye(5)[k]))) / (2 * h)
        np.testing.assert_allclose(jac[keep, k], fd[keep], rtol=1e-5, atol=1e-6 * np.max(np.abs(fd)))
    # exactly on the limb and at the centre
    edge = np.array([p[0], p[0] + p[2] * np.sqrt(p[3] ** 2 - p[1] ** 2)])
    jedge = jax.jit(lambda q: (mag(q, edge), jax.jacfwd(mag)(q, edge)))
    for q in (p, np.array([0.013, 0.0, 12.0, 0.01, 0.0])):
        a, d = jedge(q)
        assert np.all(np.isfinite(np.asarray(a))) and np.all(np.isfinite(np.asarray(d)))
    for rho in (0.0, -0.01, np.nan):
        assert np.all(np.isnan(np.asarray(ml.fspl_magnification(t, t0=0.0, u0=0.1, tE=10.0, rho=rho))))
