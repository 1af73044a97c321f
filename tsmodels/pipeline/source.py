"""Where the pipeline's light curves come from: a parquet dataset read in chunks of objects.

:class:`ParquetSource` plans a dataset once (one streaming pass over the id and band columns,
and the time column for the survey's time span) and then reads one chunk of objects at a time
with an Arrow filter on the id, so that a process never holds more than a chunk of detections:

* **plan**: the sorted distinct object ids with their row counts, the band names, the time
  span, and a fingerprint of the files (their paths, sizes and parquet footers: row groups,
  column statistics), all computed batch by batch with ``pyarrow.compute``: memory grows with
  the number of objects (8 bytes an id), never with the number of detections;
* **chunks**: consecutive runs of ``chunk_size`` objects in sorted-id order, each defined by its
  first and last id, so a chunk is the same set of objects in every run over the same input;
* **read**: ``dataset.to_table(filter=lo <= id <= hi)``; parquet row groups whose id statistics
  fall outside the range are skipped, so a dataset written sorted by id (as
  :func:`tsmodels.io.write_parquet` and LSDB partitions are) is read once in all; an unsorted
  one is scanned (its id column) once per chunk, which is correct but slower (the plan warns).

The long layout (one row per detection) and the nested layout (one row per object) of
:mod:`tsmodels.io` are both read, with the same presets and column keywords (``preset="rubin"``
for Rubin DP1-style ``diaObjectId``, ``midpointMjdTai``, ``band``, ``psfFlux``, ``psfFluxErr``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tsmodels import io
from tsmodels.lightcurves import DataQualityWarning, LightCurveBatch, _band_sort_key

__all__ = ["ParquetSource", "Plan", "ChunkSpec", "as_source"]

#: Rows per record batch of the planning pass.
SCAN_BATCH_ROWS = 1 << 20


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk of a plan: objects ``start:stop`` of the sorted ids, ``lo`` and ``hi`` the
    first and last of them (JSON-able scalars)."""

    index: int
    start: int
    stop: int
    lo: object
    hi: object

    @property
    def n_objects(self) -> int:
        return self.stop - self.start

    @property
    def file(self) -> str:
        return f"part-{self.index:06d}.parquet"

    def to_json(self) -> dict:
        return {"index": self.index, "start": self.start, "stop": self.stop, "lo": self.lo,
                "hi": self.hi}


@dataclass
class Plan:
    """What one streaming pass over a source found.

    Attributes:
        ids: ``[n]`` distinct object ids, sorted.
        n_rows: ``[n]`` rows (detections in the long layout) per object.
        bands: band names, in the order every chunk's batch uses.
        time_span: ``(min, max)`` of the time column over the dataset (days), NaN if empty.
        fingerprint: hex digest identifying the input (files, sizes, parquet footers).
        n_null_ids: rows without an object id (they belong to no object and are not read).
        sorted: whether the rows are stored in non-decreasing id order (fast chunk reads).
    """

    ids: np.ndarray
    n_rows: np.ndarray
    bands: tuple[str, ...]
    time_span: tuple[float, float]
    fingerprint: str
    n_null_ids: int = 0
    sorted: bool = True
    chunks: list[ChunkSpec] = field(default_factory=list)

    def cut(self, chunk_size: int) -> list[ChunkSpec]:
        """Consecutive chunks of ``chunk_size`` objects (the last one shorter)."""
        out = []
        for i, s in enumerate(range(0, len(self.ids), chunk_size)):
            e = min(s + chunk_size, len(self.ids))
            out.append(ChunkSpec(i, s, e, _scalar(self.ids[s]), _scalar(self.ids[e - 1])))
        self.chunks = out
        return out


def _scalar(x):
    """A NumPy id as a JSON-able Python scalar."""
    return x.item() if isinstance(x, np.generic) else x


def _files_fingerprint(dataset: ds.FileSystemDataset, root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(dataset.files):
        p = Path(path)
        try:
            rel = str(p.relative_to(root))
        except ValueError:
            rel = p.name
        h.update(rel.encode())
        h.update(str(p.stat().st_size).encode())
        md = pq.ParquetFile(path).metadata.to_dict()
        md.pop("created_by", None)
        h.update(json.dumps(md, sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class ParquetSource:
    """A parquet file or dataset directory of light curves, read in chunks of objects.

    Args:
        path: parquet file or directory (every ``*.parquet`` below it).
        layout: "long", "nested" or "auto" (see :func:`tsmodels.io.from_arrow`).
        preset: column-name preset ("default", "rubin") or a mapping.
        id_col, time_col, flux_col, flux_err_col, band_col, nested_col: column names, overriding
            the preset (see :func:`tsmodels.io.read_parquet`).
        bands: band names and order; default: the order recorded in the files' metadata by
            :func:`tsmodels.io.write_parquet`, else the bands present, in ugrizy order.
        meta_cols: per-object columns (redshift, E(B-V), ...): see :func:`tsmodels.io.from_arrow`.

    Example:
        >>> src = ts.pipeline.ParquetSource("dia_sources/", preset="rubin")
    """

    path: str
    layout: str = "auto"
    preset: str | None = None
    id_col: str | None = None
    time_col: str | None = None
    flux_col: str | None = None
    flux_err_col: str | None = None
    band_col: str | None = None
    nested_col: str | None = None
    bands: tuple[str, ...] | None = None
    meta_cols: tuple[str, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", str(Path(self.path)))
        for name in ("bands", "meta_cols"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, tuple(v))
        if self.layout not in ("auto", "long", "nested"):
            raise ValueError(f"layout must be 'auto', 'long' or 'nested', got {self.layout!r}")
        if not Path(self.path).exists():
            raise FileNotFoundError(f"input {self.path} does not exist")

    # ------------------------------------------------------------------ description
    def spec(self) -> dict:
        """JSON-able description (recorded in the sink's manifest)."""
        out = {"kind": "parquet", "path": str(Path(self.path).resolve())}
        for k in ("layout", "preset", "id_col", "time_col", "flux_col", "flux_err_col",
                  "band_col", "nested_col", "bands", "meta_cols"):
            v = getattr(self, k)
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def _dataset(self) -> ds.FileSystemDataset:
        # discovered once per source object (listing a directory of many files costs a walk of
        # it); not pickled, so a Dask worker discovers it once on its side
        cached = self.__dict__.get("_dataset_cache")
        if cached is not None:
            return cached
        try:
            dataset = ds.dataset(self.path, format="parquet")
        except (pa.ArrowInvalid, OSError) as err:
            raise ValueError(f"{self.path}: not a readable parquet dataset ({err})") from None
        object.__setattr__(self, "_dataset_cache", dataset)
        return dataset

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_dataset_cache", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _columns(self, schema: pa.Schema):
        """(layout, id name, nested column, kind, candidate names)."""
        cands = io._candidates(self.preset, dict(id_col=self.id_col, time_col=self.time_col,
                                                 flux_col=self.flux_col, flux_err_col=self.flux_err_col,
                                                 band_col=self.band_col))
        layout, nested, kind = io._resolve_layout(schema, self.layout, self.nested_col, cands)
        id_name = io._pick("id_col", cands["id_col"], schema.names, self.path)
        return layout, id_name, nested, kind, cands

    @property
    def id_name(self) -> str:
        return self._columns(self._dataset().schema)[1]

    # ------------------------------------------------------------------ planning
    def plan(self) -> Plan:
        """One streaming pass: sorted distinct ids with row counts, bands, time span,
        fingerprint (see the module docstring)."""
        dataset = self._dataset()
        schema = dataset.schema
        layout, id_name, nested, kind, cands = self._columns(schema)
        if layout == "long":
            band_name = io._pick("band_col", cands["band_col"], schema.names, self.path)
            time_name = io._pick("time_col", cands["time_col"], schema.names, self.path)
            io._pick("flux_col", cands["flux_col"], schema.names, self.path)
            cols = [c for c in dict.fromkeys([id_name, band_name, time_name]) if c is not None]
        else:
            lc_cols = [nested] if kind != "lists" else [
                c for f in io._FIELDS[1:] if (c := io._pick(f, cands[f], schema.names, self.path))]
            cols = list(dict.fromkeys([id_name, *lc_cols]))
            sub = (io._subfields(schema.field(nested).type, kind) if kind != "lists"
                   else [f.name for f in schema if io._is_list(f.type)])
            band_name = io._pick("band_col", cands["band_col"], sub, f"nested column {nested!r}")
            time_name = io._pick("time_col", cands["time_col"], sub, f"nested column {nested!r}")
        stored = io._stored_bands(schema.metadata)
        id_parts, count_parts, band_set = [], [], set()
        t_lo, t_hi = np.inf, -np.inf
        n_null, is_sorted, last = 0, True, None
        for rb in dataset.to_batches(columns=cols, batch_size=SCAN_BATCH_ROWS):
            ids = rb.column(id_name)
            n_null += ids.null_count
            if pa.types.is_dictionary(ids.type):
                ids = ids.dictionary_decode()
            valid = pc.drop_null(ids)
            if len(valid):
                if is_sorted:
                    first = valid[0].as_py()
                    ok = last is None or first >= last
                    if ok and len(valid) > 1:
                        ok = pc.all(pc.greater_equal(valid[1:], valid[:-1])).as_py()
                    is_sorted = bool(ok)
                    last = valid[-1].as_py()
                vc = pc.value_counts(valid)
                id_parts.append(vc.field("values"))
                count_parts.append(vc.field("counts"))
            if layout == "long":
                tcol = rb.column(time_name)
                bcol = None if band_name is None else rb.column(band_name)
            else:
                lc = rb.column(nested) if kind != "lists" else None
                get = ((lambda n: pc.list_flatten(pc.struct_field(lc, n))) if kind == "struct_list" else
                       (lambda n: pc.struct_field(pc.list_flatten(lc), n)) if kind == "list_struct" else
                       (lambda n: pc.list_flatten(rb.column(n))))
                tcol = get(time_name)
                bcol = None if band_name is None else get(band_name)
            mm = pc.min_max(tcol)
            if mm["min"].is_valid:
                t_lo, t_hi = min(t_lo, float(mm["min"].as_py())), max(t_hi, float(mm["max"].as_py()))
            if bcol is not None:
                if pa.types.is_dictionary(bcol.type):
                    bcol = bcol.dictionary_decode()
                band_set.update(str(b) for b in pc.unique(pc.drop_null(bcol)).to_pylist())
            if len(id_parts) > 64:  # keep the partial counts small
                id_parts, count_parts = _merge_counts(id_parts, count_parts)
        if id_parts:
            id_parts, count_parts = _merge_counts(id_parts, count_parts)
            ids = id_parts[0].to_numpy(zero_copy_only=False)
            counts = count_parts[0].to_numpy(zero_copy_only=False)
            order = np.argsort(ids, kind="stable")
            ids, counts = ids[order], counts[order]
        else:
            ids, counts = np.array([], dtype=np.int64), np.array([], dtype=np.int64)
        if self.bands is not None:
            bands = self.bands
        elif stored is not None:
            bands = tuple(stored) + tuple(sorted(band_set - set(stored), key=_band_sort_key))
        else:
            bands = tuple(sorted(band_set, key=_band_sort_key)) or ("band0",)
        if not np.isfinite(t_lo):
            t_lo = t_hi = np.nan
        root = Path(self.path) if Path(self.path).is_dir() else Path(self.path).parent
        plan = Plan(ids=ids, n_rows=counts.astype(np.int64), bands=bands, time_span=(t_lo, t_hi),
                    fingerprint=_files_fingerprint(dataset, root), n_null_ids=int(n_null),
                    sorted=is_sorted)
        if n_null:
            warnings.warn(f"{self.path}: {n_null} row(s) have no {id_name!r} and belong to no object; "
                          "they are not read", DataQualityWarning, stacklevel=2)
        if not is_sorted:
            warnings.warn(f"{self.path}: rows are not stored in {id_name!r} order, so every chunk "
                          "scans the id column of the whole dataset; sort it by id (e.g. "
                          "ts.io.write_parquet of a batch) for one read in all", PerformanceWarning,
                          stacklevel=2)
        return plan

    # ------------------------------------------------------------------ reading
    def read(self, chunk: ChunkSpec, bands: Sequence[str]) -> LightCurveBatch:
        """The chunk's objects as a batch (sorted-id order, ``bands`` in that order)."""
        dataset = self._dataset()
        layout, id_name, nested, kind, cands = self._columns(dataset.schema)
        idf = ds.field(id_name)
        table = dataset.to_table(filter=(idf >= chunk.lo) & (idf <= chunk.hi))
        with warnings.catch_warnings():
            # points dropped by validation are counted per object in batch.dropped, which the
            # pipeline writes to every row (n_dropped): no warning per chunk
            warnings.simplefilter("ignore", DataQualityWarning)
            return io.from_arrow(table, layout=layout, preset=self.preset, id_col=self.id_col,
                                 time_col=self.time_col, flux_col=self.flux_col,
                                 flux_err_col=self.flux_err_col, band_col=self.band_col,
                                 nested_col=nested, bands=tuple(bands),
                                 meta_cols=None if self.meta_cols is None else list(self.meta_cols))


class PerformanceWarning(UserWarning):
    """Warned when an input will be read correctly but slowly (e.g. not sorted by id)."""


def _merge_counts(id_parts, count_parts):
    t = pa.table({"id": pa.concat_arrays([a.cast(id_parts[0].type) for a in id_parts]),
                  "n": pa.concat_arrays(count_parts)})
    g = t.group_by("id").aggregate([("n", "sum")])
    return [g.column("id").combine_chunks()], [g.column("n_sum").combine_chunks()]


def as_source(source) -> ParquetSource:
    """A source from a path (parquet file or directory) or a source object."""
    if isinstance(source, ParquetSource):
        return source
    if isinstance(source, (str, PathLike)):
        return ParquetSource(str(source))
    if isinstance(source, Mapping):
        return ParquetSource(**source)
    if hasattr(source, "hc_structure"):  # an lsdb catalog: its selections live in the object
        path = getattr(source.hc_structure, "catalog_path", None)
        raise TypeError("an LSDB catalog: use ts.nested.map_partitions(task, catalog), which keeps "
                        "its selections (cone searches, filters, columns); for a resumable run over "
                        "the whole catalog give ts.pipeline.run its parquet files"
                        + (f", {path}/dataset" if path else ""))
    raise TypeError(f"source must be a parquet path or a ts.pipeline.ParquetSource, got "
                    f"{type(source).__name__}")
