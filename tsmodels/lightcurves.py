"""``LightCurveBatch``: one representation of many ragged, multiband light curves.

B light curves of different lengths are stored as equal-shape ``[B, N]`` arrays, padded on the right
and masked, with times centred per object. This is the only data structure the periodograms, models
and fitters see.

Conventions (see also DESIGN.md, "The batch"):

* ``t`` is time in days relative to the object's reference epoch ``t_ref`` (MJD), where ``t_ref`` is
  the mean time of the object's valid observations, kept in float64 on the host. Centring is what
  makes float32 usable: raw MJD ~ 60000 in float32 resolves only ~8 minutes, centred times spanning
  +-180 d resolve better than 1 s, +-5 yr about 10 s. Kernels that need more in float32 use
  :meth:`LightCurveBatch.time_split` (a float32 high part plus a float32 low part).
* ``flux`` and ``flux_err`` are in any linear flux unit (Rubin: nJy); errors are finite and > 0.
* ``band`` is an int32 index into ``bands`` (a tuple of band names, static).
* ``mask`` is True for a real observation. Real points come first (sorted by time, duplicate times
  kept); padded points hold harmless finite values: ``t`` = the object's last real time, ``flux`` 0,
  ``flux_err`` 1, ``band`` 0, ``mask`` False.

Validation happens once, at construction. Points with a non-finite time, a non-finite flux, a
non-finite/zero/negative error or a band not in ``bands`` are dropped by default and counted per
object in :attr:`LightCurveBatch.dropped` (a warning says how many); with ``strict=True`` the first
problem raises ``ValueError`` naming the object, the column and the problem. Objects left with no
valid point are kept (all masked, ``n_obs == 0``) so that every input id gets a result row; the
fitters flag them.

Per-object data (redshift, Milky Way E(B-V), sky position, any user number) live in
:attr:`LightCurveBatch.meta`, a dict of float64 ``[B]`` arrays, one per column. Conventional
names, used by the models that need them: ``z`` (redshift), ``mwebv`` (Milky Way E(B-V), mag),
``ra`` and ``dec`` (degrees, ICRS). They are read by every constructor (``meta=``, an object
table joined on the id, or columns constant within each object) and kept through ``bucket``,
slicing, ``loc``, :meth:`~LightCurveBatch.to_pandas` and the parquet round trip.

The batch is a registered JAX pytree whose leaves are ``(t, flux, flux_err, band, mask, meta,
t_ref)`` and whose static data are the band names; ``ids`` and ``dropped`` are host-side
metadata and are not carried through JAX transformations (a batch rebuilt by ``jax.tree_util``
has them as None). Under ``jax.vmap`` a slice of the batch is the same class holding one light
curve's ``[N]`` arrays, its ``meta`` values as scalars (``lc.meta["z"]``) and its absolute
reference epoch ``lc.t_ref`` (MJD; in the computation's dtype, so float64 by default and ~8
minutes of resolution in float32): that is the ``lc`` every model's ``loglike(params, lc)``
receives.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from tsmodels.config import precision, resolve_dtype

__all__ = ["LightCurveBatch", "DataQualityWarning", "DROP_REASONS", "bucket_lengths"]

#: Canonical order of common photometric bands; others follow in sorted order.
BAND_ORDER = ("u", "g", "r", "i", "z", "y", "Y", "J", "H", "K")
#: Band name used when no band column is given (single-band data).
SINGLE_BAND = "band"
#: Why a point can be dropped, in the priority order used to assign one reason per point.
DROP_REASONS = ("nonfinite_time", "nonfinite_flux", "bad_flux_err", "unknown_band")

_PROBLEM = {
    "nonfinite_time": ("time", "a non-finite value (NaN or inf)"),
    "nonfinite_flux": ("flux", "a non-finite value (NaN or inf)"),
    "bad_flux_err": ("flux_err", "a non-finite, zero or negative error"),
    "unknown_band": ("band", "a band not in bands={bands}"),
}


class DataQualityWarning(UserWarning):
    """Warned when a batch constructor drops bad points or keeps objects with no valid point."""


def bucket_lengths(n_max: int, *, growth: float = 1.25) -> np.ndarray:
    """Padded lengths used by :meth:`LightCurveBatch.bucket`: 1, 2, ..., 8, 10, 12, 15, 18, ...

    Each length is ``max(prev + 1, floor(prev * growth))``, so an object with ``n`` points padded
    to the smallest length ``>= n`` carries at most ``(growth - 1) * n`` padded points.
    """
    if growth <= 1.0:
        raise ValueError(f"growth must be > 1, got {growth}")
    out = [1]
    while out[-1] < n_max:
        out.append(max(out[-1] + 1, int(np.floor(out[-1] * growth))))
    return np.asarray(out, dtype=np.int64)


def _band_sort_key(name: str):
    return (0, BAND_ORDER.index(name), "") if name in BAND_ORDER else (1, 0, name)


@jax.tree_util.register_pytree_node_class
class LightCurveBatch:
    """B light curves as padded, masked ``[B, N]`` arrays with per-object centred times.

    Build one with :meth:`from_arrays`, :meth:`from_pandas`, :meth:`from_arrow` or
    :meth:`from_long` (or ``tsmodels.io`` readers), not with the constructor, which does no
    validation.

    Attributes:
        t: ``[B, N]`` float64, days relative to ``t_ref``.
        flux: ``[B, N]`` float64, linear flux (any unit; Rubin: nJy).
        flux_err: ``[B, N]`` float64, 1-sigma flux errors (> 0), same unit as ``flux``.
        band: ``[B, N]`` int32, index into ``bands``.
        mask: ``[B, N]`` bool, True for a real observation.
        meta: ``{name: [B] float64}`` per-object columns (redshift ``z``, ``mwebv``, ``ra``,
            ``dec``, user columns); NaN where unknown for an object.
        points: ``{name: [B, N] float64}`` per-point columns computed on the host for a model
            (e.g. the projected Earth offsets of annual microlensing parallax, added by
            :meth:`tsmodels.models.Model.prepare_batch`); 0 at padding. Empty by default.
        bands: tuple of band names (static).
        ids: ``[B]`` object ids (host only).
        t_ref: ``[B]`` float64 reference epochs, MJD (host only): mean time of valid points.
        dropped: pandas DataFrame indexed by id, one column per reason in ``DROP_REASONS`` with the
            number of points dropped for it (host only).
    """

    _LEAVES = ("t", "flux", "flux_err", "band", "mask")

    def __init__(self, t, flux, flux_err, band, mask, *, bands, ids=None, t_ref=None, dropped=None,
                 meta=None, points=None):
        self.t = t
        self.flux = flux
        self.flux_err = flux_err
        self.band = band
        self.mask = mask
        self.bands = tuple(bands)
        self.ids = ids
        if t_ref is None:
            shape = np.shape(t)[:-1]
            t_ref = np.zeros(shape) if shape else 0.0
        self.t_ref = t_ref
        self.dropped = dropped
        self.meta = dict(meta) if meta else {}
        self.points = dict(points) if points else {}

    # ------------------------------------------------------------------ pytree
    def tree_flatten(self):
        return ((self.t, self.flux, self.flux_err, self.band, self.mask, self.meta, self.t_ref,
                 self.points), self.bands)

    @classmethod
    def tree_unflatten(cls, bands, children):
        obj = object.__new__(cls)
        obj.t, obj.flux, obj.flux_err, obj.band, obj.mask, obj.meta, obj.t_ref, obj.points = children
        obj.bands, obj.ids, obj.dropped = bands, None, None
        return obj

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_long(
        cls,
        ids,
        time,
        flux,
        flux_err=None,
        band=None,
        *,
        bands: Sequence[str] | None = None,
        strict: bool = False,
        n_pad: int | None = None,
        names: Mapping[str, str] | None = None,
        object_ids=None,
        meta=None,
        _stacklevel: int = 3,
    ) -> "LightCurveBatch":
        """Build a batch from flat arrays with one row per detection (the vectorised core).

        Args:
            ids: ``[M]`` object id of each detection (any dtype: int, str, ...).
            time: ``[M]`` MJD (or any time in days).
            flux: ``[M]`` linear flux.
            flux_err: ``[M]`` flux errors; None means unit errors (unweighted data).
            band: ``[M]`` band labels (str or int, compared as strings); None for single band.
            bands: band names and their order; default: the labels present, in ugrizy order then
                sorted. Labels not in an explicit ``bands`` are "unknown_band".
            strict: raise ``ValueError`` on the first bad point or empty object instead of dropping.
            n_pad: pad to this length (>= the longest object) instead of the longest object.
            names: user-facing column names for error messages (keys time, flux, flux_err, band).
            object_ids: the objects of the batch, in order (unique). Objects with no detection
                are kept, fully masked; a detection whose id is not listed raises ``ValueError``.
                Default: the distinct ``ids``, sorted.
            meta: per-object columns: a ``pandas.DataFrame`` (or ``pyarrow.Table``) with one row
                per object, indexed by id (or with an ``id`` column), whose numeric columns are
                joined on the id (objects it lacks get NaN); or a dict ``{name: [M] values}``
                of per-detection columns that must be constant within each object.

        No Python loop over objects or detections.
        """
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"ids must be one-dimensional (one per detection), got shape {ids.shape}")
        if object_ids is None:
            obj, uniq = pd.factorize(ids, sort=True)
            uniq = np.asarray(uniq)
            if np.any(obj < 0):
                raise ValueError("ids contain missing values (None/NaN); every detection needs an object id")
        else:
            uniq = np.asarray(object_ids)
            index = pd.Index(uniq)
            if not index.is_unique:
                dup = index[index.duplicated()][0]
                raise ValueError(f"object_ids must be unique; {_fmt_id(dup)} appears more than once")
            obj = index.get_indexer(ids)
            if np.any(obj < 0):
                raise ValueError(f"detection id {_fmt_id(ids[np.flatnonzero(obj < 0)[0]])} is not in object_ids")
        meta_obj = _resolve_meta(meta, obj, uniq, len(ids), _stacklevel + 1)
        return cls._build(obj, uniq, time, flux, flux_err, band, bands=bands, strict=strict,
                          n_pad=n_pad, names=names, stacklevel=_stacklevel, meta=meta_obj)

    @classmethod
    def from_arrays(
        cls,
        t: Sequence,
        flux: Sequence,
        flux_err: Sequence | None = None,
        band: Sequence | None = None,
        ids: Sequence | None = None,
        *,
        bands: Sequence[str] | None = None,
        strict: bool = False,
        n_pad: int | None = None,
        meta: Mapping | None = None,
    ) -> "LightCurveBatch":
        """Build a batch from lists of per-object 1-D arrays (objects kept in the given order).

        Args:
            t: list of B arrays of times (MJD or days).
            flux: list of B flux arrays, each the length of its ``t``.
            flux_err: list of B error arrays, or None for unit errors.
            band: list of B arrays of band labels, or None for single-band data.
            ids: B object ids (default ``0..B-1``); must be unique.
            bands, strict, n_pad: as in :meth:`from_long`.
            meta: per-object columns ``{name: B values}`` (e.g. ``{"z": [0.03, 0.05]}``), or an
                object table as in :meth:`from_long`.

        A single object may be given as plain 1-D arrays (``t=array, flux=array``).
        """
        t = _as_list(t, "t")
        n = len(t)
        flux = _as_list(flux, "flux")
        if len(flux) != n:
            raise ValueError(f"flux has {len(flux)} objects but t has {n}")
        lengths = np.array([len(np.atleast_1d(x)) for x in t], dtype=np.int64)
        for name, seq in (("flux", flux), ("flux_err", flux_err), ("band", band)):
            if seq is None:
                continue
            seq = _as_list(seq, name)
            if len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} objects but t has {n}")
            bad = [i for i, (x, m) in enumerate(zip(seq, lengths)) if len(np.atleast_1d(x)) != m]
            if bad:
                i = bad[0]
                raise ValueError(
                    f"object at position {i}: {name} has {len(np.atleast_1d(seq[i]))} values but t has {lengths[i]}"
                )
        uniq = np.arange(n) if ids is None else np.asarray(ids)
        if uniq.shape != (n,):
            raise ValueError(f"ids has shape {uniq.shape}, expected ({n},)")
        if len(pd.unique(uniq)) != n:
            dup = pd.Series(uniq)[pd.Series(uniq).duplicated()].iloc[0]
            raise ValueError(f"ids must be unique; {_fmt_id(dup)} appears more than once")
        obj = np.repeat(np.arange(n), lengths)

        def cat(seq):
            if seq is None:
                return None
            parts = [np.atleast_1d(x) for x in _as_list(seq, "")]
            return np.concatenate(parts) if parts else np.zeros(0)

        if isinstance(meta, Mapping):
            meta = {k: _object_column(v, k, n) for k, v in meta.items()}
            meta_obj = meta
        else:
            meta_obj = _resolve_meta(meta, obj, uniq, len(obj), 3)
        return cls._build(obj, uniq, cat(t), cat(flux), cat(flux_err), cat(band), bands=bands,
                          strict=strict, n_pad=n_pad, names=None, meta=meta_obj)

    @classmethod
    def from_pandas(
        cls,
        df: pd.DataFrame,
        *,
        id_col: str = "id",
        time_col: str = "time",
        flux_col: str = "flux",
        flux_err_col: str | None = "flux_err",
        band_col: str | None = "band",
        bands: Sequence[str] | None = None,
        strict: bool = False,
        n_pad: int | None = None,
        meta=None,
        meta_cols: Sequence[str] | None = None,
    ) -> "LightCurveBatch":
        """Build a batch from a long table: one row per detection.

        ``flux_err_col=None`` means unit errors; ``band_col=None`` (or a missing "band" column when
        left at its default) means single-band data. Objects are ordered by sorted id.

        Per-object columns come from ``meta`` (an object table indexed by id, or with the id
        column, joined on it) and/or ``meta_cols`` (columns of ``df`` that are constant within
        each object, e.g. a redshift repeated on every detection).
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_pandas expects a pandas DataFrame, got {type(df).__name__}")
        if band_col == "band" and "band" not in df.columns:
            band_col = None
        cols = {"id": id_col, "time": time_col, "flux": flux_col, "flux_err": flux_err_col, "band": band_col}
        missing = [c for c in cols.values() if c is not None and c not in df.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not in the table; columns are {list(df.columns)}")
        get = lambda key: None if cols[key] is None else df[cols[key]].to_numpy()  # noqa: E731
        meta = _combine_meta(meta, {c: _column(df, c) for c in (meta_cols or ())}, id_col)
        return cls.from_long(get("id"), get("time"), get("flux"), get("flux_err"), get("band"),
                             bands=bands, strict=strict, n_pad=n_pad, names=cols, meta=meta,
                             _stacklevel=4)

    @classmethod
    def from_arrow(
        cls,
        table,
        *,
        id_col: str = "id",
        time_col: str = "time",
        flux_col: str = "flux",
        flux_err_col: str | None = "flux_err",
        band_col: str | None = "band",
        bands: Sequence[str] | None = None,
        strict: bool = False,
        n_pad: int | None = None,
        meta=None,
        meta_cols: Sequence[str] | None = None,
    ) -> "LightCurveBatch":
        """Build a batch from a long ``pyarrow.Table`` (one row per detection); keywords as in
        :meth:`from_pandas`. Columns are converted with Arrow, without a Python loop."""
        import pyarrow as pa

        if not isinstance(table, pa.Table):
            raise TypeError(f"from_arrow expects a pyarrow Table, got {type(table).__name__}")
        if band_col == "band" and "band" not in table.column_names:
            band_col = None
        cols = {"id": id_col, "time": time_col, "flux": flux_col, "flux_err": flux_err_col, "band": band_col}
        missing = [c for c in cols.values() if c is not None and c not in table.column_names]
        if missing:
            raise ValueError(f"column(s) {missing} not in the table; columns are {table.column_names}")

        def get(key):
            if cols[key] is None:
                return None
            col = table.column(cols[key])
            if pa.types.is_floating(col.type):
                return col.to_numpy(zero_copy_only=False)  # nulls become NaN and are validated
            return np.asarray(col.to_pandas())

        missing = [c for c in (meta_cols or ()) if c not in table.column_names]
        if missing:
            raise ValueError(f"meta column(s) {missing} not in the table; columns are {table.column_names}")
        per_det = {c: table.column(c).to_numpy(zero_copy_only=False) for c in (meta_cols or ())}
        meta = _combine_meta(meta, per_det, id_col)
        return cls.from_long(get("id"), get("time"), get("flux"), get("flux_err"), get("band"),
                             bands=bands, strict=strict, n_pad=n_pad, names=cols, meta=meta,
                             _stacklevel=4)

    @classmethod
    def _build(cls, obj, uniq, time, flux, flux_err, band, *, bands, strict, n_pad, names, stacklevel=3,
               meta=None):
        names = {k: (v or k) for k, v in (names or {}).items()}
        for k in ("time", "flux", "flux_err", "band"):
            names.setdefault(k, k)
        n_obj = len(uniq)
        m = len(obj)
        time = _float_column(time, names["time"], m)
        flux = _float_column(flux, names["flux"], m)
        flux_err = np.ones(m) if flux_err is None else _float_column(flux_err, names["flux_err"], m)

        # bands: factorize labels once, map the few unique labels to band indices
        if band is None:
            if bands is not None and len(bands) != 1:
                raise ValueError(f"no band column given but bands={tuple(bands)} names several bands")
            bands = tuple(bands) if bands is not None else (SINGLE_BAND,)
            band_idx = np.zeros(m, dtype=np.int32)
            unknown = np.zeros(m, dtype=bool)
        else:
            band = np.asarray(band)
            if band.shape != (m,):
                raise ValueError(f"column {names['band']!r} has shape {band.shape}, expected ({m},)")
            codes, labels = pd.factorize(band)
            labels = [str(x) for x in labels]
            if bands is None:
                present = np.unique(codes[codes >= 0]) if m else np.zeros(0, int)
                bands = tuple(sorted({labels[c] for c in present}, key=_band_sort_key)) or (SINGLE_BAND,)
            else:
                bands = tuple(str(b) for b in bands)
                if len(set(bands)) != len(bands):
                    raise ValueError(f"bands must be unique, got {bands}")
            lookup = np.array([bands.index(lb) if lb in bands else -1 for lb in labels] + [-1], dtype=np.int32)
            band_idx = lookup[codes]  # code -1 (missing label) picks the trailing -1
            unknown = band_idx < 0
            band_idx = np.where(unknown, 0, band_idx).astype(np.int32)

        bad = np.stack(
            [~np.isfinite(time), ~np.isfinite(flux), ~(np.isfinite(flux_err) & (flux_err > 0)), unknown]
        ) if m else np.zeros((4, 0), bool)
        # one reason per point: the first that applies
        first = np.where(bad.any(0), bad.argmax(0), -1)
        counts = np.zeros((n_obj, len(DROP_REASONS)), dtype=np.int64)
        if m and np.any(first >= 0):
            sel = first >= 0
            np.add.at(counts, (obj[sel], first[sel]), 1)
            if strict:
                j = int(np.flatnonzero(sel)[0])
                col, problem = _PROBLEM[DROP_REASONS[first[j]]]
                problem = problem.format(bands=bands)
                n_bad = int(counts[obj[j], first[j]])
                raise ValueError(
                    f"object {_fmt_id(uniq[obj[j]])}: column {names[col]!r} has {problem} "
                    f"({n_bad} point(s))"
                )
        good = first < 0
        n_obs = np.bincount(obj[good], minlength=n_obj).astype(np.int64)
        empty = n_obs == 0
        if strict and np.any(empty):
            raise ValueError(f"object {_fmt_id(uniq[np.flatnonzero(empty)[0]])} has no valid observations")

        # keep good points, sort by (object, time); duplicates kept in input order (stable)
        o, tt = obj[good], time[good]
        order = np.lexsort((tt, o))
        o, tt = o[order], tt[order]
        fx, fe, bd = flux[good][order], flux_err[good][order], band_idx[good][order]
        starts = np.concatenate([[0], np.cumsum(n_obs)[:-1]])
        pos = np.arange(len(o)) - starts[o]

        n_max = int(n_obs.max()) if n_obj else 0
        width = max(n_max, 1) if n_pad is None else int(n_pad)
        if width < max(n_max, 1):
            raise ValueError(f"n_pad={n_pad} is shorter than the longest object ({n_max} points)")

        t_ref = np.zeros(n_obj)
        np.add.at(t_ref, o, tt)
        t_ref = np.where(empty, 0.0, t_ref / np.maximum(n_obs, 1))
        last = np.zeros(n_obj)
        ends = starts + n_obs - 1
        last[~empty] = tt[ends[~empty]] - t_ref[~empty]

        t = np.repeat(last[:, None], width, axis=1)
        fl = np.zeros((n_obj, width))
        er = np.ones((n_obj, width))
        bb = np.zeros((n_obj, width), dtype=np.int32)
        mk = np.zeros((n_obj, width), dtype=bool)
        t[o, pos] = tt - t_ref[o]
        fl[o, pos] = fx
        er[o, pos] = fe
        bb[o, pos] = bd
        mk[o, pos] = True

        dropped = pd.DataFrame(counts, columns=list(DROP_REASONS), index=pd.Index(uniq, name="id"))
        n_drop = int(counts.sum())
        if n_drop or np.any(empty):
            by = ", ".join(f"{r}: {int(c)}" for r, c in zip(DROP_REASONS, counts.sum(0)) if c)
            msg = []
            if n_drop:
                msg.append(f"dropped {n_drop} of {m} points in {int((counts.sum(1) > 0).sum())} object(s) ({by})")
            if np.any(empty):
                msg.append(f"{int(empty.sum())} object(s) have no valid observations and are kept fully masked")
            warnings.warn("LightCurveBatch: " + "; ".join(msg) + "; see batch.dropped and batch.n_obs",
                          DataQualityWarning, stacklevel=stacklevel)
        return cls(t, fl, er, bb, mk, bands=bands, ids=np.asarray(uniq), t_ref=t_ref, dropped=dropped,
                   meta=meta)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(np.shape(self.t)[0])

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in np.shape(self.t))
        try:
            n = int(np.sum(self.mask))
        except Exception:  # traced leaves
            n = "?"
        return f"LightCurveBatch({shape}, bands={self.bands}, n_points={n})"

    @property
    def n_max(self) -> int:
        """Padded length N."""
        return int(np.shape(self.t)[-1])

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    @property
    def n_obs(self) -> np.ndarray:
        """``[B]`` number of real (unmasked) points per object."""
        return np.asarray(self.mask).sum(-1)

    @property
    def mjd(self) -> np.ndarray:
        """``[B, N]`` absolute times ``t + t_ref`` (float64, host)."""
        return np.asarray(self.t, dtype=np.float64) + np.asarray(self.t_ref, dtype=np.float64)[:, None]

    def __getitem__(self, idx) -> "LightCurveBatch":
        """Sub-batch by position: an int (a batch of one), a slice, an int array or a bool mask."""
        if isinstance(idx, (int, np.integer)):
            if not -len(self) <= idx < len(self):
                raise IndexError(f"position {idx} out of range for a batch of {len(self)} objects")
            idx = np.array([idx])
        elif isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        else:
            idx = np.asarray(idx)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise IndexError(f"boolean index has shape {idx.shape}, expected ({len(self)},)")
                idx = np.flatnonzero(idx)
        return self._take(idx)

    @property
    def loc(self) -> "_IdIndexer":
        """Sub-batch by object id: ``batch.loc["obj7"]`` or ``batch.loc[[id1, id2]]``."""
        return _IdIndexer(self)

    def positions(self, ids) -> np.ndarray:
        """Positions of the given ids; ``KeyError`` naming the first unknown id."""
        index = pd.Index(self.ids)
        scalar = np.ndim(ids) == 0
        want = np.atleast_1d(np.asarray(ids, dtype=object if self.ids.dtype == object else None))
        pos = index.get_indexer(want)
        if np.any(pos < 0):
            raise KeyError(f"id {_fmt_id(want[np.flatnonzero(pos < 0)[0]])} is not in this batch")
        return pos[:1] if scalar else pos

    def _take(self, idx, width: int | None = None) -> "LightCurveBatch":
        """Select objects ``idx`` and trim/extend the padding to ``width`` columns."""
        idx = np.asarray(idx, dtype=np.int64)
        need = int(self.n_obs[idx].max()) if len(idx) else 0
        width = max(need, 1) if width is None else int(width)
        if width < need:
            raise ValueError(f"width {width} is shorter than the longest selected object ({need})")
        arrs = {k: np.asarray(getattr(self, k))[idx] for k in self._LEAVES}
        points = {k: np.asarray(v)[idx] for k, v in self.points.items()}
        cur = arrs["t"].shape[1]
        if width <= cur:
            arrs = {k: v[:, :width] for k, v in arrs.items()}
            points = {k: v[:, :width] for k, v in points.items()}
        else:
            extra = width - cur
            arrs["t"] = np.concatenate([arrs["t"], np.repeat(arrs["t"][:, -1:], extra, 1)], 1)
            for k, fill in (("flux", 0.0), ("flux_err", 1.0), ("band", 0), ("mask", False)):
                pad = np.full((len(idx), extra), fill, dtype=arrs[k].dtype)
                arrs[k] = np.concatenate([arrs[k], pad], 1)
            points = {k: np.concatenate([v, np.zeros((len(idx), extra), v.dtype)], 1)
                      for k, v in points.items()}
        dropped = None if self.dropped is None else self.dropped.iloc[idx]
        meta = {k: np.asarray(v)[idx] for k, v in self.meta.items()}
        return LightCurveBatch(**arrs, bands=self.bands, ids=np.asarray(self.ids)[idx],
                               t_ref=np.asarray(self.t_ref)[idx], dropped=dropped, meta=meta,
                               points=points)

    def pad_to(self, width: int) -> "LightCurveBatch":
        """The same objects padded (or trimmed) to ``width`` columns (>= the longest object)."""
        return self._take(np.arange(len(self)), width)

    def bucket(self, max_objects: int | None = None, *, growth: float = 1.25,
               min_objects: int = 1) -> Iterator[tuple[np.ndarray, "LightCurveBatch"]]:
        """Split into sub-batches of similar length, for few compiled shapes and little padding.

        Each object goes to the smallest length in :func:`bucket_lengths` (1, 2, ..., 8, 10, 12,
        15, ...) that holds it, so its padding is at most ``(growth - 1)`` times its real points
        (25% by default); objects with no point go to length 1. A length holding fewer than
        ``min_objects`` objects is merged, from the shortest up, with the next longer ones until
        the group holds ``min_objects`` (the longest objects may be left as a smaller last group):
        for small batches one compiled shape costs far more than the padding it adds. Each group
        is cut into the fewest chunks of at most ``max_objects``, of near-equal size (so that
        they share a compiled shape).

        Yields:
            ``(positions, sub_batch)``: positions (into this batch) of the sub-batch's objects.
            Every object appears exactly once.
        """
        n_obs = self.n_obs
        rungs = bucket_lengths(max(int(n_obs.max(initial=1)), 1), growth=growth)
        which = np.searchsorted(rungs, np.maximum(n_obs, 1))
        if max_objects is not None and max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {max_objects}")
        if min_objects < 1:
            raise ValueError(f"min_objects must be >= 1, got {min_objects}")
        counts = np.bincount(which, minlength=len(rungs))
        group = np.zeros(len(rungs), np.int64)       # group of each rung; a group ends at a rung
        ends, held = [], 0
        for r in np.flatnonzero(counts):
            group[r] = len(ends)
            held += counts[r]
            if held >= min_objects:
                ends.append(r)
                held = 0
        if held:
            ends.append(int(np.flatnonzero(counts)[-1]))
        of_object = group[which]
        for g, end in enumerate(ends):
            pos = np.flatnonzero(of_object == g)
            n_chunks = -(-len(pos) // (max_objects or len(pos)))
            for chunk in np.array_split(pos, n_chunks):
                yield chunk, self._take(chunk, int(rungs[end]))

    def to_jax(self, dtype=None) -> "LightCurveBatch":
        """The batch with JAX leaves: times, fluxes, ``meta`` and ``t_ref`` in ``dtype`` (default
        float64), band int32, mask bool; host metadata (ids, dropped) kept. In float32 the
        epochs ``t_ref`` are rounded (~8 minutes at MJD 60000): host code needing them exactly
        reads the NumPy batch. Use inside ``tsmodels.config.precision(dtype)`` when
        passing the result on to jitted code in float64."""
        dt = resolve_dtype(dtype)
        with precision(dt):
            arrs = dict(
                t=jnp.asarray(np.asarray(self.t, dtype=dt)),
                flux=jnp.asarray(np.asarray(self.flux, dtype=dt)),
                flux_err=jnp.asarray(np.asarray(self.flux_err, dtype=dt)),
                band=jnp.asarray(np.asarray(self.band, dtype=np.int32)),
                mask=jnp.asarray(np.asarray(self.mask, dtype=bool)),
            )
            meta = {k: jnp.asarray(np.asarray(v, dtype=dt)) for k, v in self.meta.items()}
            points = {k: jnp.asarray(np.asarray(v, dtype=dt)) for k, v in self.points.items()}
            t_ref = jnp.asarray(np.asarray(self.t_ref, dtype=dt))
        out = LightCurveBatch(**arrs, bands=self.bands, ids=self.ids, t_ref=t_ref, dropped=self.dropped,
                              meta=meta, points=points)
        return out

    def time_split(self, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Times as a high part in ``dtype`` plus a low part (``t = hi + lo``) for kernels that need
        better than float32 time resolution (e.g. phases at high frequency): the pair resolves
        ~1e-7 of ``ulp(hi)``, far below a millisecond for any survey baseline."""
        t = np.asarray(self.t, dtype=np.float64)
        hi = t.astype(dtype)
        lo = (t - hi.astype(np.float64)).astype(dtype)
        return hi, lo

    # ------------------------------------------------------------------ out
    def to_pandas(self, *, id_col: str = "id", time_col: str = "time", flux_col: str = "flux",
                  flux_err_col: str = "flux_err", band_col: str = "band",
                  meta: bool = True) -> pd.DataFrame:
        """The long table: one row per real observation, sorted by id then time; time in MJD
        (``t + t_ref``, exact whenever ``t`` was, e.g. for MJD-like epochs), band as names, and
        (``meta=True``) each per-object column repeated on its object's rows, which
        ``from_pandas(df, meta_cols=[...])`` reads back. :meth:`meta_frame` gives the object
        table alone (it also holds objects without detections). Objects with no valid point
        have no row here, which :class:`DataQualityWarning` says."""
        self._warn_not_in_long_table(stacklevel=3)
        return self._long_frame(id_col, time_col, flux_col, flux_err_col, band_col, meta)

    def _warn_not_in_long_table(self, stacklevel):
        empty = np.asarray(self.n_obs) == 0
        if empty.any():
            ids = np.asarray(self.ids)[empty]
            shown = ", ".join(map(str, ids[:5])) + (", ..." if len(ids) > 5 else "")
            warnings.warn(f"LightCurveBatch: {int(empty.sum())} object(s) with no valid point ({shown}) "
                          "have no row in the long table; their ids and per-object columns are in "
                          "batch.meta_frame(), and the nested layout keeps them",
                          DataQualityWarning, stacklevel=stacklevel)

    def _long_frame(self, id_col="id", time_col="time", flux_col="flux", flux_err_col="flux_err",
                    band_col="band", meta=True):
        mask = np.asarray(self.mask)
        order = np.argsort(self.ids, kind="stable")
        mask_o = mask[order]
        rows = np.repeat(order, mask_o.sum(1))
        sel = lambda a: np.asarray(a)[order][mask_o]  # noqa: E731
        bands = np.asarray(self.bands, dtype=object)
        cols = {
            id_col: np.asarray(self.ids)[rows],
            time_col: sel(self.t) + np.asarray(self.t_ref, dtype=np.float64)[rows],
            flux_col: sel(self.flux),
            flux_err_col: sel(self.flux_err),
            band_col: bands[sel(self.band)],
        }
        if meta:
            clash = [k for k in self.meta if k in cols]
            if clash:
                raise ValueError(f"meta column(s) {clash} clash with the table's columns")
            cols.update({k: np.asarray(v, np.float64)[rows] for k, v in self.meta.items()})
        return pd.DataFrame(cols)

    def meta_frame(self) -> pd.DataFrame:
        """The per-object columns as a DataFrame indexed by id (one row per object)."""
        return pd.DataFrame({k: np.asarray(v, np.float64) for k, v in self.meta.items()},
                            index=pd.Index(self.ids, name="id"))

    def with_meta(self, table=None, **columns) -> "LightCurveBatch":
        """A batch with per-object columns added or replaced.

        Args:
            table: an object table (DataFrame indexed by id, or with an ``id`` column) joined on
                the batch's ids; objects it lacks get NaN.
            **columns: ``name=[B] values`` in batch order.
        """
        meta = dict(self.meta)
        if table is not None:
            meta.update(_join_object_table(table, np.asarray(self.ids), "id", stacklevel=3))
        for k, v in columns.items():
            meta[k] = _object_column(v, k, len(self))
        return LightCurveBatch(self.t, self.flux, self.flux_err, self.band, self.mask, bands=self.bands,
                               ids=self.ids, t_ref=self.t_ref, dropped=self.dropped, meta=meta,
                               points=self.points)

    def with_points(self, **columns) -> "LightCurveBatch":
        """A batch with per-point columns added or replaced (see ``points``).

        Args:
            **columns: ``name=[B, N]`` finite values, aligned with ``t`` (padding included;
                values at padding are set to 0).

        Raises:
            ValueError: for a column of another shape or with non-finite values at real points.
        """
        points = dict(self.points)
        shape = np.shape(self.t)
        mask = np.asarray(self.mask, bool)
        for k, v in columns.items():
            a = np.asarray(v, np.float64)
            if a.shape != shape:
                raise ValueError(f"per-point column {k!r} has shape {a.shape}, the batch {shape}")
            if not np.all(np.isfinite(a[mask])):
                raise ValueError(f"per-point column {k!r} has non-finite values at real points")
            points[k] = np.where(mask, a, 0.0)
        return LightCurveBatch(self.t, self.flux, self.flux_err, self.band, self.mask, bands=self.bands,
                               ids=self.ids, t_ref=self.t_ref, dropped=self.dropped, meta=self.meta,
                               points=points)

    def summary(self) -> pd.DataFrame:
        """One row per object: n_obs, points per band, t_ref (MJD), time span (days), dropped."""
        mask = np.asarray(self.mask)
        band = np.asarray(self.band)
        t = np.asarray(self.t)
        per_band = {f"n_{b}": (mask & (band == k)).sum(1) for k, b in enumerate(self.bands)}
        tmin = np.where(mask, t, np.inf).min(1)
        tmax = np.where(mask, t, -np.inf).max(1)
        span = np.where(self.n_obs > 0, tmax - tmin, 0.0)
        df = pd.DataFrame({"n_obs": self.n_obs, **per_band, "t_ref": self.t_ref, "span_days": span},
                          index=pd.Index(self.ids, name="id"))
        if self.dropped is not None:
            df["n_dropped"] = self.dropped.sum(axis=1).to_numpy()
        return df


class _IdIndexer:
    def __init__(self, batch: LightCurveBatch):
        self._batch = batch

    def __getitem__(self, ids) -> LightCurveBatch:
        return self._batch._take(self._batch.positions(ids))


def _as_list(x, name):
    if x is None:
        return None
    if isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype != object:
        return [x]  # a single object given as plain arrays
    if isinstance(x, (list, tuple)) and len(x) and np.ndim(x[0]) == 0:
        return [np.asarray(x)]
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return list(x)
    try:
        return list(x)
    except TypeError as err:
        raise TypeError(f"{name} must be a list of per-object arrays, got {type(x).__name__}") from err


def _object_column(values, name, n) -> np.ndarray:
    """``[n]`` float64 values of a per-object column (TypeError naming it if not numeric)."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"meta column {name!r} must be numeric: {err}") from err
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"meta column {name!r} has shape {a.shape}, expected ({n},) (one value per object)")
    return a


def _column(df, name):
    if name not in df.columns:
        raise ValueError(f"meta column {name!r} not in the table; columns are {list(df.columns)}")
    return df[name].to_numpy()


def _join_object_table(table, uniq, id_col="id", stacklevel=4) -> dict:
    """Numeric columns of an object table joined on the ids ``uniq`` (NaN where absent)."""
    if not isinstance(table, pd.DataFrame):
        try:
            import pyarrow as pa

            if isinstance(table, pa.Table):
                table = table.to_pandas()
        except ImportError:  # pragma: no cover
            pass
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"meta must be a DataFrame or pyarrow Table of objects, or a dict of columns, "
                        f"got {type(table).__name__}")
    df = table
    for key in (id_col, "id"):
        if key in df.columns:
            df = df.set_index(key)
            break
    if not df.index.is_unique:
        dup = df.index[df.index.duplicated()][0]
        raise ValueError(f"the object table has more than one row for id {_fmt_id(dup)}")
    pos = df.index.get_indexer(pd.Index(uniq))
    out = {}
    for c in df.columns:
        vals = _object_column(df[c].to_numpy(), str(c), len(df))
        col = np.full(len(uniq), np.nan)
        col[pos >= 0] = vals[pos[pos >= 0]]
        out[str(c)] = col
    if np.any(pos < 0) and out:
        warnings.warn(f"LightCurveBatch: {int((pos < 0).sum())} object(s) are not in the object table; "
                      "their meta columns are NaN", DataQualityWarning, stacklevel=stacklevel)
    return out


def _combine_meta(table, per_detection: dict, id_col: str):
    """An object table and per-detection columns as one ``meta`` argument of ``from_long``."""
    if table is None and not per_detection:
        return None
    return {"__table__": (table, id_col), **per_detection}


def _resolve_meta(meta, obj, uniq, m, stacklevel) -> dict:
    """``meta`` of ``from_long`` -> ``{name: [n_obj] float64}``.

    A mapping holds per-detection columns ``[m]`` (constant within each object, or all NaN) and
    optionally an object table under ``"__table__"``; anything else is an object table.
    """
    if meta is None:
        return {}
    n_obj = len(uniq)
    if not isinstance(meta, Mapping):
        return _join_object_table(meta, uniq, "id", stacklevel)
    out = {}
    meta = dict(meta)
    if "__table__" in meta:
        table, id_col = meta.pop("__table__")
        if table is not None:
            out.update(_join_object_table(table, uniq, id_col, stacklevel))
    for name, values in meta.items():
        v = _object_column(values, name, m)
        lo = np.full(n_obj, np.inf)
        hi = np.full(n_obj, -np.inf)
        fin = ~np.isnan(v)
        np.minimum.at(lo, obj[fin], v[fin])
        np.maximum.at(hi, obj[fin], v[fin])
        nan_any = np.zeros(n_obj, bool)
        np.logical_or.at(nan_any, obj[~fin], True)
        has = np.isfinite(lo) | (lo == hi)
        bad = (has & (lo != hi)) | (has & nan_any)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"meta column {name!r} is not constant within object {_fmt_id(uniq[k])} "
                             "(a per-object column must have one value per object)")
        out[name] = np.where(has, lo, np.nan)
    return out


def _fmt_id(x) -> str:
    """repr of an id as the user wrote it (NumPy scalars shown as Python scalars)."""
    return repr(x.item() if isinstance(x, np.generic) else x)


def _float_column(x, name, m):
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"column {name!r} must be numeric: {err}") from err
    if a.shape != (m,):
        raise ValueError(f"column {name!r} has shape {a.shape}, expected ({m},)")
    return a
