"""Bazin and Villar models: linear solution, likelihood, padding, recovery on simulated
supernovae, and agreement with the ``light-curve`` package's single-band fits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import light_curve as lc
import numpy as np
import pytest

import tsmodels as ts
from tsmodels.kernels.supernova import bazin_flux, villar_flux
from tsmodels.models import Bazin, Villar

BANDS = ("g", "r", "i")


def _sim(rng, kind, n_objects=24, n=48, noise=(10.0, 20.0)):
    """Multiband SNe from the kernels: shared timing, per-band amplitude and baseline; times
    spread over -40..120 days of the peak; t0 given relative to the object's mean time."""
    t, f, e, b, truth = [], [], [], [], []
    for _ in range(n_objects):
        tt = np.sort(rng.uniform(-40.0, 120.0, n))
        bb = rng.integers(0, 3, n)
        tc = tt - tt.mean()
        p = dict(t0=-tt.mean() + rng.uniform(-5, 5), rise_time=rng.uniform(2, 6),
                 fall_time=rng.uniform(20, 50))
        if kind == "villar":
            p.update(plateau_slope=rng.uniform(0.1, 0.5), plateau_duration=rng.uniform(10, 30))
        fn = bazin_flux if kind == "bazin" else villar_flux
        amp = np.array([800.0, 1000.0, 900.0]) * rng.uniform(0.5, 2.0)
        base = rng.uniform(-20, 20, 3)
        y = amp[bb] * np.asarray(fn(tc, amplitude=1.0, baseline=0.0, **p)) + base[bb]
        err = rng.uniform(*noise, n)
        t.append(tt + 60000.0)
        f.append(y + err * rng.normal(size=n))
        e.append(err)
        b.append(np.asarray(BANDS)[bb])
        truth.append(dict(p, amp=amp, base=base))
    batch = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e, band=b, bands=BANDS)
    return batch, truth


def _one(batch, i=0):
    return jax.tree_util.tree_map(lambda x: x[i], batch.to_jax("float64"))


def _true_params(model, truth):
    return {n: jnp.asarray(truth[n]) for n in model.param_names}


@pytest.mark.parametrize("kind", ["bazin", "villar"])
def test_linear_solution_likelihood_padding_and_grads(rng, kind):
    model = Bazin() if kind == "bazin" else Villar()
    batch, truth = _sim(rng, kind, n_objects=3)
    lc0 = _one(batch)
    params = _true_params(model, truth[0])
    sol = model.linear(params, lc0)
    assert model.linear_names(BANDS) == ("amplitude_g", "baseline_g", "amplitude_r", "baseline_r",
                                         "amplitude_i", "baseline_i")
    # per-band weighted least squares against numpy
    t, y, e, band = (np.asarray(a) for a in (lc0.t, lc0.flux, lc0.flux_err, lc0.band))
    s = np.asarray(model._shape(params, lc0.t))
    for j in range(3):
        sel = np.asarray(lc0.mask) & (band == j)
        X = np.stack([s[sel], np.ones(sel.sum())], 1) / e[sel, None]
        coef, *_ = np.linalg.lstsq(X, y[sel] / e[sel], rcond=None)
        np.testing.assert_allclose(sol.coef[2 * j:2 * j + 2], coef, rtol=1e-9)
        # close to the truth at the true timing (S/N ~ 50 per point)
        np.testing.assert_allclose(coef[0], truth[0]["amp"][j], rtol=0.1)
    r = model.residuals(params, lc0)
    np.testing.assert_allclose(np.asarray(model.predict(params, lc0)),
                               y - np.asarray(r) * e, rtol=1e-10, atol=1e-8)
    # padding changes nothing; vmap equals a loop
    f = lambda lc_, p: model.loglike(p, lc_)  # noqa: E731
    ps = {n: jnp.asarray([truth[i][n] for i in range(3)]) for n in model.param_names}
    batched = jax.jit(jax.vmap(f))(batch.to_jax("float64"), ps)
    wide = batch.pad_to(batch.n_max + 13)
    np.testing.assert_allclose(jax.vmap(f)(wide.to_jax("float64"), ps), batched, rtol=1e-12)
    loop = [f(_one(batch, i), {n: ps[n][i] for n in ps}) for i in range(3)]
    np.testing.assert_allclose(batched, loop, rtol=1e-12)
    # gradients of the profiled likelihood in unconstrained space are finite
    u = model.pack(params, lc0)
    g = jax.grad(lambda uu: model.loglike(model.unpack(uu, lc0), lc0))(u)
    assert np.all(np.isfinite(np.asarray(g)))
    # predict at new times in a given band
    tt = jnp.linspace(-50, 50, 5)
    d = dict(zip(model.linear_names(BANDS), sol.coef))
    np.testing.assert_allclose(model.predict(params, lc0, t=tt, band=jnp.full(5, 1)),
                               d["amplitude_r"] * model._shape(params, tt) + d["baseline_r"], rtol=1e-12)


def _recovery(rng, kind, model):
    batch, truth = _sim(rng, kind, n_objects=20)
    res = ts.fit(model, batch)
    # OK, or (Villar, rarely) a singular Hessian at a plateau edge: fitted, errors unreliable
    assert np.mean(res.status == 0) >= 0.9, res.status
    frac = {}
    for n in model.param_names:
        z = (res.values[n] - np.array([p[n] for p in truth])) / res.errors[n]
        frac[n] = np.mean((np.abs(z) < 3.0) & (res.status == 0))
    amp = res.values["amplitude_r"] / np.array([p["amp"][1] for p in truth])
    red = res.chi2 / (res.ndata - res.n_params)
    return frac, amp, red


def test_bazin_recovers_simulated_multiband_sne(rng):
    frac, amp, red = _recovery(rng, "bazin", Bazin())
    # Gaussian errors: 99.7% within 3 sigma; allow a couple of objects at a secondary optimum
    assert all(v >= 0.85 for v in frac.values()), frac
    assert np.median(np.abs(amp - 1)) < 0.05


def test_villar_recovers_simulated_multiband_sne(rng):
    frac, amp, red = _recovery(rng, "villar", Villar())
    # t0, the plateau and the fall time trade off against each other (non-Gaussian posteriors,
    # secondary optima): a looser rate, measured 0.70-0.95 per parameter on these 20 objects
    assert all(v >= 0.65 for v in frac.values()), frac
    # the amplitude is degenerate with the plateau slope (A (1 - nu) sets the decline) and is
    # not checked; the fits describe the data: reduced chi2 near 1
    assert np.median(red) < 1.3, red


@pytest.mark.parametrize("kind", ["bazin", "villar"])
def test_single_band_fit_agrees_with_light_curve(rng, kind):
    """``band="r"`` fits against light-curve's ``BazinFit``/``VillarFit`` with
    ``algorithm="lmsder"`` (GSL's scaled Levenberg-Marquardt of
    ``chi2 = sum(((flux - model) / flux_err)**2)``, from light-curve's own starting point; its
    other options left at their defaults). Our chi2 at our optimum is at most theirs (+1e-6
    relative) for every Bazin object and all but one of 8 Villar objects, and at a common
    minimum the parameters agree, in units of our Laplace errors where the Hessian there is
    regular. Bazin's fits reach light-curve's minimum from our own starts. Villar's likelihood
    has flat plateau valleys in which where a fit stops (and whether its Hessian is singular)
    depends on rounding, so its parameters are compared (to 0.05 of the error) on a fit started
    at the optimum of light-curve run to convergence (``lmsder_niter=1000``): it must stay in
    that minimum."""
    model = Bazin(band="r") if kind == "bazin" else Villar(band="r")
    batch, _ = _sim(rng, kind, n_objects=8, n=60)
    res = ts.fit(model, batch)
    k = 5 if kind == "bazin" else 7
    names = ("amplitude", "baseline") + model.param_names

    def light_curve_fits(**options):
        feat = (lc.BazinFit if kind == "bazin" else lc.VillarFit)("lmsder", **options)
        outs, chi2 = [], []
        for i in range(len(batch)):
            sel = np.asarray(batch.mask[i]) & (np.asarray(batch.band[i]) == 1)
            t = np.asarray(batch.t[i], np.float64)[sel]
            y = np.asarray(batch.flux[i], np.float64)[sel]
            e = np.asarray(batch.flux_err[i], np.float64)[sel]
            outs.append(np.asarray(feat(t, y, e)))
            chi2.append(outs[-1][-1] * (sel.sum() - k))
        return np.array(outs), np.array(chi2)

    def compare(r, outs, theirs, tol):
        """(objects at light-curve's minimum, of which parameters compared, objects worse)"""
        same = compared = 0
        for i in range(len(batch)):
            if abs(r.chi2[i] - theirs[i]) >= 1e-4 * theirs[i]:
                continue
            same += 1
            if r.status[i] != 0:  # not OK: a singular Hessian, no finite errors to compare in
                continue
            compared += 1
            mine = np.array([r.values["amplitude_r"][i], r.values["baseline_r"][i]]
                            + [r.values[n][i] for n in model.param_names])
            err = np.array([r.errors["amplitude_r"][i], r.errors["baseline_r"][i]]
                           + [r.errors[n][i] for n in model.param_names])
            # light-curve reports |A|, |tau|
            assert np.all(np.abs(np.abs(mine) - np.abs(outs[i, :k])) < tol * err), (names, mine, outs[i])
        return same, compared, int(np.sum(r.chi2 > theirs * (1 + 1e-6) + 1e-6))

    # its default 10 lmsder iterations stop short of full convergence: parameters within 0.1 of
    # the Laplace error
    outs, theirs = light_curve_fits()
    same, compared, worse = compare(res, outs, theirs, 0.1)
    if kind == "bazin":
        assert compared >= len(batch) // 2, (same, compared)
        assert worse == 0, worse
        return
    # Villar: its multimodal plateau leaves at most one object of 8 at a secondary minimum that
    # light-curve's start avoids
    assert same >= 1 and worse <= 1, (same, worse)
    # light-curve run to convergence, and our fit started at its optimum
    outs, theirs = light_curve_fits(lmsder_niter=1000)
    lo = np.array([model.rise_range[0], model.fall_range[0], 0.0, model.plateau_range[0]]) * 1.01
    hi = np.array([model.rise_range[1], model.fall_range[1], 0.99, model.plateau_range[1] * 0.99])
    start = {"t0": outs[:, 2]}
    start.update({n: np.clip(np.abs(outs[:, 3 + j]), lo[j], hi[j]) for j, n in enumerate(model.param_names[1:])})
    same, compared, worse = compare(ts.fit(model, batch, init=start), outs, theirs, 0.05)
    assert worse == 0 and compared >= len(batch) // 2, (same, compared, worse)


def test_villar_at_light_curves_budget_matches_its_quality():
    """At light-curve's own budget (one start, at most 10 Levenberg-Marquardt iterations, the
    setting the benchmark times beside ``VillarFit("lmsder")``'s default 10 iterations) a Villar
    fit is as good as light-curve's: median chi2 no higher (3% allowed), and no more objects
    worse than light-curve's by more than 1 than better. (At 5 iterations both fail on these
    objects.) Single-band Bazin-shaped signals, 30-70 points, 5% errors, as in the benchmark."""
    rng = np.random.default_rng(2)
    rows = []
    for _ in range(48):
        m = int(rng.integers(30, 71))
        t = np.sort(rng.uniform(-30, 100, m))
        a, tr, tf = rng.uniform(500, 5000), rng.uniform(1, 5), rng.uniform(10, 60)
        e = np.full(m, 0.05 * a)
        rows.append((t, a * np.exp(-t / tf) / (1 + np.exp(-t / tr)) + e * rng.normal(size=m), e))
    batch = ts.LightCurveBatch.from_arrays(t=[r[0] for r in rows], flux=[r[1] for r in rows],
                                           flux_err=[r[2] for r in rows],
                                           band=[np.full(len(r[0]), "r") for r in rows], bands=("r",))
    ext = lc.VillarFit("lmsder")
    theirs = np.array([ext(*r)[-1] * (len(r[0]) - 7) for r in rows])
    ours = ts.fit(Villar(), batch, n_starts=1, max_steps=10).chi2
    assert np.all(np.isfinite(ours))
    assert np.median(ours) <= 1.03 * np.median(theirs), (np.median(ours), np.median(theirs))
    worse, better = np.sum(ours > theirs + 1), np.sum(ours < theirs - 1)
    assert worse <= better, (worse, better)
