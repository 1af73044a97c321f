"""Per-object columns (``LightCurveBatch.meta``): construction, round trips, and models that
need them (``Model.meta_columns``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pyarrow as pa
import pytest

import tsmodels as ts
from tsmodels.fitting.results import MISSING_META, OK
from tsmodels.models import Model


def _batch(rng, B=5, n=30, meta=None):
    t = [60000 + np.sort(rng.uniform(0, 100, n)) for _ in range(B)]
    f = [rng.normal(100, 1, n) for _ in range(B)]
    b = [rng.choice(list("gr"), n) for _ in range(B)]
    return ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=[np.ones(n)] * B, band=b,
                                          ids=[f"o{i}" for i in range(B)], meta=meta)


def test_from_arrays_meta_and_views(rng):
    z = np.array([0.01, 0.02, np.nan, 0.04, 0.05])
    batch = _batch(rng, meta={"z": z, "mwebv": 0.03})
    np.testing.assert_array_equal(batch.meta["z"], z)
    np.testing.assert_array_equal(batch.meta["mwebv"], 0.03)
    assert batch.meta["z"].dtype == np.float64
    np.testing.assert_array_equal(batch[1:3].meta["z"], z[1:3])
    np.testing.assert_array_equal(batch.loc[["o4", "o0"]].meta["z"], z[[4, 0]])
    for pos, sub in batch.bucket(max_objects=2):
        np.testing.assert_array_equal(sub.meta["z"], z[pos])
    frame = batch.meta_frame()
    assert list(frame.index) == list(batch.ids) and list(frame.columns) == ["z", "mwebv"]
    with pytest.raises(ValueError, match=r"meta column 'z' has shape \(2,\), expected \(5,\)"):
        _batch(rng, meta={"z": [1.0, 2.0]})
    with pytest.raises(TypeError, match="meta column 'name' must be numeric"):
        _batch(rng, meta={"name": ["a", "b", "c", "d", "e"]})
    more = batch.with_meta(ra=np.arange(5.0))
    assert set(more.meta) == {"z", "mwebv", "ra"} and "ra" not in batch.meta


def test_from_pandas_object_table_and_constant_columns(rng):
    batch = _batch(rng, meta={"z": np.arange(5) / 10})
    df = batch.to_pandas()
    assert "z" in df.columns  # per-object columns repeated on every detection
    back = ts.LightCurveBatch.from_pandas(df, meta_cols=["z"])
    np.testing.assert_array_equal(back.meta["z"], batch.meta["z"])
    # a separate object table joined on the id (an object it lacks: NaN and a warning)
    objects = pd.DataFrame({"id": ["o3", "o0", "o1", "o2"], "ebv": [0.3, 0.0, 0.1, 0.2]})
    with pytest.warns(ts.DataQualityWarning, match="1 object"):
        joined = ts.LightCurveBatch.from_pandas(df.drop(columns="z"), meta=objects)
    np.testing.assert_array_equal(joined.meta["ebv"], [0.0, 0.1, 0.2, 0.3, np.nan])
    # a column that is not constant within an object is refused, naming the object
    bad = df.copy()
    bad.loc[bad.index[bad["id"] == "o2"][0], "z"] = 9.0
    with pytest.raises(ValueError, match="meta column 'z' is not constant within object 'o2'"):
        ts.LightCurveBatch.from_pandas(bad, meta_cols=["z"])
    with pytest.raises(ValueError, match="meta column 'zz' not in the table"):
        ts.LightCurveBatch.from_pandas(df, meta_cols=["zz"])
    dup = pd.DataFrame({"id": ["o1", "o1"], "ebv": [0.1, 0.2]})
    with pytest.raises(ValueError, match="more than one row for id 'o1'"):
        ts.LightCurveBatch.from_pandas(df, meta=dup)
    arrow = ts.LightCurveBatch.from_arrow(pa.Table.from_pandas(df), meta_cols=["z"])
    np.testing.assert_array_equal(arrow.meta["z"], batch.meta["z"])


@pytest.mark.parametrize("layout", ["long", "nested"])
def test_parquet_round_trip_keeps_meta(rng, tmp_path, layout):
    batch = _batch(rng, meta={"z": [0.1, np.nan, 0.3, 0.4, 0.5], "ra": [1.0, 2.0, 3.0, 4.0, 359.5]})
    path = tmp_path / f"{layout}.parquet"
    ts.io.write_parquet(batch, path, layout=layout)
    back = ts.io.read_parquet(path)
    for k in ("z", "ra"):
        np.testing.assert_array_equal(back.meta[k], batch.meta[k])
    np.testing.assert_array_equal(back.t, batch.t)


def test_object_without_points_is_named_by_the_long_layout_and_kept_by_the_nested(rng, tmp_path):
    t = [60000 + np.arange(5.0), 60000 + np.arange(3.0), 60000 + np.arange(4.0)]
    f = [np.ones(5), np.full(3, np.nan), np.ones(4)]  # object "b": every point invalid
    with pytest.warns(ts.lightcurves.DataQualityWarning):
        batch = ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=[np.ones(5), np.ones(3), np.ones(4)],
                                               ids=["a", "b", "c"], meta={"z": [0.1, 0.2, 0.3]})
    np.testing.assert_array_equal(batch.n_obs, [5, 0, 4])
    with pytest.warns(ts.lightcurves.DataQualityWarning, match=r"1 object\(s\) with no valid point \(b\)"):
        df = batch.to_pandas()
    assert sorted(set(df["id"])) == ["a", "c"] and len(df) == 9
    with pytest.warns(ts.lightcurves.DataQualityWarning, match="meta_frame"):
        ts.io.write_parquet(batch, tmp_path / "long.parquet", layout="long")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ts.lightcurves.DataQualityWarning)
        ts.io.write_parquet(batch, tmp_path / "nested.parquet", layout="nested")
    with pytest.warns(ts.lightcurves.DataQualityWarning):  # read back: reported as empty, not lost
        back = ts.io.read_parquet(tmp_path / "nested.parquet")
    np.testing.assert_array_equal(back.ids, ["a", "b", "c"])
    np.testing.assert_array_equal(back.meta["z"], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(batch.meta_frame().loc["b", "z"], 0.2)


def test_nested_object_level_columns_and_rubin_positions(rng):
    # nested: numeric top-level columns are per-object columns
    batch = _batch(rng, B=3)
    table = ts.io.to_arrow(batch, layout="nested").append_column("z", pa.array([0.1, 0.2, 0.3]))
    table = table.append_column("survey", pa.array(["a", "b", "c"]))
    got = ts.io.from_arrow(table)
    assert set(got.meta) == {"z"}
    np.testing.assert_array_equal(got.meta["z"], [0.1, 0.2, 0.3])
    # Rubin preset, long DiaSource-like table: each object's mean position from its sources,
    # averaged as unit vectors (an object straddling RA = 0 stays near 0, not at 180)
    n = 6
    df = pd.DataFrame({
        "diaObjectId": np.repeat([11, 22], n),
        "midpointMjdTai": 60000 + np.tile(np.arange(n, dtype=float), 2),
        "psfFlux": rng.normal(1000, 10, 2 * n), "psfFluxErr": np.full(2 * n, 10.0),
        "band": ["r"] * (2 * n),
        "ra": np.r_[np.array([359.9999, 0.0001] * 3), np.full(n, 150.0)],
        "dec": np.r_[np.full(n, -30.0), np.full(n, 2.0)],
    })
    rub = ts.io.from_arrow(pa.Table.from_pandas(df), preset="rubin")
    np.testing.assert_allclose(rub.meta["dec"], [-30.0, 2.0], atol=1e-9)
    ra = rub.meta["ra"]
    assert min(ra[0], 360 - ra[0]) < 1e-6 and abs(ra[1] - 150.0) < 1e-9


@dataclass(frozen=True)
class Redshifted(Model):
    """flux = L / (1 + z) with z from the batch, plus a term in absolute time: a model that
    needs a per-object column (and reads the absolute epoch)."""

    meta_columns = ("z",)
    param_names = ("L",)
    slope: float = 0.0  # flux per day of absolute time since MJD 60000

    @property
    def priors(self):
        return {"L": dist.Uniform(0.0, 1e4)}

    def init(self, batch, n_starts):
        return {"L": np.full((len(batch), n_starts), 150.0)}

    def predict(self, params, lc, t=None, band=None):
        tt = lc.t if t is None else t
        return params["L"] / (1.0 + lc.meta["z"]) + self.slope * (tt + lc.t_ref - 60000.0)

    def residuals(self, params, lc):
        return jnp.where(lc.mask, (lc.flux - self.predict(params, lc)) / lc.flux_err, 0.0)


def _redshifted_batch(rng, z, slope=0.0, n=40):
    B = len(z)
    t = [60000 + 50 * i + np.sort(rng.uniform(0, 100, n)) for i in range(B)]
    L = 100.0 + 10 * np.arange(B)
    f = [L[i] / (1 + z[i]) + slope * (t[i] - 60000) + rng.normal(0, 0.5, n) for i in range(B)]
    return ts.LightCurveBatch.from_arrays(t=t, flux=f, flux_err=[np.full(n, 0.5)] * B,
                                          meta={"z": z}), L


def test_models_read_meta_and_absolute_epochs(rng):
    z = np.linspace(0.0, 1.0, 8)
    batch, L = _redshifted_batch(rng, z, slope=0.2)
    res = ts.fit(Redshifted(slope=0.2), batch)
    assert np.all(res.status == OK)
    np.testing.assert_allclose(res.values["L"], L, rtol=0.01)
    lcs = batch.to_jax()
    np.testing.assert_array_equal(jax.vmap(lambda lc: lc.t_ref + lc.t[0])(lcs), batch.mjd[:, 0])
    np.testing.assert_array_equal(jax.vmap(lambda lc: lc.meta["z"])(lcs), z)


def test_missing_meta_column_raises_and_nan_flags_only_that_object(rng):
    z = np.linspace(0.1, 0.8, 12)
    batch, L = _redshifted_batch(rng, z)
    plain = batch[:]
    plain.meta = {}
    with pytest.raises(ValueError, match=r"Redshifted needs the per-object column\(s\) \['z'\]"):
        ts.fit(Redshifted(), plain)
    ref = ts.fit(Redshifted(), batch)
    z_bad = z.copy()
    z_bad[5] = np.nan
    out = ts.fit(Redshifted(), batch.with_meta(z=z_bad))
    assert out.status[5] == MISSING_META and np.isnan(out.values["L"][5]) and np.isnan(out.loglike[5])
    keep = np.arange(12) != 5
    np.testing.assert_array_equal(out.values["L"][keep], ref.values["L"][keep])
    np.testing.assert_array_equal(out.errors["L"][keep], ref.errors["L"][keep])
    np.testing.assert_array_equal(out.loglike[keep], ref.loglike[keep])
    assert ts.fitting.STATUS[MISSING_META] == "MISSING_META"
    post = ts.sample(Redshifted(), batch.with_meta(z=z_bad)[:6], num_warmup=50, num_samples=50,
                     num_chains=1)
    assert post.status[5] == MISSING_META and np.isnan(post.stats["L"]["mean"][5])
    assert np.all(post.status[:5] == OK)


def test_single_band_models_and_periodogram_warn_when_pooling_bands(rng):
    """The warning is raised before anything is compiled (here turned into an error, so each
    call stops at it); a band, or single-band data, silences it."""
    batch = _batch(rng, B=3, n=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ts.PooledBandsWarning)
        with pytest.raises(ts.PooledBandsWarning, match=r"DRW\(band=None\).*Pass band="):
            ts.fit(ts.models.DRW(), batch)
        with pytest.raises(ts.PooledBandsWarning, match=r"DHO\(band=None\).*Pass band="):
            ts.sample(ts.models.DHO(), batch)
        with pytest.raises(ts.PooledBandsWarning, match=r"CARMA\(2,1\)\(band=None\)"):
            ts.fit(ts.models.CARMA(2, 1), batch, max_steps=5)
        with pytest.raises(ts.PooledBandsWarning,
                           match=r"ts.lombscargle\(band=None\).*lombscargle_multiband"):
            ts.lombscargle(batch, np.linspace(0.1, 1.0, 20))
        for model in (ts.models.DRW(band="g"), ts.models.DHO(band="g"), ts.models.CARMA(2, 1, band="r")):
            model.check_batch(batch)  # what ts.fit and ts.sample call first: silent
        g_only = ts.LightCurveBatch.from_arrays(t=[batch.mjd[0]], flux=[batch.flux[0]],
                                                flux_err=[batch.flux_err[0]],
                                                band=[np.full(batch.t.shape[1], "g")])
        ts.models.DRW().check_batch(g_only)  # one band with points: nothing is pooled
        ts.lombscargle(batch, np.linspace(0.1, 1.0, 20), band="r")
    with pytest.warns(ts.PooledBandsWarning):  # a plain warning by default: the call goes on
        ts.fit(ts.models.DRW(), batch)
    with pytest.raises(ValueError, match=r"band 'u' is not in the batch's bands"):
        ts.fit(ts.models.DHO(band="u"), batch)


def test_per_point_columns_follow_selection_padding_and_devices(rng):
    """``with_points`` columns ride along with sub-batches, padding (0 there), ``to_jax`` and
    the engine's device batches, and reach the model as ``lc.points`` ``[N]``; a column of the
    wrong shape or with NaN at a real point is a ValueError."""
    from tsmodels import engine

    t = [np.sort(rng.uniform(0, 10, n)) for n in (5, 9, 3)]
    batch = ts.LightCurveBatch.from_arrays(t=t, flux=[np.ones(len(x)) for x in t],
                                           flux_err=[np.ones(len(x)) for x in t])
    col = np.where(np.asarray(batch.mask), np.arange(batch.t.size).reshape(batch.t.shape) + 1.0, 7.0)
    b = batch.with_points(w=col)
    assert np.all(b.points["w"][~np.asarray(b.mask)] == 0)
    sub = b[[2, 0]].pad_to(12)
    np.testing.assert_array_equal(sub.points["w"][1, :5], col[0, :5])
    assert sub.points["w"].shape == (2, 12) and np.all(sub.points["w"][:, 5:] == 0)
    assert b.with_meta(z=[1.0, 2.0, 3.0]).points.keys() == {"w"}
    one = jax.tree_util.tree_map(lambda x: x[1], b.to_jax("float32"))
    assert one.points["w"].dtype == jnp.float32 and one.points["w"].shape == (9,)
    for ch in engine.plan(b, batch_size=2, workers=1):
        dev = engine.device_batch(ch, np.float64)
        np.testing.assert_array_equal(np.asarray(dev.points["w"])[:len(ch)], ch.batch.points["w"])
    with pytest.raises(ValueError, match="shape"):
        batch.with_points(w=np.ones(3))
    bad = col.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        batch.with_points(w=bad)
