"""The execution engine: planning, programs, the disk cache, the blocking-call audit, and a stress
test of every threaded path in watched subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsmodels as ts
from tsmodels import config, engine
from tsmodels.fitting import fit
from tsmodels.fitting.results import OK

sys.path.insert(0, str(Path(__file__).resolve().parent / "fitting"))
from _jitter import Jitter, jitter_batch  # noqa: E402

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


# ------------------------------------------------------------------------------------ planning
def test_object_rungs():
    assert [engine.object_rungs(n) for n in (1, 2, 3, 5, 8, 9, 12, 13, 17, 25, 33, 100, 200)] == \
        [1, 2, 4, 8, 8, 12, 12, 16, 24, 32, 48, 128, 256]
    for n in range(1, 3000):
        r = engine.object_rungs(n)
        assert n <= r and (n <= 8 or r <= 1.5 * n)


def _ragged(rng, lengths):
    return ts.LightCurveBatch.from_arrays(
        t=[np.sort(rng.uniform(0, 300, n)) for n in lengths],
        flux=[rng.normal(100, 1, n) for n in lengths], flux_err=[np.ones(n) for n in lengths])


def test_plan_covers_every_object_once_and_merges_cheap_buckets(rng):
    small = _ragged(rng, rng.integers(20, 300, 200))
    chunks = engine.plan(small, workers=2)
    pos = np.concatenate([c.positions for c in chunks])
    assert sorted(pos) == list(range(200))
    # 200 objects: far fewer padded points than one compilation is worth, so one length
    assert len({c.batch.n_max for c in chunks}) == 1 and len({c.size for c in chunks}) == 1
    for c in chunks:
        assert c.size >= len(c) and c.batch.n_max >= c.batch.n_obs.max()
        np.testing.assert_array_equal(c.batch.ids, small.ids[c.positions])
    # many objects: the buckets stay apart where merging would pad more than MERGE_POINTS
    big = _ragged(rng, np.r_[np.full(3000, 40), np.full(3000, 400)])
    lengths = sorted({c.batch.n_max for c in engine.plan(big, workers=1)})
    assert lengths == [40, 400] or (len(lengths) == 2 and lengths[0] < 60)
    with pytest.raises(ValueError, match="batch_size must be a positive integer or None, got 0"):
        engine.plan(small, batch_size=0)


def test_plan_batch_size_caps_the_compiled_size(rng):
    b = _ragged(rng, np.full(50, 30))
    chunks = engine.plan(b, batch_size=7)
    assert all(c.size <= 7 and len(c) <= 7 for c in chunks)
    assert sum(len(c) for c in chunks) == 50


def test_row_chunks_and_assemble():
    chunks = engine.row_chunks(10, 4)
    assert [list(c.positions) for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(c.size == 4 for c in chunks)
    assert len(engine.row_chunks(10, 64, workers=2)) == 2
    outs = [{"a": np.arange(4) + 10 * i, "b": np.ones((4, 2))} for i in range(3)]
    outs[1] = None
    acc = engine.assemble(10, chunks, outs, fill={"a": -1})
    np.testing.assert_array_equal(acc["a"], [0, 1, 2, 3, -1, -1, -1, -1, 20, 21])
    assert np.isnan(acc["b"][5]).all() and acc["b"].shape == (10, 2)
    np.testing.assert_array_equal(engine.pad_rows(np.array([[1, 2], [3, 4]]), 3), [[1, 2], [3, 4], [1, 2]])


def test_run_keeps_order_precision_and_raises():
    out = engine.run(lambda c: (c, jnp.ones(1).dtype), list(range(7)), workers=3, dtype="float64")
    assert [o[0] for o in out] == list(range(7)) and all(o[1] == jnp.float64 for o in out)
    out = engine.run(lambda c: jnp.ones(1).dtype, [0, 1], workers=2, dtype="float32")
    assert all(o == jnp.float32 for o in out)

    def boom(c):
        if c == 2:
            raise RuntimeError("chunk 2 failed")
        return c

    with pytest.raises(RuntimeError, match="chunk 2 failed"):
        engine.run(boom, range(4), workers=2)
    with pytest.raises(ValueError, match="workers must be a positive integer or None"):
        engine.resolve_workers(0)


# ------------------------------------------------------------------------------------ programs
def test_program_compiles_once_per_signature_and_uses_the_disk_cache(tmp_path, monkeypatch):
    config.set_compilation_cache(tmp_path)
    try:
        def body(x, y):
            return jax.lax.fori_loop(0, 5, lambda i, v: jnp.sin(v) + y, x)

        prog = engine.program(body, name="test-sin", static=("test-sin", 1))
        assert engine.program(body, name="test-sin", static=("test-sin", 1)) is prog
        x = jnp.ones((8, 3))
        before = engine.stats()
        r1 = prog(x, 0.5 * x)
        prog(x + 1, x)
        assert prog.n_compiled == 1
        prog(jnp.ones((4, 3)), jnp.ones((4, 3)))
        assert prog.n_compiled == 2
        after = engine.stats()
        assert after["compiled"] - before["compiled"] == 2
        files = list(tmp_path.glob("*.xla"))
        assert len(files) == 2
        # a new process (here: the in-memory executables dropped) loads instead of compiling
        ts.config.clear_caches()
        prog2 = engine.program(body, name="test-sin", static=("test-sin", 1))
        assert prog2 is not prog
        s0 = engine.stats()
        np.testing.assert_array_equal(prog2(x, 0.5 * x), r1)
        s1 = engine.stats()
        assert s1["loaded"] - s0["loaded"] == 1 and s1["compiled"] == s0["compiled"]
        # a damaged file is recompiled (and rewritten), never trusted
        for f in tmp_path.glob("*.xla"):
            f.write_bytes(b"garbage")
        ts.config.clear_caches()
        prog3 = engine.program(body, name="test-sin", static=("test-sin", 1))
        np.testing.assert_array_equal(prog3(x, 0.5 * x), r1)
        assert engine.stats()["compiled"] == s1["compiled"] + 1
        assert ts.config.clear_compilation_cache() == 2 and not list(tmp_path.glob("*.xla"))
        # size limit: least recently used files go first
        monkeypatch.setenv("TSMODELS_CACHE_MAX_GB", "0")
        ts.config.clear_caches()
        engine.program(body, name="test-sin", static=("test-sin", 1))(x, x)
        assert not list(tmp_path.glob("*.xla"))
    finally:
        config._CACHE_SETTING[0] = None  # back to the environment's setting


def test_cache_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TSMODELS_COMPILATION_CACHE", "0")
    monkeypatch.setenv("TSMODELS_CACHE_DIR", str(tmp_path))
    assert config.compilation_cache_dir() is None
    prog = engine.program(lambda x: x * 2, name="test-off", static=("off",))
    np.testing.assert_array_equal(prog(jnp.ones(3)), 2.0)
    assert not list(tmp_path.iterdir())


def test_static_descriptions():
    assert engine._stable_description((1, "a", 2.5)) == "(1,'a',2.5)"
    assert engine._stable_description(ts.models.DRW()) .startswith("tsmodels.models.drw.DRW:DRW(")
    assert engine._stable_description(object()) is None  # no stable identity: key by program text
    # a model defined outside tsmodels is keyed with a hash of its module's source
    d = engine._stable_description(Jitter(tag="x"))
    assert d is not None and "@" in d


@dataclass(frozen=True)
class LapackJitter(Jitter):
    """Jitter with a jnp.linalg call in its likelihood (a 1x1 Cholesky): a user model that
    brings a blocking LAPACK call into the compiled program."""

    def loglike(self, params, lc):
        var = lc.flux_err ** 2 + params["s"] ** 2
        r2 = (lc.flux - params["mean"]) ** 2 / var
        scale = jnp.linalg.cholesky(jnp.reshape(1.0 + 0.0 * params["s"], (1, 1)))[0, 0]  # traced
        return -0.5 * scale * jnp.sum(jnp.where(lc.mask, r2 + jnp.log(2 * jnp.pi * var), 0.0))


def test_a_program_with_lapack_runs_serially_with_a_warning(rng):
    batch, _ = jitter_batch(rng, 40, n=50)
    with pytest.warns(engine.EngineWarning, match=r"calls lapack_\w*potrf\w*.*one call at a time"):
        res = fit(LapackJitter(tag="lapack"), batch, workers=2)
    ref = fit(Jitter(tag="lapack"), batch, workers=2)
    assert np.all(res.status == OK)
    np.testing.assert_allclose(res.values["s"], ref.values["s"], rtol=1e-9)


def test_tsmodels_programs_have_no_blocking_calls(rng):
    """The engine's own check, on a fit, a sample and the periodograms (the suite-wide fixture
    in conftest.py checks every program of tsmodels that any test compiles)."""
    batch, _ = jitter_batch(rng, 8, n=40)
    fit(ts.models.Constant(), batch)
    ts.lombscargle(batch, np.linspace(0.1, 2.0, 64))
    own = [p for (name, static), p in engine._PROGRAMS.items()
           if p.n_compiled and type(static[0]).__module__.startswith(("tsmodels", "builtins"))]
    assert {p.name for p in own} >= {"fit", "lombscargle"}
    for p in own:
        for exe in p._exes.values():
            assert exe.blocking == (), (p.name, exe.blocking)


# ------------------------------------------------------------------------------------ devices
def test_chunks_on_two_cpu_devices_give_the_same_rows(tmp_path):
    """With two local devices (forced CPU devices, as on a 2-GPU node) the chunks are spread
    over both, and every row equals the one-device fit."""
    script = f"""
import sys, numpy as np
sys.path.insert(0, {str(TESTS / 'fitting')!r})
import jax, tsmodels as ts
from tsmodels import engine
from _jitter import Jitter, jitter_batch
assert jax.local_device_count() == 2
batch, _ = jitter_batch(np.random.default_rng(3), 40, n=50)
chunks = engine.plan(batch, workers=2)
assert len({{c.device.id for c in chunks}}) == 2
res = ts.fit(Jitter(), batch)
np.save(sys.argv[1], np.stack([res.values['mean'], res.values['s'], res.loglike]))
"""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    out = tmp_path / "two.npy"
    r = subprocess.run([sys.executable, "-c", script, str(out)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    batch, _ = jitter_batch(np.random.default_rng(3), 40, n=50)
    res = fit(Jitter(), batch)
    np.testing.assert_allclose(np.load(out), np.stack([res.values["mean"], res.values["s"], res.loglike]),
                               rtol=1e-10)


# ------------------------------------------------------------------------------------ stress
def test_every_threaded_path_completes_under_a_watchdog():
    """14 runs in all (7 paths, a fresh subprocess x 2 repeats, with the MultibandDRW fit that
    hung on every try before): each must finish within its limit (the watchdog kills a hung run
    and the subprocess fails) and the subprocess within its own."""
    runs = 0
    for _ in range(1):
        r = subprocess.run([sys.executable, str(TESTS / "stress_threads.py"), "--repeat", "2",
                            "--limit", "240", "--workers", "2"],
                           capture_output=True, text=True, timeout=900, cwd=REPO)
        assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-4000:])
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        runs += len(lines)
    assert runs == 14, runs


def test_worker_state_round_trip_and_unknown_names():
    """The state sent to Dask workers: registered bandpasses go out and come back in; a name
    the receiving process does not know is an error, not ignored."""
    from tsmodels.kernels.supernova import salt

    state = config.worker_state()
    assert "test-state-box" not in state["supernova.bandpasses"]
    band = salt.register_bandpass("test-state-box", [4000.0, 4001.0, 5000.0, 5001.0], [0.0, 1.0, 1.0, 0.0])
    try:
        sent = config.worker_state()
        del salt._USER_BANDS["test-state-box"]
        config.restore_worker_state(sent)
        assert salt.get_bandpass("test-state-box") is band
        config.restore_worker_state(None)
        with pytest.raises(RuntimeError, match="'nope' is not registered"):
            config.restore_worker_state({"nope": 1})
    finally:
        salt._USER_BANDS.pop("test-state-box", None)
