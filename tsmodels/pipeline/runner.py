"""``ts.pipeline.run``: a task over a whole dataset, chunk by chunk, resumable."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tsmodels import config
from tsmodels.fitting.results import FAILED, STATUS
from tsmodels.pipeline import sink as _sink
from tsmodels.pipeline.source import ChunkSpec, as_source
from tsmodels.pipeline.tasks import as_task, result_table

__all__ = ["run", "RunSummary", "PipelineError", "process_chunk", "MANIFEST_FORMAT"]

#: Version of the manifest's layout.
MANIFEST_FORMAT = 1

#: Attempts per chunk before its objects are written as ``FAILED`` rows.
ATTEMPTS = 2


class PipelineError(ValueError):
    """A run that cannot start: bad input, or a sink that holds another run."""


@dataclass
class RunSummary:
    """What :func:`run` did.

    Attributes:
        sink: the output directory.
        n_objects: objects in the input.
        n_chunks: chunks in the plan.
        n_resumed: chunks already finished by an earlier run (skipped).
        n_resumed_objects: objects in those chunks.
        n_failed_chunks: chunks whose computation raised twice (written as ``FAILED`` rows).
        status: ``{status name: objects}`` over all rows in the sink.
        n_dropped: points dropped by validation, over the chunks computed in this run.
        seconds: wall time of this run.
        errors: ``{chunk index: error}`` of the failed chunks of this run.
    """

    sink: str
    n_objects: int
    n_chunks: int
    n_resumed: int = 0
    n_resumed_objects: int = 0
    n_failed_chunks: int = 0
    status: dict = field(default_factory=dict)
    n_dropped: int = 0
    seconds: float = 0.0
    errors: dict = field(default_factory=dict)

    @property
    def objects_per_second(self) -> float:
        """Objects computed in this run (resumed chunks excluded) per second of wall time."""
        done = self.n_objects - self.n_resumed_objects
        return done / self.seconds if self.seconds > 0 else float("nan")

    def __str__(self) -> str:
        st = ", ".join(f"{k} {v}" for k, v in sorted(self.status.items(), key=lambda kv: -kv[1]))
        computed = self.n_chunks - self.n_resumed
        lines = [f"{self.n_objects} objects in {self.n_chunks} chunk(s) -> {self.sink}",
                 f"status: {st or 'none'}",
                 (f"{computed} chunk(s) computed in {self.seconds:.1f} s ({self.objects_per_second:.1f} objects/s)"
                  if computed else "nothing left to compute")
                 + (f"; {self.n_resumed} finished before (resumed)" if self.n_resumed else "")]
        if self.n_dropped:
            lines.append(f"{self.n_dropped} invalid points dropped (per object: n_dropped column)")
        if self.n_failed_chunks:
            lines.append(f"{self.n_failed_chunks} chunk(s) failed twice; their objects are FAILED rows: "
                         + "; ".join(f"chunk {i}: {e}" for i, e in list(self.errors.items())[:3]))
        return "\n".join(lines)


def _versions() -> dict:
    import jax
    import numpy
    import pyarrow

    import tsmodels

    return {"tsmodels": tsmodels.__version__, "jax": jax.__version__, "numpy": numpy.__version__,
            "pyarrow": pyarrow.__version__}


def _failed_rows(ids, id_name: str, error: str) -> pa.Table:
    return pa.table({id_name: pa.array(np.asarray(ids)), "status": pa.array(np.full(len(ids), FAILED, np.int64)),
                     "error": pa.array([error] * len(ids), pa.string())})


def process_chunk(task, source, bands, spec: ChunkSpec, sink: str, id_name: str, ids,
                  batch=None, state=None) -> dict:
    """Compute one chunk and write its file atomically; never raises for the chunk's data.

    The computation is tried :data:`ATTEMPTS` times; if every attempt raises, the chunk's
    objects are written as ``FAILED`` rows carrying the error. ``batch`` is the chunk already
    read (first attempt only). ``state``: the submitting process's
    :func:`tsmodels.config.worker_state` (e.g. the bandpasses it registered), installed here
    first. Returns ``{"index", "status": {code: n}, "n_dropped", "error"}``. This is the
    function Dask workers run.
    """
    config.restore_worker_state(state)
    error = None
    table = None
    for attempt in range(ATTEMPTS):
        try:
            if batch is None or attempt > 0:
                batch = source.read(spec, bands)
            if len(batch) != spec.n_objects or not np.array_equal(np.asarray(batch.ids), np.asarray(ids)):
                raise RuntimeError(f"chunk {spec.index} holds {len(batch)} objects, the plan "
                                   f"{spec.n_objects}: the input changed during the run")
            table = result_table(task(batch), batch, id_name)
            error = None
            break
        except Exception as err:  # noqa: BLE001 - failures stay local to the chunk
            error = f"{type(err).__name__}: {err}"
    if table is None:
        table = _failed_rows(ids, id_name, error)
    _sink.write_atomic(table, Path(sink) / spec.file)
    status = Counter(table.column("status").to_numpy().tolist())
    n_dropped = (int(pc.sum(table.column("n_dropped")).as_py() or 0)
                 if "n_dropped" in table.column_names else 0)
    return {"index": spec.index, "status": dict(status), "n_dropped": n_dropped, "error": error}


def _check_resume(old: dict, new: dict, sink: Path) -> None:
    what = []
    if old.get("format") != new["format"]:
        what.append(f"manifest format {old.get('format')} vs {new['format']}")
    for key, label in (("fingerprint", "the input files"), ("source", "the source options"),
                       ("task", "the task"), ("chunk_size", "chunk_size"), ("bands", "the bands")):
        if old.get(key) != new[key]:
            if key in ("task", "source") and isinstance(old.get(key), dict):
                diff = sorted(k for k in set(old[key]) | set(new[key]) if old[key].get(k) != new[key].get(k))
                what.append(f"{label} ({', '.join(f'{k}: {old[key].get(k)!r} -> {new[key].get(k)!r}' for k in diff)})")
            elif key in ("fingerprint",):
                what.append(label)
            else:
                what.append(f"{label} ({old.get(key)!r} -> {new[key]!r})")
    if what:
        raise PipelineError(f"{sink} holds a run that differs from this one in {'; '.join(what)}; it "
                            "cannot be resumed with these settings: choose a new output directory, "
                            "or delete this one")


def run(task, source, sink, *, chunk_size: int = 10_000, resume: bool = True, dask_client=None,
        progress: bool = True) -> RunSummary:
    """Run ``task`` over every object of ``source``, writing one parquet file per chunk to
    ``sink`` (a directory), so that a run of any size holds only a chunk in memory at a time
    and a killed run can be resumed.

    Args:
        task: :class:`~tsmodels.pipeline.Fit` (``ts.fit`` of a model; a bare model means this),
            :class:`~tsmodels.pipeline.Sample` (``ts.sample``, posterior summaries) or
            :class:`~tsmodels.pipeline.Periodogram` (best periods and FAP).
        source: a parquet file or dataset directory (long or nested layout, default column
            names) or a :class:`~tsmodels.pipeline.ParquetSource` (presets such as "rubin",
            column names, per-object columns).
        sink: output directory (created). Rows: one per object, with the input's id column,
            the task's columns, ``status`` (:data:`tsmodels.fitting.STATUS` codes), ``n_obs``
            (valid points), ``n_dropped`` (invalid points left out) and ``error`` (set on the
            ``FAILED`` rows of a chunk that raised twice). Read them with
            :func:`~tsmodels.pipeline.read_results`.
        chunk_size: objects per chunk: the unit of memory, of output files and of resuming.
            Inside a chunk, objects are bucketed by length and spread over the local devices
            and cores by :mod:`tsmodels.engine`.
        resume: if ``sink`` holds a run of the same task on the same input, skip its finished
            chunks; a different task, source, chunking or input raises :class:`PipelineError`.
            ``False``: ``sink`` must not hold a run yet.
        dask_client: a ``dask.distributed.Client`` (or a scheduler address): chunks are run on
            its workers, each writing its own files (``sink`` must be on a file system every
            worker sees), with this process's :func:`tsmodels.config.worker_state` (bandpasses
            registered with ``register_bandpass``); None runs them in this process.
        progress: show a tqdm progress bar (objects/s).

    Returns:
        :class:`RunSummary` (also printed by the CLI).

    Raises:
        PipelineError: bad input (unreadable files, missing columns, a model's per-object column
            absent) or a sink that holds another run. Failures of single objects or chunks do not
            raise: they are rows with their status.
    """
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    t_start = time.perf_counter()
    task = as_task(task)
    try:
        source = as_source(source)
        id_name = source.id_name
        plan = source.plan()
    except (ValueError, FileNotFoundError, OSError) as err:
        raise PipelineError(str(err)) from None
    chunks = plan.cut(chunk_size)
    task = task.prepare(plan)
    sink = Path(sink).resolve()
    manifest = {"format": MANIFEST_FORMAT, "fingerprint": plan.fingerprint, "source": source.spec(),
                "task": task.spec(), "chunk_size": chunk_size, "bands": list(plan.bands),
                "id_column": id_name, "n_objects": int(len(plan.ids)),
                "chunks": [{**c.to_json(), "file": c.file} for c in chunks]}
    old = _sink.read_manifest(sink) if sink.exists() else None
    if old is not None:
        if not resume:
            raise PipelineError(f"{sink} already holds a run; pass resume=True (--resume) to continue "
                                "it, or choose a new output directory")
        _check_resume(old, manifest, sink)
        if old.get("versions") != _versions():
            import warnings

            warnings.warn(f"{sink} was started with {old.get('versions')}, now running with "
                          f"{_versions()}: resumed rows may differ in the last digits", UserWarning,
                          stacklevel=2)
    else:
        if sink.exists() and any(p.name.startswith("part-") for p in sink.iterdir()):
            raise PipelineError(f"{sink} holds result files but no manifest; choose a new output "
                                "directory")
        sink.mkdir(parents=True, exist_ok=True)
        _sink.write_json_atomic({**manifest, "versions": _versions(),
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, sink / _sink.MANIFEST)
    _sink.clean_temporary(sink)
    done = [c for c in chunks if (sink / c.file).exists()]
    todo = [c for c in chunks if not (sink / c.file).exists()]
    summary = RunSummary(str(sink), int(len(plan.ids)), len(chunks), n_resumed=len(done),
                         n_resumed_objects=sum(c.n_objects for c in done))
    status = Counter()
    for c in done:
        status.update(pq.read_table(sink / c.file, columns=["status"]).column("status").to_numpy().tolist())

    first = None
    if todo:  # bad input or a model's missing column: one clear error, before any work
        try:
            first = source.read(todo[0], plan.bands)
            task.check(first)
        except (ValueError, KeyError) as err:
            raise PipelineError(f"{source.path}: {err}") from None

    from tqdm.auto import tqdm

    bar = tqdm(total=summary.n_objects, initial=summary.n_resumed_objects, unit="obj",
               disable=not progress, dynamic_ncols=True, desc="tsmodels")

    def record(out, spec):
        status.update(out["status"])
        summary.n_dropped += out["n_dropped"]
        if out["error"] is not None:
            summary.n_failed_chunks += 1
            summary.errors[spec.index] = out["error"]
        bar.update(spec.n_objects)
        failed = status.get(FAILED, 0)
        if failed:
            bar.set_postfix(failed=failed, refresh=False)

    try:
        if dask_client is None:
            _run_local(task, source, plan, todo, sink, id_name, first, record)
        else:
            _run_dask(dask_client, task, source, plan, todo, sink, id_name, record)
    finally:
        bar.close()
    summary.status = {STATUS.get(k, str(k)): int(v) for k, v in sorted(status.items())}
    summary.seconds = time.perf_counter() - t_start
    return summary


def _run_local(task, source, plan, todo, sink, id_name, first, record):
    """Chunks in order in this process; the next chunk is read while one is computed."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        nxt = None
        for i, spec in enumerate(todo):
            if i == 0:
                batch = first
            else:
                try:
                    batch = nxt.result()
                except Exception:  # noqa: BLE001 - process_chunk retries the read
                    batch = None
            if i + 1 < len(todo):
                nxt = reader.submit(source.read, todo[i + 1], plan.bands)
            out = process_chunk(task, source, plan.bands, spec, str(sink), id_name,
                                plan.ids[spec.start:spec.stop], batch=batch)
            record(out, spec)


def _run_dask(client, task, source, plan, todo, sink, id_name, record):
    """Chunks on a dask.distributed cluster, at most two per worker thread in flight."""
    try:
        from distributed import Client, as_completed
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("dask_client= needs dask.distributed (pip install 'tsmodels[dask]')") from err
    if isinstance(client, str):  # an address: a client of our own, closed at the end
        with Client(client) as own:
            return _run_dask(own, task, source, plan, todo, sink, id_name, record)
    threads = sum(client.nthreads().values()) or 1
    pending = list(reversed(todo))
    state = config.worker_state()  # what the workers need of this process (registered bandpasses)
    attempts = {}

    def submit(spec):
        attempts[spec.index] = attempts.get(spec.index, 0) + 1
        fut = client.submit(process_chunk, task, source, plan.bands, spec, str(sink), id_name,
                            plan.ids[spec.start:spec.stop], state=state, pure=False)
        fut.spec = spec
        return fut

    running = as_completed([submit(pending.pop()) for _ in range(min(len(pending), 2 * threads))])
    for fut in running:
        spec = fut.spec
        try:
            out = fut.result()
        except Exception as err:  # noqa: BLE001 - a worker died: retry once, then FAILED rows
            if attempts[spec.index] < ATTEMPTS:
                running.add(submit(spec))
                continue
            error = f"{type(err).__name__}: {err}"
            table = _failed_rows(plan.ids[spec.start:spec.stop], id_name, error)
            _sink.write_atomic(table, sink / spec.file)
            out = {"index": spec.index, "status": {FAILED: spec.n_objects}, "n_dropped": 0, "error": error}
        record(out, spec)
        if pending:
            running.add(submit(pending.pop()))
