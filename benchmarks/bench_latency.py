"""Latency of the first call: what a notebook user or a batch job waits for before results.

For each task (``ts.fit`` of each model, ``ts.sample``, the periodograms), three figures:

* **cold**: the first call in a fresh process with an empty compilation cache (tracing and
  compiling every program the call needs);
* **warm cache**: the first call in a fresh process whose on-disk compilation cache
  (:mod:`tsmodels.config`) already holds those programs (the second run of a script);
* **in-process**: the same call again in the same process (programs in memory).

Each figure excludes ``import tsmodels`` and the simulation (reported apart: ``import``). Every
fresh process is a subprocess of this script with its own ``TSMODELS_CACHE_DIR``. The anchor for
"cold" is the warm in-process call: the ratio says how much of the first call is compilation.

    python benchmarks/bench_latency.py                 # all tasks, 200 objects
    python benchmarks/bench_latency.py --tasks fit_drw --objects 200
    python benchmarks/bench_latency.py --demo          # also `tsmodels demo`, cold and second run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TASKS = ("fit_constant", "fit_fourier", "fit_drw", "fit_multiband_drw", "fit_dho", "fit_carma21",
         "sample_drw", "sample_fourier", "lombscargle", "lombscargle_multiband")


def _child(task: str, n: int) -> dict:
    t0 = time.perf_counter()
    import tsmodels as ts

    t_import = time.perf_counter() - t0
    M = ts.models
    if task.startswith(("fit_", "sample_")) or task.startswith("lombscargle"):
        kind = "periodic" if ("fourier" in task or "constant" in task or "lombscargle" in task) else "drw"
        opts = {"period": (0.2, 1.0)} if kind == "periodic" else {}
        batch, _ = ts.simulate.lightcurves(kind, n, n_years=3.0, seed=1, **opts)
    models = {
        "constant": lambda: M.Constant(),
        "fourier": lambda: M.FourierSeries(nterms=2, period_range=(0.15, 1.5)),
        "drw": lambda: M.DRW(band="r"),
        "multiband_drw": lambda: M.MultibandDRW(bands=batch.bands),
        "dho": lambda: M.DHO(),
        "carma21": lambda: M.CARMA(2, 1),
    }
    if task.startswith("fit_"):
        model = models[task[4:]]()
        call = lambda: ts.fit(model, batch)  # noqa: E731
    elif task.startswith("sample_"):
        model = models[task[7:]]()
        call = lambda: ts.sample(model, batch[:32], num_warmup=300, num_samples=300, num_chains=2)  # noqa: E731
    elif task == "lombscargle":
        call = lambda: ts.lombscargle(batch, minimum_frequency=0.8, maximum_frequency=6.0, band="r")  # noqa: E731
    elif task == "lombscargle_multiband":
        call = lambda: ts.lombscargle_multiband(batch, minimum_frequency=0.8, maximum_frequency=6.0)  # noqa: E731
    else:
        raise SystemExit(f"unknown task {task}")
    import warnings

    warnings.simplefilter("ignore")
    t1 = time.perf_counter()
    call()
    first = time.perf_counter() - t1
    t2 = time.perf_counter()
    call()
    second = time.perf_counter() - t2
    st = ts.engine.stats()
    return {"task": task, "import": t_import, "first": first, "second": second,
            "compiled": st["compiled"], "loaded": st["loaded"], "compile_s": st["compile_s"],
            "trace_s": st["trace_s"], "load_s": st["load_s"]}


def _fresh(task: str, n: int, cache: str) -> dict:
    env = dict(os.environ, TSMODELS_CACHE_DIR=cache)
    env.pop("TSMODELS_COMPILATION_CACHE", None)
    r = subprocess.run([sys.executable, __file__, "--child", task, "--objects", str(n)], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{task}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _demo(cache: str) -> tuple[float, float]:
    env = dict(os.environ, TSMODELS_CACHE_DIR=cache)
    out = []
    for _ in range(2):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "tsmodels", "demo"], env=env, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr[-2000:])
        out.append(time.perf_counter() - t0)
    return out[0], out[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--demo", action="store_true", help="also time `tsmodels demo` twice")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.objects)))
        return 0

    import jax

    dev = jax.devices()[0]
    print(f"device: {dev.platform} ({dev.device_kind}), {os.cpu_count()} CPUs; "
          f"{args.objects} objects per task (32 for sample); float64")
    print("| task | import s | cold first call s | warm-cache first call s | in-process call s | "
          "cold / in-process | programs compiled (cold) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task in args.tasks:
        with tempfile.TemporaryDirectory(prefix="tsmodels-latency-") as cache:
            cold = _fresh(task, args.objects, cache)
            warm = _fresh(task, args.objects, cache)
        print(f"| {task} | {warm['import']:.1f} | {cold['first']:.1f} | {warm['first']:.2f} | "
              f"{cold['second']:.2f} | {cold['first'] / max(cold['second'], 1e-9):.0f}x | "
              f"{cold['compiled']} (compile {cold['compile_s']:.0f} s, trace {cold['trace_s']:.0f} s) |",
              flush=True)
    if args.demo:
        with tempfile.TemporaryDirectory(prefix="tsmodels-latency-") as cache:
            cold, second = _demo(cache)
        print(f"\n`tsmodels demo` end to end (fresh processes): cold cache {cold:.1f} s, "
              f"second run {second:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
