"""Real data: periods of the SDSS Stripe 82 RR Lyrae (Sesar et al. 2010) from their ugriz light
curves with the multiband periodogram (VanderPlas & Ivezić 2015 used the same sample).

The values are the magnitudes themselves (not fluxes): the multiband model fits a mean per band,
and an RR Lyrae's magnitude light curve has the same period as its flux (its shape differs a
little, which the harmonics absorb). Rows with ``magerr > 1`` are dropped, as the data's README
says (176 rows, 54 of them placeholders with mag ~ 100).

The search is :func:`tsmodels.periodogram.find_periods`: a one-sinusoid multiband periodogram
(``nterms_base=1, nterms_band=0``) over 1-5 cycles/day with 2 samples per peak width, then a
3-harmonic base + 1-harmonic band model (``nterms_base=3, nterms_band=1``) around the 10 highest
peaks. Measured on this sample: the one-sinusoid periodogram alone puts the published period at
its highest peak for 71% of the stars (most misses are 1/day aliases and half periods) and among
its 10 highest for 99.6%; the refinement recovers 92.3%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import tsmodels as ts
from tsmodels.lightcurves import LightCurveBatch

DATA = Path(__file__).resolve().parent / "data" / "rrlyrae"


def _load():
    lc = pd.read_csv(DATA / "light_curves.csv.gz")
    per = pd.read_csv(DATA / "periods.csv").set_index("Num")
    good = lc["magerr"] <= 1.0
    assert (~good).sum() == 176 and lc["id"].nunique() == 483
    batch = LightCurveBatch.from_pandas(lc[good], id_col="id", time_col="time", flux_col="mag",
                                        flux_err_col="magerr", band_col="band")
    return batch, per.loc[batch.ids, "Per"].to_numpy()


def test_multiband_recovers_published_periods():
    batch, period = _load()
    assert len(batch) == 483 and batch.bands == tuple("ugriz")
    peaks = ts.periodogram.find_periods(batch, minimum_frequency=1.0, maximum_frequency=5.0,
                                        samples_per_peak=2, k=2)
    assert peaks.period.shape == (483, 2)
    rel = np.abs(peaks.period[:, 0] / period - 1.0)
    rate = np.mean(rel < 1e-3)
    assert rate >= 0.90, f"best period within 0.1% of Sesar et al. for {rate:.1%} of the stars"
    # recovered periods are much better than the criterion (a 9-year baseline)
    assert np.median(rel[rel < 1e-3]) < 1e-4
    # the second candidate is a different peak, less powerful
    assert np.all(peaks.power[:, 1] <= peaks.power[:, 0])
    assert np.all(np.abs(peaks.frequency[:, 1] - peaks.frequency[:, 0]) > 1e-4)
