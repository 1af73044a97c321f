"""Tests of tsmodels.io: parquet (long and nested), Arrow, astropy Table, Rubin preset."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import MaskedColumn, Table

from tsmodels import io
from tsmodels import simulate as sim
from tsmodels.lightcurves import DataQualityWarning, LightCurveBatch

FIELDS = ("t", "flux", "flux_err", "band", "mask", "ids", "t_ref")


def assert_same_batch(a: LightCurveBatch, b: LightCurveBatch):
    assert a.bands == b.bands
    for name in FIELDS:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), check_exact=True)


@pytest.fixture(scope="module")
def batch():
    b, _ = sim.periodic(40, seed=5, n_years=1.5, ids=np.arange(40)[::-1] * 11 + 3)
    return b


@pytest.fixture(scope="module")
def str_batch():
    b, _ = sim.drw(15, seed=2, n_years=1, bands="gri", ids=[f"obj{i:03d}" for i in range(15)])
    return b


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize(("layout", "fmt"), [("long", "struct_list"), ("nested", "struct_list"),
                                             ("nested", "list_struct")])
@pytest.mark.parametrize("which", ["batch", "str_batch"])
def test_parquet_round_trip_exact(tmp_path, request, layout, fmt, which):
    b = request.getfixturevalue(which)
    path = tmp_path / "lc.parquet"
    io.write_parquet(b, path, layout=layout, nested_format=fmt)
    schema = pq.read_schema(path)
    if layout == "nested":
        assert schema.names == ["id", "lc"]
        lc = schema.field("lc").type
        assert pa.types.is_struct(lc) if fmt == "struct_list" else pa.types.is_list(lc)
    else:
        assert schema.names == ["id", "time", "flux", "flux_err", "band"]
    assert_same_batch(b, io.read_parquet(path))
    assert_same_batch(b, io.read_parquet(path, layout=layout))


def test_nested_struct_list_matches_nested_pandas_encoding(batch):
    """One row per object; lists of equal length per object, holding the object's detections."""
    table = io.to_arrow(batch, layout="nested")
    assert table.num_rows == len(batch)
    lc = table.column("lc").combine_chunks()
    lengths = [pa.compute.list_value_length(lc.field(i)).to_numpy() for i in range(lc.type.num_fields)]
    for n in lengths[1:]:
        np.testing.assert_array_equal(n, lengths[0])
    order = np.argsort(batch.ids)
    np.testing.assert_array_equal(lengths[0], batch.n_obs[order])
    first = table.slice(0, 1).to_pylist()[0]
    df = batch.to_pandas()
    one = df[df["id"] == first["id"]]
    np.testing.assert_array_equal(first["lc"]["time"], one["time"].to_numpy())
    np.testing.assert_array_equal(first["lc"]["band"], one["band"].to_numpy())


def test_arrow_round_trip_keeps_band_order():
    b = LightCurveBatch.from_arrays(t=[[60000.1, 60001.2], [60002.3]], flux=[[1.0, 2.0], [3.0]],
                                    flux_err=[[0.1, 0.1], [0.2]], band=[["r", "g"], ["r"]],
                                    ids=["a", "b"], bands=("r", "g", "z"))
    for layout in ("long", "nested"):
        back = io.from_arrow(io.to_arrow(b, layout=layout))
        assert back.bands == ("r", "g", "z")
        assert_same_batch(b, back)


def test_astropy_table_round_trip_exact(batch, str_batch):
    for b in (batch, str_batch):
        tab = io.to_table(b, flux_unit="nJy")
        assert isinstance(tab, Table)
        assert tab.colnames == ["id", "time", "flux", "flux_err", "band"]
        assert str(tab["flux"].unit) == "nJy" and str(tab["time"].unit) == "d"
        assert_same_batch(b, io.from_table(tab))


def test_astropy_masked_bytes_quantity_and_time_columns():
    from astropy import units as u
    from astropy.table import QTable
    from astropy.time import Time

    tab = QTable()
    tab["oid"] = [1, 1, 2]
    tab["mjd"] = Time([60000.5, 60001.5, 60002.5], format="mjd")
    tab["f"] = [1.0, 2.0, 3.0] * u.nJy
    tab["fe"] = MaskedColumn([0.1, 0.2, 0.3], mask=[False, True, False])
    tab["filt"] = np.array([b"g", b"r", b"g"])
    with pytest.warns(DataQualityWarning):
        b = io.from_table(tab, id_col="oid", time_col="mjd", flux_col="f", flux_err_col="fe", band_col="filt")
    assert b.bands == ("g", "r")
    np.testing.assert_array_equal(b.n_obs, [1, 1])
    assert b.dropped.loc[1, "bad_flux_err"] == 1
    np.testing.assert_array_equal(b.mjd[b.mask], [60000.5, 60002.5])


# --------------------------------------------------------------------------- presets
def _rubin_frame(b, id_name, time_name):
    return b.to_pandas().rename(columns={"id": id_name, "time": time_name, "flux": "psfFlux",
                                         "flux_err": "psfFluxErr"})


@pytest.mark.parametrize(("id_name", "time_name"), [("diaObjectId", "midpointMjdTai"),
                                                    ("objectId", "expMidptMJD")])
def test_rubin_preset_long_both_variants(tmp_path, batch, id_name, time_name):
    df = _rubin_frame(batch, id_name, time_name)
    df["extra"] = 1.0  # other columns are not read
    path = tmp_path / "dia.parquet"
    df.sample(frac=1.0, random_state=0).to_parquet(path)  # any row order
    got = io.read_parquet(path, preset="rubin")
    assert_same_batch(batch, got)
    assert_same_batch(batch, io.from_arrow(pa.Table.from_pandas(df), preset="rubin"))


@pytest.mark.parametrize(("id_name", "time_name"), [("diaObjectId", "midpointMjdTai"),
                                                    ("objectId", "expMidptMJD")])
def test_rubin_preset_nested_both_variants(tmp_path, batch, id_name, time_name):
    table = io.to_arrow(batch, layout="nested", id_col=id_name, time_col=time_name,
                        flux_col="psfFlux", flux_err_col="psfFluxErr", nested_col="diaSource")
    table = table.append_column("ra", pa.array(np.arange(table.num_rows) * 1.5))
    path = tmp_path / "obj.parquet"
    pq.write_table(table, path)
    got = io.read_parquet(path, preset="rubin")
    # the object-level column is a per-object column, in the table's (sorted-id) order
    np.testing.assert_array_equal(got.meta["ra"], np.arange(table.num_rows) * 1.5)
    got.meta = {}
    assert_same_batch(batch, got)


def test_rubin_preset_writes_rubin_names(tmp_path, batch):
    path = tmp_path / "r.parquet"
    io.write_parquet(batch, path, preset="rubin")
    assert pq.read_schema(path).names == ["diaObjectId", "midpointMjdTai", "psfFlux", "psfFluxErr", "band"]
    assert io.RUBIN == dict(id_col="diaObjectId", time_col="midpointMjdTai", flux_col="psfFlux",
                            flux_err_col="psfFluxErr", band_col="band")
    assert_same_batch(batch, io.read_parquet(path, **io.RUBIN))


def test_explicit_names_and_missing_column_message(batch):
    df = batch.to_pandas().rename(columns={"time": "mjd", "band": "filter"})
    table = pa.Table.from_pandas(df)
    assert_same_batch(batch, io.from_arrow(table, time_col="mjd", band_col="filter"))
    with pytest.raises(ValueError, match=r"time_col: column time not found in the table; available: "):
        io.from_arrow(table)
    with pytest.raises(ValueError, match=r"id_col: column any of \['diaObjectId', 'objectId'\] not found"):
        io.from_arrow(table, preset="rubin")
    with pytest.raises(ValueError, match="unknown preset 'ztf'"):
        io.from_arrow(table, preset="ztf")


def test_single_band_long_table():
    table = pa.table({"id": [1, 1, 2], "time": [1.0, 2.0, 3.0], "flux": [1.0, 2.0, 3.0],
                      "flux_err": [1.0, 1.0, 1.0]})
    b = io.from_arrow(table)
    assert b.bands == ("band",)
    np.testing.assert_array_equal(b.n_obs, [2, 1])


# --------------------------------------------------------------------------- nested specifics
def test_nested_empty_object_is_kept_and_reported():
    lc = pa.StructArray.from_arrays(
        [pa.array([[1.0, 2.0], [], [5.0]]), pa.array([[1.0, 2.0], [], [3.0]]),
         pa.array([[0.1, 0.1], [], [0.1]]), pa.array([["g", "r"], [], ["g"]])],
        names=["time", "flux", "flux_err", "band"])
    table = pa.table({"id": [30, 10, 20], "lc": lc})
    with pytest.warns(DataQualityWarning, match="1 object"):
        b = io.from_arrow(table)
    np.testing.assert_array_equal(b.ids, [10, 20, 30])
    np.testing.assert_array_equal(b.n_obs, [0, 1, 2])
    with pytest.raises(ValueError, match="object 10 has no valid observations"):
        io.from_arrow(table, strict=True)


def test_nested_bad_point_counted_and_strict_names_the_sub_column():
    lc = pa.array([[{"midpointMjdTai": 1.0, "psfFlux": np.nan, "psfFluxErr": 0.1, "band": "g"},
                    {"midpointMjdTai": 2.0, "psfFlux": 1.0, "psfFluxErr": 0.1, "band": "g"}]])
    table = pa.table({"diaObjectId": [7], "src": lc})
    with pytest.warns(DataQualityWarning):
        b = io.from_arrow(table, preset="rubin")
    assert b.dropped.loc[7, "nonfinite_flux"] == 1
    with pytest.raises(ValueError, match="object 7: column 'psfFlux' has a non-finite value"):
        io.from_arrow(table, preset="rubin", strict=True)


def test_nested_top_level_list_columns():
    table = pa.table({"id": ["a", "b"], "time": [[1.0, 2.0], [3.0]], "flux": [[1.0, 2.0], [3.0]],
                      "flux_err": [[0.1, 0.2], [0.3]], "band": [["g", "g"], ["r"]]})
    b = io.from_arrow(table)
    ref = io.from_arrow(pa.table({"id": ["a", "a", "b"], "time": [1.0, 2.0, 3.0], "flux": [1.0, 2.0, 3.0],
                                  "flux_err": [0.1, 0.2, 0.3], "band": ["g", "g", "r"]}))
    assert_same_batch(ref, b)


def test_nested_unequal_lists_and_ambiguous_columns():
    bad = pa.StructArray.from_arrays([pa.array([[1.0, 2.0]]), pa.array([[1.0]]), pa.array([[0.1, 0.1]])],
                                     names=["time", "flux", "flux_err"])
    with pytest.raises(ValueError, match="sub-column 'flux' has lists of different lengths"):
        io.from_arrow(pa.table({"id": [1], "lc": bad}))
    ok = pa.StructArray.from_arrays([pa.array([[1.0]]), pa.array([[1.0]]), pa.array([[0.1]])],
                                    names=["time", "flux", "flux_err"])
    two = pa.table({"id": [1], "a": ok, "b": ok})
    with pytest.raises(ValueError, match=r"several nested columns .*\['a', 'b'\].*nested_col="):
        io.from_arrow(two)
    assert io.from_arrow(two, nested_col="b").n_obs.tolist() == [1]


def test_read_parquet_filters(tmp_path, batch):
    path = tmp_path / "lc.parquet"
    io.write_parquet(batch, path)
    keep = np.sort(batch.ids)[:5]
    got = io.read_parquet(path, filters=[("id", "<=", int(keep[-1]))])
    np.testing.assert_array_equal(got.ids, keep)
    assert_same_batch(batch.loc[keep], got)


# --------------------------------------------------------------------------- scale
def test_1e5_detections_built_without_a_python_loop():
    """1e5 detections of 2e4 objects: a per-object Python loop would take seconds here."""
    rng = np.random.default_rng(0)
    n_obj, m = 20_000, 100_000
    ids = rng.integers(0, n_obj, m)
    long = pa.table({"id": ids, "time": 60000 + rng.uniform(0, 1000, m), "flux": rng.normal(size=m),
                     "flux_err": np.full(m, 0.1), "band": rng.choice(list("ugrizy"), m)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start = time.perf_counter()
        b = io.from_arrow(long)
        t_long = time.perf_counter() - start
        nested = io.to_arrow(b, layout="nested")
        start = time.perf_counter()
        b2 = io.from_arrow(nested)
        t_nested = time.perf_counter() - start
    assert int(b.n_obs.sum()) == m
    assert_same_batch(b, b2)
    assert t_long < 2.0 and t_nested < 2.0, (t_long, t_nested)


def test_reads_the_schema_nested_pandas_writes(batch):
    """nested-pandas (0.7) writes a struct of lists with ``element`` items and large strings."""
    ref = io.to_arrow(batch, layout="nested")
    lc = ref.column("lc").combine_chunks()
    item = lambda t: pa.list_(pa.field("element", t))  # noqa: E731
    typ = pa.struct([("time", item(pa.float64())), ("flux", item(pa.float64())),
                     ("flux_err", item(pa.float64())), ("band", item(pa.large_string()))])
    lc = lc.cast(typ)
    table = pa.table({"id": ref.column("id"), "lc": lc})  # no tsmodels metadata
    assert_same_batch(batch, io.from_arrow(table))
