"""Adapters for nested-pandas and LSDB: one jitted batch call per frame or partition.

nested-pandas ``NestedFrame`` s and LSDB catalogs hold one row per object with its light curve
in a nested column. Their ``map_rows`` / ``map_partitions`` call a Python function per object
or per partition; these adapters make that function one batched tsmodels call over the whole
frame (a fit, a posterior sample or a periodogram summary of every object at once):

>>> rows = ts.nested.fit(ts.models.DRW(band="r"), nested_frame)        # NestedFrame, same index
>>> lazy = ts.nested.map_partitions(ts.pipeline.Fit(ts.models.DRW()), catalog)   # lsdb catalog
>>> rows = lazy.compute()

The result has one row per object of the input, in the input's order and with its index (LSDB's
``_healpix_29``), holding the object id, the task's columns (those of
:func:`tsmodels.pipeline.run`: values, errors, ``status``, ``n_obs``, ``n_dropped``, ``error``),
so it joins back onto the catalog. Column names follow :mod:`tsmodels.io` (defaults ``id``,
``time``, ``flux``, ``flux_err``, ``band``; ``preset="rubin"``; explicit keywords); when the id
column is absent, the frame's index is the id. Numeric top-level columns (``ra``, ``dec``,
``z``, ...) become per-object columns (:attr:`LightCurveBatch.meta`).
"""

from __future__ import annotations

import functools
import types

import numpy as np
import pandas as pd
import pyarrow as pa

from tsmodels import io
from tsmodels.pipeline.tasks import result_table
from tsmodels.pipeline.tasks import Fit, Periodogram, Sample, as_task

__all__ = ["to_batch", "apply", "fit", "sample", "periodogram", "map_partitions"]

_SOURCE_KEYS = ("preset", "id_col", "time_col", "flux_col", "flux_err_col", "band_col",
                "nested_col", "bands", "meta_cols")


def _id_name(frame: pd.DataFrame, preset, id_col) -> str | None:
    names, _ = io._candidates(preset, {"id_col": id_col})["id_col"]
    return next((n for n in names if n in frame.columns), None)


def to_batch(frame: pd.DataFrame, **source):
    """``(batch, id_name, ids)``: the frame's objects as a :class:`LightCurveBatch` (sorted-id
    order), the id column's name and the frame's ids in its own row order.

    Args:
        frame: a ``NestedFrame`` (or a pandas DataFrame whose nested column nested-pandas or
            pyarrow can convert), one row per object.
        source: column keywords of :func:`tsmodels.io.from_arrow` (``preset``, ``id_col``,
            ``time_col``, ..., ``nested_col``, ``bands``, ``meta_cols``).
    """
    unknown = set(source) - set(_SOURCE_KEYS)
    if unknown:
        raise TypeError(f"unknown keyword(s) {sorted(unknown)}; accepted: {_SOURCE_KEYS}")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a NestedFrame or DataFrame, got {type(frame).__name__}")
    id_name = _id_name(frame, source.get("preset"), source.get("id_col"))
    df = frame
    if id_name is None:  # the index is the object id
        id_name = source.get("id_col") or frame.index.name or "id"
        df = frame.rename_axis(id_name).reset_index()
    table = pa.Table.from_pandas(df, preserve_index=False)
    kw = {k: v for k, v in source.items() if k != "id_col"}
    if kw.get("bands") is not None:
        kw["bands"] = tuple(kw["bands"])
    batch = io.from_arrow(table, layout="nested", id_col=id_name, **kw)
    return batch, id_name, df[id_name].to_numpy()


def _time_span(batch) -> tuple[float, float]:
    t = np.where(batch.mask, batch.t + np.asarray(batch.t_ref)[:, None], np.nan)
    if not np.isfinite(t).any():
        return (np.nan, np.nan)
    return float(np.nanmin(t)), float(np.nanmax(t))


def _frame(rows: pd.DataFrame):
    try:
        from nested_pandas import NestedFrame
    except ImportError:  # pragma: no cover - nested-pandas is optional
        return rows
    return NestedFrame(rows)


def apply(task, frame: pd.DataFrame, **source):
    """Run ``task`` (a :class:`~tsmodels.pipeline.Fit`, ``Sample`` or ``Periodogram``, or a
    model: its fit) on every object of ``frame`` in one batched call.

    A :class:`~tsmodels.pipeline.Periodogram` without ``baseline`` takes the frame's time span.

    Returns:
        A ``NestedFrame`` (a DataFrame without nested-pandas) with one row per row of ``frame``,
        in its order and with its index.
    """
    task = as_task(task)
    batch, id_name, ids = to_batch(frame, **source)
    if isinstance(task, Periodogram) and task.baseline is None:
        task = task.prepare(types.SimpleNamespace(time_span=_time_span(batch)))
    task.check(batch)
    rows = result_table(task(batch), batch, id_name).to_pandas()
    where = pd.Index(np.asarray(batch.ids)).get_indexer(ids)
    rows = rows.iloc[where].set_index(frame.index)
    return _frame(rows)


def fit(model, frame: pd.DataFrame, *, source: dict | None = None, **options):
    """``ts.fit(model, ...)`` of every object of ``frame`` (one row each, the frame's index);
    ``options`` are those of :func:`tsmodels.fit`, ``source`` the column keywords of
    :func:`to_batch`."""
    return apply(Fit(model, options), frame, **(source or {}))


def sample(model, frame: pd.DataFrame, *, source: dict | None = None, **options):
    """``ts.sample(model, ...)`` posterior summaries of every object of ``frame``."""
    return apply(Sample(model, options), frame, **(source or {}))


def periodogram(frame: pd.DataFrame, *, source: dict | None = None, **options):
    """Best periods and FAP of every object of ``frame`` (:class:`~tsmodels.pipeline.Periodogram`
    with ``options``)."""
    return apply(Periodogram(**options), frame, **(source or {}))


def _partition(part, task, meta, source):
    if len(part) == 0:
        return meta
    return apply(task, part, **source)


def map_partitions(task, catalog, **source):
    """``catalog.map_partitions`` with one batched ``task`` call per partition (lazy).

    Args:
        task: a :class:`~tsmodels.pipeline.Fit`, ``Sample`` or ``Periodogram`` (or a model).
            A ``Periodogram`` needs ``baseline=`` (days), so that an object's periods do not
            depend on the partition it is in.
        catalog: an ``lsdb.Catalog`` (or anything with the same ``map_partitions``, e.g. a
            dask-backed nested frame) whose partitions hold one row per object.
        source: column keywords of :func:`to_batch`. ``bands`` defaults to the bands of the
            first partition (so every partition has the same per-band columns); points in
            other bands are left out and counted in ``n_dropped``.

    Returns:
        What ``catalog.map_partitions`` returns (for LSDB a lazy catalog: ``.compute()`` gives
        the NestedFrame of rows, indexed like the catalog).
    """
    task = as_task(task)
    if isinstance(task, Periodogram) and task.baseline is None:
        raise ValueError("Periodogram over partitions needs baseline= (days, e.g. the survey's "
                         "length) so that periods do not depend on the partitioning")
    first = catalog.partitions[0].compute()
    if len(first) == 0:
        raise ValueError("the catalog's first partition is empty: cannot infer the output columns")
    if source.get("bands") is None:  # every partition's rows need the same (per-band) columns
        source = {**source, "bands": to_batch(first, **source)[0].bands}
    meta = apply(task, first.iloc[:1], **source).iloc[:0]
    return catalog.map_partitions(functools.partial(_partition, task=task, meta=meta, source=source),
                                  meta=meta)
