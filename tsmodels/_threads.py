"""Running independent chunks of a batch on every CPU core.

One XLA CPU execution of a vmapped kernel runs on one core: the lanes of a ``lax.scan`` or
``lax.while_loop`` are vectorised, not spread over threads. Chunks of a batch are independent, so
on a CPU the batched entry points (``ts.fit``, ``ts.sample``) hand their chunks to a pool of host
threads, one per core; JAX releases the GIL while a compiled function runs, so the chunks execute
in parallel. On a GPU one thread is enough (the device runs one chunk at a time anyway).

Results do not depend on the number of threads: every object is computed by the same compiled
function whichever chunk it lands in (lanes never interact). Threads that meet a new shape at
the same time do not compile it twice: ``jax.jit`` traces and compiles once per shape and the
others wait for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import jax

from tsmodels.config import precision

__all__ = ["default_workers", "resolve_workers", "run_chunks"]


def default_workers() -> int:
    """Host threads for chunked work: the usable CPU cores on a CPU backend, else 1."""
    if jax.default_backend() != "cpu":
        return 1
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        n = os.cpu_count() or 1
    return max(1, n)


def resolve_workers(workers) -> int:
    """``workers`` argument of the public calls: None (automatic) or a positive integer."""
    if workers is None:
        return default_workers()
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    return int(workers)


def run_chunks(fn: Callable, chunks: Iterable, workers: int, dtype) -> list:
    """``[fn(chunk) for chunk in chunks]``, on ``workers`` threads, each inside ``precision(dtype)``.

    The precision scope of JAX is per thread, so every worker enters it itself (``dtype=None``:
    the calling thread's current precision). Results come back in the order of ``chunks``; the
    first exception raised by a chunk is re-raised.
    """
    chunks = list(chunks)
    if dtype is None:
        dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    if workers <= 1 or len(chunks) <= 1:
        with precision(dtype):
            return [fn(c) for c in chunks]

    def scoped(c):
        with precision(dtype):
            return fn(c)

    with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
        return list(pool.map(scoped, chunks))
