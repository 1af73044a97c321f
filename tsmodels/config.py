"""Numerical precision of tsmodels' public calls.

JAX computes in float32 unless its global ``jax_enable_x64`` flag is set. tsmodels never sets that
flag: ``import tsmodels`` leaves the user's JAX configuration exactly as it found it. Instead every
public entry point (``ts.fit``, ``ts.lombscargle``, ``LightCurveBatch.to_jax`` ...) takes
``dtype=`` (default ``float64``) and runs its computation inside :func:`precision`, a scoped switch
built on ``jax.enable_x64``. Results leave the scope as NumPy arrays of that dtype, so a float64
answer stays float64 after the call returns.

``dtype=jnp.float32`` (or ``"float32"``) is the GPU speed path; each kernel documents how accurate
it is there and has a test of it.

Kernels in :mod:`tsmodels.kernels` are plain JAX functions: they compute in the dtype of their
inputs and follow whatever precision is in force where they are called.

Compilation cache
-----------------
Every program the execution engine (:mod:`tsmodels.engine`) compiles is also written to an
on-disk cache, so that a new process meeting a shape compiled before (the second run of a
script, a notebook restarted, the next chunk job of a pipeline) loads it in a fraction of a
second instead of tracing and compiling it again. It is tsmodels' own cache: JAX's global
``jax_compilation_cache_dir`` setting is never touched. Defaults:

* directory ``$TSMODELS_CACHE_DIR``, else ``$XDG_CACHE_HOME/tsmodels/xla``, else
  ``~/.cache/tsmodels/xla``;
* at most ``$TSMODELS_CACHE_MAX_GB`` (default 4) GB, least recently used files deleted first;
* ``TSMODELS_COMPILATION_CACHE=0`` (or :func:`set_compilation_cache` ``(False)``) turns it off.

Entries are keyed by the program, its input shapes and dtypes, the source of tsmodels, the JAX
and jaxlib versions, the device kind, ``XLA_FLAGS`` and the CPU's instruction set, so a stale or
foreign entry is never used; files are written atomically and an unreadable one is recompiled.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np

__all__ = ["precision", "resolve_dtype", "clear_caches", "compiled_cache", "DEFAULT_DTYPE",
           "set_compilation_cache", "compilation_cache_dir", "compilation_cache_max_bytes",
           "clear_compilation_cache", "register_clear", "register_worker_state", "worker_state",
           "restore_worker_state"]

DEFAULT_DTYPE = np.dtype("float64")
_ALLOWED = (np.dtype("float32"), np.dtype("float64"))


def resolve_dtype(dtype=None) -> np.dtype:
    """Normalise a user ``dtype=`` argument to ``np.dtype('float32')`` or ``np.dtype('float64')``.

    Accepts ``None`` (the default, float64), NumPy or JAX dtypes and their names.

    Raises:
        TypeError: for anything that is not float32 or float64.
    """
    if dtype is None:
        return DEFAULT_DTYPE
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dt not in _ALLOWED:
        raise TypeError(f"dtype must be float32 or float64, got {dt.name}")
    return dt


@contextlib.contextmanager
def precision(dtype=None) -> Iterator[np.dtype]:
    """Context manager: compute in ``dtype`` inside the block, restore JAX's setting after.

    ``float64`` turns on ``jax.enable_x64`` for the block only; ``float32`` turns it off for the
    block (so a float32 request is honoured even where the user enabled x64 globally).

    Example:
        >>> with precision("float64") as dt:
        ...     x = jnp.ones(3)      # float64 here
    """
    dt = resolve_dtype(dtype)
    with jax.enable_x64(dt == np.dtype("float64")):
        yield dt


_COMPILED_CACHES: list = []
_CLEARERS: list = []


def register_clear(fn: Callable) -> None:
    """Register ``fn()`` to be called by :func:`clear_caches` (caches of compiled programs)."""
    _CLEARERS.append(fn)


#: Process state that a computation depends on beyond its arguments (e.g. bandpasses a user
#: registered), by name: ``(export, restore)`` (see :func:`worker_state`).
_WORKER_STATE: dict = {}


def register_worker_state(name: str, export: Callable, restore: Callable) -> None:
    """Register process state that other processes need to compute what this one would:
    ``export()`` returns it (picklable), ``restore(value)`` installs it in another process.
    The pipeline sends :func:`worker_state` with every chunk it runs on Dask workers."""
    _WORKER_STATE[name] = (export, restore)


def worker_state() -> dict:
    """This process's registered state (:func:`register_worker_state`): ``{name: value}``."""
    return {name: export() for name, (export, _) in _WORKER_STATE.items()}


def restore_worker_state(state: dict | None) -> None:
    """Install state from :func:`worker_state` of another process (None: nothing to do);
    names this process has not registered are an error rather than silently ignored."""
    for name, value in (state or {}).items():
        if name not in _WORKER_STATE:
            raise RuntimeError(f"worker state {name!r} is not registered in this process "
                               "(a different tsmodels version?)")
        _WORKER_STATE[name][1](value)


def compiled_cache(maxsize: int) -> Callable:
    """``functools.lru_cache(maxsize)`` for builders of jitted functions, registered so that
    :func:`clear_caches` can empty it."""
    def wrap(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        _COMPILED_CACHES.append(cached)
        return cached
    return wrap


def clear_caches() -> None:
    """Drop every compiled function tsmodels and JAX hold (``jax.clear_caches`` plus tsmodels'
    own caches of jitted builders).

    Each compiled XLA CPU executable keeps a few dozen memory mappings of machine code; a process
    that compiles thousands of distinct shapes (e.g. a notebook trying many batch sizes) can reach
    the kernel's ``vm.max_map_count`` (65530 by default), after which compilation crashes. Calling
    this between unrelated workloads releases them; the next call recompiles what it needs.
    """
    for cached in _COMPILED_CACHES:
        cached.cache_clear()
    for fn in _CLEARERS:
        fn()
    jax.clear_caches()


# ------------------------------------------------------------------------------------ disk cache
_CACHE_SETTING: list = [None]  # None: from the environment; False: off; Path: that directory


def set_compilation_cache(path=True) -> None:
    """Switch tsmodels' on-disk compilation cache (see the module docstring).

    Args:
        path: ``True`` (the default directory), ``False``/``None`` (off), or a directory.
    """
    if path is True:
        _CACHE_SETTING[0] = _default_cache_dir(ignore_off=True)
    elif path is False or path is None:
        _CACHE_SETTING[0] = False
    else:
        _CACHE_SETTING[0] = Path(path).expanduser()


def _default_cache_dir(ignore_off: bool = False):
    if not ignore_off and os.environ.get("TSMODELS_COMPILATION_CACHE", "1").strip().lower() in ("0", "false", "off", "no"):
        return False
    if os.environ.get("TSMODELS_CACHE_DIR"):
        return Path(os.environ["TSMODELS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tsmodels" / "xla"


def compilation_cache_dir():
    """The directory of the on-disk compilation cache, or None when it is off."""
    setting = _CACHE_SETTING[0]
    if setting is None:
        setting = _default_cache_dir()
    return setting or None


def compilation_cache_max_bytes() -> int:
    """Size limit of the on-disk cache in bytes (``$TSMODELS_CACHE_MAX_GB``, default 4)."""
    try:
        gb = float(os.environ.get("TSMODELS_CACHE_MAX_GB", "4"))
    except ValueError:
        gb = 4.0
    return int(gb * 2**30)


def clear_compilation_cache() -> int:
    """Delete every file of the on-disk compilation cache; returns how many were deleted."""
    d = compilation_cache_dir()
    n = 0
    if d and Path(d).is_dir():
        for p in Path(d).glob("*.xla"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n
