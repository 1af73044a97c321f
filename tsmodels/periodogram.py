r"""Batched Lomb-Scargle periodograms of a :class:`~tsmodels.lightcurves.LightCurveBatch`.

* :func:`lombscargle`: generalized (floating-mean) LS with ``nterms`` harmonics, normalizations
  standard / model / log / psd, exact ("direct") or Press & Rybicki ("fast") sums; the same
  numbers as astropy's ``LombScargle`` (kernel: :mod:`tsmodels.kernels.lombscargle`).
* :func:`lombscargle_multiband`: VanderPlas & Ivezić (2015), the quantity of astropy's
  ``LombScargleMultiband(method="flexible")`` (kernel: :mod:`tsmodels.kernels.multiband`).
* :func:`false_alarm_probability`, :func:`false_alarm_level`: Baluev (2008) / Davies / naive
  (astropy's numbers) and a batched bootstrap (permutation test) on the device; for multiband,
  a documented analytic approximation (:func:`tsmodels.kernels.fap.fap_generalized`) and a
  bootstrap that permutes the data within each band.
* :func:`best_periods`: the k highest distinct peaks per object, with their FAP.
* :class:`LombScargle`, :class:`LombScargleMultiband`: astropy-like facades for one object.

All batched functions take ``dtype=`` (float64 by default), compute inside
:func:`tsmodels.config.precision` and return NumPy arrays. The kernels are ``vmap``-ed over
objects and called on blocks of ``batch_size`` objects (the last block padded), so one shape is
compiled per (block, padded length, grid size). In float32, times are passed as a float32 high
part plus a low part (:meth:`LightCurveBatch.time_split`) and grid origin and step likewise, so
phases stay accurate to float32 rounding of numbers below one cycle.

Frequencies are in cycles per day; periods in days.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tsmodels import engine
from tsmodels.config import precision, resolve_dtype
from tsmodels.kernels import fap as _fap
from tsmodels.kernels import lombscargle as _ls
from tsmodels.kernels import multiband as _mb
from tsmodels.kernels.lombscargle import FrequencyGrid
from tsmodels.lightcurves import bucket_lengths

__all__ = [
    "lombscargle",
    "lombscargle_multiband",
    "autofrequency",
    "false_alarm_probability",
    "false_alarm_level",
    "best_periods",
    "find_periods",
    "Peaks",
    "LombScargle",
    "LombScargleMultiband",
]

# Work per device call: objects x frequencies x points (bounds memory of one block).
_BLOCK_WORK = 2**28
# Growth factor of the per-band capacities that the multiband kernel is compiled for (objects are
# grouped by capacity: at most 1/3 of a band's slots are padding, a handful of compiled shapes).
_BAND_SIZE_GROWTH = 1.5
# Below this many frequencies per object the work is too small to pay for more compiled shapes.
_SPLIT_MIN_FREQUENCIES = 4096
_MIN_GROUP = 64


# ------------------------------------------------------------------------------------ grids
def _baselines(t, mask):
    tmax = np.where(mask, t, -np.inf).max(axis=-1)
    tmin = np.where(mask, t, np.inf).min(axis=-1)
    return np.where(mask.any(axis=-1), tmax - tmin, 0.0)


def autofrequency(t, mask=None, *, samples_per_peak=5, nyquist_factor=5, minimum_frequency=None,
                  maximum_frequency=None):
    """astropy's heuristic grid, shared by a batch: ``(f0, df, n)`` in cycles/day.

    ``df = 1 / (samples_per_peak * T)``, ``f0 = df / 2`` and ``fmax = nyquist_factor * n_obs /
    (2 T)``, where for a batch T is the longest baseline (the finest resolution any object
    needs) and ``n_obs / (2 T)`` the largest per-object average Nyquist frequency, so the grid
    covers every object's astropy grid. For one light curve it is astropy's grid exactly.

    Args:
        t: ``(n,)`` or ``(B, n)`` times, days; mask: same shape (True = real point).
    """
    t = np.atleast_2d(np.asarray(t, dtype=np.float64))
    mask = np.ones(t.shape, bool) if mask is None else np.atleast_2d(np.asarray(mask, bool))
    base = _baselines(t, mask)
    nobs = mask.sum(axis=-1)
    ok = (base > 0) & (nobs > 0)
    if not ok.any():
        raise ValueError("cannot build a frequency grid: no object has two distinct times")
    T = base[ok].max()
    df = 1.0 / T / samples_per_peak
    f0 = 0.5 * df if minimum_frequency is None else float(minimum_frequency)
    if maximum_frequency is None:
        fmax = nyquist_factor * (0.5 * nobs[ok] / base[ok]).max()
    else:
        fmax = float(maximum_frequency)
    n = 1 + int(np.round((fmax - f0) / df))
    if n < 1:
        raise ValueError(f"empty frequency grid: minimum {f0} above maximum {fmax}")
    if n > 2**26:
        raise ValueError(f"automatic grid has {n} frequencies (> 2^26); pass frequency= or "
                         "maximum_frequency=")
    return f0, df, n


def _resolve_grid(frequency, t, mask, *, samples_per_peak, nyquist_factor, minimum_frequency,
                  maximum_frequency, assume_regular_frequency=False):
    """Returns ``(frequency as float64 [F], (f0, df, n) or None)``."""
    if frequency is None:
        f0, df, n = autofrequency(t, mask, samples_per_peak=samples_per_peak,
                                  nyquist_factor=nyquist_factor,
                                  minimum_frequency=minimum_frequency,
                                  maximum_frequency=maximum_frequency)
        return f0 + df * np.arange(n), (f0, df, n)
    if isinstance(frequency, FrequencyGrid):
        f0, df, n = float(frequency.f0) + float(frequency.f0_lo), float(frequency.df) + float(frequency.df_lo), frequency.n
        return f0 + df * np.arange(n), (f0, df, n)
    f = np.asarray(frequency, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"frequency must be a non-empty 1-D array, got shape {f.shape}")
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError("frequency must be finite and > 0")
    if f.size >= 2:
        df = (f[-1] - f[0]) / (f.size - 1)
        regular = assume_regular_frequency or (
            df > 0 and np.max(np.abs(f - (f[0] + df * np.arange(f.size)))) <= 1e-10 * max(abs(f[-1]), df))
        if regular:
            return f, (float(f[0]), float(df), int(f.size))
    return f, None


def _grid_arg(grid, dt):
    f0, df, n = grid
    return FrequencyGrid.from_float64(f0, df, n, dt)


# ------------------------------------------------------------------------------------ blocks
def _pick_method(method, n_points, n_freq, nterms):
    if method in ("direct", "fast"):
        return method
    if method != "auto":
        raise ValueError(f"method must be 'auto', 'direct' or 'fast', got {method!r}")
    # The choice depends on the problem's size only, never on the device, so that the same call
    # gives the same numbers on a laptop and on a GPU node (fast and direct differ by up to
    # ~1e-5 of the power, tests/test_periodogram.py). The rule is the CPU crossover: direct costs ~ n_points per frequency (matrix products), fast ~ a large FFT per sum
    # whose cost per frequency grows with the grid (cache). Measured crossover (2-core CPU,
    # float64, nterms=1, objects/s of ts.lombscargle, equal speed where fast/direct = 1):
    #   F = 1e4: N =   200: 0.54, 400: 0.99, 800: 1.80, 1600: 3.18
    #   F = 1e5: N =   400: 0.25, 800: 0.42, 1600: 1.28
    # i.e. N ~ 400 at F = 1e4 and ~1300 at F = 1e5: fast from 400 sqrt(F / 1e4) points.
    return "fast" if n_points >= 400.0 * (max(n_freq, 1) / 1e4) ** 0.5 else "direct"


def _blocks(B, per_object, batch_size):
    if batch_size is None:
        batch_size = int(max(1, min(B, _BLOCK_WORK // max(per_object, 1))))
        # round to a power of two so that different batches share compiled shapes
        batch_size = 1 << (batch_size.bit_length() - 1)
    return int(batch_size)


def _run_blocks(fn, arrays, static_args, B, bs, workers=None):
    """Call ``fn(*block_arrays, *static_args)`` on blocks of ``bs`` objects (the last one
    padded), through the execution engine (:mod:`tsmodels.engine`: host threads on a CPU, the
    local devices in turn); when the batch would make fewer blocks than threads, the block size
    is lowered (to a power of two) so that every thread gets one. An object's result does not
    depend on its block."""
    workers = engine.resolve_workers(workers)
    chunks = engine.row_chunks(B, bs, workers)

    def one(ch):
        blk = [None if a is None else engine.put(engine.pad_rows(a[ch.positions], ch.size), ch)
               for a in arrays]
        out = fn(*blk, *static_args)
        return jax.tree_util.tree_map(lambda x: np.asarray(x)[: len(ch)], out)

    outs = engine.run(one, chunks, workers=workers)
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *outs)


# Objects per step of the loop over a block on CPU. A vmap over the whole block makes every
# intermediate of the normal-equation solve a (block, bands, F) array that streams through memory;
# a loop over one object at a time keeps them in cache. Measured (2-core CPU, F = 1e4, float64):
# single band 200 points 1.3x, multiband 300 points x 6 bands 1.6x faster than a vmap over 32-64
# objects, with 1, 2 and 4 objects per step within the noise of each other. Accelerators vmap
# over the whole block (they need the parallelism).
_CPU_OBJECTS_PER_STEP = 1


def _over_objects(one, args, in_axes):
    """``vmap(one, in_axes)(*args)`` on accelerators, a ``lax.map`` over objects on CPU."""
    if jax.default_backend() != "cpu":
        return jax.vmap(one, in_axes=in_axes)(*args)
    pos = [i for i, ax in enumerate(in_axes) if ax == 0]

    def body(xs):
        full = list(args)
        for i, x in zip(pos, xs):
            full[i] = x
        return one(*full)

    return jax.lax.map(body, tuple(args[i] for i in pos), batch_size=_CPU_OBJECTS_PER_STEP)


def _single_fn(nterms, normalization, fit_mean, center_data, method, has_dy, has_tlo, is_grid,
               per_object_freq=False):
    static = (nterms, normalization, fit_mean, center_data, method, has_dy, has_tlo, is_grid,
              per_object_freq, jax.default_backend())

    def one(t, y, dy, mask, t_lo, freq):
        return _ls.power(t, y, dy, freq, mask=mask, t_lo=t_lo, nterms=nterms,
                         normalization=normalization, fit_mean=fit_mean, center_data=center_data,
                         method=method)

    def batched(t, y, dy, mask, t_lo, freq):
        return _over_objects(one, (t, y, dy, mask, t_lo, freq),
                             (0, 0, 0 if has_dy else None, 0, 0 if has_tlo else None,
                              0 if per_object_freq else None))

    return engine.program(batched, name="lombscargle", static=static)


def _multi_fn(n_bands, nterms_base, nterms_band, reg_base, reg_band, regularize_by_trace,
              center_data, normalization, method, has_dy, has_tlo, band_size=None,
              per_object_freq=False):
    static = (n_bands, nterms_base, nterms_band, reg_base, reg_band, regularize_by_trace,
              center_data, normalization, method, has_dy, has_tlo, band_size, per_object_freq,
              jax.default_backend())

    def one(t, y, dy, band, mask, t_lo, freq):
        return _mb.power(t, y, dy, band, freq, n_bands=n_bands, mask=mask, t_lo=t_lo,
                         nterms_base=nterms_base, nterms_band=nterms_band, reg_base=reg_base,
                         reg_band=reg_band, regularize_by_trace=regularize_by_trace,
                         center_data=center_data, normalization=normalization, method=method,
                         band_size=band_size)

    def batched(t, y, dy, band, mask, t_lo, freq):
        return _over_objects(one, (t, y, dy, band, mask, t_lo, freq),
                             (0, 0, 0 if has_dy else None, 0, 0, 0 if has_tlo else None,
                              0 if per_object_freq else None))

    return engine.program(batched, name="lombscargle_multiband", static=static)


def _band_size_groups(band, mask, n_bands, split=True):
    """Group objects by the capacity of the multiband kernel's per-band point lists.

    An object needs at least the most real points it has in one band. Capacities are bucket
    lengths (growth ``_BAND_SIZE_GROWTH``); walking them upwards, a group is closed once it holds
    a quarter of the batch and at least ``_MIN_GROUP`` objects, and takes the largest capacity of
    its objects. So there are at most five compiled shapes per call (compiling costs as much as
    computing a few hundred objects), and the bulk of the objects do not pay for the few with the
    most points.

    ``split=False``: one group (small problems, where a compile costs more than the padding).

    Returns:
        list of ``(capacity, object positions)``.
    """
    counts = np.stack([((band == b) & mask).sum(axis=1) for b in range(n_bands)]).max(axis=0)
    counts = np.maximum(counts, 1)
    rungs = bucket_lengths(int(counts.max(initial=1)), growth=_BAND_SIZE_GROWTH)
    which = np.searchsorted(rungs, counts)
    min_group = max(-(-counts.size // 4), _MIN_GROUP) if split else counts.size
    groups, current = [], []
    for r in np.unique(which):
        current.append(np.flatnonzero(which == r))
        if sum(c.size for c in current) >= min_group:
            groups.append(np.concatenate(current))
            current = []
    if current:
        groups.append(np.concatenate(current))
    return [(int(min(rungs[which[g].max()], band.shape[1])), np.sort(g)) for g in groups]


def _per_object_frequency(frequency, B):
    """Validate a ``(B, F)`` array of per-object frequencies (float64)."""
    f = np.asarray(frequency, dtype=np.float64)
    if f.shape[0] != B or f.shape[1] == 0:
        raise ValueError(f"per-object frequency must have shape (B={B}, F > 0), got {f.shape}")
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError("frequency must be finite and > 0")
    return f


def _host_arrays(batch, dt, use_errors):
    if dt == np.dtype("float32"):
        t, t_lo = batch.time_split(np.float32)
    else:
        t, t_lo = np.asarray(batch.t, np.float64), None
    y = np.asarray(batch.flux, dt)
    dy = np.asarray(batch.flux_err, dt) if use_errors else None
    return t, t_lo, y, dy


def _warn_pooled(batch, who, stacklevel=3):
    from tsmodels.models.base import PooledBandsWarning, pooled_bands

    pooled = pooled_bands(batch)
    if pooled:
        import warnings

        warnings.warn(
            f"{who}(band=None) pools the points of bands {pooled} into one series with one mean: "
            "different band offsets then look like signal, and false-alarm probabilities are far "
            f"too small. Pass band=... (one of {pooled}) or use ts.lombscargle_multiband.",
            PooledBandsWarning, stacklevel=stacklevel)


def _band_index(batch, band):
    if band is None:
        return None
    if isinstance(band, (int, np.integer)):
        if not 0 <= band < batch.n_bands:
            raise ValueError(f"band index {band} out of range for bands={batch.bands}")
        return int(band)
    if band not in batch.bands:
        raise ValueError(f"band {band!r} not in bands={batch.bands}")
    return batch.bands.index(band)


# ------------------------------------------------------------------------------------ public
def lombscargle(batch, frequency=None, *, minimum_frequency=None, maximum_frequency=None,
                samples_per_peak=5, nyquist_factor=5, nterms=1, normalization="standard",
                method="auto", band=None, fit_mean=True, center_data=True, use_errors=True,
                dtype=None, batch_size=None, workers=None):
    r"""Generalized Lomb-Scargle periodograms of every object of a batch, on one grid.

    Args:
        batch: a :class:`~tsmodels.lightcurves.LightCurveBatch` (B objects).
        frequency: ``(F,)`` frequencies (cycles/day) or a :class:`FrequencyGrid`; None for the
            astropy-style automatic grid shared by the batch (:func:`autofrequency`); or a
            ``(B, F)`` array, each object's own frequencies (direct method).
        minimum_frequency, maximum_frequency, samples_per_peak, nyquist_factor: automatic grid.
        nterms: number of harmonics.
        normalization: "standard", "model", "log" or "psd" (astropy's definitions).
        method: "direct" (exact), "fast" (Press & Rybicki 1989 extirpolation + FFT, regular
            grids only, within ~1e-5 of the exact standard power) or "auto": fast from
            ``400 sqrt(F / 1e4)`` points per object (the crossover measured on a CPU), direct
            below, whatever the device, so results do not change with it (on a GPU, direct is
            often faster for any size: pass ``method="direct"``).
        band: None for all points (with several bands a
            :class:`~tsmodels.models.base.PooledBandsWarning` says to pass a band or to use
            :func:`lombscargle_multiband`), or a band name/index to use that band's points only.
        fit_mean, center_data: as astropy.
        use_errors: weight by ``1/flux_err^2`` (False: equal weights, astropy's ``dy=None``).
        dtype: float64 (default) or float32 (times split into high + low parts).
        batch_size: objects per device call (default: bounded work per call).
        workers: host threads running blocks of objects in parallel (default: one per CPU core
            on a CPU backend, 1 on an accelerator). Results do not depend on it.

    Returns:
        ``(frequency (F,) or (B, F) float64, power (B, F) dtype)``.

    Example:
        >>> freq, power = ts.lombscargle(batch, maximum_frequency=5.0)
        >>> periods = 1 / freq[power.argmax(axis=1)]
    """
    dt = resolve_dtype(dtype)
    _ls._check_options(nterms, normalization, fit_mean)
    mask = np.asarray(batch.mask, bool)
    bi = _band_index(batch, band)
    if bi is not None:
        mask = mask & (np.asarray(batch.band) == bi)
    else:
        _warn_pooled(batch, "ts.lombscargle")
    B = len(batch)
    per_object = frequency is not None and not isinstance(frequency, FrequencyGrid) \
        and np.ndim(frequency) == 2
    if per_object:
        freq, grid = _per_object_frequency(frequency, B), None
    else:
        freq, grid = _resolve_grid(frequency, batch.t, mask, samples_per_peak=samples_per_peak,
                                   nyquist_factor=nyquist_factor,
                                   minimum_frequency=minimum_frequency,
                                   maximum_frequency=maximum_frequency)
    n_pts = int(mask.sum(axis=1).max(initial=1))
    F = freq.shape[-1]
    meth = _pick_method(method, n_pts, F, nterms)
    if meth == "fast" and grid is None:
        if method == "fast":
            raise ValueError("method='fast' needs a regular frequency grid")
        meth = "direct"
    with precision(dt):
        t, t_lo, y, dy = _host_arrays(batch, dt, use_errors)
        fn = _single_fn(int(nterms), normalization, bool(fit_mean), bool(center_data), meth,
                        dy is not None, t_lo is not None, grid is not None, per_object)
        bs = _blocks(B, F * t.shape[1], batch_size)
        if per_object:
            power = _run_blocks(fn, [t, y, dy, mask, t_lo, freq.astype(dt)], (), B, bs, workers)
        else:
            fq = _grid_arg(grid, dt) if grid is not None else jnp.asarray(freq, dt)
            power = _run_blocks(lambda *a: fn(*a, fq), [t, y, dy, mask, t_lo], (), B, bs, workers)
    return freq, power.astype(dt, copy=False)


def lombscargle_multiband(batch, frequency=None, *, minimum_frequency=None,
                          maximum_frequency=None, samples_per_peak=5, nyquist_factor=5,
                          nterms_base=1, nterms_band=1, reg_base=None, reg_band=1e-6,
                          regularize_by_trace=True, center_data=True, normalization="standard",
                          method="direct", use_errors=True, dtype=None, batch_size=None,
                          workers=None):
    r"""Multiband periodograms (VanderPlas & Ivezić 2015) of every object of a batch.

    The quantity of astropy's ``LombScargleMultiband(...).power(frequency, method="flexible")``
    (see :mod:`tsmodels.kernels.multiband`); bands are the batch's ``bands``, and a band with no
    point in an object simply does not enter that object's model.

    Args:
        batch: a :class:`~tsmodels.lightcurves.LightCurveBatch`.
        frequency: ``(F,)`` cycles/day, a :class:`FrequencyGrid`, None (automatic grid), or a
            ``(B, F)`` array of each object's own frequencies.
        nterms_base, nterms_band, reg_base, reg_band, regularize_by_trace, center_data: as
            astropy's ``LombScargleMultiband``.
        normalization: "standard" (astropy's) or "model", "log", "psd" (derived as single band).
        method: "direct" (exact) or "fast" (FFT sums; regular grids).
        use_errors, dtype, batch_size, workers: as :func:`lombscargle`.

    Objects are grouped by how many points they have in their fullest band (each band's sums run
    over that band's points only; see ``band_size`` in :func:`tsmodels.kernels.multiband.power`),
    at most five groups and so five compiled shapes per call.

    Returns:
        ``(frequency (F,) or (B, F) float64, power (B, F) dtype)``.
    """
    dt = resolve_dtype(dtype)
    if normalization not in _ls.NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_ls.NORMALIZATIONS}, got {normalization!r}")
    if method not in ("direct", "fast", "auto"):
        raise ValueError(f"method must be 'auto', 'direct' or 'fast', got {method!r}")
    mask = np.asarray(batch.mask, bool)
    B = len(batch)
    per_object = frequency is not None and not isinstance(frequency, FrequencyGrid) \
        and np.ndim(frequency) == 2
    if per_object:
        freq, grid = _per_object_frequency(frequency, B), None
    else:
        freq, grid = _resolve_grid(frequency, batch.t, mask, samples_per_peak=samples_per_peak,
                                   nyquist_factor=nyquist_factor,
                                   minimum_frequency=minimum_frequency,
                                   maximum_frequency=maximum_frequency)
    meth = "direct" if (method == "auto" or grid is None) else method
    if method == "fast" and grid is None:
        raise ValueError("method='fast' needs a regular frequency grid")
    F = freq.shape[-1]
    power = np.zeros((B, F), dt)
    with precision(dt):
        t, t_lo, y, dy = _host_arrays(batch, dt, use_errors)
        band = np.asarray(batch.band, np.int32)
        fq = _grid_arg(grid, dt) if grid is not None else jnp.asarray(freq, dt)
        for size, idx in _band_size_groups(band, mask, batch.n_bands,
                                           split=F >= _SPLIT_MIN_FREQUENCIES):
            fn = _multi_fn(batch.n_bands, int(nterms_base), int(nterms_band),
                           None if reg_base is None else float(reg_base),
                           None if reg_band is None else float(reg_band),
                           bool(regularize_by_trace), bool(center_data), normalization, meth,
                           dy is not None, t_lo is not None, int(size), per_object)
            bs = _blocks(idx.size, F * int(size) * batch.n_bands, batch_size)
            arrays = [None if a is None else a[idx] for a in (t, y, dy, band, mask, t_lo)]
            if per_object:
                power[idx] = _run_blocks(fn, arrays + [freq[idx].astype(dt)], (), idx.size, bs,
                                         workers)
            else:
                power[idx] = _run_blocks(lambda *a: fn(*a, fq), arrays, (), idx.size, bs, workers)
    return freq, power


# ------------------------------------------------------------------------------------ FAP
def _stats(batch, mask, use_errors):
    t = np.asarray(batch.t, np.float64)
    dy = np.asarray(batch.flux_err, np.float64) if use_errors else None
    with precision("float64"):
        n, base, var = jax.vmap(_fap.lightcurve_stats, in_axes=(0, 0 if dy is not None else None, 0))(
            jnp.asarray(t), None if dy is None else jnp.asarray(dy), jnp.asarray(mask))
    return np.asarray(n), np.asarray(base), np.asarray(var)


def _object_salts(batch):
    """A 32-bit number per object from its id (its position if the batch has none), so that an
    object's bootstrap draws depend on the seed and on the object only."""
    ids = batch.ids if batch.ids is not None else np.arange(len(batch))
    return np.array([zlib.crc32(str(i).encode()) for i in np.asarray(ids).tolist()], np.uint32)


def _permute_within_bands(key, band, mask, n_bands):
    """Source index of each point for a uniformly random permutation of the real points among
    the points of the same band (padded points map to themselves). Pure JAX, one light curve."""
    N = band.shape[0]
    key_b = jnp.where(mask, band, n_bands)
    grouped = jnp.argsort(key_b, stable=True)                    # points grouped by band
    u = jax.random.uniform(key, (N,))
    shuffled = jnp.lexsort((u, key_b))                            # same groups, random order
    src = jnp.zeros(N, grouped.dtype).at[grouped].set(shuffled)
    return jnp.where(mask, src, jnp.arange(N))


def _bootstrap_fn(multiband, n_bands, n_bootstraps, band_size, kernel_items, has_dy, has_tlo):
    kernel_kwargs = dict(kernel_items)
    static = (multiband, n_bands, n_bootstraps, band_size, kernel_items, has_dy, has_tlo,
              jax.default_backend())

    def one_object(key, t, y, dy, band, mask, t_lo, fq):
        def one_boot(k):
            src = _permute_within_bands(k, band, mask, n_bands)
            yb, dyb = y[src], (None if dy is None else dy[src])
            if multiband:
                p = _mb.power(t, yb, dyb, band, fq, n_bands=n_bands, mask=mask, t_lo=t_lo,
                              band_size=band_size, **kernel_kwargs)
            else:
                p = _ls.power(t, yb, dyb, fq, mask=mask, t_lo=t_lo, **kernel_kwargs)
            return jnp.max(p)

        keys = jax.random.split(jax.random.wrap_key_data(key), n_bootstraps)
        return jax.lax.map(one_boot, keys, batch_size=min(n_bootstraps, 64))

    def batched(key, t, y, dy, band, mask, t_lo, fq):
        return _over_objects(one_object, (key, t, y, dy, band, mask, t_lo, fq),
                             (0, 0, 0, 0 if has_dy else None, 0, 0, 0 if has_tlo else None,
                              None))

    return engine.program(batched, name="bootstrap", static=static)


def _bootstrap_max(batch, freq, grid, *, multiband, n_bootstraps, random_seed, use_errors,
                   band_mask, dtype, kernel_kwargs, batch_size=None, workers=None):
    """Maximum power of ``n_bootstraps`` permutations per object: ``(B, n_bootstraps)``.

    Each resample permutes the (value, error) pairs among an object's real points of the same
    band (all its points for single band), times and bands kept: a draw from the permutation
    distribution, which under the null hypothesis (no periodicity: within a band, the pairs are
    exchangeable, whatever their distribution) is the distribution of the data themselves.
    Object ``i`` uses the key ``fold_in(key(random_seed or 0), crc32(str(id_i)))``: its maxima
    do not depend on the other objects of the batch, its position or ``batch_size``.
    """
    dt = resolve_dtype(dtype)
    mask = band_mask
    B, N = mask.shape
    n_bootstraps = int(n_bootstraps)
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be >= 1, got {n_bootstraps}")
    with precision(dt):
        t, t_lo, y, dy = _host_arrays(batch, dt, use_errors)
        band = np.asarray(batch.band, np.int32) if multiband else np.zeros((B, N), np.int32)
        nbands = batch.n_bands if multiband else 1
        band_size = max(size for size, _ in _band_size_groups(band, mask, nbands, split=False))
        fq = _grid_arg(grid, dt) if grid is not None else jnp.asarray(freq, dt)
        fn = _bootstrap_fn(bool(multiband), int(nbands), n_bootstraps,
                           int(band_size) if multiband else None,
                           tuple(sorted(kernel_kwargs.items())), dy is not None, t_lo is not None)
        bs = _blocks(B, freq.size * N * 64 * max(nbands, 1), batch_size)
        base = jax.random.key(0 if random_seed is None else int(random_seed))
        kd = np.asarray(jax.random.key_data(jax.vmap(lambda s: jax.random.fold_in(base, s))(
            jnp.asarray(_object_salts(batch)))))
        out = _run_blocks(lambda *a: fn(*a, fq), [kd, t, y, dy, band, mask, t_lo], (), B, bs, workers)
    return out


def _bootstrap_pvalue(pmax, z):
    """``(1 + #{pmax >= z}) / (1 + n)`` per object: ``pmax (B, n)``, ``z (B, k)`` -> ``(B, k)``.

    The observed periodogram is one more draw from the permutation distribution, so under the
    null hypothesis ``P(FAP <= alpha) <= alpha`` for every ``alpha`` and any number of
    resamples (exactly ``floor(alpha (n + 1)) / (n + 1)``), not only as ``n`` grows.
    """
    n = pmax.shape[-1]
    return (1.0 + (pmax[:, None, :] >= z[:, :, None]).sum(axis=-1)) / (1.0 + n)


def _multiband_fap_stats(batch, mask, use_errors, n_bands, band, nterms_base, nterms_band):
    t = np.asarray(batch.t, np.float64)
    dy = np.asarray(batch.flux_err, np.float64) if use_errors else None
    with precision("float64"):
        f = jax.vmap(lambda t_, dy_, b_, m_: _fap.multiband_stats(
            t_, dy_, b_, m_, n_bands=n_bands, nterms_base=nterms_base, nterms_band=nterms_band),
            in_axes=(0, 0 if dy is not None else None, 0, 0))
        out = f(jnp.asarray(t), None if dy is None else jnp.asarray(dy), jnp.asarray(band),
                jnp.asarray(mask))
    return [np.asarray(x) for x in out]


def false_alarm_probability(power, batch, frequency, *, normalization="standard",
                            method="baluev", band=None, nterms=1, multiband=False,
                            nterms_base=1, nterms_band=1, reg_base=None, reg_band=1e-6,
                            use_errors=True, n_bootstraps=1000, random_seed=None,
                            dtype=None, batch_size=None, workers=None):
    r"""False-alarm probability of peak powers, per object.

    The FAP of a power :math:`Z` is the probability that an object without periodic signal,
    observed like this one, gives a periodogram (same model, normalization and ``frequency``)
    whose highest value reaches :math:`Z`.

    Methods:

    * single band, ``nterms = 1``: "baluev" (default), "davies", "naive", "single": astropy's
      formulas and numbers (:mod:`tsmodels.kernels.fap`; Baluev 2008).
    * multiband (``multiband=True``) or ``nterms > 1``, standard normalization: "baluev" is the
      generalized approximation :func:`tsmodels.kernels.fap.fap_generalized` (Baluev's
      up-crossing formula for a model with ``d`` periodic parameters, with the per-band counts
      of :func:`tsmodels.kernels.fap.multiband_stats`, :math:`f_{\min}` and :math:`f_{\max}`
      of ``frequency`` and, for a regular grid, its step; equation, choices and the range of
      validity checked on noise simulations are in :mod:`tsmodels.kernels.fap`).
    * "bootstrap" (any model, normalization): a permutation test on the device. Each of
      ``n_bootstraps`` resamples permutes the (flux, flux_err) pairs among the object's points
      of the same band (single band: among all its points), times and bands kept, and the
      periodogram of the resample is maximized over ``frequency``; the FAP is
      ``(1 + #{resampled maxima >= Z}) / (1 + n_bootstraps)``. Under the null hypothesis of
      no periodicity (within a band, the pairs exchangeable: any noise distribution, per-band
      offsets and error levels) the observed data are one more draw of the same distribution,
      so ``P(FAP <= alpha) <= alpha`` exactly for any ``n_bootstraps`` (the smallest possible
      FAP is ``1 / (n_bootstraps + 1)``). Objects are vmapped in blocks; object ``i``'s draws
      come from ``random_seed`` (None = 0) and its id alone, so its FAP does not depend on the
      rest of the batch. Cost: ``n_bootstraps`` periodograms per object.

    Args:
        power: ``(B,)`` or ``(B, k)`` peak powers (e.g. ``power.max(axis=1)``).
        batch: the batch the periodograms were computed from.
        frequency: the grid searched (``(F,)`` cycles/day; its extremes are :math:`f_{\min}`,
            :math:`f_{\max}`).
        normalization: of ``power``.
        method: "baluev" (default), "davies", "naive", "single" or "bootstrap" (above).
        band: single-band periodograms of one band (as in :func:`lombscargle`).
        nterms, nterms_base, nterms_band, reg_base, reg_band: the periodogram's model.
        use_errors: weights ``1/flux_err^2`` (as the periodogram).
        n_bootstraps: resamples per object ("bootstrap"; default 1000).
        random_seed: int seed of the resamples ("bootstrap"; None means 0).
        dtype: of the bootstrap periodograms (float64 default).
        batch_size, workers: objects per block and host threads running blocks ("bootstrap";
            as :func:`lombscargle`); the FAP does not depend on them.

    Returns:
        FAP with the shape of ``power`` (float64).
    """
    power = np.asarray(power, np.float64)
    squeeze = power.ndim == 1
    pw = power[:, None] if squeeze else power
    mask = np.asarray(batch.mask, bool)
    bi = _band_index(batch, band)
    if bi is not None:
        mask = mask & (np.asarray(batch.band) == bi)
    freq, grid = _resolve_grid(frequency, batch.t, mask, samples_per_peak=5, nyquist_factor=5,
                               minimum_frequency=None, maximum_frequency=None)
    fmax = float(freq.max())
    if method == "bootstrap":
        if multiband:
            kw = dict(nterms_base=nterms_base, nterms_band=nterms_band, reg_base=reg_base,
                      reg_band=reg_band, normalization=normalization, method="direct")
        else:
            kw = dict(nterms=nterms, normalization=normalization, method="direct")
        pmax = _bootstrap_max(batch, freq, grid, multiband=multiband, n_bootstraps=n_bootstraps,
                              random_seed=random_seed, use_errors=use_errors, band_mask=mask,
                              dtype=dtype, kernel_kwargs=kw, batch_size=batch_size, workers=workers)
        out = _bootstrap_pvalue(pmax, pw)
        return out[:, 0] if squeeze else out
    with precision("float64"):
        if multiband or nterms > 1:
            if method != "baluev" or normalization != "standard":
                raise NotImplementedError(
                    "multiband / multi-term FAP: method='baluev' (generalized, standard "
                    "normalization) or 'bootstrap'")
            if multiband:
                band_arr, nb = np.asarray(batch.band, np.int32), batch.n_bands
                m0, m1 = nterms_base, nterms_band
            else:                        # one band, nterms band harmonics, no shared series
                band_arr, nb, m0, m1 = np.zeros(mask.shape, np.int32), 1, 0, nterms
            n, n_null, d, var = _multiband_fap_stats(batch, mask, use_errors, nb, band_arr,
                                                     int(m0), int(m1))
            fmin = float(freq.min())
            df = 0.0 if grid is None else float(grid[1])
            f = jax.vmap(lambda z, n_, nn, d_, v: _fap.fap_generalized(
                z, fmax=fmax, fmin=fmin, df=df, n=n_, t_var=v, d=d_, n_null=nn))
            out = np.asarray(f(jnp.asarray(pw), jnp.asarray(n), jnp.asarray(n_null),
                               jnp.asarray(d), jnp.asarray(var)))
        else:
            n, base, var = _stats(batch, mask, use_errors)
            f = jax.vmap(lambda z, n_, b, v: _fap.false_alarm_probability(
                z, fmax=fmax, n=n_, baseline=b, t_var=v, normalization=normalization,
                method=method))
            out = np.asarray(f(jnp.asarray(pw), jnp.asarray(n), jnp.asarray(base), jnp.asarray(var)))
    return out[:, 0] if squeeze else out


def false_alarm_level(false_alarm_probability, batch, frequency, *, normalization="standard",
                      method="baluev", band=None, use_errors=True, n_bootstraps=1000,
                      random_seed=None, dtype=None, batch_size=None, workers=None):
    """Power level per object whose (single-band, nterms = 1) FAP is the given probability.

    For "bootstrap", the level is the ``k+1``-th highest of the resampled maxima of
    :func:`false_alarm_probability` (``k = floor(p (n_bootstraps + 1)) - 1``): powers above it
    have a bootstrap FAP ``<= p``; ``inf`` where ``p < 1 / (n_bootstraps + 1)``.

    Args:
        false_alarm_probability: scalar or ``(k,)`` probabilities.
        Others as :func:`false_alarm_probability`.

    Returns:
        ``(B,)`` or ``(B, k)`` levels.
    """
    p = np.atleast_1d(np.asarray(false_alarm_probability, np.float64))
    mask = np.asarray(batch.mask, bool)
    bi = _band_index(batch, band)
    if bi is not None:
        mask = mask & (np.asarray(batch.band) == bi)
    freq, grid = _resolve_grid(frequency, batch.t, mask, samples_per_peak=5, nyquist_factor=5,
                               minimum_frequency=None, maximum_frequency=None)
    fmax = float(freq.max())
    if method == "bootstrap":
        pmax = _bootstrap_max(batch, freq, grid, multiband=False, n_bootstraps=n_bootstraps,
                              random_seed=random_seed, use_errors=use_errors, band_mask=mask,
                              dtype=dtype, kernel_kwargs=dict(normalization=normalization,
                                                              method="direct"),
                              batch_size=batch_size, workers=workers)
        # the level above which the FAP of false_alarm_probability(method="bootstrap"),
        # (1 + #{pmax >= z}) / (1 + n), is <= p: the (k+1)-th largest maximum, where
        # k = floor(p (n + 1)) - 1 maxima may lie above it; inf if p < 1 / (n + 1)
        pmax = np.sort(pmax, axis=1)[:, ::-1]
        k = np.floor(p * (n_bootstraps + 1) * (1 + 1e-12)).astype(int) - 1
        out = np.where(k >= 0, pmax[:, np.clip(k, 0, n_bootstraps - 1)], np.inf)
    else:
        n, base, var = _stats(batch, mask, use_errors)
        with precision("float64"):
            f = jax.vmap(lambda n_, b, v: _fap.false_alarm_level(
                jnp.asarray(p), fmax=fmax, n=n_, baseline=b, t_var=v,
                normalization=normalization, method=method))
            out = np.asarray(f(jnp.asarray(n), jnp.asarray(base), jnp.asarray(var)))
    return out[:, 0] if np.ndim(false_alarm_probability) == 0 else out


# ------------------------------------------------------------------------------------ peaks
class Peaks(NamedTuple):
    """Top-k peaks per object; arrays ``(B, k)`` (NaN where an object has fewer peaks)."""

    period: np.ndarray
    frequency: np.ndarray
    power: np.ndarray
    fap: np.ndarray
    index: np.ndarray


_PEAK_BLOCK_ELEMENTS = 1 << 22


def _peak_indices(f, P, k, exclude):
    """Grid indices ``(b, k)`` of the ``k`` highest distinct local maxima per row (-1: none)."""
    B = P.shape[0]
    left = np.concatenate([np.full((B, 1), -np.inf), P[:, :-1]], axis=1)
    right = np.concatenate([P[:, 1:], np.full((B, 1), -np.inf)], axis=1)
    cand = np.where((P >= left) & (P >= right) & np.isfinite(P), P, -np.inf)
    del left, right
    idx = np.full((B, k), -1, np.int64)
    rows = np.arange(B)
    for j in range(k):
        i = np.argmax(cand, axis=1)
        ok = np.isfinite(cand[rows, i])
        idx[:, j] = np.where(ok, i, -1)
        near = np.abs(f[None, :] - f[i][:, None]) <= exclude
        cand[near & ok[:, None]] = -np.inf
    return idx


def best_periods(frequency, power, k=3, *, exclude=None, batch=None, normalization="standard",
                 fap_method="baluev", **fap_kwargs):
    """The ``k`` highest distinct peaks of each periodogram.

    A peak is a local maximum of the power; after one is taken, every frequency within
    ``exclude`` of it (default: 5 grid steps, about one peak half-width for the default
    ``samples_per_peak=5``) is skipped, so the next peak is not the same peak's shoulder.

    Args:
        frequency: ``(F,)`` grid (cycles/day), increasing.
        power: ``(B, F)`` or ``(F,)``.
        k: peaks per object.
        exclude: half-width (cycles/day) of the window skipped around a taken peak.
        batch: if given, the FAP of each peak (:func:`false_alarm_probability` with
            ``normalization``, ``fap_method`` and ``fap_kwargs``); otherwise NaN.

    Returns:
        :class:`Peaks` with ``(B, k)`` period (days), frequency, power, fap, index.
    """
    f = np.asarray(frequency, np.float64)
    P = np.atleast_2d(np.asarray(power))
    if P.shape[-1] != f.size:
        raise ValueError(f"power has {P.shape[-1]} frequencies, frequency has {f.size}")
    B, F = P.shape
    if exclude is None:
        exclude = 5 * (f[-1] - f[0]) / max(F - 1, 1)
    idx = np.full((B, k), -1, np.int64)
    # blocks of rows: the peak search needs a few (rows, F) temporaries, which for a chunk of
    # thousands of objects on a grid of 10^5 frequencies would be gigabytes each
    step = max(1, _PEAK_BLOCK_ELEMENTS // max(F, 1))
    for lo in range(0, B, step):
        idx[lo:lo + step] = _peak_indices(f, P[lo:lo + step].astype(np.float64), k, exclude)
    good = idx >= 0
    ii = np.where(good, idx, 0)
    freq = np.where(good, f[ii], np.nan)
    pw = np.where(good, np.take_along_axis(P, ii, axis=1).astype(np.float64), np.nan)
    fap = np.full((B, k), np.nan)
    if batch is not None:
        fap = false_alarm_probability(np.where(good, pw, 0.0), batch, f, normalization=normalization,
                                      method=fap_method, **fap_kwargs)
        fap = np.where(good, fap, np.nan)
    return Peaks(period=1.0 / freq, frequency=freq, power=pw, fap=fap, index=idx)


def find_periods(batch, frequency=None, *, minimum_frequency=None, maximum_frequency=None,
                 samples_per_peak=2, nyquist_factor=5, multiband=True, search=None, refine=None,
                 n_candidates=10, refine_points=9, k=1, use_errors=True, dtype=None,
                 fap_method="baluev", fap_kwargs=None):
    r"""Best periods of every object by a two-stage search: a cheap periodogram on a coarse grid,
    then a richer model around its highest peaks.

    1. Search: the periodogram of the ``search`` model (default: multiband ``nterms_base=1,
       nterms_band=0``, i.e. one sinusoid shared by all bands plus a mean per band; single band
       ``nterms=1``) on a shared grid with ``samples_per_peak`` (default 2) points per peak
       width :math:`1/T`, where the exact peak location is not needed, only which peaks exist.
    2. Refine: around each of the ``n_candidates`` highest peaks (:func:`best_periods`), the
       periodogram of the ``refine`` model (default multiband ``nterms_base=3, nterms_band=1``,
       single band ``nterms=3``) on ``refine_points`` frequencies spanning one search step either
       side. The model with harmonics separates a non-sinusoidal variable's true period from its
       aliases and harmonics better than one sinusoid (VanderPlas & Ivezić 2015 find the same on
       the Stripe 82 RR Lyrae).

    The cost is that of the search periodogram (one cheap model on a coarse grid) plus a small
    per-object refinement; an exhaustive search with the rich model on a fine grid costs about
    ``(refine sums / search sums) x (fine / coarse steps)`` times more.

    The false-alarm probability of a returned period is that of the search stage, where the
    whole frequency range is looked at: :func:`false_alarm_probability` of the search
    periodogram's power at the candidate the period was refined from, with the search model,
    normalization and grid (so :math:`f_{\min}`, :math:`f_{\max}` and the grid step of the
    search). For the highest search peak it is the FAP of the search periodogram's maximum; for
    a candidate ranked lower by the search it is larger (a conservative value). The refined
    power is not used: it is a maximum over a few local windows of another model, whose
    distribution under noise no closed form describes.

    Args:
        batch: a :class:`~tsmodels.lightcurves.LightCurveBatch`.
        frequency: ``(F,)`` search grid (regular, cycles/day); None for the automatic grid of
            ``minimum_frequency``, ``maximum_frequency``, ``samples_per_peak``,
            ``nyquist_factor`` (:func:`autofrequency`).
        multiband: :func:`lombscargle_multiband` (True) or :func:`lombscargle` on all points.
        search, refine: keyword arguments of the periodogram function for each stage (models,
            ``reg_band``, ``normalization``, ``band``, ...); they replace the defaults.
        n_candidates: peaks of the search periodogram to refine.
        refine_points: frequencies per candidate.
        k: periods returned per object (the best refined candidates, by refined power).
        use_errors: weight by ``1/flux_err^2``.
        dtype: of both stages (float64 default).
        fap_method: method of :func:`false_alarm_probability` for ``fap`` (above): "baluev"
            (default; for multiband or ``nterms > 1`` searches the generalized approximation,
            which needs the standard normalization), "bootstrap" (costs ``n_bootstraps`` search
            periodograms per object), any other single-band method, or None (``fap`` NaN).
        fap_kwargs: more keyword arguments of :func:`false_alarm_probability`
            (``n_bootstraps``, ``random_seed``, ...).

    Returns:
        :class:`Peaks` with ``(B, k)`` arrays: refined ``period`` (days), ``frequency``,
        ``power`` (of the refine model), ``fap`` (of the search stage, above; NaN where no
        peak or ``fap_method=None``) and ``index`` (the candidate's position in the search
        grid).

    Example:
        >>> peaks = ts.periodogram.find_periods(batch, minimum_frequency=1.0, maximum_frequency=5.0)
        >>> peaks.period[:, 0]
    """
    fn = lombscargle_multiband if multiband else lombscargle
    s_kw = dict(nterms_base=1, nterms_band=0) if multiband else dict(nterms=1)
    r_kw = dict(nterms_base=3, nterms_band=1) if multiband else dict(nterms=3)
    s_kw.update(search or {})
    r_kw.update(refine or {})
    if n_candidates < 1 or refine_points < 1 or not 1 <= k <= n_candidates:
        raise ValueError(f"need n_candidates >= 1, refine_points >= 1 and 1 <= k <= n_candidates, "
                         f"got {n_candidates}, {refine_points}, {k}")
    fap_kw = dict(fap_kwargs or {})
    if fap_method is not None:
        names = (("nterms_base", "nterms_band", "reg_base", "reg_band") if multiband
                 else ("nterms", "band"))
        fap_kw.update({n: s_kw[n] for n in names + ("normalization",) if n in s_kw})
        fap_kw.setdefault("dtype", dtype)
        if (fap_method == "baluev" and (multiband or s_kw.get("nterms", 1) > 1)
                and s_kw.get("normalization", "standard") != "standard"):
            raise ValueError("fap_method='baluev' for a multiband or multi-term search needs "
                             "normalization='standard'; use fap_method='bootstrap' or None")
    freq, power = fn(batch, frequency, minimum_frequency=minimum_frequency,
                     maximum_frequency=maximum_frequency, samples_per_peak=samples_per_peak,
                     nyquist_factor=nyquist_factor, use_errors=use_errors, dtype=dtype, **s_kw)
    step = (freq[-1] - freq[0]) / max(freq.size - 1, 1)
    cand = best_periods(freq, power, k=n_candidates)
    # objects with fewer peaks than n_candidates repeat their best one (NaN if none at all)
    fc = np.where(np.isnan(cand.frequency), cand.frequency[:, :1], cand.frequency)
    fc = np.where(np.isnan(fc), freq[0], fc)
    offsets = np.linspace(-step, step, refine_points) if refine_points > 1 else np.zeros(1)
    local = np.maximum(fc[:, :, None] + offsets, 0.5 * freq[0])                     # [B, c, r]
    B = len(batch)
    _, p_ref = fn(batch, local.reshape(B, -1), use_errors=use_errors, dtype=dtype, **r_kw)
    p_ref = np.where(np.isnan(cand.frequency)[:, :, None], -np.inf,
                     p_ref.reshape(local.shape).astype(np.float64))
    at = p_ref.argmax(axis=2)                                                      # [B, c]
    f_best = np.take_along_axis(local, at[:, :, None], axis=2)[:, :, 0]
    p_best = np.take_along_axis(p_ref, at[:, :, None], axis=2)[:, :, 0]
    order = np.argsort(-p_best, axis=1, kind="stable")[:, :k]
    f_out = np.take_along_axis(f_best, order, axis=1)
    p_out = np.take_along_axis(p_best, order, axis=1)
    bad = ~np.isfinite(p_out)
    f_out = np.where(bad, np.nan, f_out)
    p_out = np.where(bad, np.nan, p_out)
    idx = np.where(bad, -1, np.take_along_axis(cand.index, order, axis=1))
    fap = np.full(f_out.shape, np.nan)
    if fap_method is not None:
        p_search = np.take_along_axis(power, np.maximum(idx, 0), axis=1).astype(np.float64)
        fap = false_alarm_probability(np.where(bad, 0.0, p_search), batch, freq,
                                      method=fap_method, multiband=multiband,
                                      use_errors=use_errors, **fap_kw)
        fap = np.where(bad, np.nan, fap)
    return Peaks(period=1.0 / f_out, frequency=f_out, power=p_out, fap=fap, index=idx)


# ------------------------------------------------------------------------------------ facades
def _strip_time(t):
    """(days as float64 array, t0, unit) from an array, Quantity or astropy Time."""
    try:
        from astropy.time import Time
        from astropy import units as u
    except ImportError:  # pragma: no cover
        return np.asarray(t, np.float64), None
    if isinstance(t, Time):
        return (t - t[0]).to_value(u.day) + 0.0, t[0], u.day
    if isinstance(t, u.Quantity):
        return np.asarray(t.value, np.float64), None, t.unit
    return np.asarray(t, np.float64), None, None


def _strip(y, unit=None):
    try:
        from astropy import units as u
    except ImportError:  # pragma: no cover
        return np.asarray(y, np.float64), None
    if isinstance(y, u.Quantity):
        if unit is not None:
            return np.asarray(y.to_value(unit), np.float64), unit
        return np.asarray(y.value, np.float64), y.unit
    return np.asarray(y, np.float64), None


class _FacadeBase:
    def _freq_in(self, frequency):
        if self._tunit is not None:
            from astropy import units as u
            if isinstance(frequency, u.Quantity):
                return np.atleast_1d(frequency.to_value(1 / self._tunit)).astype(np.float64)
        return np.atleast_1d(np.asarray(frequency, np.float64))

    def _freq_out(self, f):
        return f / self._tunit if self._tunit is not None else f

    def _t_in(self, t):
        if self._t0 is not None:
            from astropy import units as u
            return np.asarray((t - self._t0).to_value(u.day), np.float64)
        if self._tunit is not None:
            from astropy import units as u
            if isinstance(t, u.Quantity):
                return np.asarray(t.to_value(self._tunit), np.float64)
        return np.asarray(t, np.float64)

    def autofrequency(self, samples_per_peak=5, nyquist_factor=5, minimum_frequency=None,
                      maximum_frequency=None, return_freq_limits=False):
        """astropy's heuristic grid for this light curve."""
        f0, df, n = autofrequency(self.t, samples_per_peak=samples_per_peak,
                                  nyquist_factor=nyquist_factor,
                                  minimum_frequency=None if minimum_frequency is None else self._freq_in(minimum_frequency)[0],
                                  maximum_frequency=None if maximum_frequency is None else self._freq_in(maximum_frequency)[0])
        if return_freq_limits:
            return self._freq_out(f0), self._freq_out(f0 + df * (n - 1))
        return self._freq_out(f0 + df * np.arange(n))


class LombScargle(_FacadeBase):
    """astropy-like single-object generalized Lomb-Scargle periodogram (JAX kernels).

    Mirrors ``astropy.timeseries.LombScargle(t, y, dy=None, fit_mean=True, center_data=True,
    nterms=1, normalization="standard")``; accepts arrays, Quantities and (for ``t``) Time.

    Example:
        >>> ls = ts.LombScargle(t, y, dy)
        >>> frequency, power = ls.autopower(maximum_frequency=5)
        >>> ls.false_alarm_probability(power.max())
    """

    def __init__(self, t, y, dy=None, fit_mean=True, center_data=True, nterms=1,
                 normalization="standard"):
        self.t, self._t0, self._tunit = _strip_time(t)
        self.y, self._yunit = _strip(y)
        self.dy = None if dy is None else np.broadcast_to(_strip(dy, self._yunit)[0], self.y.shape).astype(np.float64)
        if not (self.t.shape == self.y.shape and self.t.ndim == 1):
            raise ValueError(f"t and y must be 1-D and of equal length, got {self.t.shape} and {self.y.shape}")
        self.fit_mean, self.center_data = bool(fit_mean), bool(center_data)
        self.nterms, self.normalization = int(nterms), normalization
        _ls._check_options(self.nterms, normalization, fit_mean)

    def _kernel_args(self):
        return (self.t, self.y, self.dy)

    def power(self, frequency, normalization=None, method="auto", assume_regular_frequency=False,
              dtype=None):
        """Power at ``frequency`` (array or Quantity), shape of ``frequency``."""
        norm = normalization or self.normalization
        fshape = np.shape(frequency)
        f = self._freq_in(frequency)
        freq, grid = _resolve_grid(f, None, None, samples_per_peak=5, nyquist_factor=5,
                                   minimum_frequency=None, maximum_frequency=None,
                                   assume_regular_frequency=assume_regular_frequency)
        meth = _pick_method(method, self.t.size, f.size, self.nterms)
        if grid is None:
            meth = "direct"
        dt = resolve_dtype(dtype)
        with precision(dt):
            fq = _grid_arg(grid, dt) if grid is not None else jnp.asarray(f, dt)
            fn = _single_fn(self.nterms, norm, self.fit_mean, self.center_data, meth,
                            self.dy is not None, False, grid is not None)
            p = fn(jnp.asarray(self.t[None], dt), jnp.asarray(self.y[None], dt),
                   None if self.dy is None else jnp.asarray(self.dy[None], dt),
                   jnp.ones((1, self.t.size), bool), None, fq)
            p = np.asarray(p)[0]
        return p.reshape(fshape)

    def autopower(self, method="auto", normalization=None, samples_per_peak=5, nyquist_factor=5,
                  minimum_frequency=None, maximum_frequency=None, dtype=None):
        """``(frequency, power)`` on the automatic grid."""
        f = self.autofrequency(samples_per_peak=samples_per_peak, nyquist_factor=nyquist_factor,
                               minimum_frequency=minimum_frequency,
                               maximum_frequency=maximum_frequency)
        return f, self.power(f, normalization=normalization, method=method,
                             assume_regular_frequency=True, dtype=dtype)

    def model_parameters(self, frequency):
        """Best-fit coefficients ``[offset?, sin, cos, sin 2, cos 2, ...]`` at one frequency."""
        f = float(self._freq_in(frequency)[0])
        with precision("float64"):
            theta, _ = _ls.model_parameters(self.t, self.y, self.dy, f, nterms=self.nterms,
                                            fit_mean=self.fit_mean, center_data=self.center_data)
        return np.asarray(theta)

    def offset(self):
        """The weighted mean of y subtracted before fitting (0 if not center_data)."""
        if not self.center_data:
            return 0.0
        w = np.ones_like(self.y) if self.dy is None else self.dy ** -2.0
        return float(np.dot(w, self.y) / w.sum())

    def model(self, t, frequency):
        """The best-fit model at ``frequency`` evaluated at times ``t`` (same kind as input t)."""
        f = float(self._freq_in(frequency)[0])
        tf = np.atleast_1d(self._t_in(t))
        with precision("float64"):
            out = _ls.model(self.t, self.y, self.dy, f, tf, nterms=self.nterms,
                            fit_mean=self.fit_mean, center_data=self.center_data)
        out = np.asarray(out).reshape(np.shape(t) if np.ndim(t) else ())
        if self._yunit is not None:
            return out * self._yunit
        return out

    def _fap_args(self, samples_per_peak, nyquist_factor, minimum_frequency, maximum_frequency):
        if self.nterms != 1:
            raise NotImplementedError("false alarm probability is not implemented for multiterm periodograms.")
        if not (self.fit_mean or self.center_data):
            raise NotImplementedError("false alarm probability is implemented only for periodograms of centered data.")
        _, fmax = self.autofrequency(samples_per_peak=samples_per_peak, nyquist_factor=nyquist_factor,
                                     minimum_frequency=minimum_frequency,
                                     maximum_frequency=maximum_frequency, return_freq_limits=True)
        fmax = float(self._freq_in(fmax)[0]) if self._tunit is not None else float(fmax)
        with precision("float64"):
            n, base, var = _fap.lightcurve_stats(self.t, self.dy)
        return fmax, float(n), float(base), float(var)

    def false_alarm_probability(self, power, method="baluev", samples_per_peak=5,
                                nyquist_factor=5, minimum_frequency=None, maximum_frequency=None,
                                method_kwds=None):
        """FAP of ``power``: astropy's baluev, davies, naive, single; or "bootstrap", the
        permutation test of :func:`false_alarm_probability` (``method_kwds``: ``n_bootstraps``,
        default 1000, and ``random_seed``)."""
        fmax, n, base, var = self._fap_args(samples_per_peak, nyquist_factor, minimum_frequency,
                                            maximum_frequency)
        z = np.asarray(power, np.float64)
        if method == "bootstrap":
            kw = dict(method_kwds or {})
            batch = _single_batch(self.t, self.y, self.dy)
            f0, df, nf = autofrequency(self.t, samples_per_peak=samples_per_peak,
                                       nyquist_factor=nyquist_factor,
                                       minimum_frequency=minimum_frequency,
                                       maximum_frequency=fmax)
            pmax = _bootstrap_max(batch, f0 + df * np.arange(nf), (f0, df, nf), multiband=False,
                                  n_bootstraps=kw.get("n_bootstraps", 1000),
                                  random_seed=kw.get("random_seed"),
                                  use_errors=self.dy is not None,
                                  band_mask=np.ones((1, self.t.size), bool),
                                  dtype=None, kernel_kwargs=dict(normalization=self.normalization,
                                                                 method="direct"))[0]
            return _bootstrap_pvalue(pmax[None, :], np.atleast_1d(z)[None, :])[0].reshape(z.shape)
        with precision("float64"):
            out = _fap.false_alarm_probability(jnp.asarray(z), fmax=fmax, n=n, baseline=base,
                                               t_var=var, normalization=self.normalization,
                                               method=method)
        return np.asarray(out)

    def false_alarm_level(self, false_alarm_probability, method="baluev", samples_per_peak=5,
                          nyquist_factor=5, minimum_frequency=None, maximum_frequency=None,
                          method_kwds=None):
        """Power level whose FAP is ``false_alarm_probability``."""
        fmax, n, base, var = self._fap_args(samples_per_peak, nyquist_factor, minimum_frequency,
                                            maximum_frequency)
        with precision("float64"):
            out = _fap.false_alarm_level(jnp.asarray(false_alarm_probability, jnp.float64),
                                         fmax=fmax, n=n, baseline=base, t_var=var,
                                         normalization=self.normalization, method=method)
        return np.asarray(out)


def _single_batch(t, y, dy, band=None, bands=None):
    """A one-object batch on the facade's own time origin (t_ref = 0)."""
    from tsmodels.lightcurves import LightCurveBatch

    n = t.size
    B = LightCurveBatch(t=np.asarray(t, np.float64)[None], flux=np.asarray(y, np.float64)[None],
                        flux_err=(np.ones(n) if dy is None else np.asarray(dy, np.float64))[None],
                        band=(np.zeros(n, np.int32) if band is None else np.asarray(band, np.int32))[None],
                        mask=np.ones((1, n), bool), bands=bands or ("band",), ids=np.array([0]),
                        t_ref=np.zeros(1))
    return B


class LombScargleMultiband(_FacadeBase):
    """astropy-like single-object multiband periodogram (VanderPlas & Ivezić 2015, "flexible").

    Mirrors ``astropy.timeseries.LombScargleMultiband(t, y, bands, dy=None,
    normalization="standard", nterms_base=1, nterms_band=1, reg_base=None, reg_band=1e-6,
    regularize_by_trace=True, center_data=True)``.
    """

    def __init__(self, t, y, bands, dy=None, normalization="standard", nterms_base=1,
                 nterms_band=1, reg_base=None, reg_band=1e-6, regularize_by_trace=True,
                 center_data=True, fit_mean=True):
        self.t, self._t0, self._tunit = _strip_time(t)
        self.y, self._yunit = _strip(y)
        self.dy = None if dy is None else np.broadcast_to(_strip(dy, self._yunit)[0], self.y.shape).astype(np.float64)
        bands = np.asarray(bands)
        if bands.shape != self.t.shape or self.y.shape != self.t.shape or self.t.ndim != 1:
            raise ValueError("t, y and bands must be 1-D arrays of equal length")
        self.unique_bands, self.band_index = np.unique(bands, return_inverse=True)
        self.bands = bands
        self.normalization = normalization
        self.nterms_base, self.nterms_band = int(nterms_base), int(nterms_band)
        self.reg_base, self.reg_band = reg_base, reg_band
        self.regularize_by_trace, self.center_data = bool(regularize_by_trace), bool(center_data)

    def _batch(self):
        return _single_batch(self.t, self.y, self.dy, self.band_index.astype(np.int32),
                             tuple(str(b) for b in self.unique_bands))

    def power(self, frequency, method="flexible", sb_method="auto", normalization=None,
              dtype=None):
        """Power at ``frequency`` (the "flexible" model; ``method`` must be "flexible")."""
        if method != "flexible":
            raise NotImplementedError("only method='flexible' (VanderPlas & Ivezić 2015)")
        fshape = np.shape(frequency)
        f = self._freq_in(frequency)
        _, p = lombscargle_multiband(
            self._batch(), f, nterms_base=self.nterms_base, nterms_band=self.nterms_band,
            reg_base=self.reg_base, reg_band=self.reg_band,
            regularize_by_trace=self.regularize_by_trace, center_data=self.center_data,
            normalization=normalization or self.normalization, use_errors=self.dy is not None,
            dtype=dtype)
        return p[0].reshape(fshape)

    def autopower(self, method="flexible", sb_method="auto", normalization="standard",
                  samples_per_peak=5, nyquist_factor=5, minimum_frequency=None,
                  maximum_frequency=None, dtype=None):
        """``(frequency, power)`` on the automatic grid."""
        f = self.autofrequency(samples_per_peak=samples_per_peak, nyquist_factor=nyquist_factor,
                               minimum_frequency=minimum_frequency,
                               maximum_frequency=maximum_frequency)
        return f, self.power(f, method=method, normalization=normalization, dtype=dtype)

    def false_alarm_probability(self, power, method="baluev", samples_per_peak=5,
                                nyquist_factor=5, minimum_frequency=None, maximum_frequency=None,
                                method_kwds=None):
        """FAP of ``power``: "baluev" (generalized approximation) or "bootstrap" (permutations
        within each band); see :func:`false_alarm_probability`."""
        f = self.autofrequency(samples_per_peak=samples_per_peak, nyquist_factor=nyquist_factor,
                               minimum_frequency=minimum_frequency,
                               maximum_frequency=maximum_frequency)
        kw = dict(method_kwds or {})
        z = np.asarray(power, np.float64)
        out = false_alarm_probability(
            np.atleast_1d(z)[None, :], self._batch(), np.asarray(self._freq_in(f)),
            normalization=self.normalization, method=method, multiband=True,
            nterms_base=self.nterms_base, nterms_band=self.nterms_band, reg_base=self.reg_base,
            reg_band=self.reg_band, use_errors=self.dy is not None, **kw)
        return out[0].reshape(z.shape)
