"""ts.sample: calibration, agreement with Laplace errors, per-object adaptation, diagnostics,
failure isolation and the Posterior tables."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pyarrow as pa
import pytest

import tsmodels as ts
from tsmodels.fitting import Posterior, fit, sample
from tsmodels.fitting.mcmc import object_keys
from tsmodels.fitting.results import NO_DATA, NONFINITE, OK
from tsmodels.models import Constant, FourierSeries, Model

MODEL = FourierSeries(1, period_range=(0.25, 4.0))
SETTINGS = dict(num_warmup=150, num_samples=150, num_chains=2)
#: runs of the cheap toy model (shared, so the tests share one compilation)
TOY = dict(num_warmup=150, num_samples=300, num_chains=2, seed=3)


@pytest.fixture(scope="module")
def calib(fourier_sim):
    """200 simulated objects: ML fit and NUTS posterior (draws kept)."""
    batch, truth = fourier_sim(200, seed=17, amplitude=(0.02, 0.2), mag=(18.0, 21.0))
    with ts.precision("float64"):
        res = fit(MODEL, batch)
        post = sample(MODEL, batch, seed=1, keep_samples=True, **SETTINGS)
    return batch, truth, res, post


def _coverage(post, truth, name, lo, hi):
    s = post.stats[name]
    ok = np.isfinite(s[lo]) & (post.status == OK)
    inside = (truth[name] >= s[lo]) & (truth[name] <= s[hi])
    return inside[ok].mean(), ok.sum()


def test_calibration_of_posterior_intervals(calib):
    """True values in the 68% central interval 68 +/- 7% of the time, in the 95% one 95 +/- 4%."""
    batch, truth, _, post = calib
    assert np.mean(post.status == OK) > 0.97
    c68, n = _coverage(post, truth, "period", "q16", "q84")
    c95, _ = _coverage(post, truth, "period", "q025", "q975")
    assert n > 190
    assert abs(c68 - 0.68) <= 0.07, c68
    assert abs(c95 - 0.95) <= 0.04, c95
    # linear parameters (per-band means), pooled over bands
    inside68, inside95 = [], []
    for b in batch.bands:
        s = post.stats[f"mean_{b}"]
        ok = np.isfinite(s["q16"]) & (post.status == OK)
        inside68.append(((truth[f"mean_{b}"] >= s["q16"]) & (truth[f"mean_{b}"] <= s["q84"]))[ok])
        inside95.append(((truth[f"mean_{b}"] >= s["q025"]) & (truth[f"mean_{b}"] <= s["q975"]))[ok])
    c68, c95 = np.concatenate(inside68).mean(), np.concatenate(inside95).mean()
    assert abs(c68 - 0.68) <= 0.07, c68
    assert abs(c95 - 0.95) <= 0.04, c95


def test_laplace_errors_agree_with_posterior_sd(calib):
    """On well-constrained objects the Laplace errors are within 20% of the posterior sd."""
    _, _, res, post = calib
    well = (res.status == OK) & (post.status == OK) & (res.errors["period"] / res.values["period"] < 1e-3)
    assert well.sum() > 100
    ratio = res.errors["period"][well] / post.stats["period"]["sd"][well]
    assert np.mean(np.abs(ratio - 1) < 0.2) >= 0.9, np.percentile(ratio, [5, 50, 95])
    assert abs(np.median(ratio) - 1) < 0.05
    amp = res.errors["amp1_r"][well] / post.stats["amp1_r"]["sd"][well]
    amp = amp[np.isfinite(amp)]
    assert np.mean(np.abs(amp - 1) < 0.2) >= 0.9
    # posterior means sit at the ML values (to a fraction of the width)
    dev = np.abs(post.stats["period"]["mean"][well] - res.values["period"][well]) / post.stats["period"]["sd"][well]
    assert np.median(dev) < 0.2


def test_each_object_and_chain_adapts_its_own_step_size(calib):
    _, _, _, post = calib
    step = post.step_size[post.status == OK]
    assert step.shape[1] == 2 and np.all(np.isfinite(step)) and np.all(step > 0)
    assert np.unique(np.round(step, 12)).size > 0.9 * step.size  # not one shared value
    # divergences are rare and diagnostics sensible for this easy posterior
    assert np.mean(post.n_divergent == 0) > 0.9
    assert np.median(post.stats["period"]["rhat"]) < 1.02
    assert np.median(post.stats["period"]["ess_bulk"]) > 100
    assert np.all(post.n_steps[post.status == OK] >= 2 * (150 + 150))


def test_posterior_tables_and_flags(calib):
    batch, _, _, post = calib
    assert isinstance(post, Posterior) and len(post) == len(batch)
    df = post.summary()
    assert isinstance(df, pd.DataFrame) and len(df) == len(batch)
    assert list(df.columns[:11]) == ["id", "period_mean", "period_sd", "period_q025", "period_q16", "period_q50",
                                     "period_q84", "period_q975", "period_rhat", "period_ess_bulk",
                                     "period_ess_tail"]
    for c in ("loglike", "chi2", "ndata", "n_params", "converged", "n_iter", "status", "n_divergent",
              "rhat_max", "ess_bulk_min", "ess_tail_min", "flagged"):
        assert c in df.columns
    expect = (post.status != OK) | (post.rhat_max > 1.01) | (np.minimum(post.ess_bulk_min, post.ess_tail_min) < 100)
    np.testing.assert_array_equal(post.flagged, expect)
    np.testing.assert_array_equal(df["converged"], ~expect)
    tab = post.to_arrow()
    assert isinstance(tab, pa.Table) and tab.num_rows == len(batch)
    # summaries are those of the kept draws
    d = post.samples["period"]
    assert d.shape == (len(batch), 2, 150)
    np.testing.assert_allclose(post.stats["period"]["mean"], d.reshape(len(batch), -1).mean(1), rtol=1e-12)
    np.testing.assert_allclose(post.stats["period"]["q84"], np.quantile(d.reshape(len(batch), -1), 0.84, axis=1),
                               rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = post.to_arviz()
    assert dict(idata.posterior["period"].sizes) == {"chain": 2, "draw": 150, "object": len(batch)}
    assert "diverging" in idata.sample_stats
    np.testing.assert_array_equal(idata.posterior["object"].values, batch.ids)


# ------------------------------------------------------------------------------ small, cheap model
@dataclass(frozen=True)
class _MeanJitter(Model):
    """``flux ~ N(mean, flux_err^2 + s^2)``; NaN likelihood for light curves with negative first
    flux (to test isolation)."""

    param_names = ("mean", "s")

    @property
    def priors(self):
        return {"mean": dist.Normal(0.0, 1e3), "s": dist.HalfNormal(10.0)}

    def init(self, batch, n_starts):
        y = np.where(batch.mask, batch.flux, 0.0)
        n = np.maximum(batch.mask.sum(1), 1)
        mean = y.sum(1) / n
        return {"mean": np.repeat(mean[:, None], n_starts, 1), "s": np.ones((len(batch), n_starts))}

    def loglike(self, params, lc):
        var = lc.flux_err**2 + params["s"] ** 2
        r2 = (lc.flux - params["mean"]) ** 2 / var
        ll = -0.5 * jnp.sum(jnp.where(lc.mask, r2 + jnp.log(2 * jnp.pi * var), 0.0))
        return jnp.where(lc.flux[0] < 0, jnp.nan, ll)

    def predict(self, params, lc, t=None, band=None):
        return jnp.full(lc.t.shape if t is None else jnp.shape(t), params["mean"])


def _mj_lists(rng, B, n=40):
    t = [np.sort(rng.uniform(0, 100, n)) + 60000 for _ in range(B)]
    e = [np.full(n, 1.0) for _ in range(B)]
    f = [10.0 + rng.normal(0, np.sqrt(1 + 9.0), n) for _ in range(B)]
    return t, f, e


@pytest.fixture(scope="module")
def toy():
    """9 toy light curves and their float64 posterior."""
    rng = np.random.default_rng(7)
    t, f, e = _mj_lists(rng, 9)
    ids = list(range(10, 19))
    good = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e, ids=ids)
    with ts.precision("float64"):
        ref = sample(_MeanJitter(), good, **TOY)
    return t, f, e, ids, good, ref


def test_failure_isolation_bit_identical(toy):
    # the same 9 objects with a NaN-likelihood object and an empty one inserted (9 and 10
    # objects pad to the same compiled shape; the empty one is not computed at all)
    t, f, e, ids, good, ref = toy
    bad_f = f[1].copy()
    bad_f[0] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ts.DataQualityWarning)
        mixed = ts.LightCurveBatch.from_arrays(
            t=t[:2] + [t[1]] + t[2:] + [t[0][:3]], flux=f[:2] + [bad_f] + f[2:] + [np.full(3, np.nan)],
            flux_err=e[:2] + [e[1]] + e[2:] + [e[0][:3]], ids=ids[:2] + [99] + ids[2:] + [98])
    out = sample(_MeanJitter(), mixed, **TOY)
    pos = {int(i): k for k, i in enumerate(out.ids)}
    assert out.status[pos[99]] == NONFINITE and out.status[pos[98]] == NO_DATA
    assert out.flagged[pos[99]] and out.flagged[pos[98]]
    assert np.isnan(out.stats["mean"]["mean"][pos[99]]) and np.isnan(out.stats["s"]["sd"][pos[98]])
    keep = [pos[i] for i in ids]
    # the good objects' posteriors do not depend on the bad ones, nor on their batch neighbours
    for n in out.names:
        for st in out.stats[n]:
            np.testing.assert_array_equal(out.stats[n][st][keep], ref.stats[n][st])
    np.testing.assert_array_equal(out.n_steps[keep], ref.n_steps)
    # points used at the starting optimum: every point of a good object, none of a failed one
    np.testing.assert_array_equal(out.n_used[keep], out.ndata[keep])
    assert out.n_used[pos[99]] == 0 and out.n_used[pos[98]] == 0
    # sanity: the posterior is centred on the truth
    assert np.all(np.abs(ref.stats["mean"]["mean"] - 10.0) < 4 * ref.stats["mean"]["sd"])


def test_float32_sampling_agrees_with_float64(toy):
    *_, good, p64 = toy
    p32 = sample(_MeanJitter(), good, dtype="float32", **TOY)
    assert p32.dtype == "float32" and np.all(p32.status == OK)
    assert p32.samples is None
    for n in ("mean", "s"):
        sd = p64.stats[n]["sd"]
        # the same posteriors up to Monte Carlo error (ESS ~ 300-1000 per object)
        assert np.all(np.abs(p32.stats[n]["mean"] - p64.stats[n]["mean"]) < 0.4 * sd)
        np.testing.assert_allclose(p32.stats[n]["sd"], sd, rtol=0.25)
        assert abs(np.mean(p32.stats[n]["sd"] / sd) - 1) < 0.1


def test_object_keys_depend_on_id_and_seed_only():
    k1 = object_keys(np.array([5, 7, 9]), 0)
    k2 = object_keys(np.array([9, 5]), 0)
    np.testing.assert_array_equal(k1[[2, 0]], k2)
    assert not np.array_equal(object_keys(np.array([5]), 1), object_keys(np.array([5]), 0))
    np.testing.assert_array_equal(object_keys(np.array(["a", "b"]), 0)[1], object_keys(np.array(["b"]), 0)[0])


def test_linear_only_model_is_sampled_exactly(rng):
    """Constant: no nonlinear parameter, the posterior of the means is the exact Gaussian."""
    t, f, e = _mj_lists(rng, 3, n=30)
    batch = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e)
    post = sample(Constant(), batch, num_samples=2000, num_chains=2, seed=0)
    assert post.param_names == () and post.derived_names == ("mean_band",)
    np.testing.assert_array_equal(post.n_steps, 0)
    means = np.array([np.mean(x) for x in f])
    sd = 1 / np.sqrt(30.0)
    np.testing.assert_allclose(post.stats["mean_band"]["mean"], means, atol=4 * sd / np.sqrt(4000))
    np.testing.assert_allclose(post.stats["mean_band"]["sd"], sd, rtol=0.05)
    assert np.all(post.stats["mean_band"]["rhat"] < 1.01) and np.all(post.stats["mean_band"]["ess_bulk"] > 2000)


def test_bad_arguments(rng):
    t, f, e = _mj_lists(rng, 2, n=10)
    batch = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 4"):
        sample(Constant(), batch, num_samples=2)
    with pytest.raises(ValueError, match="num_chains must be an integer >= 1"):
        sample(Constant(), batch, num_chains=0)
    post = sample(Constant(), batch, num_samples=10, num_chains=1)
    with pytest.raises(ValueError, match=r"keep_samples=True"):
        post.to_arviz()
