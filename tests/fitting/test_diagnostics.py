"""R-hat and ESS against arviz (the reference implementation of Vehtari et al. 2021)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tsmodels.fitting import diagnostics as D

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import arviz as az


def _ar1(rng, C, S, phi, shift=0.0):
    x = np.zeros((C, S))
    e = rng.normal(size=(C, S))
    x[:, 0] = e[:, 0] / np.sqrt(max(1 - phi**2, 1e-3))
    for i in range(1, S):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    x[0] += shift
    return x


@pytest.mark.parametrize("C,S,phi,shift", [(4, 500, 0.5, 0.3), (2, 101, 0.0, 0.0), (4, 100, 0.99, 0.0),
                                           (3, 50, -0.3, 0.0), (2, 400, 0.9, 2.0)])
def test_against_arviz(rng, C, S, phi, shift):
    x = _ar1(rng, C, S, phi, shift)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = (az.rhat(x, method="rank"), az.ess(x, method="bulk"), az.ess(x, method="tail"))
    got = (D.rhat(x), D.ess_bulk(x), D.ess_tail(x))
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, float(r), rtol=1e-10)


def test_vectorised_over_objects_and_nan_rows(rng):
    draws = np.stack([_ar1(rng, 2, 200, phi) for phi in (0.0, 0.5, 0.9)])
    draws = np.concatenate([draws, np.full((1, 2, 200), np.nan)])
    for fn in (D.rhat, D.ess_bulk, D.ess_tail):
        out = fn(draws)
        assert out.shape == (4,)
        np.testing.assert_allclose(out[:3], [fn(d) for d in draws[:3]], rtol=1e-12)
        assert np.isnan(out[3])
    # more autocorrelation, fewer effective draws
    e = D.ess_bulk(draws[:3])
    assert e[0] > e[1] > e[2]


def test_one_chain_split_rhat_detects_drift(rng):
    x = rng.normal(size=(1, 400))
    assert D.rhat(x) < 1.02
    x[0, 200:] += 1.0
    assert D.rhat(x) > 1.1
    assert D.split_chains(np.zeros((3, 1, 9))).shape == (3, 2, 4)
