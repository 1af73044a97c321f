"""LightCurveBatch: construction, validation, padding, bucketing, round trips, pytree behaviour."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import tsmodels as ts
from tsmodels.lightcurves import DROP_REASONS, DataQualityWarning, bucket_lengths


def ragged(rng, lengths, *, t0=60000.0, span=3650.0, bands="ugrizy"):
    t = [t0 + rng.uniform(0, span, n) for n in lengths]  # unsorted on purpose
    flux = [rng.normal(100, 10, n) for n in lengths]
    err = [rng.uniform(1, 5, n) for n in lengths]
    band = [rng.choice(list(bands), n) for n in lengths]
    return t, flux, err, band


@pytest.fixture
def batch(rng):
    t, f, e, b = ragged(rng, [5, 40, 17, 1, 33])
    return ts.LightCurveBatch.from_arrays(t, f, e, b, ids=[10, 11, 12, 13, 14])


def test_from_arrays_layout(rng):
    lengths = [5, 40, 17, 1, 33]
    t, f, e, b = ragged(rng, lengths)
    bt = ts.LightCurveBatch.from_arrays(t, f, e, b, ids=["a", "b", "c", "d", "e"])
    assert bt.t.shape == (5, 40) and bt.t.dtype == np.float64
    assert bt.band.dtype == np.int32 and bt.mask.dtype == bool
    np.testing.assert_array_equal(bt.n_obs, lengths)
    assert bt.bands == ("u", "g", "r", "i", "z", "y")
    for i, n in enumerate(lengths):
        order = np.argsort(t[i], kind="stable")
        # real points first, sorted by time, centred on the mean
        np.testing.assert_allclose(bt.t[i, :n] + bt.t_ref[i], t[i][order], rtol=0, atol=0)
        assert bt.t_ref[i] == pytest.approx(np.mean(t[i]), rel=1e-15)
        np.testing.assert_array_equal(bt.flux[i, :n], f[i][order])
        np.testing.assert_array_equal(bt.flux_err[i, :n], e[i][order])
        np.testing.assert_array_equal(np.asarray(bt.bands)[bt.band[i, :n]], b[i][order])
        assert np.all(np.diff(bt.t[i, :n]) >= 0)
        # padded values: finite and harmless
        assert not bt.mask[i, n:].any() and bt.mask[i, :n].all()
        np.testing.assert_array_equal(bt.t[i, n:], bt.t[i, n - 1])
        np.testing.assert_array_equal(bt.flux[i, n:], 0.0)
        np.testing.assert_array_equal(bt.flux_err[i, n:], 1.0)
    for arr in (bt.t, bt.flux, bt.flux_err):
        assert np.all(np.isfinite(arr))


def test_single_object_and_single_band():
    t = np.array([3.0, 1.0, 2.0, 2.0])
    bt = ts.LightCurveBatch.from_arrays(t=t, flux=np.arange(4.0))
    assert len(bt) == 1 and bt.bands == ("band",)
    np.testing.assert_array_equal(bt.flux_err, 1.0)  # no errors given: unit errors
    np.testing.assert_array_equal(bt.t[0] + bt.t_ref[0], [1.0, 2.0, 2.0, 3.0])  # duplicates kept
    np.testing.assert_array_equal(bt.flux[0], [1.0, 2.0, 3.0, 0.0])  # stable for duplicate times


def test_explicit_band_order_and_unknown_band_dropped():
    t = [np.arange(4.0)]
    with pytest.warns(DataQualityWarning, match="unknown_band: 1"):
        bt = ts.LightCurveBatch.from_arrays(t, [np.ones(4)], [np.ones(4)], [np.array(["r", "g", "w", "g"])],
                                            bands=("g", "r"))
    assert bt.bands == ("g", "r")
    np.testing.assert_array_equal(bt.band[0, :3], [1, 0, 0])
    assert bt.dropped.loc[0, "unknown_band"] == 1
    with pytest.raises(ValueError, match=r"object 0: column 'band' has a band not in bands=\('g', 'r'\) \(1 point\(s\)\)"):
        ts.LightCurveBatch.from_arrays(t, [np.ones(4)], [np.ones(4)], [np.array(["r", "g", "w", "g"])],
                                       bands=("g", "r"), strict=True)


@pytest.mark.parametrize(
    "column, value, reason, message",
    [
        ("time", np.nan, "nonfinite_time", "column 'mjd' has a non-finite value (NaN or inf) (2 point(s))"),
        ("time", np.inf, "nonfinite_time", "column 'mjd' has a non-finite value (NaN or inf) (2 point(s))"),
        ("flux", np.nan, "nonfinite_flux", "column 'psfFlux' has a non-finite value (NaN or inf) (2 point(s))"),
        ("flux", -np.inf, "nonfinite_flux", "column 'psfFlux' has a non-finite value (NaN or inf) (2 point(s))"),
        ("flux_err", np.nan, "bad_flux_err", "column 'psfFluxErr' has a non-finite, zero or negative error (2 point(s))"),
        ("flux_err", 0.0, "bad_flux_err", "column 'psfFluxErr' has a non-finite, zero or negative error (2 point(s))"),
        ("flux_err", -1.0, "bad_flux_err", "column 'psfFluxErr' has a non-finite, zero or negative error (2 point(s))"),
    ],
)
def test_bad_points_dropped_counted_or_raised(column, value, reason, message):
    n = 6
    df = pd.DataFrame({
        "objectId": np.repeat([7, 8], n),
        "mjd": 60000.0 + np.tile(np.arange(n, dtype=float), 2),
        "psfFlux": np.ones(2 * n),
        "psfFluxErr": np.ones(2 * n),
        "band": "r",
    })
    col = {"time": "mjd", "flux": "psfFlux", "flux_err": "psfFluxErr"}[column]
    df.loc[[n + 1, n + 3], col] = value  # two bad points in object 8
    kw = dict(id_col="objectId", time_col="mjd", flux_col="psfFlux", flux_err_col="psfFluxErr")
    with pytest.warns(DataQualityWarning, match=f"dropped 2 of 12 points in 1 object\\(s\\) \\({reason}: 2\\)"):
        bt = ts.LightCurveBatch.from_pandas(df, **kw)
    np.testing.assert_array_equal(bt.n_obs, [n, n - 2])
    expected = pd.DataFrame(0, index=pd.Index([7, 8], name="id"), columns=list(DROP_REASONS))
    expected.loc[8, reason] = 2
    pd.testing.assert_frame_equal(bt.dropped, expected)
    with pytest.raises(ValueError) as err:
        ts.LightCurveBatch.from_pandas(df, strict=True, **kw)
    assert str(err.value) == f"object 8: {message}"


def test_one_reason_per_point():
    # NaN time and NaN flux on the same point: counted once, under the first reason
    with pytest.warns(DataQualityWarning):
        bt = ts.LightCurveBatch.from_arrays([np.array([np.nan, 1.0, 2.0])], [np.array([np.nan, 1.0, 1.0])])
    assert bt.dropped.to_numpy().sum() == 1 and bt.dropped.loc[0, "nonfinite_time"] == 1


def test_empty_objects_kept_masked_or_raised():
    t = [np.array([1.0, 2.0]), np.array([np.nan]), np.zeros(0)]
    f = [np.ones(2), np.ones(1), np.zeros(0)]
    with pytest.warns(DataQualityWarning, match="2 object\\(s\\) have no valid observations"):
        bt = ts.LightCurveBatch.from_arrays(t, f, ids=["ok", "nan", "none"])
    assert len(bt) == 3
    np.testing.assert_array_equal(bt.n_obs, [2, 0, 0])
    assert not bt.mask[1:].any() and np.all(np.isfinite(bt.t))
    with pytest.raises(ValueError, match="^object 'none' has no valid observations$"):
        ts.LightCurveBatch.from_arrays([np.array([1.0]), np.zeros(0)], [np.ones(1), np.zeros(0)],
                                       ids=["ok", "none"], strict=True)


def test_structural_errors():
    with pytest.raises(ValueError, match="object at position 1: flux has 2 values but t has 3"):
        ts.LightCurveBatch.from_arrays([np.ones(2), np.ones(3)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match="ids must be unique; 'a' appears more than once"):
        ts.LightCurveBatch.from_arrays([np.ones(2), np.ones(3)], [np.ones(2), np.ones(3)], ids=["a", "a"])
    with pytest.raises(ValueError, match=r"column\(s\) \['mag', 'flux_err'\] not in the table; columns are \['id', 'time'\]"):
        ts.LightCurveBatch.from_pandas(pd.DataFrame({"id": [1], "time": [1.0]}), flux_col="mag")
    with pytest.raises(TypeError, match="from_pandas expects a pandas DataFrame"):
        ts.LightCurveBatch.from_pandas({"id": [1]})
    with pytest.raises(TypeError, match="column 'flux' must be numeric"):
        ts.LightCurveBatch.from_long(["a", "a"], [1.0, 2.0], ["x", "y"])
    with pytest.raises(ValueError, match="ids contain missing values"):
        ts.LightCurveBatch.from_long(np.array([1.0, np.nan]), [1.0, 2.0], [1.0, 1.0])


def test_pandas_round_trip_exact(rng):
    t, f, e, b = ragged(rng, [30, 7, 12])
    df = pd.DataFrame({
        "id": np.repeat(["z", "x", "y"], [30, 7, 12]),
        "time": np.concatenate(t), "flux": np.concatenate(f),
        "flux_err": np.concatenate(e), "band": np.concatenate(b),
    }).sample(frac=1.0, random_state=1)  # shuffled rows
    bt = ts.LightCurveBatch.from_pandas(df)
    assert list(bt.ids) == ["x", "y", "z"]
    out = bt.to_pandas()
    expected = df.sort_values(["id", "time"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected, check_exact=True, check_dtype=False)
    # and again through the batch: identical arrays
    bt2 = ts.LightCurveBatch.from_pandas(out)
    for k in ("t", "flux", "flux_err", "band", "mask", "t_ref"):
        np.testing.assert_array_equal(getattr(bt2, k), getattr(bt, k))


def test_arrow_matches_pandas(rng):
    t, f, e, b = ragged(rng, [9, 4])
    df = pd.DataFrame({"id": np.repeat([5, 3], [9, 4]), "time": np.concatenate(t), "flux": np.concatenate(f),
                       "flux_err": np.concatenate(e), "band": np.concatenate(b)})
    a = ts.LightCurveBatch.from_arrow(pa.Table.from_pandas(df))
    p = ts.LightCurveBatch.from_pandas(df)
    for k in ("t", "flux", "flux_err", "band", "mask", "t_ref", "ids"):
        np.testing.assert_array_equal(getattr(a, k), getattr(p, k))
    # Arrow nulls are validated like NaN, not silently turned into something else
    tab = pa.table({"id": [1, 1, 1], "time": [1.0, None, 3.0], "flux": [1.0, 2.0, 3.0]})
    with pytest.warns(DataQualityWarning, match="nonfinite_time: 1"):
        c = ts.LightCurveBatch.from_arrow(tab, flux_err_col=None)
    assert c.n_obs[0] == 2


def test_indexing_by_position_and_id(batch):
    sub = batch[[3, 1]]
    assert list(sub.ids) == [13, 11]
    assert sub.n_max == 40  # trimmed to the longest selected object
    np.testing.assert_array_equal(sub.flux[1], batch.flux[1])
    one = batch[3]
    assert len(one) == 1 and one.n_max == 1
    assert list(batch[1:3].ids) == [11, 12]
    assert list(batch[batch.n_obs > 20].ids) == [11, 14]
    np.testing.assert_array_equal(batch.loc[12].flux[0], batch.flux[2, :17])
    assert list(batch.loc[[14, 10]].ids) == [14, 10]
    with pytest.raises(KeyError, match="id 99 is not in this batch"):
        batch.loc[99]
    with pytest.raises(IndexError, match="position 5 out of range"):
        batch[5]


def test_bucket_bounds_and_coverage(rng):
    lengths = rng.integers(1, 800, size=400)
    t, f, e, b = ragged(rng, lengths)
    bt = ts.LightCurveBatch.from_arrays(t, f, e, b)
    seen, shapes, real, padded = [], set(), 0, 0
    for pos, sub in bt.bucket(max_objects=64):
        seen.append(pos)
        shapes.add(sub.n_max)
        assert len(sub) <= 64
        np.testing.assert_array_equal(sub.n_obs, lengths[pos])
        np.testing.assert_array_equal(sub.ids, bt.ids[pos])
        # every object padded by at most 25% of its own points
        assert np.all(sub.n_max <= np.floor(1.25 * sub.n_obs) + (sub.n_obs < 4))
        real += sub.n_obs.sum()
        padded += sub.n_max * len(sub) - sub.n_obs.sum()
    allpos = np.sort(np.concatenate(seen))
    np.testing.assert_array_equal(allpos, np.arange(len(bt)))  # each object exactly once
    assert padded <= 0.25 * real
    assert len(shapes) <= 32  # few compiled shapes for lengths 1..800
    rungs = bucket_lengths(1000)
    assert np.all(rungs[1:] <= np.maximum(rungs[:-1] + 1, 1.25 * rungs[:-1]))


def test_bucket_merges_small_lengths_and_balances_chunks(rng):
    lengths = np.concatenate([np.full(5, 40), np.full(50, 100), np.full(3, 300), np.full(70, 500),
                              np.full(2, 900)])
    t, f, e, b = ragged(rng, lengths)
    bt = ts.LightCurveBatch.from_arrays(t, f, e, b)
    out = list(bt.bucket(min_objects=40))
    # 40 + 100 points (55 objects) form one group; 300 + 500 (73) the next; 900 (2) is left alone
    rung = lambda n: int(bucket_lengths(n)[-1])  # noqa: E731  (smallest padded length >= n)
    assert [(len(sub), sub.n_max) for _, sub in out] == [(55, rung(100)), (73, rung(500)),
                                                         (2, rung(900))]
    allpos = np.sort(np.concatenate([p for p, _ in out]))
    np.testing.assert_array_equal(allpos, np.arange(len(bt)))
    for pos, sub in out:
        np.testing.assert_array_equal(sub.n_obs, lengths[pos])
    # chunks of a group are near-equal (one compiled shape), never above max_objects
    sizes = [len(sub) for _, sub in bt.bucket(max_objects=30, min_objects=40)]
    assert sizes == [28, 27, 25, 24, 24, 2]
    assert [len(s) for _, s in bt.bucket(max_objects=30)] == [5, 25, 25, 3, 24, 23, 23, 2]
    with pytest.raises(ValueError, match="min_objects must be >= 1"):
        next(bt.bucket(min_objects=0))


def test_pytree_jit_vmap(batch):
    jb = batch.to_jax("float64")
    assert jb.t.dtype == jnp.float64 and jb.band.dtype == jnp.int32

    @jax.jit
    def weighted_mean(b):
        w = jnp.where(b.mask, 1.0 / b.flux_err**2, 0.0)
        return (w * b.flux).sum(1) / jnp.maximum(w.sum(1), 1e-300)

    expected = [np.average(batch.flux[i, :n], weights=batch.flux_err[i, :n] ** -2)
                for i, n in enumerate(batch.n_obs)]
    np.testing.assert_allclose(weighted_mean(jb), expected, rtol=1e-12)

    def one(lc):  # a per-object slice is the same class with [N] arrays
        assert isinstance(lc, ts.LightCurveBatch) and lc.t.ndim == 1 and lc.bands == batch.bands
        return jnp.sum(jnp.where(lc.mask, lc.t, 0.0))

    np.testing.assert_allclose(jax.vmap(one)(jb), (batch.t * batch.mask).sum(1), rtol=1e-12)
    leaves, treedef = jax.tree_util.tree_flatten(jb)
    assert len(leaves) == 6  # t, flux, flux_err, band, mask, t_ref (no meta columns here)
    np.testing.assert_array_equal(leaves[-1], batch.t_ref)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.bands == batch.bands and rebuilt.ids is None
    np.testing.assert_array_equal(rebuilt.t_ref, batch.t_ref)


def test_float32_centred_time_resolution():
    # MJD ~ 60000: raw float32 resolves ~8 minutes; centred times resolve far better
    season = 60000.0 + np.linspace(0, 180, 500) + 1e-6 * np.arange(500)
    decade = 60000.0 + np.linspace(0, 3650, 500) + 1e-6 * np.arange(500)
    raw_err = np.max(np.abs(season.astype(np.float32).astype(np.float64) - season)) * 86400
    assert raw_err > 60  # the problem centring solves
    bt = ts.LightCurveBatch.from_arrays([season, decade], [np.ones(500)] * 2)
    t32 = bt.t.astype(np.float32).astype(np.float64)
    err_s = np.abs(t32 - bt.t).max(axis=1) * 86400  # seconds
    assert err_s[0] < 1.0  # one season: better than 1 s
    assert err_s[1] < 20.0  # a 10-year baseline: ~10 s, as documented
    hi, lo = bt.time_split(np.float32)
    assert hi.dtype == np.float32 and lo.dtype == np.float32
    split_err = np.abs(hi.astype(np.float64) + lo.astype(np.float64) - bt.t).max() * 86400
    assert split_err < 1e-3  # the hi/lo pair: better than a millisecond on any baseline


@pytest.mark.no_x64
def test_import_leaves_jax_config_alone_and_to_jax_scoped():
    assert not jax.config.jax_enable_x64
    import importlib

    importlib.reload(ts)
    assert not jax.config.jax_enable_x64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "float64 truncated" warnings
        jb = ts.LightCurveBatch.from_arrays([np.arange(3.0)], [np.ones(3)]).to_jax()
    assert jb.t.dtype == np.float64
    assert not jax.config.jax_enable_x64
    jb32 = ts.LightCurveBatch.from_arrays([np.arange(3.0)], [np.ones(3)]).to_jax("float32")
    assert jb32.flux.dtype == np.float32
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int32"):
        ts.LightCurveBatch.from_arrays([np.arange(3.0)], [np.ones(3)]).to_jax("int32")


def test_summary(batch):
    s = batch.summary()
    assert list(s.index) == [10, 11, 12, 13, 14]
    np.testing.assert_array_equal(s["n_obs"], batch.n_obs)
    assert s[[f"n_{b}" for b in batch.bands]].sum(axis=1).tolist() == batch.n_obs.tolist()
    assert s.loc[13, "span_days"] == 0.0


def test_from_long_object_ids_keeps_empty_objects_in_order():
    with pytest.warns(DataQualityWarning, match="1 object\\(s\\) have no valid observations"):
        bt = ts.LightCurveBatch.from_long(["b", "a", "b"], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0],
                                          object_ids=["b", "empty", "a"])
    assert list(bt.ids) == ["b", "empty", "a"]
    np.testing.assert_array_equal(bt.n_obs, [2, 0, 1])
    with pytest.raises(ValueError, match="^detection id 'c' is not in object_ids$"):
        ts.LightCurveBatch.from_long(["c"], [1.0], [1.0], object_ids=["a"])
    with pytest.raises(ValueError, match="^object_ids must be unique; 'a' appears more than once$"):
        ts.LightCurveBatch.from_long(["a"], [1.0], [1.0], object_ids=["a", "a"])
