"""Shared test fixtures.

Every test runs inside ``tsmodels.config.precision("float64")`` (JAX's scoped x64 switch), so
reference comparisons are made in float64 without touching JAX's global configuration. Tests that
check float32 behaviour cast their inputs to float32 explicitly (float32 arrays stay float32 in
the scope). Tests of the default-precision contract itself carry ``@pytest.mark.no_x64``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from tsmodels.config import clear_caches, precision  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True, scope="module")
def _release_compiled():
    """Free each module's compiled executables after it: the suite compiles thousands of
    shapes, and each XLA CPU executable holds memory mappings that would otherwise accumulate
    up to the kernel's ``vm.max_map_count`` (see ``tsmodels.config.clear_caches``)."""
    yield
    clear_caches()


@pytest.fixture(autouse=True)
def _float64_scope(request):
    if request.node.get_closest_marker("no_x64"):
        yield
        return
    with precision("float64"):
        yield


def _tol(dtype, f64=1e-10, f32=1e-4):
    return f32 if np.dtype(dtype) == np.dtype("float32") else f64


@pytest.fixture
def tol():
    """``tol(dtype, f64=1e-10, f32=1e-4)``: a dtype-keyed tolerance for comparisons."""
    return _tol


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
