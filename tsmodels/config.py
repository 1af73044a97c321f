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
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import jax
import numpy as np

__all__ = ["precision", "resolve_dtype", "clear_caches", "compiled_cache", "DEFAULT_DTYPE"]

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
    jax.clear_caches()
