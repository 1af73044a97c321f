"""The streaming pipeline: rows equal the in-memory calls, resume after SIGKILL, bounded memory,
failures kept local, several devices, Dask, and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tsmodels as ts
from tsmodels import pipeline
from tsmodels.cli import main
from tsmodels.fitting.results import FAILED, NO_DATA, OK

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_child.py"


def _frame(df, id_col="id"):
    return df.sort_values(id_col).reset_index(drop=True)


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """40 simulated DRW light curves (6 bands) in the long layout, with a few invalid points
    and one object whose points are all invalid."""
    batch, truth = ts.simulate.lightcurves("drw", 40, seed=11, n_years=1.0)
    df = batch.to_pandas()
    df.loc[df.index[:3], "flux_err"] = -1.0          # dropped by validation, object 0
    df.loc[df["id"] == 7, "flux"] = np.nan            # object 7: nothing valid
    path = tmp_path_factory.mktemp("survey") / "lc.parquet"
    df.to_parquet(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ts.DataQualityWarning)
        ref_batch = ts.io.read_parquet(path)
    return path, ref_batch


def _run(task, src, out, **kw):
    kw.setdefault("progress", False)
    return pipeline.run(task, src, out, **kw)


# ------------------------------------------------------------------------------ equal rows
def test_fit_rows_equal_the_in_memory_fit(survey, tmp_path):
    path, batch = survey
    s = _run(pipeline.Fit(ts.models.DRW(band="r")), path, tmp_path / "out", chunk_size=16)
    assert (s.n_objects, s.n_chunks, s.n_failed_chunks) == (40, 3, 0)
    rows = pipeline.read_results(tmp_path / "out")
    ref = ts.fit(ts.models.DRW(band="r"), batch).to_pandas()
    assert rows["id"].tolist() == ref["id"].tolist()          # every object once, id order
    for col in ("tau", "sigma", "loglike", "tau_err"):
        np.testing.assert_allclose(rows[col], ref[col], rtol=1e-8, equal_nan=True)
    np.testing.assert_array_equal(rows["status"], ref["status"])
    assert rows.loc[rows.id == 7, "status"].item() == NO_DATA
    np.testing.assert_array_equal(rows["n_obs"], batch.n_obs)
    assert rows.loc[rows.id == 0, "n_dropped"].item() == 3
    assert s.n_dropped == int(batch.dropped.to_numpy().sum()) > 3
    assert s.status == {ts.fitting.STATUS[k]: int(v) for k, v in ref.status.value_counts().items()}
    assert rows["error"].isna().all()
    man = pipeline.read_manifest(tmp_path / "out")
    assert man["n_objects"] == 40 and len(man["chunks"]) == 3 and man["id_column"] == "id"
    assert man["task"]["kind"] == "fit" and "DRW(band='r'" in man["task"]["model"]
    assert set(man["versions"]) >= {"tsmodels", "jax", "numpy", "pyarrow"}


def test_nested_rubin_layout_and_meta_columns(survey, tmp_path):
    """A nested table with Rubin DP1 column names and a per-object column gives the rows of the
    same objects read from the long layout."""
    path, batch = survey
    df = batch.to_pandas()
    df = df.rename(columns={"id": "diaObjectId", "time": "midpointMjdTai", "flux": "psfFlux",
                            "flux_err": "psfFluxErr"})
    nested = df.groupby("diaObjectId").agg(list).reset_index()
    table = pa.table({"diaObjectId": nested["diaObjectId"],
                      "z": np.linspace(0.1, 0.5, len(nested)),
                      "lc": pa.StructArray.from_arrays(
                          [pa.array(nested[c]) for c in ("midpointMjdTai", "psfFlux", "psfFluxErr", "band")],
                          ["midpointMjdTai", "psfFlux", "psfFluxErr", "band"])})
    (tmp_path / "nested").mkdir()
    pq.write_table(table.slice(0, 20), tmp_path / "nested" / "a.parquet")
    pq.write_table(table.slice(20), tmp_path / "nested" / "b.parquet")
    src = pipeline.ParquetSource(tmp_path / "nested", preset="rubin")
    _run(pipeline.Fit(ts.models.Constant()), src, tmp_path / "out", chunk_size=12)
    rows = pipeline.read_results(tmp_path / "out")
    assert "diaObjectId" in rows.columns and len(rows) == len(nested)
    ref = ts.fit(ts.models.Constant(), batch[np.isin(batch.ids, nested["diaObjectId"])]).to_pandas()
    np.testing.assert_allclose(rows["loglike"], ref["loglike"], rtol=1e-10)
    np.testing.assert_array_equal(rows["diaObjectId"], ref["id"])


def test_periodogram_rows_do_not_depend_on_the_chunking(survey, tmp_path):
    path, batch = survey
    task = pipeline.Periodogram(k=2, maximum_frequency=2.0)
    _run(task, path, tmp_path / "a", chunk_size=40)
    _run(task, path, tmp_path / "b", chunk_size=9)
    a, b = pipeline.read_results(tmp_path / "a"), pipeline.read_results(tmp_path / "b")
    np.testing.assert_allclose(a["period_1"], b["period_1"], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(a["fap_2"], b["fap_2"], rtol=1e-8, equal_nan=True)
    # the grid spans the whole input's time span, and the rows are find_periods' on it
    grid = task.prepare(pipeline.ParquetSource(path).plan()).grid()
    peaks = ts.periodogram.find_periods(batch, grid, k=2)
    np.testing.assert_allclose(a["period_1"], peaks.period[:, 0], rtol=1e-12, equal_nan=True)
    assert a.loc[a.id == 7, "status"].item() == NO_DATA
    assert (a.loc[a.id != 7, "status"] == OK).all()


def test_sample_rows_equal_the_in_memory_sample(survey, tmp_path):
    path, batch = survey
    sub = batch[:6]
    ts.io.write_parquet(sub, tmp_path / "six.parquet")
    opts = dict(num_warmup=30, num_samples=30, num_chains=2, seed=3)
    _run(pipeline.Sample(ts.models.Constant(), opts), tmp_path / "six.parquet", tmp_path / "out",
         chunk_size=4)
    rows = pipeline.read_results(tmp_path / "out")
    ref = ts.sample(ts.models.Constant(), sub, **opts).summary()
    for col in ("mean_r_mean", "mean_r_sd", "rhat_max"):
        np.testing.assert_allclose(rows[col], ref[col], rtol=1e-8, equal_nan=True)


# ------------------------------------------------------------------------------ resume
def _wait(pred, proc, timeout=240):
    t0 = time.time()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.communicate()[1][-2000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.02)


def test_sigkill_at_several_points_then_resume_gives_the_rows_of_one_run(survey, tmp_path):
    path, _ = survey
    ref_dir = tmp_path / "ref"
    _run(pipeline.Fit(ts.models.Constant()), path, ref_dir, chunk_size=4)
    ref = pipeline.read_results(ref_dir)
    n_chunks = 10
    parts = lambda d: len(list(d.glob("part-*.parquet")))  # noqa: E731
    points = {"after the manifest": lambda d: (d / "_manifest.json").exists(),
              "after one chunk": lambda d: parts(d) >= 1,
              "mid-run": lambda d: parts(d) >= 5}
    for k, (label, pred) in enumerate(points.items()):
        out = tmp_path / f"killed{k}"
        proc = subprocess.Popen([sys.executable, str(CHILD), "run", str(path), str(out), "4", "0.4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(lambda: pred(out), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        before = parts(out)
        assert before < n_chunks, label
        # a temporary file as a kill during a write leaves it
        (out / ".part-000009.parquet.1.2.tmp").write_bytes(b"PAR1 half a file")
        s = _run(pipeline.Fit(ts.models.Constant()), path, out, chunk_size=4)
        assert s.n_resumed == before and s.n_chunks == n_chunks, label
        assert not list(out.glob(".*.tmp"))
        rows = pipeline.read_results(out)
        pd.testing.assert_frame_equal(rows, ref, check_exact=True)
        assert rows["id"].is_unique


def test_resume_refuses_a_changed_task_input_or_chunking(survey, tmp_path):
    path, batch = survey
    src = tmp_path / "lc.parquet"
    ts.io.write_parquet(batch[8:18], src)
    out = tmp_path / "out"
    _run(pipeline.Fit(ts.models.Constant()), src, out, chunk_size=5)
    s = _run(pipeline.Fit(ts.models.Constant()), src, out, chunk_size=5)       # all done
    assert s.n_resumed == 2 and s.status == {"OK": 10}
    with pytest.raises(pipeline.PipelineError, match="the task"):
        _run(pipeline.Fit(ts.models.DRW()), src, out, chunk_size=5)
    with pytest.raises(pipeline.PipelineError, match="chunk_size"):
        _run(pipeline.Fit(ts.models.Constant()), src, out, chunk_size=4)
    with pytest.raises(pipeline.PipelineError, match="already holds a run"):
        _run(pipeline.Fit(ts.models.Constant()), src, out, chunk_size=5, resume=False)
    ts.io.write_parquet(batch[8:19], src)  # the input changed
    with pytest.raises(pipeline.PipelineError, match="the input files"):
        _run(pipeline.Fit(ts.models.Constant()), src, out, chunk_size=5)


# ------------------------------------------------------------------------------ failures
class _Flaky(pipeline.Fit):
    """Raises on every attempt for chunks holding object 13, and on the first attempt only for
    chunks holding object 3."""

    def __call__(self, batch):
        ids = set(np.asarray(batch.ids).tolist())
        if 13 in ids:
            raise FloatingPointError("object 13 is cursed")
        if 3 in ids and not getattr(self, "_seen", False):
            object.__setattr__(self, "_seen", True)
            raise MemoryError("transient")
        return super().__call__(batch)


def test_a_failing_chunk_is_retried_once_then_written_as_failed_rows(survey, tmp_path):
    path, batch = survey
    s = _run(_Flaky(ts.models.Constant()), path, tmp_path / "out", chunk_size=10)
    rows = pipeline.read_results(tmp_path / "out")
    assert len(rows) == 40 and rows["id"].is_unique
    bad = rows["id"].between(10, 19)
    assert (rows.loc[bad, "status"] == FAILED).all()
    assert rows.loc[bad, "error"].str.contains("FloatingPointError: object 13 is cursed").all()
    assert rows.loc[~bad & (rows.id != 7), "status"].eq(OK).all()      # chunk of 3: retried, fine
    assert s.n_failed_chunks == 1 and s.status["FAILED"] == 10 and list(s.errors) == [1]
    assert "1 chunk(s) failed twice" in str(s)


def test_bad_input_is_one_clear_error_before_any_work(survey, tmp_path):
    path, _ = survey
    with pytest.raises(pipeline.PipelineError, match="z"):  # a model's per-object column
        class NeedsZ(ts.models.Constant):
            meta_columns = ("z",)
        _run(pipeline.Fit(NeedsZ()), path, tmp_path / "o1")
    assert not list((tmp_path / "o1").glob("part-*"))
    with pytest.raises(pipeline.PipelineError, match="does not exist"):
        _run(pipeline.Fit(ts.models.Constant()), tmp_path / "nope.parquet", tmp_path / "o2")
    with pytest.raises(pipeline.PipelineError, match="flux_col"):
        pq.write_table(pa.table({"id": [1], "time": [1.0]}), tmp_path / "x.parquet")
        _run(pipeline.Fit(ts.models.Constant()), tmp_path / "x.parquet", tmp_path / "o3")


def test_unsorted_input_warns_and_gives_the_same_rows(survey, tmp_path):
    path, _ = survey
    df = pd.read_parquet(path).sample(frac=1.0, random_state=1)
    df.to_parquet(tmp_path / "shuffled.parquet", index=False)
    with pytest.warns(pipeline.PerformanceWarning, match="not stored in 'id' order"):
        _run(pipeline.Fit(ts.models.Constant()), tmp_path / "shuffled.parquet", tmp_path / "a", chunk_size=16)
    _run(pipeline.Fit(ts.models.Constant()), path, tmp_path / "b", chunk_size=16)
    a, b = pipeline.read_results(tmp_path / "a"), pipeline.read_results(tmp_path / "b")
    np.testing.assert_allclose(a["loglike"], b["loglike"], rtol=1e-10, equal_nan=True)


# ------------------------------------------------------------------------------ memory
def _write_constant_survey(path, n_obj, n_pts, seed=0):
    rng = np.random.default_rng(seed)
    n = n_obj * n_pts
    table = pa.table({
        "id": np.repeat(np.arange(n_obj, dtype=np.int64), n_pts),
        "time": 60000.0 + np.tile(np.sort(rng.uniform(0, 1000, n_pts)), n_obj),
        "flux": 100.0 + rng.standard_normal(n),
        "flux_err": np.ones(n),
        "band": np.tile(np.array(list("ugrizy"))[np.arange(n_pts) % 6], n_obj),
    })
    pq.write_table(table, path, row_group_size=100_000)


def test_peak_memory_is_bounded_by_the_chunk_not_the_input(tmp_path):
    """10x more objects (3,000 -> 30,000 light curves of 200 points: 6e6 detections) grow the
    peak RSS of a run by less than 1.5x. (Measured: 609 -> 695 MB, 1.14x; reading the whole
    input and fitting it in memory instead: 676 MB -> 2.37 GB, 3.5x.)"""
    rss = {}
    for n in (3_000, 30_000):
        src = tmp_path / f"in{n}.parquet"
        _write_constant_survey(src, n, 200)
        r = subprocess.run([sys.executable, str(CHILD), "rss", str(src), str(tmp_path / f"out{n}"), "1500"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        rss[n] = int(r.stdout.split()[-1])
    assert rss[30_000] < 1.5 * rss[3_000], rss
    assert len(pipeline.read_results(tmp_path / "out30000", columns=["id", "status"])) == 30_000


# ------------------------------------------------------------------------------ devices, Dask
def test_two_local_devices_share_the_chunks_and_give_the_same_rows(survey, tmp_path):
    path, _ = survey
    script = f"""
import jax, tsmodels as ts
from tsmodels import engine
assert jax.local_device_count() == 2
used = set()
plan = engine.plan
def spy(*a, **k):
    out = plan(*a, **k)
    used.update(c.device.id for c in out)
    return out
engine.plan = spy
ts.pipeline.run(ts.pipeline.Fit(ts.models.DRW(band="r")), {str(path)!r}, {str(tmp_path / 'two')!r},
                chunk_size=20, progress=False)
assert used == {{0, 1}}, used
"""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    _run(pipeline.Fit(ts.models.DRW(band="r")), path, tmp_path / "one", chunk_size=20)
    a, b = pipeline.read_results(tmp_path / "two"), pipeline.read_results(tmp_path / "one")
    np.testing.assert_allclose(a["tau"], b["tau"], rtol=1e-8, equal_nan=True)
    np.testing.assert_allclose(a["loglike"], b["loglike"], rtol=1e-10, equal_nan=True)


def _worker_bandpass(name):
    from tsmodels.kernels.supernova import salt

    band = salt._USER_BANDS.get(name)
    return None if band is None else (band.wave.tolist(), band.trans.tolist())


def test_dask_local_cluster_gives_the_rows_of_a_local_run(survey, tmp_path):
    """Rows equal to a local run's, and a bandpass registered here reaches the worker processes
    with the chunks (a SALT fit of a user band needs it there)."""
    import distributed

    from tsmodels.kernels.supernova import salt

    path, _ = survey
    task = pipeline.Fit(ts.models.Constant())
    _run(task, path, tmp_path / "local", chunk_size=10)
    mine = salt.register_bandpass("test-dask-box", [4000.0, 4001.0, 5000.0, 5001.0], [0.0, 1.0, 1.0, 0.0])
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            assert set(client.run(_worker_bandpass, "test-dask-box").values()) == {None}
            s = _run(task, path, tmp_path / "dask", chunk_size=10, dask_client=client)
            # every worker that ran a chunk has it (which workers ran chunks is the scheduler's choice)
            theirs = [v for v in client.run(_worker_bandpass, "test-dask-box").values() if v is not None]
            assert theirs and all(v == (mine.wave.tolist(), mine.trans.tolist()) for v in theirs), theirs
            # the command line's --dask takes the scheduler's address
            assert main(["fit", "Constant", str(path), str(tmp_path / "cli"), "--chunk-size", "10",
                         "--dask", cluster.scheduler_address, "--quiet"]) == 0
    finally:
        del salt._USER_BANDS["test-dask-box"]
    assert s.n_chunks == 4 and s.n_failed_chunks == 0
    local = pipeline.read_results(tmp_path / "local")
    pd.testing.assert_frame_equal(pipeline.read_results(tmp_path / "dask"), local)
    pd.testing.assert_frame_equal(pipeline.read_results(tmp_path / "cli"), local)


# ------------------------------------------------------------------------------ CLI
def test_cli_fit_periodogram_resume_and_errors(survey, tmp_path, capsys):
    path, _ = survey
    out = tmp_path / "fits"
    assert main(["fit", "Constant", str(path), str(out), "--chunk-size", "15", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "40 objects in 3 chunk(s)" in text and "status: OK 39, NO_DATA 1" in text
    assert main(["fit", "Constant", str(path), str(out), "--chunk-size", "15", "--resume", "--quiet"]) == 0
    assert "3 finished before (resumed)" in capsys.readouterr().out
    # a second run without --resume, an unknown model, a missing column: one line, status 2
    for argv, words in ((["fit", "Constant", str(path), str(out), "--quiet"], "already holds a run"),
                        (["fit", "Nope", str(path), str(tmp_path / "x")], "unknown model 'Nope'"),
                        (["periodogram", str(path), str(tmp_path / "p"), "--band-col", "filt"],
                         "column filt not found")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert main(["periodogram", str(path), str(tmp_path / "p"), "--max-frequency", "2", "--quiet"]) == 0
    assert len(pipeline.read_results(tmp_path / "p")) == 40
    man = json.loads((tmp_path / "p" / "_manifest.json").read_text())
    assert man["task"]["kind"] == "periodogram" and man["task"]["maximum_frequency"] == 2.0


def test_cli_subcommands_have_help_through_python_m():
    for cmd in ("fit", "periodogram", "simulate", "demo"):
        r = subprocess.run([sys.executable, "-m", "tsmodels", cmd, "--help"], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0 and "usage: tsmodels " + cmd in r.stdout, r.stderr


def test_model_from_string():
    assert pipeline.model_from_string("CARMA(2, 1)") == ts.models.CARMA(2, 1)
    assert pipeline.model_from_string("DRW") == ts.models.DRW()
    assert pipeline.model_from_string("FourierSeries(nterms=2)") == ts.models.FourierSeries(nterms=2)
    with pytest.raises(ValueError, match="literals"):
        pipeline.model_from_string("DRW(band=__import__('os'))")
