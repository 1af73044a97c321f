"""The model protocol (tsmodels.models.base), the shared linear algebra and the Constant model."""

from __future__ import annotations

from dataclasses import dataclass

import chex
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from scipy import integrate

import tsmodels as ts
from tsmodels.models import Constant, Model
from tsmodels.models.base import banded_linear_solve, gaussian_norm


def _one(batch, i=0):
    """The ``lc`` a model sees under vmap: object ``i`` of a JAX batch."""
    jb = batch.to_jax("float64")
    return jax.tree_util.tree_map(lambda x: x[i], jb)


def _batch(rng, n_per_band=(5, 0, 7, 2), n_objects=1):
    bands = ("g", "r", "i", "z")
    t, f, e, b = [], [], [], []
    for _ in range(n_objects):
        bb = np.concatenate([[bands[k]] * n for k, n in enumerate(n_per_band)])
        rng.shuffle(bb)
        n = len(bb)
        t.append(np.sort(rng.uniform(0, 100, n)) + 60000.0)
        f.append(rng.normal(100.0, 5.0, n))
        e.append(rng.uniform(1.0, 3.0, n))
        b.append(bb)
    return ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=e, band=b, bands=bands)


@dataclass(frozen=True)
class _TwoParam(Model):
    """A toy model with two constrained parameters, to test the generic bijection helpers."""

    param_names = ("scale", "frac")

    @property
    def priors(self):
        return {"scale": dist.LogNormal(0.0, 1.0), "frac": dist.Uniform(0.2, 0.7)}

    def loglike(self, params, lc):
        return -0.5 * jnp.sum(jnp.where(lc.mask, (lc.flux - params["scale"]) ** 2, 0.0)) * params["frac"]


def test_pack_unpack_roundtrip_and_jacobian():
    m = _TwoParam()
    params = {"scale": jnp.asarray(2.5), "frac": jnp.asarray(0.33)}
    u = m.pack(params)
    chex.assert_shape(u, (2,))
    back = m.unpack(u)
    np.testing.assert_allclose([back["scale"], back["frac"]], [2.5, 0.33], rtol=1e-13)
    # log|det d params / d u| equals the log-determinant of the autodiff Jacobian
    jac = jax.jacfwd(lambda v: jnp.stack([m.unpack(v)["scale"], m.unpack(v)["frac"]]))(u)
    np.testing.assert_allclose(m.log_abs_det_jacobian(u), np.log(abs(np.linalg.det(jac))), rtol=1e-12)
    lp = m.log_prior(params)
    ref = dist.LogNormal(0.0, 1.0).log_prob(2.5) + dist.Uniform(0.2, 0.7).log_prob(0.33)
    np.testing.assert_allclose(lp, ref, rtol=1e-13)
    # batched pack: [B, S] arrays -> [B, S, P]
    pb = m.pack({"scale": jnp.ones((3, 2)), "frac": jnp.full((3, 2), 0.5)})
    chex.assert_shape(pb, (3, 2, 2))


def test_protocol_errors():
    class NoPriors(Model):
        param_names = ("a",)

    with pytest.raises(NotImplementedError, match="NoPriors must define priors"):
        NoPriors().bijections()
    with pytest.raises(NotImplementedError, match="must define init"):
        NoPriors().init(None, 1)

    class Bad(Model):
        param_names = ("a", "b")

        @property
        def priors(self):
            return {"a": dist.Normal(0, 1)}

    with pytest.raises(ValueError, match=r"Bad.priors lacks \['b'\]"):
        Bad().bijections()


def test_banded_linear_solve_matches_weighted_lstsq(rng):
    batch = _batch(rng, n_per_band=(5, 0, 7, 2))
    lc = _one(batch)
    X = jnp.stack([jnp.ones_like(lc.t), lc.t / 50.0], axis=1)  # per-band line
    sol, fitted = banded_linear_solve(X, lc)
    m = 2
    chex.assert_shape(sol.coef, (4 * m,))
    chex.assert_shape(sol.cov, (4 * m, 4 * m))
    t, y, e, band, mask = (np.asarray(a) for a in (lc.t, lc.flux, lc.flux_err, lc.band, lc.mask))
    logdet = 0.0
    for k, count in enumerate((5, 0, 7, 2)):
        sel = mask & (band == k)
        assert sel.sum() == count
        if count == 0:
            np.testing.assert_array_equal(sol.coef[k * m:(k + 1) * m], 0.0)
            assert not np.any(sol.active[k * m:(k + 1) * m])
            continue
        A = np.stack([np.ones(count), t[sel] / 50.0], 1) / e[sel, None]
        coef, *_ = np.linalg.lstsq(A, y[sel] / e[sel], rcond=None)
        # exactly determined bands carry a larger (eps**(2/3)) ridge
        np.testing.assert_allclose(sol.coef[k * m:(k + 1) * m], coef, rtol=1e-8 if count > m else 1e-7)
        if count > m:
            assert np.all(sol.active[k * m:(k + 1) * m])
            np.testing.assert_allclose(sol.cov[k * m:(k + 1) * m, k * m:(k + 1) * m], np.linalg.inv(A.T @ A),
                                       rtol=1e-8)
            logdet += np.linalg.slogdet(A.T @ A)[1]
        else:  # exactly determined: fitted exactly, not active
            assert not np.any(sol.active[k * m:(k + 1) * m])
            np.testing.assert_allclose(np.asarray(fitted)[sel], y[sel], rtol=1e-8)
    np.testing.assert_allclose(sol.logdet_fisher, logdet, rtol=1e-10)
    assert int(sol.n_free) == 2 + 0 + 2 + 2
    np.testing.assert_array_equal(np.asarray(fitted)[~mask], 0.0)
    # off-diagonal (between-band) covariance is zero
    np.testing.assert_array_equal(np.asarray(sol.cov)[:m, 2 * m:3 * m], 0.0)


def test_constant_model_values(rng):
    batch = _batch(rng, n_per_band=(6, 3, 0, 9))
    lc = _one(batch)
    model = Constant()
    assert model.param_names == ()
    assert model.linear_names(batch.bands) == ("mean_g", "mean_r", "mean_i", "mean_z")
    y, e, band, mask = (np.asarray(a) for a in (lc.flux, lc.flux_err, lc.band, lc.mask))
    means, chi2 = [], 0.0
    for k in range(4):
        sel = mask & (band == k)
        if not sel.any():
            means.append(0.0)
            continue
        w = 1 / e[sel] ** 2
        mu = np.sum(w * y[sel]) / np.sum(w)
        means.append(mu)
        chi2 += np.sum(w * (y[sel] - mu) ** 2)
    sol = model.linear({}, lc)
    np.testing.assert_allclose(sol.coef, means, rtol=1e-12)
    np.testing.assert_allclose(model.chi2({}, lc), chi2, rtol=1e-10)
    norm = -np.sum(np.log(e[mask]) + 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(model.loglike({}, lc), -0.5 * chi2 + norm, rtol=1e-12)
    np.testing.assert_allclose(gaussian_norm(lc), norm, rtol=1e-12)
    pred = model.predict({}, lc)
    np.testing.assert_allclose(np.asarray(pred)[mask], np.asarray(means)[band[mask]], rtol=1e-12)
    np.testing.assert_allclose(model.predict({}, lc, t=jnp.zeros(2), band=jnp.array([0, 3])),
                               [means[0], means[3]], rtol=1e-12)


def test_marginal_loglike_is_the_integral_over_linear_parameters(rng):
    """Flat-prior marginalisation of a one-band constant, against numerical quadrature."""
    batch = _batch(rng, n_per_band=(8, 0, 0, 0))
    lc = _one(batch)
    model = Constant()
    y, e, mask = (np.asarray(a) for a in (lc.flux, lc.flux_err, lc.mask))
    y, e = y[mask], e[mask]

    def like(mu):
        return np.exp(np.sum(-0.5 * ((y - mu) / e) ** 2 - np.log(e) - 0.5 * np.log(2 * np.pi)) + 30.0)

    mu0 = np.sum(y / e**2) / np.sum(1 / e**2)
    sd = 1 / np.sqrt(np.sum(1 / e**2))
    val, _ = integrate.quad(like, mu0 - 12 * sd, mu0 + 12 * sd, epsabs=0, epsrel=1e-11)
    np.testing.assert_allclose(model.marginal_loglike({}, lc), np.log(val) - 30.0, rtol=1e-9)


def test_padding_contributes_nothing(rng):
    batch = _batch(rng, n_per_band=(5, 4, 6, 3))
    wide = batch.pad_to(batch.n_max + 9)
    model = Constant()
    a, b = _one(batch), _one(wide)
    for fn in (model.loglike, model.chi2, model.marginal_loglike):
        np.testing.assert_allclose(fn({}, a), fn({}, b), rtol=1e-13)
    np.testing.assert_allclose(model.linear({}, a).coef, model.linear({}, b).coef, rtol=1e-13)
    r = model.residuals({}, b)
    np.testing.assert_array_equal(np.asarray(r)[~np.asarray(b.mask)], 0.0)


def test_constant_jit_vmap_equal_eager_loop(rng):
    batch = _batch(rng, n_per_band=(5, 4, 6, 3), n_objects=3)
    jb = batch.to_jax("float64")
    model = Constant()
    batched = jax.jit(jax.vmap(lambda lc: model.loglike({}, lc)))(jb)
    loop = [model.loglike({}, _one(batch, i)) for i in range(3)]
    np.testing.assert_allclose(batched, loop, rtol=1e-13)
