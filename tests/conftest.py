"""Shared test fixtures.

Every test runs inside ``tsmodels.config.precision("float64")`` (JAX's scoped x64 switch), so
reference comparisons are made in float64 without touching JAX's global configuration. Tests that
check float32 behaviour cast their inputs to float32 explicitly (float32 arrays stay float32 in
the scope). Tests of the default-precision contract itself carry ``@pytest.mark.no_x64``.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# compiled programs are shared between test modules through an on-disk cache of this session
# (tests of the cache itself point it elsewhere); nothing is written to the user's cache
os.environ.setdefault("TSMODELS_CACHE_DIR", tempfile.mkdtemp(prefix="tsmodels-test-cache-"))

from tsmodels.config import clear_caches, precision  # noqa: E402

# arviz 0.23.4 writes a once-a-day stamp to the user's cache when imported, through a temporary
# file of a fixed name: on a fresh machine two test workers importing it at the same moment race
# on that file and one of them fails to collect its tests. Importing it once here, in the process
# that starts the workers, writes the stamp before they run.
if "PYTEST_XDIST_WORKER" not in os.environ:
    try:
        importlib.import_module("arviz")
    except ImportError:
        pass

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


#: The longest test files (minutes each on a 2-core CI machine), run first: the parallel workers
#: take files in collection order, and a long file taken last would run alone at the end.
LONGEST_FIRST = ("test_engine.py", "test_heuristics.py", "test_drw.py", "test_batch_independence.py",
                 "test_cli.py", "test_salt_sampling.py", "test_mcmc.py", "test_carma.py",
                 "test_binary_lens_model.py", "test_notebooks.py", "test_readme.py", "test_pipeline.py",
                 "test_salt_models.py", "test_pspl_parallax.py", "test_fspl.py", "test_gp.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    # a stable sort by file: each file's tests stay together and in their order
    items.sort(key=lambda it: rank.get(it.path.name, len(rank)))


@pytest.fixture(autouse=True, scope="module")
def _release_compiled():
    """Free each module's compiled executables after it: the suite compiles thousands of
    shapes, and each XLA CPU executable holds memory mappings that would otherwise accumulate
    up to the kernel's ``vm.max_map_count`` (see ``tsmodels.config.clear_caches``)."""
    yield
    bad = _blocking_programs()
    clear_caches()
    if bad:
        pytest.fail(f"compiled tsmodels programs with blocking (LAPACK) calls: {bad}")


def _blocking_programs():
    """Programs of tsmodels' own models and periodograms, compiled by this module's tests, that
    contain a call which can deadlock XLA's CPU pool (see tsmodels.engine). Test models defined
    in the tests (which may use such calls on purpose) are not checked."""
    from tsmodels import engine

    bad = []
    for (name, static), prog in list(engine._PROGRAMS.items()):
        first = static[0] if isinstance(static, tuple) and static else static
        mod = type(first).__module__ or ""
        if not (mod.startswith("tsmodels") or mod == "builtins"):
            continue
        for exe in list(prog._exes.values()):
            if exe.blocking:
                bad.append((name, repr(first), exe.blocking))
    return bad


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
