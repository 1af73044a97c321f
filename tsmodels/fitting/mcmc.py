"""Batched NUTS: ``ts.sample``.

Each (object, chain) pair runs numpyro's functional NUTS, ``hmc(potential_fn, algo="NUTS")``,
inside one ``jit(vmap(vmap(...)))``: warm-up and draws are one ``lax.scan`` over
``sample_kernel``, and since the adaptation state (dual-averaging step size, Welford diagonal
mass matrix) lives in each lane's ``HMCState``, every object and every chain adapts its own step
size and mass matrix, exactly as a single-object numpyro run would. numpyro is enough for this
(its kernels are pure functions that vmap), so blackjax is not needed.

The potential is generic: ``-(marginal_loglike + log_prior + log|Jacobian|)`` of the model (see
:mod:`tsmodels.models.base`), in the model's unconstrained space, **whitened** by the
maximum-likelihood fit: ``u = u_hat + s * z`` where ``u_hat`` is the ``ts.fit`` optimum and ``s``
its Laplace standard deviations (1 where the Hessian failed, and for a parameter with an
interval support whose Laplace width exceeds 3, i.e. whose maximum is at an end of its interval
where the Laplace approximation says nothing). The affine map has a constant
Jacobian, so the posterior is unchanged, but NUTS starts on the right scale (a period known to
1e-6 is sampled with unit step sizes), which keeps warm-up short. Chains start at independent
``z ~ U(-2, 2)`` (numpyro's default init radius, here in units of the Laplace error), i.e. around
the maximum-likelihood mode: separate modes far from it (period aliases much weaker than the
best peak) are not explored.

Linear coefficients are integrated out in the potential (flat prior) and drawn exactly from
their conditional Gaussian ``N(coef(theta), cov(theta))`` at every kept draw; derived quantities
are evaluated on these joint draws.

Random numbers of an object depend only on ``seed`` and its id, not on the other objects of the
batch or their order. Objects without data, or whose likelihood is not finite at the start, are
not sampled (their lanes run a standard normal) and get NaN summaries and a status code.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc import hmc

from tsmodels import engine
from tsmodels.config import precision, resolve_dtype
from tsmodels.fitting import diagnostics, loop
from tsmodels.fitting.loop import FitOptions
from tsmodels.fitting.optimize import (check_model, default_tol, fit_rows, prepare_chunk,
                                       resolve_method, resolve_starts)
from tsmodels.fitting.results import MISSING_META, NO_DATA, NONFINITE, OK, QUANTILES, Posterior
from tsmodels.kernels import linalg

__all__ = ["sample", "object_keys"]

_DRAW_BYTES = 2**28  # host/device bytes of draws per chunk when batch_size is None
_MAX_INTERVAL_SCALE = 3.0  # largest whitening scale of an interval-supported parameter


@dataclass(frozen=True)
class NUTSOptions:
    num_warmup: int
    num_samples: int
    num_chains: int
    target_accept_prob: float
    max_tree_depth: int


def object_keys(ids, seed: int) -> np.ndarray:
    """``[B, 2]`` uint32 PRNG keys: a function of ``seed`` and each id's string form only."""
    ids = np.asarray(ids)
    h = np.array([zlib.crc32(str(i.item() if isinstance(i, np.generic) else i).encode()) for i in ids],
                 dtype=np.uint32)
    return np.stack([np.full(len(ids), np.uint32(seed & 0xFFFFFFFF)), h], axis=1).astype(np.uint32)


def _derived_fn(model, bands, P, dnames, dt, lc):
    def dfun(z):
        d = model.derived(model.unpack(z[:P], lc), z[P:], bands)
        return jnp.stack([jnp.asarray(d[n], dt) for n in dnames]) if dnames else jnp.zeros((0,), dt)

    return dfun


def _nuts_chunk(model, opts: NUTSOptions, lcs, u_hat, scale, ok, keys):
    """Traced body: lcs ``[B, N]``, u_hat/scale ``[B, P]``, ok ``[B]``, keys ``[B, 2]``."""
    B, P = u_hat.shape
    C, S, W = opts.num_chains, opts.num_samples, opts.num_warmup
    dt = lcs.t.dtype
    bands = lcs.bands
    pnames = tuple(model.param_names)
    dnames = tuple(model.derived_names(bands))
    has_linear = bool(model.linear_names(bands))

    def one_object(lc, uh, s, good, key):
        k_chain, k_lin = jax.random.split(key)
        dfun = _derived_fn(model, bands, P, dnames, dt, lc)

        def potential(z):
            u = jnp.where(good, uh + s * z, uh)
            x = model.unpack(u, lc)
            lp = (model.marginal_loglike(x, lc) + model.log_prior(x)
                  + model.log_abs_det_jacobian(u, lc))
            return -jnp.where(good, lp, -0.5 * jnp.sum(z * z))

        def one_chain(k):
            k0, k1 = jax.random.split(k)
            z0 = jax.random.uniform(k0, (P,), dt, -2.0, 2.0)
            init_kernel, sample_kernel = hmc(potential, algo="NUTS")
            state = init_kernel(z0, W, target_accept_prob=opts.target_accept_prob,
                                max_tree_depth=opts.max_tree_depth, rng_key=k1)

            # one scan over warm-up and draws (sample_kernel switches from adapting to
            # sampling by itself): NUTS is traced and compiled once, not twice
            def step(st, _):
                st = sample_kernel(st)
                return st, (st.z, st.diverging, st.num_steps)

            state, (z, div, ns) = jax.lax.scan(step, state, None, length=W + S)
            return z[W:], div[W:], jnp.sum(ns), state.adapt_state.step_size

        if P:
            z, div, nsteps, step = jax.vmap(one_chain)(jax.random.split(k_chain, C))  # z [C, S, P]
        else:
            z = jnp.zeros((C, S, 0), dt)
            div = jnp.zeros((C, S), bool)
            nsteps = jnp.zeros((C,), jnp.int32)
            step = jnp.full((C,), jnp.nan, dt)
        u = uh + s * z
        xs = jax.vmap(jax.vmap(lambda v: jnp.stack([model.unpack(v, lc)[n] for n in pnames]) if P else v))(u)

        if dnames:
            if has_linear:
                sol0 = model.linear(model.unpack(uh, lc), lc)
                active = sol0.active
                zc = jnp.concatenate([uh, jnp.where(active, sol0.coef, 1.0)])
                jd = jax.jacfwd(dfun)(zc)
                dep_inactive = jnp.any((jd[:, P:] != 0) & ~active[None, :], axis=1)

                def lin_draw(v, k):
                    sol = model.linear(model.unpack(v, lc), lc)
                    cov = jnp.where(sol.active[:, None] & sol.active[None, :], sol.cov,
                                    jnp.eye(sol.cov.shape[0], dtype=dt))
                    chol = linalg.cholesky(cov)
                    coef = sol.coef + chol @ jax.random.normal(k, sol.coef.shape, dt)
                    return dfun(jnp.concatenate([v, jnp.where(sol.active, coef, 1.0)]))

                kl = jax.random.split(k_lin, C * S).reshape(C, S, -1)
                d = jax.vmap(jax.vmap(lin_draw))(u, kl)
            else:
                dep_inactive = jnp.zeros(len(dnames), bool)
                d = jax.vmap(jax.vmap(lambda v: dfun(v)))(u)
            d = jnp.where(dep_inactive, jnp.nan, d)
        else:
            d = jnp.zeros((C, S, 0), dt)
        return xs, d, div, nsteps, step

    return jax.vmap(one_object)(lcs, u_hat, scale, ok, keys)


def nuts_program(model, opts: NUTSOptions) -> engine.Program:
    """The engine program of a chunk of NUTS runs for (model, options)."""
    return engine.program(functools.partial(_nuts_chunk, model, opts), name="nuts", static=(model, opts))


def _summaries(draws: np.ndarray) -> dict:
    """Stats of draws ``[b, C, S]`` -> {stat: [b]}."""
    flat = draws.reshape(draws.shape[0], -1)
    with np.errstate(invalid="ignore"):
        out = {"mean": flat.mean(1), "sd": flat.std(1, ddof=1)}
        qs = np.quantile(flat, [p for p, _ in QUANTILES], axis=1)
    for (p, name), q in zip(QUANTILES, qs):
        out[name] = q
    out["rhat"] = diagnostics.rhat(draws)
    out["ess_bulk"] = diagnostics.ess_bulk(draws)
    out["ess_tail"] = diagnostics.ess_tail(draws)
    return out


def sample(model, batch, *, num_warmup: int = 500, num_samples: int = 500, num_chains: int = 4,
           seed: int = 0, batch_size: int | None = None, keep_samples: bool = False, dtype=None,
           target_accept_prob: float = 0.8, max_tree_depth: int = 10, n_starts: int | None = None,
           max_steps: int = 200, n_candidates: int | None = None,
           workers: int | None = None) -> Posterior:
    """Posterior sampling of ``model`` for every object of ``batch`` with NUTS.

    Args:
        model: a :class:`tsmodels.models.Model`.
        batch: a :class:`tsmodels.LightCurveBatch`.
        num_warmup, num_samples, num_chains: per object; each chain adapts its own step size
            and diagonal mass matrix during warm-up.
        seed: random seed (an object's draws depend only on the seed and its id).
        batch_size: objects per compiled call; default: as many as keep the draws under
            ~256 MB per chunk.
        keep_samples: keep the draws (``Posterior.samples``, needed by ``to_arviz``).
        dtype: ``float64`` (default) or ``float32``.
        target_accept_prob, max_tree_depth: NUTS settings.
        n_starts, n_candidates, max_steps: of the maximum-likelihood fit that places the
            chains (see :func:`tsmodels.fit`).
        workers: host threads running chunks in parallel (default: one per CPU core on a CPU
            backend, one per device on accelerators). Results do not depend on it.

    Returns:
        :class:`Posterior` with per-object summaries, R-hat, ESS and divergences.
    """
    check_model(model)
    model.check_batch(batch)
    batch = model.prepare_batch(batch)
    meta_ok = model.meta_ok(batch)
    dt = resolve_dtype(dtype)
    for name, v, lo in (("num_warmup", num_warmup, 0), ("num_samples", num_samples, 4),
                        ("num_chains", num_chains, 1)):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    method = resolve_method(model, "auto")
    fopts = FitOptions(method=method if method != "linear" else "lm", max_steps=int(max_steps),
                       tol=default_tol(dt, model), compact=loop.compact_fraction(model))
    nopts = NUTSOptions(int(num_warmup), int(num_samples), int(num_chains), float(target_accept_prob),
                        int(max_tree_depth))
    n_starts, n_candidates = resolve_starts(model, n_starts, n_candidates)
    workers = engine.resolve_workers(workers)
    B = len(batch)
    P = model.n_params
    pnames = tuple(model.param_names)
    dnames = tuple(model.derived_names(batch.bands))
    names = pnames + dnames
    Q = max(len(names), 1)
    if batch_size is None:
        per_object = num_chains * num_samples * Q * np.dtype(dt).itemsize * 2
        batch_size = int(max(1, min(B, _DRAW_BYTES // per_object)))
        if workers > 1:
            batch_size = min(batch_size, max(engine.MIN_THREAD_CHUNK, -(-B // workers)))
    C, S = nopts.num_chains, nopts.num_samples
    stats = {n: {} for n in names}
    stat_names = ["mean", "sd"] + [q for _, q in QUANTILES] + ["rhat", "ess_bulk", "ess_tail"]
    for n in names:
        for st in stat_names:
            stats[n][st] = np.full(B, np.nan)
    acc = dict(status=np.full(B, NO_DATA, np.int64), loglike=np.full(B, np.nan), chi2=np.full(B, np.nan),
               ndata=np.zeros(B, np.int64), n_used=np.zeros(B, np.int64), n_params=np.full(B, P, np.int64),
               n_divergent=np.zeros(B, np.int64), n_steps=np.zeros(B, np.int64),
               step_size=np.full((B, C), np.nan))
    samples = {n: np.full((B, C, S), np.nan, dt) for n in names} if keep_samples else None
    diverging = np.zeros((B, C, S), bool) if keep_samples else None
    all_keys = object_keys(batch.ids, seed)

    def work(item):
        chunk, job = item
        pos, size = chunk.positions, chunk.size
        b = len(pos)
        if job is None:  # nothing to sample: rows stay NO_DATA
            return None
        jb = engine.device_batch(chunk, dt)
        fo = fit_rows(job, chunk, jb)
        valid = np.arange(size) < b
        status = np.asarray(fo["status"])
        good = (status != NO_DATA) & (status != NONFINITE) & valid
        var = np.diagonal(np.asarray(fo["cov_u"]), axis1=1, axis2=2) if P else np.zeros((size, 0))
        scale = np.where(np.isfinite(var) & (var > 0), np.sqrt(np.where(var > 0, var, 1.0)), 1.0)
        # an interval-supported parameter whose Laplace width exceeds the logit scale (its
        # maximum sits at, or runs towards, an end of the interval, where the likelihood is flat
        # in the unconstrained coordinate) is whitened with unit scale instead
        wide = np.asarray(model.interval_params, bool)[None, :] & (scale > _MAX_INTERVAL_SCALE)
        scale = np.where(wide, 1.0, scale)
        keys = np.zeros((size, 2), np.uint32)
        keys[:b] = all_keys[pos]
        out = nuts_program(model, nopts)(jb, fo["u"], *engine.put(
            (np.asarray(scale, dtype=dt), np.asarray(good), np.asarray(keys)), chunk))
        xs, d, div, nsteps, step = (np.asarray(a)[:b] for a in out)
        return (status[:b], good[:b], {k: np.asarray(fo[k])[:b] for k in ("loglike", "chi2", "ndata", "n_used", "n_linear")},
                xs, d, div, nsteps, step)

    chunks = engine.plan(batch, batch_size=batch_size, workers=workers)
    for ch in chunks:
        acc["ndata"][ch.positions] = ch.batch.n_obs
    with precision(dt):  # starting points on this thread (model.init is host code)
        jobs = [prepare_chunk(model, fopts, ch, n_starts, n_candidates, dt, None, meta_ok[ch.positions])
                for ch in chunks]
    for ch, res in zip(chunks, engine.run(work, list(zip(chunks, jobs)), workers=workers, dtype=dt)):
        pos = ch.positions
        if res is None:
            continue
        status, good, fo, xs, d, div, nsteps, step = res
        st_b = np.where(good, OK, status)
        acc["status"][pos] = st_b
        acc["loglike"][pos] = np.where(good, fo["loglike"], np.nan)
        acc["chi2"][pos] = np.where(good, fo["chi2"], np.nan)
        acc["ndata"][pos] = fo["ndata"]
        acc["n_used"][pos] = np.where(good, fo["n_used"], 0)
        acc["n_params"][pos] = P + fo["n_linear"]
        acc["n_divergent"][pos] = np.where(good, div.sum(axis=(1, 2)), 0)
        acc["n_steps"][pos] = np.where(good, nsteps.sum(axis=1), 0)
        acc["step_size"][pos] = np.where(good[:, None], step, np.nan)
        draws = np.concatenate([xs, d], axis=-1)  # [b, C, S, Q]
        draws = np.where(good[:, None, None, None], draws, np.nan)
        for i, n in enumerate(names):
            for st, v in _summaries(draws[..., i]).items():
                stats[n][st][pos] = v
            if keep_samples:
                samples[n][pos] = draws[..., i]
        if keep_samples:
            diverging[pos] = div & good[:, None, None]
    with np.errstate(invalid="ignore"):
        rh = np.stack([stats[n]["rhat"] for n in names], 1) if names else np.full((B, 1), np.nan)
        eb = np.stack([stats[n]["ess_bulk"] for n in names], 1) if names else np.full((B, 1), np.nan)
        et = np.stack([stats[n]["ess_tail"] for n in names], 1) if names else np.full((B, 1), np.nan)
        allnan = np.all(np.isnan(rh), axis=1)
        rhat_max = np.where(allnan, np.nan, np.nanmax(np.where(allnan[:, None], 0, rh), axis=1))
        ess_bulk_min = np.where(allnan, np.nan, np.nanmin(np.where(allnan[:, None], 0, eb), axis=1))
        ess_tail_min = np.where(allnan, np.nan, np.nanmin(np.where(allnan[:, None], 0, et), axis=1))
    acc["status"][~meta_ok] = MISSING_META
    flagged = ((acc["status"] != OK) | ~(rhat_max <= Posterior.RHAT_MAX)
               | ~(np.minimum(ess_bulk_min, ess_tail_min) >= Posterior.ESS_MIN))
    return Posterior(
        model_name=model.name, ids=np.asarray(batch.ids), param_names=pnames, derived_names=dnames,
        stats=stats, n_divergent=acc["n_divergent"], n_steps=acc["n_steps"], step_size=acc["step_size"],
        rhat_max=rhat_max, ess_bulk_min=ess_bulk_min, ess_tail_min=ess_tail_min, flagged=flagged,
        status=acc["status"], loglike=acc["loglike"], chi2=acc["chi2"], ndata=acc["ndata"],
        n_used=acc["n_used"], n_params=acc["n_params"], num_chains=C, num_samples=S, num_warmup=nopts.num_warmup,
        samples=samples, diverging=diverging, dtype=np.dtype(dt).name)
