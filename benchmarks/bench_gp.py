"""Benchmark: GP log-likelihood evaluations per second, tsmodels (batched) vs celerite2 (per object).

For each light-curve length N (default 100, 1e3, 1e4) a batch of B simulated DRW light curves is
evaluated at new parameters every call, as an optimizer would:

* celerite2: one ``GaussianProcess(RealTerm).compute`` + ``log_likelihood`` per object in a Python
  loop (the anchor; it has no batching);
* tsmodels: ``jax.jit(jax.vmap(drw_loglike))`` over the batch, compiled first, timed with
  ``block_until_ready`` (serial ``lax.scan`` filter; ``--parallel`` adds the associative-scan
  filter), and its value-and-gradient.

A second table does the same for the DHO = CARMA(2, 1) against celerite2 with EzTao's
construction (the AR roots' autocovariance as celerite2 terms).

A third table times whole DRW fits of LSST-like objects (3 seasons, ~200 points, tau log-uniform
20-500 d) on the same objects: ``ts.fit(DRW())`` on the batch against EzTao's ``drw_fit`` per
object (the anchor; EzTao's pins clash with this project's test extra, so it runs in its own
environment: ``python -m venv /opt/eztao && /opt/eztao/bin/pip install eztao``, then
``--eztao-python /opt/eztao/bin/python``) and a celerite2 + scipy fit in EzTao's style, with the
fraction of tau recovered within a factor 2.

Usage: ``python benchmarks/bench_gp.py [--dtype float32] [--parallel] [--sizes 100 1000] [--fits 500]
[--eztao-python PATH]``
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np


def _timeit(fn, min_time=1.0, min_reps=3):
    fn()  # warm-up (compilation for JAX)
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        el = time.perf_counter() - t0
        if el >= min_time and reps >= min_reps:
            return el / reps


def simulate(rng, B, n, tau=100.0, sigma=0.3):
    t = np.sort(rng.uniform(0, 3650.0, (B, n)), axis=1)
    t = t - t.mean(axis=1, keepdims=True)
    yerr = rng.uniform(0.02, 0.05, (B, n))
    y = np.empty((B, n))
    for b in range(B):  # exact DRW draws via the AR(1) recursion
        a = np.exp(-np.diff(t[b]) / tau)
        x = np.empty(n)
        x[0] = sigma * rng.normal()
        z = rng.normal(size=n - 1)
        for k in range(1, n):
            x[k] = a[k - 1] * x[k - 1] + sigma * math.sqrt(1 - a[k - 1] ** 2) * z[k - 1]
        y[b] = x + yerr[b] * rng.normal(size=n)
    return t, y, yerr


def batch_size(n):
    return {100: 1000, 1000: 200, 10000: 40}.get(n, max(10, 200000 // n))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    ap.add_argument("--parallel", action="store_true", help="also time the associative-scan filter")
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--fits", type=int, default=500,
                    help="objects for the DRW fits/s comparison (0 to skip)")
    ap.add_argument("--eztao-python", default=os.environ.get("EZTAO_PYTHON"),
                    help="Python interpreter of an environment with EzTao installed (EzTao's pins "
                         "clash with the test extra); default $EZTAO_PYTHON; without it EzTao is "
                         "not run")
    ap.add_argument("--eztao-objects", type=int, default=None,
                    help="fit only the first N objects with EzTao (it runs ~10 fits/s)")
    args = ap.parse_args(argv)

    import celerite2
    import jax
    import jax.numpy as jnp
    from celerite2 import terms

    from tsmodels.config import precision
    from tsmodels.kernels import gp

    rng = np.random.default_rng(1)
    device = jax.devices()[0]
    dev = f"{device.platform}:{getattr(device, 'device_kind', '')}"
    print(f"# device {dev}  dtype {args.dtype}  jax {jax.__version__}  celerite2 {celerite2.__version__}")

    rows = []
    with precision(args.dtype):
        dt = np.dtype(args.dtype)
        for n in args.sizes:
            B = batch_size(n)
            t, y, yerr = simulate(rng, B, n)
            n_cel = min(B, 200)

            def cel():
                for b in range(n_cel):
                    g = celerite2.GaussianProcess(terms.RealTerm(a=0.09, c=0.01), t=t[b],
                                                  diag=yerr[b] ** 2, mean=0.0)
                    g.log_likelihood(y[b])

            cel_rate = n_cel / _timeit(cel, args.min_time)
            T, Y, E = (jnp.asarray(a, dt) for a in (t, y, yerr))
            S = jnp.full((B,), 0.3, dt)
            TAU = jnp.full((B,), 100.0, dt)
            variants = [("serial", False)] + ([("parallel", True)] if args.parallel else [])
            for label, par in variants:
                f = jax.jit(jax.vmap(lambda t_, y_, e_, s, tau: gp.drw_loglike(
                    t_, y_, e_, sigma=s, tau=tau, parallel=par)))
                g = jax.jit(jax.vmap(jax.value_and_grad(
                    lambda p, t_, y_, e_: gp.drw_loglike(t_, y_, e_, sigma=jnp.exp(p[0]),
                                                         tau=jnp.exp(p[1]),
                                                         parallel=par))))
                P = jnp.stack([jnp.log(S), jnp.log(TAU)], axis=1)
                rate = B / _timeit(lambda: f(T, Y, E, S, TAU).block_until_ready(), args.min_time)
                rate_g = B / _timeit(lambda: jax.block_until_ready(g(P, T, Y, E)), args.min_time)
                rows.append(("DRW", n, B, label, cel_rate, rate, rate_g))

            # DHO = CARMA(2, 1), EzTao parameters; celerite2 terms from the roots as EzTao builds them
            a1, a2, b0, b1 = 0.05, 2e-4, 0.003, 0.3
            r = np.roots([1.0, a1, a2])
            C = []
            for k in range(2):
                beta = lambda s: b0 + b1 * s  # noqa: E731
                C.append(beta(r[k]) * beta(-r[k]) / (-2 * r[k].real * (r[1 - k] - r[k])
                                                     * (np.conj(r[1 - k]) + r[k])))
            kern = terms.RealTerm(a=C[0].real, c=-r[0].real) + terms.RealTerm(a=C[1].real, c=-r[1].real)

            def cel_dho():
                for b in range(n_cel):
                    g_ = celerite2.GaussianProcess(kern, t=t[b], diag=yerr[b] ** 2, mean=0.0)
                    g_.log_likelihood(y[b])

            cel_rate = n_cel / _timeit(cel_dho, args.min_time)
            fd = jax.jit(jax.vmap(lambda t_, y_, e_: gp.dho_loglike(t_, y_, e_, a1=a1, a2=a2, b0=b0,
                                                                     b1=b1)))
            rate = B / _timeit(lambda: fd(T, Y, E).block_until_ready(), args.min_time)
            gd = jax.jit(jax.vmap(jax.value_and_grad(lambda p, t_, y_, e_: gp.dho_loglike(
                t_, y_, e_, a1=p[0], a2=p[1], b0=p[2], b1=p[3])), in_axes=(None, 0, 0, 0)))
            pd_ = jnp.asarray([a1, a2, b0, b1], dt)
            rate_g = B / _timeit(lambda: jax.block_until_ready(gd(pd_, T, Y, E)), args.min_time)
            rows.append(("DHO", n, B, "serial", cel_rate, rate, rate_g))

    if args.fits:
        fit_rows = bench_fits(args.fits, rng, args.dtype, args.eztao_python, args.eztao_objects)

    print()
    print("| model | N | batch | filter | celerite2 evals/s | tsmodels evals/s | ratio | "
          "tsmodels value+grad/s | device | dtype |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |")
    for model, n, B, label, c, r_, rg in rows:
        print(f"| {model} | {n} | {B} | {label} | {c:,.0f} | {r_:,.0f} | {r_ / c:.1f}x | "
              f"{rg:,.0f} | {dev} | {args.dtype} |")


    if args.fits:
        print()
        print("| DRW fits, 200 points, tau 20-500 d | objects | fits/s | tau within x2 | "
              "tsmodels / this | device | dtype |")
        print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
        for label, n_obj, rate, rec, ratio in fit_rows:
            r = f"{ratio:,.0f}x" if ratio else ""
            print(f"| {label} | {n_obj} | {rate:,.1f} | {rec:.3f} | {r} | {dev} | {args.dtype} |")
        if not args.eztao_python:
            print("(EzTao not run: pass --eztao-python PATH, a Python with `pip install eztao`)")


def simulate_fit_set(rng, n_obj):
    """LSST-like DRW objects: 3 seasons of 180 d, ~200 points, tau log-uniform 20-500 d."""
    from tsmodels.kernels import gp
    import jax

    tau = np.exp(rng.uniform(np.log(20.0), np.log(500.0), n_obj))
    T, Y, E = [], [], []
    for k in range(n_obj):
        t = np.sort(np.concatenate([365.25 * s + rng.uniform(0, 180, 67) for s in range(3)]))
        x = np.asarray(gp.drw_sample(jax.random.PRNGKey(k), t - t.mean(), sigma=0.2, tau=tau[k]))
        T.append(t + 60000.0)
        Y.append(20.0 + x + 0.02 * rng.normal(size=t.size))
        E.append(np.full(t.size, 0.02))
    return T, Y, E, tau


_EZTAO_SCRIPT = r"""
import sys, time, json
import numpy as np
from eztao.ts import drw_fit
d = np.load(sys.argv[1], allow_pickle=True)
T, Y, E = d["T"], d["Y"], d["E"]
drw_fit(T[0] - T[0][0], Y[0], E[0])  # warm-up (imports, numba)
t0 = time.perf_counter()
out = [drw_fit(T[k] - T[k][0], Y[k], E[k]) for k in range(len(T))]
el = time.perf_counter() - t0
import eztao
print(json.dumps({"seconds": el, "tau": [float(o[1]) for o in out],
                  "version": getattr(eztao, "__version__", "?")}))
"""


def run_eztao(python, T, Y, E):
    """EzTao's ``drw_fit`` (its defaults: 10 random starts, L-BFGS-B, mean fixed at the median)
    on each object, in its own Python environment (EzTao's pins clash with this project's
    test extra). Returns ``(seconds, tau [n], version)``."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/objects.npz"
        obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
        np.savez(path, T=obj(T), Y=obj(Y), E=obj(E))
        out = subprocess.run([python, "-c", _EZTAO_SCRIPT, path], capture_output=True, text=True,
                             check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["seconds"], np.asarray(res["tau"]), res["version"]


def bench_fits(n_obj, rng, dtype, eztao_python=None, n_eztao=None):
    """DRW fits/s and recovery (fraction of tau within a factor 2 of the truth) on the same
    LSST-like objects: ``ts.fit(DRW())`` on the batch (mean marginalised, per-object tau limits,
    candidate grid + trust-region Newton, one thread per core) against EzTao's ``drw_fit`` per
    object (when ``eztao_python`` points to a Python with EzTao installed) and against a
    celerite2 + scipy fit in EzTao's style in this environment."""
    import celerite2
    from celerite2 import terms
    from scipy.optimize import minimize

    import tsmodels as ts
    from tsmodels.fitting import fit
    from tsmodels.models.drw import DRW

    T, Y, E, tau = simulate_fit_set(rng, n_obj)
    rows = []
    batch = ts.LightCurveBatch.from_arrays(t=T, flux=Y, flux_err=E)
    t0 = time.perf_counter()
    fit(DRW(), batch, dtype=dtype)
    first = time.perf_counter() - t0
    warm = np.inf
    for _ in range(3):  # best of 3: a warm call takes well under a second
        t0 = time.perf_counter()
        res = fit(DRW(), batch, dtype=dtype)
        warm = min(warm, time.perf_counter() - t0)
    within = lambda est, truth: float(np.mean(np.abs(np.log(est / truth)) < np.log(2.0)))  # noqa: E731
    rec = within(res.values["tau"], tau)
    rows.append(("tsmodels ts.fit(DRW()) incl. compile", n_obj, n_obj / first, rec, None))
    rows.append(("tsmodels ts.fit(DRW()) warm", n_obj, n_obj / warm, rec, None))
    ts_rate = n_obj / warm

    if eztao_python:
        n_ez = min(n_obj, n_eztao or n_obj)
        secs, tau_ez, ver = run_eztao(eztao_python, T[:n_ez], Y[:n_ez], E[:n_ez])
        rate = n_ez / secs
        rows.append((f"EzTao {ver} drw_fit per object (anchor)", n_ez, rate, within(tau_ez, tau[:n_ez]),
                     ts_rate / rate))
        if n_ez < n_obj:
            rows.append(("tsmodels on the same objects as EzTao", n_ez, ts_rate,
                         within(res.values["tau"][:n_ez], tau[:n_ez]), None))

    def one(t, y, e):
        y = y - np.median(y)
        gpr = celerite2.GaussianProcess(terms.RealTerm(a=1.0, c=1.0), mean=0.0)
        span = t.max() - t.min()

        def nll(p):
            gpr.kernel = terms.RealTerm(a=np.exp(2 * p[0]), c=np.exp(-p[1]))
            gpr.compute(t, diag=e * e, quiet=True)
            v = -gpr.log_likelihood(y)
            return v if np.isfinite(v) else 1e25

        best = None
        for tau0 in (span / 30, span / 5, span):
            r = minimize(nll, [np.log(np.std(y)), np.log(tau0)], method="L-BFGS-B",
                         bounds=[(np.log(1e-4), np.log(10.0)),
                                 (np.log(np.min(np.diff(t)) + 1e-3), np.log(10 * span))])
            if best is None or r.fun < best.fun:
                best = r
        return np.exp(best.x[1])

    n_ref = min(n_obj, 64)
    t0 = time.perf_counter()
    taus = np.array([one(T[k] - T[k].mean(), Y[k], E[k]) for k in range(n_ref)])
    el = time.perf_counter() - t0
    rate = n_ref / el
    rows.append(("celerite2 + scipy per object (EzTao-style, this environment)", n_ref, rate,
                 within(taus, tau[:n_ref]), ts_rate / rate))
    return rows


if __name__ == "__main__":
    main()
