"""Batched maximum-likelihood fitting: ``ts.fit`` (the host side).

The work is split by responsibility:

* :mod:`tsmodels.fitting.solvers`: the per-lane solvers (Levenberg-Marquardt, trust-region
  Newton, L-BFGS) as pure ``init/step/value`` functions;
* :mod:`tsmodels.fitting.loop`: the traced body of one chunk (screening, multi-start, pruning,
  rounds of block steps, best start);
* :mod:`tsmodels.fitting.laplace`: errors at the optimum;
* :mod:`tsmodels.engine`: chunks, compiled shapes, devices, host threads, assembly of rows;
* this module: arguments, starting points, and the :class:`FitResult`.

``method="auto"`` takes ``"lm"`` for models with residuals, ``"newton"`` for the others with up to
:data:`NEWTON_MAX_PARAMS` parameters, and ``"lbfgs"`` beyond.

One compiled program exists per (model, options) and per padded shape (:func:`tsmodels.engine.plan`),
kept in memory and in the on-disk compilation cache (:mod:`tsmodels.config`); results do not
depend on how the batch is cut into chunks or on the number of threads.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from tsmodels import engine
from tsmodels.config import precision, resolve_dtype
from tsmodels.fitting import loop
from tsmodels.fitting.loop import FitOptions, fit_chunk
from tsmodels.fitting.results import MISSING_META, NO_DATA, NONFINITE, FitResult
from tsmodels.fitting.solvers import NEWTON_MAX_PARAMS, SOLVERS, default_tol

__all__ = ["fit", "default_tol", "NEWTON_MAX_PARAMS", "FitOptions", "fit_program", "prepare_chunk", "fit_rows",
           "check_model", "resolve_method", "resolve_starts", "starts_physical"]

#: Per-object outputs of the compiled fit that ``ts.fit`` keeps, and the value of rows that no
#: chunk computed (objects without data).
_FIT_FILL = dict(x=np.nan, cov_x=np.nan, derived=np.nan, derived_err=np.nan, loglike=np.nan,
                 chi2=np.nan, ndata=0, n_used=0, n_linear=0, converged=False, n_iter=0, status=NO_DATA,
                 n_screened=0, n_pruned=0)


def fit_program(model, opts: FitOptions) -> engine.Program:
    """The engine program of a chunk fit for (model, options)."""
    return engine.program(functools.partial(fit_chunk, model, opts), name="fit", static=(model, opts))


def check_model(model) -> None:
    for attr in ("param_names", "loglike", "init", "unpack", "linear_names", "derived_names"):
        if not hasattr(model, attr):
            raise TypeError(f"{type(model).__name__} does not follow the model protocol: no {attr!r} "
                            "(subclass tsmodels.models.Model)")


def resolve_method(model, method: str) -> str:
    if model.n_params == 0:
        return "linear"
    if method == "auto":
        if model.has_residuals:
            return "lm"
        return "newton" if model.n_params <= NEWTON_MAX_PARAMS else "lbfgs"
    if method not in SOLVERS:
        raise ValueError(f"method must be 'auto', 'lm', 'newton' or 'lbfgs', got {method!r}")
    if method == "lm" and not model.has_residuals:
        raise ValueError(f"method='lm' needs residuals, which {type(model).__name__} does not define")
    return method


def starts_physical(model, sub, n_starts: int, dt, starts=None) -> np.ndarray:
    """Starts for a host sub-batch (``starts``, else ``model.init``) as physical ``[b, S, P]``;
    they are mapped to unconstrained space inside the compiled chunk (:func:`pack_starts`),
    where each object's limits are known."""
    P = model.n_params
    b = len(sub)
    if P == 0:
        return np.zeros((b, 1, 0), dtype=dt)
    if starts is None:
        starts = model.init(sub, n_starts)
    arrs = []
    for n in model.param_names:
        if n not in starts:
            raise ValueError(f"{type(model).__name__}.init returned no starts for {n!r}")
        a = np.asarray(starts[n], dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.shape[0] != b:
            raise ValueError(f"{type(model).__name__}.init: {n!r} has shape {a.shape}, expected ({b}, S)")
        arrs.append(a)
    S = max(a.shape[1] for a in arrs)
    return np.stack([np.broadcast_to(a, (b, S)) for a in arrs], axis=-1).astype(dt)


def prepare_chunk(model, opts: FitOptions, chunk: engine.Chunk, n_starts: int, n_candidates: int,
                  dt, starts=None, usable=None):
    """Host side of one chunk's fit, run on the calling thread (``model.init`` is host code
    that need not be thread-safe): ``(program, x0 [size, S, P], valid [size])``, or None when
    the chunk has nothing to fit.

    ``n_candidates > n_starts`` (and no explicit ``starts``): ``model.init`` proposes that many
    starts and the ``n_starts`` most likely are optimised (candidate screening). ``usable [b]``:
    False for objects left out (they come back as NO_DATA rows; the caller sets their status).
    """
    sub = chunk.batch
    usable = np.ones(len(chunk), bool) if usable is None else np.asarray(usable, bool)
    if not np.any(np.asarray(sub.mask)[usable]):
        return None
    screen = starts is None and n_candidates > n_starts
    x0 = starts_physical(model, sub, n_candidates if screen else n_starts, dt, starts)
    if screen and x0.shape[1] > n_starts:
        opts = dataclasses.replace(opts, n_keep=n_starts)
    x0 = np.asarray(engine.pad_rows(x0, chunk.size), dt)
    valid = np.arange(chunk.size) < len(chunk)
    valid[: len(chunk)] &= usable  # objects the model cannot be fitted to take no lane
    return fit_program(model, opts), x0, valid


def fit_rows(job, chunk: engine.Chunk, jb) -> dict:
    """Run a prepared chunk (:func:`prepare_chunk`) on its padded device batch ``jb``; returns
    the compiled program's device arrays ``[chunk.size, ...]`` (thread-safe)."""
    prog, x0, valid = job
    return prog(jb, *engine.put((x0, valid), chunk))


def fit(model, batch, *, method: str = "auto", n_starts: int | None = None, max_steps: int = 200,
        tol: float | None = None, dtype=None, batch_size: int | None = None,
        init: dict | None = None, n_candidates: int | None = None, prune: bool = True,
        workers: int | None = None) -> FitResult:
    """Maximum-likelihood fit of ``model`` to every object of ``batch``.

    Args:
        model: a :class:`tsmodels.models.Model`.
        batch: a :class:`tsmodels.LightCurveBatch` (host arrays).
        method: ``"auto"`` (Levenberg-Marquardt when the model has ``residuals``, else Newton
            up to :data:`NEWTON_MAX_PARAMS` parameters, else L-BFGS), ``"lm"``, ``"newton"`` or
            ``"lbfgs"``. Models without nonlinear parameters are solved linearly.
        n_starts: starting points optimised per object (default: ``model.n_starts``).
        n_candidates: starting points proposed by ``model.init`` per object (default:
            ``model.n_candidates`` if the model sets it, else ``n_starts``); when larger than
            ``n_starts``, the log-likelihood is evaluated at every candidate and only the
            ``n_starts`` best are optimised (counted per object in ``n_screened``).
        max_steps: iteration limit per object.
        tol: convergence tolerance (default :func:`default_tol` of ``dtype`` and ``model``).
        dtype: ``float64`` (default) or ``float32``.
        batch_size: at most this many objects per compiled call (bounds device memory).
        init: starting points ``{name: [B] or [B, S]}`` (physical units, batch order) to use
            instead of ``model.init`` (e.g. periods from a periodogram run); all are optimised.
        prune: stop a start early once it cannot catch its object's best start at its current
            rate of decrease, or once it has reached the best start's point (counted per object
            in ``n_pruned``); ``False`` runs every start to convergence (with
            ``n_candidates=n_starts``: an exhaustive multi-start).
        workers: host threads running chunks in parallel (default: one per CPU core on a CPU
            backend, one per device on accelerators). Results do not depend on it.

    Returns:
        :class:`FitResult`, objects in the batch's order, NumPy arrays in ``dtype``.
    """
    check_model(model)
    model.check_batch(batch)
    batch = model.prepare_batch(batch)
    meta_ok = model.meta_ok(batch)
    dt = resolve_dtype(dtype)
    method = resolve_method(model, method)
    tol = default_tol(dt, model) if tol is None else float(tol)
    if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    n_starts, n_candidates = resolve_starts(model, n_starts, n_candidates)
    workers = engine.resolve_workers(workers)
    opts = FitOptions(method=method if method != "linear" else "lm", max_steps=int(max_steps), tol=tol,
                      prune=bool(prune), compact=loop.compact_fraction(model))
    B = len(batch)
    pnames = tuple(model.param_names)
    dnames = tuple(model.derived_names(batch.bands))
    if init is not None:
        init = {n: np.asarray(init[n], dtype=np.float64).reshape(B, -1) if n in init else None for n in pnames}
        missing = [n for n, v in init.items() if v is None]
        if missing:
            raise ValueError(f"init lacks starting values for {missing}")

    def work(item):
        chunk, job = item
        if job is None:  # nothing to fit: rows stay NO_DATA, nothing compiled
            return None
        out = fit_rows(job, chunk, engine.device_batch(chunk, dt))
        res = {k: np.asarray(out[k]) for k in _FIT_FILL}
        res["n_loops"] = np.full(chunk.size, int(out["n_loops"]))
        return res

    chunks = engine.plan(batch, batch_size=batch_size, workers=workers)
    with precision(dt):  # starting points on this thread, in the fit's precision
        jobs = [prepare_chunk(model, opts, ch, n_starts, n_candidates, dt,
                              None if init is None else {n: v[ch.positions] for n, v in init.items()},
                              meta_ok[ch.positions]) for ch in chunks]
    outs = engine.run(work, list(zip(chunks, jobs)), workers=workers, dtype=dt)
    acc = _assemble_fit(model, batch, chunks, outs, dt)
    acc["status"][~meta_ok] = MISSING_META
    n_loops = [int(o["n_loops"][0]) for o in outs if o is not None]
    return build_fit_result(model, batch, acc, pnames, dnames, method, dt,
                            {"n_loops": n_loops, "n_starts": n_starts, "n_candidates": n_candidates,
                             "n_chunks": len(chunks)})


def _assemble_fit(model, batch, chunks, outs, dt) -> dict:
    """Rows of every chunk in batch order, with the fill of objects no chunk fitted."""
    B = len(batch)
    P = model.n_params
    D = len(model.derived_names(batch.bands))
    acc = engine.assemble(B, chunks, outs, _FIT_FILL)
    if not acc:  # nothing fitted at all
        acc = dict(x=np.full((B, P), np.nan, dt), cov_x=np.full((B, P, P), np.nan, dt),
                   derived=np.full((B, D), np.nan, dt), derived_err=np.full((B, D), np.nan, dt),
                   loglike=np.full(B, np.nan, dt), chi2=np.full(B, np.nan, dt),
                   converged=np.zeros(B, bool), status=np.full(B, NO_DATA))
        for k in ("ndata", "n_used", "n_linear", "n_iter", "n_screened", "n_pruned"):
            acc[k] = np.zeros(B, np.int64)
    acc.pop("n_loops", None)
    for k in ("ndata", "n_used", "n_linear", "n_iter", "status", "n_screened", "n_pruned"):
        acc[k] = acc[k].astype(np.int64)
    for ch in chunks:
        acc["ndata"][ch.positions] = ch.batch.n_obs
    return acc


def resolve_starts(model, n_starts, n_candidates) -> tuple[int, int]:
    """``(n_starts, n_candidates)`` from the arguments and the model's defaults (validated)."""
    n_starts = int(n_starts or getattr(model, "n_starts", 1))
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    if n_candidates is None:
        n_candidates = getattr(model, "n_candidates", None) or n_starts
    if int(n_candidates) != n_candidates or n_candidates < 1:
        raise ValueError(f"n_candidates must be a positive integer, got {n_candidates!r}")
    return n_starts, max(int(n_candidates), n_starts)


def build_fit_result(model, batch, acc, pnames, dnames, method, dt, info) -> FitResult:
    st = acc["status"]
    bad = (st == NO_DATA) | (st == NONFINITE) | (st == MISSING_META)
    P = len(pnames)
    x, cov = acc["x"], acc["cov_x"]
    x[bad] = np.nan
    cov[bad] = np.nan
    err = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0)) if P else np.zeros((len(st), 0))
    err = np.where(np.isfinite(np.diagonal(cov, axis1=1, axis2=2)), err, np.nan) if P else err
    dval, derr = acc["derived"], acc["derived_err"]
    dval[bad] = np.nan
    derr[bad] = np.nan
    values = {n: x[:, i] for i, n in enumerate(pnames)}
    values.update({n: dval[:, i] for i, n in enumerate(dnames)})
    errors = {n: err[:, i] for i, n in enumerate(pnames)}
    errors.update({n: derr[:, i] for i, n in enumerate(dnames)})
    ll = np.where(bad, np.nan, acc["loglike"])
    chi2 = np.where(bad, np.nan, acc["chi2"])
    return FitResult(
        model_name=model.name, ids=np.asarray(batch.ids), param_names=pnames, derived_names=dnames,
        values=values, errors=errors, cov=cov, loglike=ll, chi2=chi2, ndata=acc["ndata"],
        n_params=P + acc["n_linear"], converged=acc["converged"], n_iter=acc["n_iter"], status=st,
        method=method, dtype=np.dtype(dt).name, info=info, n_screened=acc["n_screened"],
        n_pruned=acc["n_pruned"], n_used=acc["n_used"])
