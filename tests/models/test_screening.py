"""``ts.screen_microlensing`` on a mixed LSST-like population (``tsmodels.screening``): the
recovery and false-positive criteria on a small set (the 10^4-object figure is in
benchmarks/bench_microlensing.py ``--screen``), and the lens chi2 it ranks by against MulensModel."""

from __future__ import annotations

import numpy as np
import pytest

import tsmodels as ts
from tsmodels.screening import simulate_population

N_OBJECTS = 360
EVENT_FRACTION = 1 / 6  # 60 events, 300 non-events (100 each constant, periodic, DRW)


@pytest.fixture(scope="module")
def screened():
    # every event has u0 < 0.5 and 5 <= tE <= 200 d: the population the criterion is stated for
    batch, truth = simulate_population(N_OBJECTS, event_fraction=EVENT_FRACTION, seed=11, u0=(0.01, 0.5))
    return batch, truth, ts.screen_microlensing(batch)


def test_recovery_and_false_positives(screened):
    """>= 90% of the events flagged, <= 1% of the constant, periodic and DRW sources."""
    batch, truth, table = screened
    assert np.array_equal(table["id"].to_numpy(), truth.index.to_numpy())
    kind = truth["kind"].to_numpy()
    event = kind == "pspl"
    assert event.sum() == 60 and all((kind == k).sum() == 100 for k in ("constant", "periodic", "drw"))
    cand = table["candidate"].to_numpy()
    assert cand[event].mean() >= 0.90, table.loc[event & ~cand]
    assert cand[~event].mean() <= 0.01, table.loc[~event & cand]
    # the information criterion alone would flag the other variables: the goodness-of-fit
    # condition is what removes them
    evidence = table["evidence"].to_numpy()
    for k in ("periodic", "drw"):
        assert evidence[kind == k].mean() > 0.9
    assert not evidence[kind == "constant"].any()
    # recovered events have the true timescale to within a factor 2 and t0 to within tE
    rec = event & cand
    ratio = table["tE"].to_numpy()[rec] / truth["tE"].to_numpy()[rec]
    assert np.mean(np.abs(np.log(ratio)) < np.log(2)) >= 0.85  # 54 of 58 (seed 11); blending: tE degenerate
    assert np.mean(np.abs(table["t0"].to_numpy()[rec] - truth["t0"].to_numpy()[rec])
                   < truth["tE"].to_numpy()[rec]) >= 0.95


def test_lens_chi2_equals_mulensmodel(screened):
    """The lens chi2 of three flagged events equals MulensModel ``Event.get_chi2`` (source and
    blend fluxes fitted per band) at the screened ``t0, u0, tE``."""
    import MulensModel as MM
    batch, truth, table = screened
    picked = np.flatnonzero(table["candidate"].to_numpy())[:3]
    assert len(picked) == 3
    for i in picked:
        m = np.asarray(batch.mask[i])
        t, f, e, b = (np.asarray(a)[i][m] for a in (batch.mjd, batch.flux, batch.flux_err, batch.band))
        data = [MM.MulensData([t[b == k], f[b == k], e[b == k]], phot_fmt="flux") for k in np.unique(b)]
        assert all(len(d.time) >= 3 for d in data)
        row = table.iloc[i]
        ev = MM.Event(datasets=data, model=MM.Model({"t_0": row["t0"], "u_0": row["u0"], "t_E": row["tE"]}))
        np.testing.assert_allclose(row["chi2"], ev.get_chi2(), rtol=1e-6)


def test_bad_thresholds():
    batch, _ = simulate_population(3, event_fraction=0.0, seed=1)
    with pytest.raises(ValueError, match="delta_bic must be >= 0"):
        ts.screen_microlensing(batch, delta_bic=-1.0)
    with pytest.raises(ValueError, match="max_chi2_z must be > 0"):
        ts.screen_microlensing(batch, max_chi2_z=0.0)
    with pytest.raises(ValueError, match="min_points must be a positive integer"):
        ts.screen_microlensing(batch, min_points=0)
    with pytest.raises(ValueError, match="event_fraction must be in"):
        simulate_population(3, event_fraction=1.5)
