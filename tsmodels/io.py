"""Readers and writers between light-curve tables and :class:`~tsmodels.lightcurves.LightCurveBatch`.

Two table layouts are understood, in parquet files and in memory (``pyarrow.Table``):

* **long**: one row per detection, columns id, time, flux, flux_err, band.
* **nested**: one row per object, as nested-pandas and LSDB store light curves: an id column and
  a nested column (default ``"lc"``) holding the detections. Three encodings are read: a struct of
  equal-length lists (``lc: struct<time: list<double>, flux: list<double>, ...>``, what
  nested-pandas writes and the default here; parquet readers can load it sub-column by
  sub-column), a list of structs (``lc: list<struct<time, flux, ...>>``), and plain top-level list
  columns. nested-pandas (0.7) reads both nested encodings written here as a nested column.

Column names come, in this order, from explicit keywords (``time_col="mjd"``), from a preset
(``preset="rubin"``: :data:`RUBIN`, where ``objectId`` and ``expMidptMJD`` are recognised as well
as ``diaObjectId`` and ``midpointMjdTai``), or from the defaults ``id, time, flux, flux_err,
band`` (the columns of ``batch.to_pandas()``). Without an explicit ``band_col``, a missing band
column means single-band data.

Everything is columnar: nested columns are flattened with ``pyarrow.compute`` (``list_flatten``,
``list_parent_indices``) and rebuilt with ``ListArray.from_arrays`` from offsets; no Python loop
runs over objects or detections. All readers end in the batch's vectorised constructor
(:meth:`LightCurveBatch.from_long`), which validates the data once (bad points dropped and counted,
or ``strict=True`` raising).

Writers record the batch's band order in the table's schema metadata (key ``tsmodels``) and
readers use it when ``bands`` is not given, so a round trip gives the same batch exactly.

Per-object columns (:attr:`LightCurveBatch.meta`: redshift, E(B-V), sky position ...): in the
nested layout they are the table's numeric top-level columns besides the id (read by default);
in the long layout, columns repeated on every detection of an object, named by ``meta_cols``
(the writer records their names, so a round trip restores them). With the Rubin preset, a long
table's per-detection ``ra``/``dec`` give each object's mean position (the unit-vector mean), as
``ra``, ``dec`` in degrees. ``meta=`` joins a separate object table on the id.

Times are read as stored (MJD in the table's own time scale; astropy ``Time`` columns as ``.mjd``).
Fluxes keep their unit (Rubin: nJy).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tsmodels.lightcurves import LightCurveBatch

__all__ = [
    "RUBIN",
    "PRESETS",
    "read_parquet",
    "write_parquet",
    "from_arrow",
    "to_arrow",
    "from_table",
    "to_table",
]

_FIELDS = ("id_col", "time_col", "flux_col", "flux_err_col", "band_col")
_KEY = {"id_col": "id", "time_col": "time", "flux_col": "flux", "flux_err_col": "flux_err",
        "band_col": "band"}

#: Rubin (LSST) DIA source / forced source column names.
RUBIN = dict(id_col="diaObjectId", time_col="midpointMjdTai", flux_col="psfFlux",
             flux_err_col="psfFluxErr", band_col="band")

#: Column-name presets: for each keyword, the names tried in order (the first is used on writing).
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "default": {"id_col": ("id",), "time_col": ("time",), "flux_col": ("flux",),
                "flux_err_col": ("flux_err",), "band_col": ("band",)},
    "rubin": {"id_col": ("diaObjectId", "objectId"), "time_col": ("midpointMjdTai", "expMidptMJD"),
              "flux_col": ("psfFlux",), "flux_err_col": ("psfFluxErr",), "band_col": ("band",)},
}

_LAYOUTS = ("auto", "long", "nested")
_META_KEY = b"tsmodels"  # schema metadata written by to_arrow: {"bands": [...]}
_NESTED_FORMATS = ("struct_list", "list_struct")


# --------------------------------------------------------------------------- column names
def _candidates(preset, explicit: Mapping[str, str | None]) -> dict[str, tuple[tuple[str, ...], bool]]:
    """For each keyword: the names to try and whether the name was given explicitly."""
    if preset is None:
        preset = "default"
    if isinstance(preset, str):
        if preset.lower() not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known presets are {sorted(PRESETS)}")
        table = PRESETS[preset.lower()]
    elif isinstance(preset, Mapping):
        unknown = set(preset) - set(_FIELDS)
        if unknown:
            raise ValueError(f"preset keys must be among {_FIELDS}, got {sorted(unknown)}")
        given = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in preset.items()}
        table = {**PRESETS["default"], **given}
    else:
        raise TypeError(f"preset must be a name or a mapping, got {type(preset).__name__}")
    out = {}
    for f in _FIELDS:
        name = explicit.get(f)
        out[f] = ((name,), True) if name is not None else (tuple(table[f]), False)
    return out


def _pick(field: str, cands: tuple[tuple[str, ...], bool], available: Sequence[str],
          where: str) -> str | None:
    names, explicit = cands
    for name in names:
        if name in available:
            return name
    if field == "band_col" and not explicit:
        return None  # single-band data
    tried = names[0] if len(names) == 1 else f"any of {list(names)}"
    raise ValueError(f"{field}: column {tried} not found in {where}; available: {list(available)}")


def _write_names(preset, explicit) -> dict[str, str]:
    return {f: c[0][0] for f, c in _candidates(preset, explicit).items()}


# --------------------------------------------------------------------------- arrow -> batch
def _stored_bands(metadata) -> tuple[str, ...] | None:
    """The band order recorded by :func:`to_arrow`, if any."""
    if not metadata or _META_KEY not in metadata:
        return None
    try:
        return tuple(json.loads(metadata[_META_KEY])["bands"])
    except (ValueError, KeyError, TypeError):
        return None


def _stored_meta(metadata) -> tuple[str, ...] | None:
    """The per-object columns recorded by :func:`to_arrow` for the long layout, if any."""
    if not metadata or _META_KEY not in metadata:
        return None
    try:
        return tuple(json.loads(metadata[_META_KEY]).get("meta", ()))
    except (ValueError, TypeError, AttributeError):
        return None


def _is_rubin(preset) -> bool:
    return isinstance(preset, str) and preset.lower() == "rubin"


def _mean_position(obj_ids, ra, dec):
    """Per-object mean sky position (degrees) of per-detection ``ra``/``dec``: the direction of
    the mean unit vector, so positions across RA = 0 average correctly."""
    codes, uniq = pd.factorize(obj_ids, sort=True)
    ra_r, dec_r = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    ok = np.isfinite(ra_r) & np.isfinite(dec_r)
    vec = np.stack([np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r), np.sin(dec_r)], 1)
    s = np.zeros((len(uniq), 3))
    np.add.at(s, codes[ok], vec[ok])
    n = np.bincount(codes[ok], minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        ra_m = np.degrees(np.arctan2(s[:, 1], s[:, 0])) % 360.0
        dec_m = np.degrees(np.arctan2(s[:, 2], np.hypot(s[:, 0], s[:, 1])))
    ra_m = np.where(n > 0, ra_m, np.nan)
    dec_m = np.where(n > 0, dec_m, np.nan)
    return pd.DataFrame({"ra": ra_m, "dec": dec_m}, index=pd.Index(uniq, name="id"))


def _merge_tables(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if not isinstance(a, pd.DataFrame):
        a = a.to_pandas()
    if "id" in a.columns:
        a = a.set_index("id")
    return a.join(b, how="outer", rsuffix="_pos")


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _nested_kind(t: pa.DataType) -> str | None:
    if _is_list(t) and pa.types.is_struct(t.value_type):
        return "list_struct"
    if pa.types.is_struct(t) and t.num_fields and all(_is_list(t.field(i).type) for i in range(t.num_fields)):
        return "struct_list"
    return None


def _subfields(t: pa.DataType, kind: str) -> list[str]:
    st = t.value_type if kind == "list_struct" else t
    return [st.field(i).name for i in range(st.num_fields)]


def _numpy(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column as a NumPy array: floats with nulls as NaN, dictionaries decoded, strings as objects."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_integer(col.type) and col.null_count:
        col = col.cast(pa.float64())  # null -> NaN: caught by validation (or as a missing id)
    return col.to_numpy(zero_copy_only=False)


def from_arrow(
    table: pa.Table,
    *,
    layout: str = "auto",
    preset: str | Mapping | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    flux_col: str | None = None,
    flux_err_col: str | None = None,
    band_col: str | None = None,
    nested_col: str | None = None,
    bands: Sequence[str] | None = None,
    strict: bool = False,
    n_pad: int | None = None,
    meta=None,
    meta_cols: Sequence[str] | None = None,
) -> LightCurveBatch:
    """Build a batch from a long or nested ``pyarrow.Table``.

    Args:
        table: the table.
        layout: "long" (one row per detection), "nested" (one row per object) or "auto" (nested
            if the table has a nested/list column holding the time column, else long).
        preset: column-name preset ("default", "rubin") or a mapping ``{keyword: name or names}``.
        id_col, time_col, flux_col, flux_err_col, band_col: column names, overriding the preset.
            In the nested layout the id is a top-level column and the others are sub-columns of
            the nested column (or top-level list columns).
        nested_col: the nested column; default: the only nested column that holds the time and
            flux sub-columns.
        bands: band names and order; default: the order recorded by :func:`to_arrow` in the
            schema metadata, else inferred (ugrizy order).
        strict, n_pad: passed to :meth:`LightCurveBatch.from_long`.
        meta: an object table (DataFrame or Table, indexed by id or with the id column) whose
            numeric columns become per-object columns, joined on the id.
        meta_cols: per-object columns of the table: long layout, columns constant within each
            object (default: those recorded by :func:`to_arrow`); nested layout, top-level
            columns (default: every numeric top-level column besides the id).

    Returns:
        The batch, objects in sorted-id order. In the nested layout, an object whose list is
        empty is kept (fully masked) and reported like other empty objects.

    Raises:
        ValueError: for a missing column, an ambiguous nested column, nested lists of unequal
            lengths, or (``strict=True``) invalid data.
    """
    if not isinstance(table, pa.Table):
        raise TypeError(f"from_arrow expects a pyarrow Table, got {type(table).__name__}")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
    cands = _candidates(preset, dict(id_col=id_col, time_col=time_col, flux_col=flux_col,
                                     flux_err_col=flux_err_col, band_col=band_col))
    layout, nested_col, kind = _resolve_layout(table.schema, layout, nested_col, cands)
    if bands is None:
        bands = _stored_bands(table.schema.metadata)
    if layout == "long":
        if meta_cols is None:
            meta_cols = _stored_meta(table.schema.metadata)
        return _from_long_table(table, cands, bands=bands, strict=strict, n_pad=n_pad, meta=meta,
                                meta_cols=meta_cols, rubin=_is_rubin(preset))
    return _from_nested_table(table, cands, nested_col, kind, bands=bands, strict=strict, n_pad=n_pad,
                              meta=meta, meta_cols=meta_cols)


def _resolve_layout(schema: pa.Schema, layout, nested_col, cands):
    """Decide the layout and, for nested data, the nested column and its encoding."""
    if nested_col is not None:
        if nested_col not in schema.names:
            raise ValueError(f"nested_col {nested_col!r} not in the table; columns are {schema.names}")
        kind = _nested_kind(schema.field(nested_col).type)
        if kind is None:
            raise ValueError(f"column {nested_col!r} is not a nested column (list of structs or struct "
                             f"of lists), its type is {schema.field(nested_col).type}")
        if layout == "long":
            raise ValueError("nested_col was given with layout='long'")
        return "nested", nested_col, kind
    time_names = cands["time_col"][0]
    if layout in ("auto", "nested"):
        found = []
        for f in schema:
            kind = _nested_kind(f.type)
            if kind is not None and any(n in _subfields(f.type, kind) for n in time_names):
                found.append((f.name, kind))
        if len(found) > 1:
            raise ValueError(f"several nested columns hold a time sub-column {[n for n, _ in found]}; "
                             "choose one with nested_col=")
        if found:
            return "nested", found[0][0], found[0][1]
        time_top = [n for n in time_names if n in schema.names]
        if time_top and _is_list(schema.field(time_top[0]).type):
            return "nested", None, "lists"
        if layout == "nested":
            raise ValueError(f"layout='nested' but no nested column holds a time sub-column "
                             f"(tried {list(time_names)}); columns are {schema.names}")
    return "long", None, None


def _from_long_table(table, cands, *, bands, strict, n_pad, meta=None, meta_cols=None, rubin=False):
    names = table.column_names
    cols = {f: _pick(f, cands[f], names, "the table") for f in _FIELDS}
    get = lambda f: None if cols[f] is None else _numpy(table.column(cols[f]))  # noqa: E731
    meta_cols = list(meta_cols or ())
    missing = [c for c in meta_cols if c not in names]
    if missing:
        raise ValueError(f"meta column(s) {missing} not in the table; available: {names}")
    ids = get("id_col")
    if rubin and "ra" in names and "dec" in names and "ra" not in meta_cols and "dec" not in meta_cols:
        meta = _merge_tables(meta, _mean_position(ids, _numpy(table.column("ra")),
                                                  _numpy(table.column("dec"))))
    per_det = {c: _numpy(table.column(c)) for c in meta_cols}
    meta_arg = None
    if meta is not None or per_det:
        meta_arg = {"__table__": (meta, cols["id_col"]), **per_det}
    return LightCurveBatch.from_long(
        ids, get("time_col"), get("flux_col"), get("flux_err_col"), get("band_col"),
        bands=bands, strict=strict, n_pad=n_pad, names={_KEY[f]: c for f, c in cols.items()},
        meta=meta_arg)


def _object_columns(table, id_name, nested_col, kind, meta_cols):
    """Top-level per-object columns of a nested table: ``meta_cols`` or every numeric one."""
    if meta_cols is not None:
        missing = [c for c in meta_cols if c not in table.column_names]
        if missing:
            raise ValueError(f"meta column(s) {missing} not in the table; columns are {table.column_names}")
        return list(meta_cols)
    skip = {id_name, nested_col}
    out = []
    for f in table.schema:
        if f.name in skip or (kind == "lists" and _is_list(f.type)):
            continue
        if pa.types.is_floating(f.type) or pa.types.is_integer(f.type) or pa.types.is_boolean(f.type):
            out.append(f.name)
    return out


def _from_nested_table(table, cands, nested_col, kind, *, bands, strict, n_pad, meta=None, meta_cols=None):
    id_name = _pick("id_col", cands["id_col"], table.column_names, "the table")
    obj_cols = _object_columns(table, id_name, nested_col, kind, meta_cols)
    if kind == "lists":
        sub_available = [f.name for f in table.schema if _is_list(f.type)]
        where = "the table's list columns"
    else:
        sub_available = _subfields(table.schema.field(nested_col).type, kind)
        where = f"nested column {nested_col!r}"
    sub = {f: _pick(f, cands[f], sub_available, where) for f in _FIELDS[1:]}

    def lists(name: str) -> pa.Array:
        """The list array holding sub-column ``name``."""
        if kind == "lists":
            return table.column(name).combine_chunks()
        col = table.column(nested_col).combine_chunks()
        if kind == "struct_list":
            return pc.struct_field(col, name)
        return col  # list_struct: one list array for all sub-columns

    ref = lists(sub["time_col"])
    lengths = pc.fill_null(pc.list_value_length(ref), 0)
    parent = _numpy(pc.list_parent_indices(ref)).astype(np.int64)
    if kind == "list_struct":
        flat_struct = pc.list_flatten(ref)
        flat = {f: None if n is None else pc.struct_field(flat_struct, n) for f, n in sub.items()}
    else:
        flat = {}
        for f, n in sub.items():
            if n is None:
                flat[f] = None
                continue
            arr = lists(n)
            if not pc.all(pc.equal(pc.fill_null(pc.list_value_length(arr), 0), lengths)).as_py():
                raise ValueError(f"nested sub-column {n!r} has lists of different lengths from "
                                 f"{sub['time_col']!r} for some objects")
            flat[f] = pc.list_flatten(arr)

    ids = _numpy(table.column(id_name))
    names = {"id": id_name, **{_KEY[f]: n for f, n in sub.items()}}
    arrays = {f: None if a is None else _numpy(a) for f, a in flat.items()}
    args = (arrays["time_col"], arrays["flux_col"], arrays["flux_err_col"], arrays["band_col"])
    try:
        ok_ids = not np.any(pd.isna(ids)) and len(np.unique(ids)) == len(ids)
    except TypeError:  # unorderable mixed ids: let the constructor complain
        ok_ids = False
    if not ok_ids:
        # repeated (or missing) ids: group detections by id value (per-object columns must
        # then agree between the rows of an object)
        per_det = {c: _numpy(table.column(c)).astype(np.float64)[parent] for c in obj_cols}
        meta_arg = {"__table__": (meta, id_name), **per_det} if (meta is not None or per_det) else None
        return LightCurveBatch.from_long(ids[parent], *args, bands=bands, strict=strict,
                                         n_pad=n_pad, names=names, meta=meta_arg)
    # one row per object: keep objects whose list is empty, objects in sorted-id order
    order = np.argsort(ids, kind="stable")
    objects = pd.DataFrame({c: _numpy(table.column(c)).astype(np.float64) for c in obj_cols},
                           index=pd.Index(ids, name="id"))
    objects = _merge_tables(meta, objects) if meta is not None else objects
    return LightCurveBatch.from_long(ids[parent], *args, bands=bands, strict=strict, n_pad=n_pad,
                                     names=names, object_ids=ids[order],
                                     meta=objects if obj_cols or meta is not None else None)


def read_parquet(
    path: str | PathLike,
    *,
    layout: str = "auto",
    preset: str | Mapping | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    flux_col: str | None = None,
    flux_err_col: str | None = None,
    band_col: str | None = None,
    nested_col: str | None = None,
    filters=None,
    bands: Sequence[str] | None = None,
    strict: bool = False,
    n_pad: int | None = None,
    meta=None,
    meta_cols: Sequence[str] | None = None,
) -> LightCurveBatch:
    """Read a parquet file or directory of light curves into a batch.

    Only the needed columns are read. Layouts, presets and column keywords are those of
    :func:`from_arrow`.

    Args:
        path: parquet file or dataset directory.
        layout: "long", "nested" or "auto".
        preset: "default", "rubin" (:data:`RUBIN` plus ``objectId``/``expMidptMJD``) or a mapping.
        id_col, time_col, flux_col, flux_err_col, band_col, nested_col: column names, see
            :func:`from_arrow`.
        filters: row filter passed to ``pyarrow.parquet.read_table`` (a ``pyarrow.compute``
            expression or a list of ``(column, op, value)`` tuples on top-level columns).
        bands, strict, n_pad: passed to :meth:`LightCurveBatch.from_long`.
        meta, meta_cols: per-object columns, see :func:`from_arrow`.

    Returns:
        The batch, objects in sorted-id order.

    Example:
        >>> batch = ts.io.read_parquet("dia_sources.parquet", preset="rubin")
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
    import pyarrow.dataset as ds

    schema = ds.dataset(path, format="parquet").schema
    cands = _candidates(preset, dict(id_col=id_col, time_col=time_col, flux_col=flux_col,
                                     flux_err_col=flux_err_col, band_col=band_col))
    layout, nested, kind = _resolve_layout(schema, layout, nested_col, cands)
    id_name = _pick("id_col", cands["id_col"], schema.names, str(path))
    if layout == "nested":
        lc_cols = [nested] if kind != "lists" else [
            c for f in _FIELDS[1:] if (c := _pick(f, cands[f], schema.names, str(path))) is not None]
        if meta_cols is None:
            meta_cols = [f.name for f in schema if f.name not in {id_name, *lc_cols}
                         and not _is_list(f.type) and not pa.types.is_struct(f.type)
                         and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type)
                              or pa.types.is_boolean(f.type))]
        columns = [id_name, *lc_cols, *[c for c in meta_cols if c not in lc_cols]]
    else:
        columns = [c for f in _FIELDS if (c := _pick(f, cands[f], schema.names, str(path))) is not None]
        if meta_cols is None:
            meta_cols = _stored_meta(schema.metadata)
        extra = list(meta_cols or ())
        if _is_rubin(preset) and "ra" in schema.names and "dec" in schema.names:
            extra += ["ra", "dec"]
        columns += [c for c in dict.fromkeys(extra) if c in schema.names and c not in columns]
    table = pq.read_table(path, columns=columns, filters=filters)
    if bands is None:
        bands = _stored_bands(schema.metadata)
    return from_arrow(table, layout=layout, preset=preset, id_col=id_col, time_col=time_col,
                      flux_col=flux_col, flux_err_col=flux_err_col, band_col=band_col,
                      nested_col=nested, bands=bands, strict=strict, n_pad=n_pad, meta=meta,
                      meta_cols=meta_cols)


# --------------------------------------------------------------------------- batch -> arrow
def to_arrow(
    batch: LightCurveBatch,
    *,
    layout: str = "long",
    preset: str | Mapping | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    flux_col: str | None = None,
    flux_err_col: str | None = None,
    band_col: str | None = None,
    nested_col: str = "lc",
    nested_format: str = "struct_list",
) -> pa.Table:
    """The batch as a ``pyarrow.Table``, objects in sorted-id order, detections by time.

    Args:
        batch: the batch.
        layout: "long" (one row per real detection) or "nested" (one row per object, every object
            included, an empty list for an object with no valid point).
        preset, id_col, time_col, flux_col, flux_err_col, band_col: output column names (explicit
            names, else the preset's first names, else ``id, time, flux, flux_err, band``).
        nested_col: name of the nested column.
        nested_format: "struct_list" (``struct<time: list, ...>``, the default) or "list_struct"
            (``list<struct<time, ...>>``).

    Returns:
        The table; time is MJD (``t + t_ref``), bands are names. Per-object columns
        (``batch.meta``) are top-level columns in the nested layout and repeated on every
        detection in the long layout (their names recorded in the schema metadata).
    """
    if layout not in ("long", "nested"):
        raise ValueError(f"layout must be 'long' or 'nested', got {layout!r}")
    if nested_format not in _NESTED_FORMATS:
        raise ValueError(f"nested_format must be one of {_NESTED_FORMATS}, got {nested_format!r}")
    names = _write_names(preset, dict(id_col=id_col, time_col=time_col, flux_col=flux_col,
                                      flux_err_col=flux_err_col, band_col=band_col))
    if layout == "long":
        batch._warn_not_in_long_table(stacklevel=3)
    df = batch._long_frame(meta=False)
    values = {
        names["time_col"]: pa.array(df["time"].to_numpy(), type=pa.float64()),
        names["flux_col"]: pa.array(df["flux"].to_numpy(), type=pa.float64()),
        names["flux_err_col"]: pa.array(df["flux_err"].to_numpy(), type=pa.float64()),
        names["band_col"]: pa.array(df["band"].to_numpy().astype(str), type=pa.string()),
    }
    meta_names = list(batch.meta)
    clash = [k for k in meta_names if k in (*values, names["id_col"])]
    if clash:
        raise ValueError(f"meta column(s) {clash} clash with the light-curve columns")
    meta = {_META_KEY: json.dumps({"bands": list(batch.bands), "meta": meta_names}).encode()}
    if layout == "long":
        rows = np.asarray(batch.positions(df["id"].to_numpy())) if meta_names and len(df) else np.zeros(0, int)
        obj = {k: pa.array(np.asarray(batch.meta[k], np.float64)[rows], type=pa.float64()) for k in meta_names}
        return pa.table({names["id_col"]: pa.array(df["id"].to_numpy()), **values, **obj}, metadata=meta)
    # nested: offsets from the per-object counts, in the same sorted-id order as to_pandas()
    order = np.argsort(batch.ids, kind="stable")
    counts = np.asarray(batch.n_obs)[order]
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    if nested_format == "struct_list":
        nested = pa.StructArray.from_arrays([pa.ListArray.from_arrays(offsets, v) for v in values.values()],
                                            names=list(values))
    else:
        nested = pa.ListArray.from_arrays(offsets, pa.StructArray.from_arrays(list(values.values()),
                                                                              names=list(values)))
    obj = {k: pa.array(np.asarray(batch.meta[k], np.float64)[order], type=pa.float64()) for k in meta_names}
    return pa.table({names["id_col"]: pa.array(np.asarray(batch.ids)[order]), nested_col: nested, **obj},
                    metadata=meta)


def write_parquet(
    batch: LightCurveBatch,
    path: str | PathLike,
    *,
    layout: str = "long",
    preset: str | Mapping | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    flux_col: str | None = None,
    flux_err_col: str | None = None,
    band_col: str | None = None,
    nested_col: str = "lc",
    nested_format: str = "struct_list",
    **write_options,
) -> None:
    """Write a batch to a parquet file in the long or nested layout (see :func:`to_arrow`).

    ``read_parquet(path)`` gives the same batch back, exactly. Extra keywords go to
    ``pyarrow.parquet.write_table`` (e.g. ``compression="zstd"``).
    """
    table = to_arrow(batch, layout=layout, preset=preset, id_col=id_col, time_col=time_col,
                     flux_col=flux_col, flux_err_col=flux_err_col, band_col=band_col,
                     nested_col=nested_col, nested_format=nested_format)
    pq.write_table(table, path, **write_options)


# --------------------------------------------------------------------------- astropy
def _astropy_column(col) -> np.ndarray:
    """An astropy column (Column, MaskedColumn, Quantity, Time) as a plain NumPy array.

    Masked float entries become NaN, other masked entries None (a missing id or band).
    """
    import astropy.units as u
    from astropy.time import Time

    if isinstance(col, Time):
        return np.asarray(col.mjd, dtype=np.float64)
    if isinstance(col, u.Quantity):
        col = col.value
    if isinstance(col, np.ma.MaskedArray):
        data, mask = np.asarray(col.data), np.ma.getmaskarray(col)
    elif hasattr(col, "unmasked"):  # astropy.utils.masked.Masked
        data, mask = np.asarray(col.unmasked), np.asarray(col.mask)
    else:
        data, mask = np.asarray(col), None
    if data.dtype.kind == "S":
        data = data.astype(str)
    if mask is not None and mask.any():
        if data.dtype.kind == "f":
            data = np.where(mask, np.nan, data)
        else:
            data = data.astype(object)
            data[mask] = None
    return data


def from_table(
    table,
    *,
    preset: str | Mapping | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    flux_col: str | None = None,
    flux_err_col: str | None = None,
    band_col: str | None = None,
    bands: Sequence[str] | None = None,
    strict: bool = False,
    n_pad: int | None = None,
) -> LightCurveBatch:
    """Build a batch from a long astropy ``Table`` or ``QTable`` (one row per detection).

    Quantities are taken in their stored unit, ``Time`` columns as MJD (``.mjd``, in the column's
    own scale), masked entries as NaN (then dropped or, with ``strict=True``, raising), byte
    strings decoded. Column keywords and presets as in :func:`from_arrow`.
    """
    from astropy.table import Table

    if not isinstance(table, Table):
        raise TypeError(f"from_table expects an astropy Table, got {type(table).__name__}")
    cands = _candidates(preset, dict(id_col=id_col, time_col=time_col, flux_col=flux_col,
                                     flux_err_col=flux_err_col, band_col=band_col))
    cols = {f: _pick(f, cands[f], table.colnames, "the table") for f in _FIELDS}
    get = lambda f: None if cols[f] is None else _astropy_column(table[cols[f]])  # noqa: E731
    if bands is None and isinstance(table.meta.get("bands"), (list, tuple)):
        bands = tuple(table.meta["bands"])
    return LightCurveBatch.from_long(
        get("id_col"), get("time_col"), get("flux_col"), get("flux_err_col"), get("band_col"),
        bands=bands, strict=strict, n_pad=n_pad, names={_KEY[f]: c for f, c in cols.items()})


def to_table(
    batch: LightCurveBatch,
    *,
    preset: str | Mapping | None = None,
    id_col: str | None = None,
    time_col: str | None = None,
    flux_col: str | None = None,
    flux_err_col: str | None = None,
    band_col: str | None = None,
    flux_unit=None,
):
    """The batch as a long astropy ``Table`` (sorted by id then time; time in MJD, unit d).

    Args:
        batch: the batch.
        preset, id_col, time_col, flux_col, flux_err_col, band_col: output column names.
        flux_unit: unit to attach to flux and flux_err (e.g. ``"nJy"``); None leaves them unitless
            since a batch does not record its flux unit.

    Returns:
        ``astropy.table.Table``; ``meta["bands"]`` lists the batch's bands.
    """
    from astropy.table import Table

    names = _write_names(preset, dict(id_col=id_col, time_col=time_col, flux_col=flux_col,
                                      flux_err_col=flux_err_col, band_col=band_col))
    df = batch.to_pandas()
    out = Table()
    out[names["id_col"]] = df["id"].to_numpy()
    out[names["time_col"]] = df["time"].to_numpy()
    out[names["time_col"]].unit = "d"
    out[names["time_col"]].description = "MJD"
    out[names["flux_col"]] = df["flux"].to_numpy()
    out[names["flux_err_col"]] = df["flux_err"].to_numpy()
    if flux_unit is not None:
        out[names["flux_col"]].unit = flux_unit
        out[names["flux_err_col"]].unit = flux_unit
    out[names["band_col"]] = df["band"].to_numpy().astype(str)
    out.meta["bands"] = list(batch.bands)
    return out
