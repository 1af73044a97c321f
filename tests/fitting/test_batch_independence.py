"""An object's fit does not depend on the batch it is fitted in: alone, or among 1,000 others,
every model gives the same result to 1e-9 (its starts come from its own light curve, its lanes
never interact with its neighbours').

The compiled programs differ with the batch size (XLA vectorises the object axis differently),
so the last bits of a log-likelihood can differ; along a direction the data do not constrain
(DHO's ``b1`` on a sparse DRW-like light curve, whose relative error is ~1e4) the optimum is then
reproducible only to a tiny fraction of its error, and a parameter running off to its prior's
bound (DHO's ``a2 -> 0``, the DRW limit) stops wherever the likelihood stops changing. So: the
log-likelihood agrees to the optimizer's tolerance (1e-12 in practice; 1e-9 relative, or 1e-8
where a parameter is unconstrained and creeps to its bound in steps too small to count) and the
status exactly for every object checked; each parameter the
data constrain (relative Laplace error below 10) agrees to 1e-9 relative, or to 1e-6 of its
standard error where that is larger; and most parameters are such."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tsmodels as ts
from tsmodels.fitting import fit
from tsmodels.fitting.solvers import default_tol

N_OTHERS = 1000
NEAR = (3, 517, 999)  # the objects checked: near the start, the middle and the end of the batch


def _picks(batch):
    """The objects of the most common length nearest to NEAR: alone, they share one compiled
    shape (the models' programs compile in 10-70 s on two cores)."""
    n = np.asarray(batch.mask).sum(1)
    same = np.flatnonzero(n == np.bincount(n).argmax())
    return sorted({int(same[np.abs(same - k).argmin()]) for k in NEAR})


@pytest.fixture(scope="module")
def batches():
    """1,001 LSST-like objects of ~40 points (two years), periodic and DRW-like."""
    kw = dict(n_years=2.0, visits_per_year=20)
    periodic, _ = ts.simulate.lightcurves("periodic", N_OTHERS + 1, seed=21, period=(0.2, 1.0), **kw)
    drw, _ = ts.simulate.lightcurves("drw", N_OTHERS + 1, seed=22, **kw)
    return {"periodic": periodic, "drw": drw}


MODELS = {
    "Constant": ("periodic", ts.models.Constant()),
    "FourierSeries": ("periodic", ts.models.FourierSeries(nterms=1, period_range=(0.15, 1.5))),
    "DRW": ("drw", ts.models.DRW(band="r")),
    "MultibandDRW": ("drw", None),
    "DHO": ("drw", ts.models.DHO(band="r")),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_alone_equals_in_a_batch_of_a_thousand(batches, name):
    kind, model = MODELS[name]
    batch = batches[kind]
    if model is None:
        model = ts.models.MultibandDRW(bands=batch.bands)
    picks = _picks(batch)
    assert len(picks) == 3
    # the alone fits run on a second host thread beside the batch fit, so that the two
    # compilations overlap (separate calls: neither sees the other's objects)
    with ThreadPoolExecutor(2) as pool:
        job = pool.submit(fit, model, batch)
        alones = list(pool.map(lambda i: fit(model, batch[i]), picks))
        together = job.result()
    checked = 0
    for i, alone in zip(picks, alones):
        sloppy = False
        for n in together.names:
            a, b = alone.values[n][0], together.values[n][i]
            err = together.errors[n][i]
            if not np.isfinite(err) or err > 10 * abs(b):
                sloppy = True
                continue  # unconstrained: only the log-likelihood is determined
            checked += 1
            tol = max(1e-9 * abs(b), 1e-6 * err, 1e-300)
            assert abs(a - b) <= tol, (name, n, a, b, err)
        # the optimizer's own promise: -loglike decreased by less than tol * max(|f|, 1) (solvers)
        # per step; along an unconstrained direction that creeps to a prior bound the steps are
        # tiny, and the two runs may stop a few such steps apart
        ll_a, ll_b = alone.loglike[0], together.loglike[i]
        rel = (100 if sloppy else 10) * default_tol(np.float64)
        assert abs(ll_a - ll_b) <= rel * max(abs(ll_b), 1.0), (i, ll_a, ll_b, sloppy)
        assert alone.status[0] == together.status[i]
    assert checked >= 0.6 * len(picks) * len(together.names), checked
