"""Float64 answers from the public kernels when a user calls them with float64 data.

JAX computes in float32 unless its global ``jax_enable_x64`` flag is set, so a kernel called
from user code with NumPy float64 arrays would silently compute in float32 (times of ~59000 MJD
then resolve ~8 minutes). Every public kernel (the names in each kernel module's ``__all__``)
is wrapped by :func:`float64_by_default`:

* inside ``jit``/``vmap``/``grad`` (any argument is a tracer), or when x64 is already on, the
  kernel runs as written: it follows the caller's dtype;
* called eagerly with float64 data (NumPy float64 arrays, Python floats, float64 JAX arrays) and
  no float32 array, it runs inside :func:`tsmodels.config.precision` ``("float64")``, a scoped
  switch that leaves the user's JAX configuration unchanged, and returns float64 JAX arrays;
* called eagerly with float32 arrays only (e.g. ``jnp`` arrays made under JAX's default), it
  runs in float32, as asked.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from tsmodels.config import precision

__all__ = ["float64_by_default"]

_TRACER = jax.core.Tracer


def _wants_float64(leaves) -> bool:
    has64 = has32 = False
    for x in leaves:
        if isinstance(x, float):
            has64 = True
            continue
        dt = getattr(x, "dtype", None)
        if dt is None:
            continue
        dt = np.dtype(dt)
        if dt.kind in "fc":
            if dt.itemsize >= (16 if dt.kind == "c" else 8):
                has64 = True
            else:
                has32 = True
    return has64 or not has32


def float64_by_default(fn):
    """Decorator of a public kernel: float64 results from float64 inputs outside of traced code
    (see the module docstring). Marks the function with ``__tsmodels_kernel__ = True``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if jax.config.jax_enable_x64:
            return fn(*args, **kwargs)
        leaves = jax.tree_util.tree_leaves((args, kwargs))
        if any(isinstance(x, _TRACER) for x in leaves) or not _wants_float64(leaves):
            return fn(*args, **kwargs)
        with precision("float64"):
            return fn(*args, **kwargs)

    wrapper.__tsmodels_kernel__ = True
    return wrapper
