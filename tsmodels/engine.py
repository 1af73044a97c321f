"""The execution engine: how every batched call of tsmodels runs its compiled programs.

``ts.fit``, ``ts.sample``, the periodograms (and the streaming pipeline) all cut a batch into
chunks, pad each chunk to a compiled shape, run the chunks on the devices and host threads, and
put the rows back together. This module does each of those once:

* :func:`plan` cuts a :class:`~tsmodels.lightcurves.LightCurveBatch` into :class:`Chunk` s:
  objects of similar length together (length buckets of ``LightCurveBatch.bucket``, merged
  while the padding a merge adds costs less than a compilation, :data:`MERGE_POINTS`), each
  chunk padded on the object axis to a rung of :func:`object_rungs` so that calls of different
  sizes share compiled shapes; :func:`row_chunks` cuts ``n`` rows into equal blocks (the
  periodograms).
* :func:`program` wraps a traceable function as a :class:`Program`: compiled ahead of time
  once per input signature, checked for operations that can deadlock (below), and kept in
  memory and in an on-disk cache (:mod:`tsmodels.config`, "Compilation cache"), so a new
  process that meets a known shape loads it instead of tracing and compiling it again.
* :func:`run` runs one function per chunk on ``workers`` host threads (one per CPU core on a
  CPU, one per device on accelerators), each chunk on the device :func:`plan` assigned, inside
  the requested precision; :func:`assemble` scatters the per-chunk rows into ``[B, ...]``
  arrays in batch order.

Why host threads, and why they cannot hang
------------------------------------------
Three designs were measured on the same warm work on a 2-core machine
(``benchmarks/bench_engine.py``, table in ``benchmarks/RESULTS.md``; objects per second relative
to one dispatching thread):

==========================================  =========  ================  ==============
design                                      DRW fit    MultibandDRW fit  multiband L-S
==========================================  =========  ================  ==============
one thread, XLA's intra-op pool inside      1.00       1.00              1.00
host threads, one per core (the default)    1.80       1.09              1.59
CPU devices (``--xla_force_host_...``)      1.43       1.12              1.51
==========================================  =========  ================  ==============

(500 DRW, 256 MultibandDRW and 200 periodogram objects.) Programs of many small steps (the DRW
fit's ``lax.while_loop``) run essentially on one core, so one thread per core nearly doubles
their throughput; programs with large vectorised operations (the 6-band Hessians of
MultibandDRW) already use both cores from one thread, and every design is within 12% of the
others. Host threads are the fastest design or within the measurement noise of it everywhere,
and they need nothing set before JAX starts; sharding over CPU devices needs
``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` before JAX is imported, so it cannot
be a library's default. :func:`plan` does spread chunks over every local device when there are
several (GPUs, or CPU devices a script asked for).

The demo used to hang in this design, and the cause was not the threads: jaxlib's CPU LAPACK
kernels (``lapack_*_ffi``: ``potrf``, ``trsm``, ``getrf``, ``syevd``, ...) split a large batch
over XLA's intra-op thread pool and block the pool thread that runs them until the pieces
finish. As soon as as many of them run at once as the pool has threads (two chunks on two
cores, or two independent calls inside a single program, even from one Python thread), no
thread is left to run the pieces and every thread waits forever. XLA's own operations never
block a pool thread. So:

* tsmodels' programs contain no LAPACK call: their linear algebra (all on small matrices) is
  :mod:`tsmodels.kernels.linalg`, made of plain XLA operations;
* every program is audited when it is compiled (:func:`blocking_calls` on its lowered text);
  one that contains a blocking call (a user model with ``jnp.linalg``) runs one execution at a
  time under a process-wide lock, with a :class:`EngineWarning` that names the calls. Such a
  program can still deadlock by itself if it holds two independent batched LAPACK calls: use
  :mod:`tsmodels.kernels.linalg` in models;
* a test compiles every model's fit and sample programs and the periodograms and asserts that
  none has a blocking call, and a stress test runs the threaded paths many times in watched
  subprocesses (``tests/test_engine.py``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from tsmodels import config
from tsmodels.config import precision
from tsmodels.lightcurves import LightCurveBatch, bucket_lengths

__all__ = ["Chunk", "Program", "EngineWarning", "program", "plan", "row_chunks", "run",
           "assemble", "default_workers", "resolve_workers", "object_rungs", "pad_rows",
           "device_batch", "blocking_calls", "BLOCKING_CALLS", "MERGE_POINTS", "stats"]


class EngineWarning(UserWarning):
    """Warned when a compiled program contains calls that force it to run one at a time."""


#: Custom-call targets that block an XLA CPU pool thread on other pool work (see module doc).
BLOCKING_CALLS = re.compile(r"lapack_\w+")

#: Padding (real points) below which two length buckets are merged into one compiled shape: a
#: compilation costs seconds to tens of seconds on a CPU, about the time it takes to fit this
#: many padded points.
MERGE_POINTS = 2**18

#: Smallest chunk the batch is cut into to give every worker thread some objects.
MIN_THREAD_CHUNK = 16


# ------------------------------------------------------------------------------------ workers
def default_workers() -> int:
    """Host threads for chunked work: the usable CPU cores on a CPU backend, else one per
    local device."""
    if jax.default_backend() != "cpu":
        return max(1, jax.local_device_count())
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        n = os.cpu_count() or 1
    return max(1, n)


def resolve_workers(workers) -> int:
    """``workers`` argument of the public calls: None (automatic) or a positive integer."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    return int(workers)


# ------------------------------------------------------------------------------------ chunks
@dataclass
class Chunk:
    """A piece of a batch run by one compiled call.

    Attributes:
        positions: ``[b]`` positions (into the batch, or rows) of the chunk's real objects.
        size: objects in the compiled shape (``>= b``; the rest are masked dummies).
        batch: the host sub-batch, trimmed to its bucket's padded length (None for row chunks).
        device: the device the chunk runs on.
    """

    positions: np.ndarray
    size: int
    batch: LightCurveBatch | None = None
    device: object = None

    def __len__(self) -> int:
        return len(self.positions)


def object_rungs(n: int) -> int:
    """Padded object count of a chunk of ``n`` objects: the smallest of 1, 2, 4, 8, 12, 16, 24,
    32, 48, ... (powers of two and 1.5 times them) that holds ``n``; at most a third padding."""
    if n <= 8:
        return 1 << max(0, (n - 1).bit_length())
    p = 1 << ((n - 1).bit_length() - 1)          # largest power of two < n
    return p + p // 2 if n <= p + p // 2 else 2 * p


def _length_groups(n_obs: np.ndarray, growth: float = 1.25) -> list[tuple[int, np.ndarray]]:
    """Objects grouped by padded length: ``[(length, positions)]``, shortest first.

    Each object goes to the smallest :func:`bucket_lengths` rung that holds it (at most 25%
    padding); walking the rungs upwards, a group absorbs the next rung while moving the group's
    objects up to it adds fewer than :data:`MERGE_POINTS` padded points.
    """
    n_obs = np.maximum(np.asarray(n_obs, np.int64), 1)
    rungs = bucket_lengths(int(n_obs.max(initial=1)), growth=growth)
    which = np.searchsorted(rungs, n_obs)
    counts = np.bincount(which, minlength=len(rungs))
    groups, members, end = [], [], None
    for r in np.flatnonzero(counts):
        if members and sum(counts[m] for m in members) * (rungs[r] - rungs[end]) < MERGE_POINTS:
            members.append(r)
            end = r
            continue
        if members:
            groups.append((int(rungs[end]), members))
        members, end = [r], r
    if members:
        groups.append((int(rungs[end]), members))
    return [(length, np.flatnonzero(np.isin(which, m))) for length, m in groups]


def _devices():
    return jax.local_devices()


def plan(batch: LightCurveBatch, *, batch_size: int | None = None, workers: int = 1) -> list[Chunk]:
    """Chunks of ``batch`` for compiled calls (every object in exactly one chunk).

    Objects are grouped by length (:func:`_length_groups`); a group is cut into the fewest
    chunks of at most ``batch_size`` objects (default: a share per worker thread, at least
    :data:`MIN_THREAD_CHUNK`), of near-equal size so that they share one compiled shape, padded
    to :func:`object_rungs`. Chunks are assigned to the local devices in turn.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    n = len(batch)
    if batch_size is None:
        batch_size = n if workers <= 1 else max(MIN_THREAD_CHUNK, -(-n // workers))
    batch_size = max(1, int(batch_size))
    devices = _devices()
    out = []
    for length, pos in _length_groups(batch.n_obs):
        n_chunks = -(-len(pos) // batch_size)
        parts = np.array_split(pos, n_chunks)
        size = object_rungs(max(len(p) for p in parts))
        if batch_size < size:  # an explicit batch_size caps the compiled size too
            size = batch_size
        for p in parts:
            out.append(Chunk(p, size, batch._take(p, length), devices[len(out) % len(devices)]))
    return out


def row_chunks(n: int, block: int, workers: int = 1) -> list[Chunk]:
    """``n`` rows cut into blocks of ``block`` (the last one padded); when that makes fewer
    blocks than ``workers``, the block shrinks (to a power of two) so every worker gets one."""
    block = max(1, int(block))
    if workers > 1 and -(-n // block) < workers and n > 1:
        share = -(-n // workers)
        block = min(block, 1 << (share - 1).bit_length())
    devices = _devices()
    return [Chunk(np.arange(s, min(s + block, n)), block, None, devices[i % len(devices)])
            for i, s in enumerate(range(0, n, block))]


def pad_rows(a, size: int):
    """Host array ``a [b, ...]`` padded to ``size`` rows with copies of its first row."""
    a = np.asarray(a)
    b = a.shape[0]
    if b == size:
        return a
    if b > size:
        raise ValueError(f"cannot pad {b} rows to {size}")
    return np.concatenate([a, np.broadcast_to(a[:1], (size - b,) + a.shape[1:])], axis=0)


def device_batch(chunk: Chunk, dtype) -> LightCurveBatch:
    """The chunk's sub-batch padded to ``chunk.size`` objects (masked copies of its first
    object) on its device, times and fluxes in ``dtype``; host metadata kept."""
    sub = chunk.batch
    dt = np.dtype(dtype)
    arrs = {k: pad_rows(np.asarray(getattr(sub, k)), chunk.size) for k in LightCurveBatch._LEAVES}
    arrs["mask"] = arrs["mask"].copy()
    arrs["mask"][len(chunk):] = False
    casts = {"t": dt, "flux": dt, "flux_err": dt, "band": np.int32, "mask": bool}
    with precision(dt):
        leaves = {k: jax.device_put(np.asarray(v, dtype=casts[k]), chunk.device) for k, v in arrs.items()}
        meta = {k: jax.device_put(pad_rows(np.asarray(v, dtype=dt), chunk.size), chunk.device)
                for k, v in sub.meta.items()}
        t_ref = jax.device_put(pad_rows(np.asarray(sub.t_ref, dtype=dt), chunk.size), chunk.device)
        points = {k: jax.device_put(pad_rows(np.asarray(v, dtype=dt), chunk.size), chunk.device)
                  for k, v in sub.points.items()}
    return LightCurveBatch(**leaves, bands=sub.bands, ids=sub.ids, t_ref=t_ref, dropped=sub.dropped,
                           meta=meta, points=points)


def put(x, chunk: Chunk):
    """Host arrays (a pytree) onto the chunk's device."""
    return jax.device_put(x, chunk.device)


# ------------------------------------------------------------------------------------ running
def run(work: Callable, chunks: Sequence, *, workers: int, dtype=None) -> list:
    """``[work(chunk) for chunk in chunks]`` on ``workers`` host threads, each inside
    ``precision(dtype)`` (``None``: the calling thread's current precision).

    Results come back in the order of ``chunks``; the first exception raised by a chunk is
    re-raised. Results do not depend on ``workers``: every object is computed by the same
    compiled program whichever chunk or thread it lands in (lanes never interact).
    """
    chunks = list(chunks)
    if dtype is None:
        dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    if workers <= 1 or len(chunks) <= 1:
        with precision(dtype):
            return [work(c) for c in chunks]

    def scoped(c):
        with precision(dtype):
            return work(c)

    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
            return list(pool.map(scoped, chunks))
    finally:
        _flush_warnings()


def assemble(n: int, chunks: Sequence[Chunk], outs: Sequence, fill: dict | None = None) -> dict:
    """Scatter per-chunk rows into ``[n, ...]`` arrays in batch order.

    ``outs[i]`` is None (nothing computed for chunk ``i``) or a dict of host arrays whose first
    axis holds at least ``len(chunks[i])`` rows (padding rows beyond are dropped). ``fill``
    gives the value of rows no chunk computed, per key (default 0; NaN for floats).
    """
    fill = fill or {}
    first = next((o for o in outs if o is not None), None)
    if first is None:
        return {}
    acc = {}
    for k, v in first.items():
        v = np.asarray(v)
        default = np.nan if np.issubdtype(v.dtype, np.floating) else 0
        acc[k] = np.full((n,) + v.shape[1:], fill.get(k, default), dtype=v.dtype)
    for ch, o in zip(chunks, outs):
        if o is None:
            continue
        b = len(ch)
        for k in acc:
            acc[k][ch.positions] = np.asarray(o[k])[:b]
    return acc


# ------------------------------------------------------------------------------------ programs
def blocking_calls(hlo_text: str) -> list[str]:
    """Custom-call targets in a lowered program's text that can block XLA's CPU thread pool."""
    targets = set(re.findall(r"custom_call\s*@([\w.]+)", hlo_text))
    targets |= set(re.findall(r'custom_call_target\s*=\s*"([\w.]+)"', hlo_text))
    return sorted(t for t in targets if BLOCKING_CALLS.fullmatch(t))


_BLOCKING_LOCK = threading.Lock()
_PENDING: list = []  # warnings raised in worker threads, re-emitted by run() in the caller's thread


def _warn_later(message: str) -> None:
    if threading.current_thread() is threading.main_thread():
        warnings.warn(message, EngineWarning, stacklevel=4)
    else:
        _PENDING.append(message)


def _flush_warnings() -> None:
    while _PENDING:
        warnings.warn(_PENDING.pop(0), EngineWarning, stacklevel=4)
_STATS_LOCK = threading.Lock()
_STATS = {"compiled": 0, "loaded": 0, "compile_s": 0.0, "load_s": 0.0, "trace_s": 0.0}


def stats(reset: bool = False) -> dict:
    """Counters of this process: programs ``compiled`` and ``loaded`` from the disk cache, and
    seconds spent tracing/lowering, compiling and loading. ``reset=True`` zeroes them."""
    with _STATS_LOCK:
        out = dict(_STATS)
        if reset:
            for k in _STATS:
                _STATS[k] = 0 if isinstance(_STATS[k], int) else 0.0
    return out


def _bump(**kw):
    with _STATS_LOCK:
        for k, v in kw.items():
            _STATS[k] += v


@dataclass
class _Executable:
    call: Callable
    blocking: tuple[str, ...] = ()


def _signature(args) -> tuple:
    leaves, tree = jax.tree_util.tree_flatten(args)
    avals = []
    for x in leaves:
        a = jnp.asarray(x) if not hasattr(x, "dtype") else x
        dev = None
        try:
            dev = tuple(sorted(d.id for d in x.devices()))
        except Exception:  # NumPy arrays, scalars
            dev = None
        avals.append((tuple(np.shape(a)), np.dtype(a.dtype).name, bool(getattr(a, "weak_type", False)), dev))
    return tree, tuple(avals), bool(jax.config.jax_enable_x64)


@functools.lru_cache(maxsize=1)
def _source_fingerprint() -> str:
    """Hash of tsmodels' own source files (a changed kernel invalidates cached programs)."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _environment_fingerprint(platform: str) -> str:
    """What a compiled executable depends on besides its program: JAX, jaxlib, the backend and
    device kind, XLA flags and the host CPU's instruction set (a cache shared by nodes of
    different CPUs never hands one an executable it cannot run)."""
    import jaxlib

    parts = [jax.__version__, getattr(jaxlib, "__version__", "?"), platform,
             os.environ.get("XLA_FLAGS", "")]
    try:
        parts.append(str(jax.local_devices()[0].client.platform_version))
    except Exception:  # pragma: no cover
        pass
    parts.append(",".join(sorted({d.device_kind for d in jax.local_devices()})))
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
        parts.append(hashlib.sha256(flags.encode()).hexdigest()[:16])
    except OSError:  # pragma: no cover (not Linux)
        import platform as _platform
        parts.append(_platform.processor())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _stable_description(obj) -> str | None:
    """A string that identifies ``obj`` (the static part of a program) across processes, or
    None when there is none (then the program's lowered text is the cache key).

    Objects of tsmodels (covered by the source fingerprint), builtins and tuples thereof are
    described by their ``repr``; objects of other modules also by a hash of their module's
    source file.
    """
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        parts = [_stable_description(x) for x in obj]
        return None if any(p is None for p in parts) else "(" + ",".join(parts) + ")"
    text = repr(obj)
    if "..." in text or " at 0x" in text:  # truncated arrays, default object reprs
        return None
    cls = type(obj)
    mod = cls.__module__ or ""
    if mod == "tsmodels" or mod.startswith("tsmodels."):
        return f"{mod}.{cls.__qualname__}:{text}"
    import inspect

    try:
        src = inspect.getsourcefile(cls)
        digest = hashlib.sha256(Path(src).read_bytes()).hexdigest() if src else None
    except (TypeError, OSError):
        digest = None
    if digest is None:
        return None
    return f"{mod}.{cls.__qualname__}@{digest}:{text}"


class Program:
    """A traceable function run by the engine: one compiled executable per input signature.

    Created by :func:`program`. Calling it with arrays compiles (or loads from the disk cache)
    the executable for their shapes and dtypes on first use, then runs it; see the module
    docstring for the audit of blocking calls.
    """

    def __init__(self, fn: Callable, name: str, static=None):
        self.fn = fn
        self.name = name
        self.static = static
        self._description = _stable_description(static) if static is not None else None
        self._jit = jax.jit(fn)
        self._exes: dict = {}
        self._locks: dict = {}
        self._lock = threading.Lock()
        self._warned = False

    def __repr__(self) -> str:
        return f"Program({self.name!r}, {len(self._exes)} compiled)"

    @property
    def n_compiled(self) -> int:
        """Executables this program holds (one per input signature met)."""
        return len(self._exes)

    # ---------------------------------------------------------------- compile / load
    def _cache_key(self, sig, text: str | None) -> str | None:
        platform = jax.default_backend()
        if text is None:
            if self._description is None:
                return None
            body = f"{self.name}|{self._description}|{sig[0]}|{sig[1]}|{sig[2]}"
        else:
            body = f"{self.name}|text|{hashlib.sha256(text.encode()).hexdigest()}"
        full = "|".join([body, _source_fingerprint(), _environment_fingerprint(platform)])
        return hashlib.sha256(full.encode()).hexdigest()

    def _compile(self, sig, args) -> _Executable:
        cache_dir = config.compilation_cache_dir()
        key = self._cache_key(sig, None) if cache_dir else None
        if key is not None:
            exe = _load(cache_dir, key)
            if exe is not None:
                return exe
        t0 = time.perf_counter()
        lowered = self._jit.lower(*args)
        text = lowered.as_text()
        t1 = time.perf_counter()
        if cache_dir and key is None:
            key = self._cache_key(sig, text)
            exe = _load(cache_dir, key)
            if exe is not None:
                _bump(trace_s=t1 - t0)
                return exe
        blocking = tuple(blocking_calls(text))
        compiled = lowered.compile()
        t2 = time.perf_counter()
        _bump(compiled=1, trace_s=t1 - t0, compile_s=t2 - t1)
        if cache_dir and key is not None:
            _store(cache_dir, key, compiled, blocking)
        return _Executable(compiled, blocking)

    def executable(self, *args) -> _Executable:
        """The compiled executable for ``args`` (compiling or loading it if needed)."""
        sig = _signature(args)
        exe = self._exes.get(sig)
        if exe is not None:
            return exe
        with self._lock:
            lock = self._locks.setdefault(sig, threading.Lock())
        with lock:  # threads meeting the same new shape compile it once
            exe = self._exes.get(sig)
            if exe is None:
                exe = self._compile(sig, args)
                self._exes[sig] = exe
        return exe

    def __call__(self, *args):
        exe = self.executable(*args)
        if not exe.blocking:
            return exe.call(*args)
        if not self._warned:
            self._warned = True
            _warn_later(
                f"tsmodels: the compiled program {self.name!r} calls {', '.join(exe.blocking)}, "
                "which can deadlock XLA's CPU thread pool when several run at once; it runs one "
                "call at a time. Use tsmodels.kernels.linalg instead of jnp.linalg in models "
                "to run in parallel (see tsmodels.engine).")
        with _BLOCKING_LOCK:
            out = exe.call(*args)
            jax.block_until_ready(out)
            return out

    def clear(self) -> None:
        self._exes.clear()
        self._locks.clear()


_PROGRAMS: dict = {}
_PROGRAMS_LOCK = threading.Lock()


def program(fn: Callable, *, name: str, static=None) -> Program:
    """The :class:`Program` of ``fn`` (one per ``(name, static)`` in the process).

    Args:
        fn: a traceable function of arrays (pytrees), e.g. ``functools.partial(body, model,
            options)``.
        name: what the program does (``"fit"``, ``"nuts"``, ``"lombscargle"``); part of its key.
        static: a hashable description of everything ``fn`` closes over (model, options...);
            it keys the in-memory registry and, when it has a stable description, the disk
            cache without tracing. ``None``: the program is not shared between calls and the
            disk cache is keyed by its lowered text.
    """
    if static is None:
        return Program(fn, name)
    try:
        key = (name, static)
        hash(key)
    except TypeError:  # an unhashable model: a program per call
        return Program(fn, name)
    with _PROGRAMS_LOCK:
        prog = _PROGRAMS.get(key)
        if prog is None:
            prog = _PROGRAMS[key] = Program(fn, name, static)
        return prog


def _clear_programs() -> None:
    with _PROGRAMS_LOCK:
        for p in _PROGRAMS.values():
            p.clear()
        _PROGRAMS.clear()


config.register_clear(_clear_programs)


# ------------------------------------------------------------------------------------ disk cache
_FORMAT = 1


def _load(cache_dir: Path, key: str) -> _Executable | None:
    path = Path(cache_dir) / f"{key}.xla"
    try:
        with open(path, "rb") as f:
            rec = pickle.load(f)
        if rec.get("format") != _FORMAT:
            return None
        from jax.experimental import serialize_executable

        t0 = time.perf_counter()
        compiled = serialize_executable.deserialize_and_load(rec["payload"], rec["in_tree"], rec["out_tree"])
        _bump(loaded=1, load_s=time.perf_counter() - t0)
        try:
            os.utime(path)  # recently used: kept by the size limit
        except OSError:
            pass
        return _Executable(compiled, tuple(rec["blocking"]))
    except FileNotFoundError:
        return None
    except Exception:  # a truncated, foreign or stale file: recompile (and overwrite it)
        return None


def _store(cache_dir: Path, key: str, compiled, blocking) -> None:
    try:
        from jax.experimental import serialize_executable

        payload, in_tree, out_tree = serialize_executable.serialize(compiled)
        rec = {"format": _FORMAT, "payload": payload, "in_tree": in_tree, "out_tree": out_tree,
               "blocking": list(blocking)}
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(rec, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache_dir / f"{key}.xla")  # atomic: readers never see a partial file
        _evict(cache_dir)
    except Exception:  # the cache is an optimisation: never fail a computation over it
        try:
            os.unlink(tmp)  # noqa: F821 (only when mkstemp succeeded)
        except Exception:
            pass


def _evict(cache_dir: Path) -> None:
    """Delete the least recently used files beyond the cache's size limit."""
    limit = config.compilation_cache_max_bytes()
    files = []
    for p in cache_dir.glob("*.xla"):
        try:
            st = p.stat()
        except OSError:
            continue
        files.append((st.st_mtime, st.st_size, p))
    total = sum(s for _, s, _ in files)
    for _, size, p in sorted(files):
        if total <= limit:
            break
        try:
            p.unlink()
            total -= size
        except OSError:
            pass
