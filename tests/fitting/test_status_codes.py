"""Every status code of ts.fit is produced by a case that must produce it, and only there."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

import tsmodels as ts
from tsmodels.fitting import fit
from tsmodels.fitting.results import BAD_HESSIAN, DIVERGED, MAX_STEPS, NO_DATA, NONFINITE, OK, STATUS
from tsmodels.models import Model


@dataclass(frozen=True)
class Offset(Model):
    """flux = a (+ a parameter ``unused`` the residuals ignore when ``degenerate``)."""

    degenerate: bool = False

    @property
    def param_names(self):
        return ("a", "unused") if self.degenerate else ("a",)

    @property
    def priors(self):
        return {n: dist.Normal(0.0, 1e3) for n in self.param_names}

    def init(self, batch, n_starts):
        return {n: np.full((len(batch), n_starts), 1.0) for n in self.param_names}

    def residuals(self, params, lc):
        return jnp.where(lc.mask, (lc.flux - params["a"]) / lc.flux_err, 0.0)

    def predict(self, params, lc, t=None, band=None):
        return jnp.full(lc.t.shape if t is None else jnp.shape(t), params["a"])


@dataclass(frozen=True)
class Runaway(Model):
    """loglike = exp(a) - sum(r^2)/2: unbounded above, so every optimizer runs to overflow."""

    param_names = ("a",)

    @property
    def priors(self):
        return {"a": dist.Normal(0.0, 1e3)}

    def init(self, batch, n_starts):
        return {"a": np.full((len(batch), n_starts), 1.0)}

    def loglike(self, params, lc):
        r = jnp.where(lc.mask, lc.flux / lc.flux_err, 0.0)
        return jnp.exp(params["a"]) - 0.5 * jnp.sum(r * r)

    def predict(self, params, lc, t=None, band=None):
        return jnp.zeros(lc.t.shape if t is None else jnp.shape(t))


def _batch(rng, B=4, n=30, empty=()):
    t = [np.sort(rng.uniform(0, 50, n)) for _ in range(B)]
    f = [rng.normal(10, 1, n) for _ in range(B)]
    for i in empty:
        f[i] = np.full(n, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ts.DataQualityWarning)
        return ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=[np.ones(n)] * B)


def test_ok_no_data_and_max_steps(rng):
    b = _batch(rng, empty=(2,))
    res = fit(Offset(), b)
    assert list(res.status) == [OK, OK, NO_DATA, OK]
    jit = fit(ts.models.DRW(), b, max_steps=1)
    assert np.all(jit.status[[0, 1, 3]] == MAX_STEPS) and jit.status[2] == NO_DATA


def test_bad_hessian_when_a_parameter_is_unconstrained(rng):
    """The residuals ignore ``unused``: the fit converges, but J^T J is singular, so the
    Laplace errors do not exist."""
    b = _batch(rng)
    res = fit(Offset(degenerate=True), b)
    assert np.all(res.status == BAD_HESSIAN), [STATUS[s] for s in res.status]
    assert res.converged.all() and np.all(np.isnan(res.errors["a"]))
    # the values are still the optimum (the mean flux: unit errors)
    np.testing.assert_allclose(res.values["a"], [np.mean(f[m]) for f, m in zip(b.flux, b.mask)],
                               rtol=1e-8)


def test_diverged_when_the_objective_runs_away(rng):
    b = _batch(rng)
    for method in ("newton", "lbfgs"):
        res = fit(Runaway(), b, method=method)
        assert np.all(res.status == DIVERGED), (method, [STATUS[s] for s in res.status])
        assert not res.converged.any()


def test_nonfinite_when_the_likelihood_is_nan_everywhere(rng):
    b = _batch(rng)

    @dataclass(frozen=True)
    class Broken(Offset):
        def residuals(self, params, lc):
            return jnp.full(lc.t.shape, jnp.nan)

    res = fit(Broken(), b)
    assert np.all(res.status == NONFINITE) and np.all(np.isnan(res.values["a"]))


@dataclass(frozen=True)
class Bounded(Offset):
    """flux = a with ``a`` in (0, 1): data near 10 drive ``a`` to the end of its interval."""

    @property
    def priors(self):
        return {"a": dist.Uniform(0.0, 1.0)}

    def init(self, batch, n_starts):
        return {"a": np.full((len(batch), n_starts), 0.5)}


def test_errors_at_an_end_of_the_interval_come_from_the_physical_curvature(rng):
    """``a`` runs to 1, where the derivative of the unconstrained map underflows and the
    unconstrained Hessian is singular: the errors are those of the Gauss-Newton Hessian in ``a``
    itself (``1/sqrt(n)`` for n points of unit error), status OK, not BAD_HESSIAN."""
    b = _batch(rng)
    res = fit(Bounded(), b)
    assert np.all(res.values["a"] > 1 - 1e-6), res.values["a"]
    assert np.all(res.status == OK), [STATUS[s] for s in res.status]
    np.testing.assert_allclose(res.errors["a"], 1 / np.sqrt(30), rtol=1e-6)
    # the object that fits inside the interval is not touched by the fallback
    inside = ts.LightCurveBatch.from_arrays(t=[b.t[0]], flux=[np.asarray(b.flux[0]) - 9.5],
                                            flux_err=[np.ones(30)])
    res_in = fit(Bounded(), inside)
    assert res_in.status[0] == OK and 0 < res_in.values["a"][0] < 1
    np.testing.assert_allclose(res_in.errors["a"], 1 / np.sqrt(30), rtol=1e-6)
