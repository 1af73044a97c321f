"""nested-pandas and LSDB adapters: one batched call per frame or partition, rows aligned with
the input's index, equal to the in-memory fits; an LSDB (HATS) catalog written from simulated
data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import lsdb
import nested_pandas as npd
import pytest

import tsmodels as ts
from tsmodels import pipeline


@pytest.fixture(scope="module")
def objects():
    batch, _ = ts.simulate.lightcurves("drw", 30, seed=5, n_years=1.0)
    rng = np.random.default_rng(0)
    obj = pd.DataFrame({"id": batch.ids, "ra": rng.uniform(0, 360, 30),
                        "dec": rng.uniform(-60, 30, 30)}).set_index("id")
    nf = npd.NestedFrame(obj).join_nested(batch.to_pandas().set_index("id"), "lc")
    return batch, nf


def test_nested_frame_fit_in_one_call_aligned_with_the_index(objects):
    batch, nf = objects
    shuffled = nf.sample(frac=1.0, random_state=2)
    rows = ts.nested.fit(ts.models.Constant(), shuffled)
    assert isinstance(rows, npd.NestedFrame)
    assert rows.index.equals(shuffled.index) and (rows["id"].to_numpy() == shuffled.index.to_numpy()).all()
    ref = ts.fit(ts.models.Constant(), batch).to_pandas().set_index("id").loc[shuffled.index]
    np.testing.assert_allclose(rows["loglike"], ref["loglike"], rtol=1e-10)
    np.testing.assert_array_equal(rows["n_obs"], batch.loc[shuffled.index.to_numpy()].n_obs)


def test_periodogram_of_a_frame_uses_its_time_span(objects):
    batch, nf = objects
    rows = ts.nested.periodogram(nf.iloc[:8], maximum_frequency=1.0)
    sub = batch[:8]
    t = np.where(sub.mask, sub.t + sub.t_ref[:, None], np.nan)
    grid = pipeline.Periodogram(maximum_frequency=1.0, baseline=np.nanmax(t) - np.nanmin(t)).grid()
    peaks = ts.periodogram.find_periods(sub, grid)
    np.testing.assert_allclose(rows["period_1"], peaks.period[:, 0], rtol=1e-12)


class _Counting(pipeline.Fit):
    calls: list = []

    def __call__(self, batch):
        type(self).calls.append(len(batch))
        return super().__call__(batch)


def test_lsdb_catalog_one_batched_call_per_partition(objects, tmp_path):
    batch, nf = objects
    cat = lsdb.from_dataframe(nf.reset_index(), ra_column="ra", dec_column="dec", catalog_name="sim",
                              lowest_order=0, highest_order=2, partition_rows=8)
    cat.write_catalog(tmp_path / "sim")
    catalog = lsdb.read_hats(tmp_path / "sim")
    assert catalog.npartitions > 2
    _Counting.calls.clear()
    rows = ts.nested.map_partitions(_Counting(ts.models.Constant()), catalog).compute()
    # one call for the output columns, then one per partition: never one per object
    assert len(_Counting.calls) == catalog.npartitions + 1 and sum(_Counting.calls[1:]) == 30
    assert rows.index.name == "_healpix_29" and len(rows) == 30
    ref = ts.fit(ts.models.Constant(), batch).to_pandas().set_index("id").loc[rows["id"].to_numpy()]
    for col in ("mean_r", "mean_u_err", "loglike"):
        np.testing.assert_allclose(rows[col], ref[col], rtol=1e-10)
    # the catalog's parquet files also stream through ts.pipeline.run (nested layout; not in id
    # order, which it says)
    with pytest.warns(pipeline.PerformanceWarning):
        pipeline.run(pipeline.Fit(ts.models.Constant()), tmp_path / "sim" / "sim" / "dataset",
                     tmp_path / "out", chunk_size=10, progress=False)
    with pytest.raises(TypeError, match="ts.nested.map_partitions"):
        pipeline.run(pipeline.Fit(ts.models.Constant()), catalog, tmp_path / "x")
    streamed = pipeline.read_results(tmp_path / "out").set_index("id").loc[rows["id"].to_numpy()]
    np.testing.assert_allclose(streamed["loglike"], rows["loglike"].to_numpy(), rtol=1e-10)


def test_periodogram_over_partitions_needs_a_baseline(objects):
    _, nf = objects
    cat = lsdb.from_dataframe(nf.reset_index(), ra_column="ra", dec_column="dec")
    with pytest.raises(ValueError, match="baseline"):
        ts.nested.map_partitions(pipeline.Periodogram(), cat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match="unknown keyword"):
            ts.nested.to_batch(nf, time="t")
