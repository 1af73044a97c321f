"""SALT2 on simulated LSST-like Type Ia supernovae (``ts.simulate.salt2``): recovery by ``ts.fit``,
convergence and 68% interval coverage of ``ts.sample``, float32 fits, and gradients of the
likelihood NUTS uses.

One batch of 32 supernovae (one compiled shape) is simulated, fitted and sampled once for the
module. The light curves are deep-drilling-like: 40 visits in g, r, i, z over 60 days that span
rest-frame phases -18 / (1 + z) .. 45 / (1 + z) d around the peak, so that every visit lies where
the SALT2 surfaces are smooth. (At the ends of the model's phase grid, -20 and +50 d, sncosmo's
interpolation, which the kernel follows, jumps to zero flux; a visit there makes the likelihood
discontinuous in ``t0``, and a NUTS chain whose step size adapted to the jump sticks.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.stats import binom

import tsmodels as ts
from tsmodels import simulate as sim
from tsmodels.fitting.results import OK
from tsmodels.models import SALT2

N_SNE = 32
NAMES = ("t0", "x1", "c", "x0")
MODEL = SALT2(zp=sim.AB_ZEROPOINT_NJY)  # simulated fluxes are nJy
#: Short chains (CI time): ~5 leapfrog steps per draw; ESS ~40-60 of the 200 draws per SN (the
#: sampler whitens by the Laplace errors, not by their correlations: t0, x1 and c correlate).
NUTS = dict(num_warmup=60, num_samples=100, num_chains=2, max_tree_depth=3, seed=1)


def _binomial_ok(k, n, p=0.68, alpha=0.005):
    """``k`` successes out of ``n`` inside the central ``1 - alpha`` interval of Binomial(n, p)."""
    return binom.ppf(alpha / 2, n, p) <= k <= binom.ppf(1 - alpha / 2, n, p)


@pytest.fixture(scope="module")
def salt_run():
    """``(batch, truth with t0 relative to t_ref, float64 FitResult, Posterior)``."""
    start = sim.DEFAULT_START_MJD
    batch, truth = sim.salt2(N_SNE, seed=11, z=(0.05, 0.5), t0=(start + 15.0, start + 18.0),
                             n_years=60.0 / 365.25, season_length=365.25, n_visits=40, bands="griz")
    truth = truth.copy()
    truth["t0"] = truth["t0"].to_numpy() - np.asarray(batch.t_ref)
    res = ts.fit(MODEL, batch)
    post = ts.sample(MODEL, batch, **NUTS)
    return batch, truth, res, post


def test_fit_recovers_the_simulated_truth(salt_run):
    """``ts.fit(SALT2())`` on SNe simulated through the same kernel: every fit OK, pulls
    ``(fit - truth) / error`` within 1 for a binomially consistent fraction of the 32 (0.68), and
    none beyond 4, for each of t0, x1, c and x0. (Agreement with sncosmo's own chi2 minimum is
    tests/models/test_salt_models.py; the simulated fluxes equal sncosmo's ``Model.bandflux`` in
    tests/test_simulate.py.)"""
    batch, truth, res, _ = salt_run
    assert np.all(res.status == OK), res.status
    for n in NAMES:
        pull = (res.values[n] - truth[n].to_numpy()) / res.errors[n]
        assert np.all(np.abs(pull) < 4.0), (n, pull)
        assert _binomial_ok(np.sum(np.abs(pull) < 1.0), N_SNE), (n, np.sort(np.abs(pull)))


def test_sample_converges_near_the_fit_and_68_percent_intervals_cover_the_truth(salt_run):
    """``ts.sample(SALT2())``: split R-hat (``Posterior.rhat_max``, worst parameter) with median
    below 1.03, below 1.05 for >= 80% of the SNe and below 1.1 for all (a stuck chain gives ~2),
    bulk ESS >= 20 for every SN, no divergence; posterior medians within 0.5 Laplace sigma of the
    ``ts.fit`` optimum and posterior sd within 20% of the Laplace error (median over SNe); the
    central 68% intervals (``q16``, ``q84``) contain the truth for a fraction consistent with 0.68
    (central 99.5% interval of Binomial(32, 0.68)) for each of t0, x1, c and x0 (x0 drawn from
    its conditional Gaussian at each draw). ``Posterior.n_used`` is the fit's."""
    _, truth, res, post = salt_run
    df = post.to_pandas()
    assert np.all(post.status == OK), post.status
    assert np.median(post.rhat_max) < 1.03, np.median(post.rhat_max)
    assert np.mean(post.rhat_max < 1.05) >= 0.8, np.sort(post.rhat_max)[-8:]
    assert np.all(post.rhat_max < 1.1), np.sort(post.rhat_max)[-3:]
    assert np.all(post.ess_bulk_min >= 20), np.sort(post.ess_bulk_min)[:3]
    assert post.n_divergent.sum() == 0
    # the chains start from the ts.fit optimum: the points SALT's cuts keep there are the fit's
    np.testing.assert_array_equal(post.n_used, res.n_used)
    np.testing.assert_array_equal(df["n_used"], res.n_used)
    for n in NAMES:
        err = res.errors[n]
        assert np.all(np.abs(df[f"{n}_q50"] - res.values[n]) < 0.5 * err), n
        assert abs(np.median(df[f"{n}_sd"] / err) - 1.0) < 0.2, n
        inside = (df[f"{n}_q16"] <= truth[n].to_numpy()) & (truth[n].to_numpy() <= df[f"{n}_q84"])
        assert _binomial_ok(int(inside.sum()), N_SNE), (n, float(inside.mean()))


def test_float32_fit_close_to_float64(salt_run):
    """``ts.fit(..., dtype="float32")`` (tables and likelihood in float32): every fit OK, the
    float64 log-likelihood at the float32 optimum within 0.05 of the float64 maximum (0.5 is one
    sigma) and the parameters within 0.1 of their errors of the float64 fit."""
    batch, _, r64, _ = salt_run
    r32 = ts.fit(MODEL, batch, dtype="float32")
    assert r32.dtype == "float32" and r32.values["t0"].dtype == np.float32
    assert np.all(r32.status == OK), r32.status
    MODEL.tables(batch.bands)  # host tables, built outside the trace
    jb = batch.to_jax("float64")
    p32 = {n: jnp.asarray(r32.values[n], jnp.float64) for n in ("t0", "x1", "c")}
    ll = np.asarray(jax.vmap(MODEL.loglike)(p32, jb))
    assert np.all(ll >= r64.loglike - 0.05), ll - r64.loglike
    for n in NAMES:
        dz = np.abs(r32.values[n].astype(np.float64) - r64.values[n]) / r64.errors[n]
        assert np.all(dz < 0.1), (n, dz.max())


def test_likelihood_gradients_match_finite_differences(salt_run):
    """``jax.test_util.check_grads`` (reverse mode, as NUTS uses, against central differences) of
    ``loglike`` and of ``marginal_loglike`` (the NUTS potential, x0 integrated out) in
    ``(t0, x1, c)`` at the truth of two SNe."""
    batch, truth, _, _ = salt_run
    MODEL.tables(batch.bands)
    jb = batch.to_jax("float64")

    @jax.jit
    def both(lc, t0, x1, c):  # one compiled function (and derivative) for every light curve
        p = {"t0": t0, "x1": x1, "c": c}
        return jnp.stack([MODEL.loglike(p, lc), MODEL.marginal_loglike(p, lc)])

    for i in (0, 7):
        lc = jax.tree_util.tree_map(lambda a: a[i], jb)
        args = tuple(jnp.asarray(truth[n].iloc[i], jnp.float64) for n in ("t0", "x1", "c"))
        check_grads(lambda *a: both(lc, *a), args, order=1, modes=("rev",), eps=1e-6,
                    atol=1e-4, rtol=1e-5)
