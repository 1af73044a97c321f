"""How the execution engine should run chunks on a CPU: the designs measured on the same work.

* **one thread**: every chunk dispatched from the calling thread (``workers=1``), XLA's
  intra-op pool left to parallelise inside each execution;
* **host threads**: one thread per core, each running chunks (``workers=None``, the default);
* **CPU devices**: ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` (set before JAX
  starts, so the library cannot make it its default), chunks spread over the devices, one
  thread per device.

Work: ``ts.fit(DRW(band="r"))`` and ``ts.fit(MultibandDRW())`` on simulated LSST-like quasars
(3 years, ~200 points, 6 bands) and ``ts.lombscargle_multiband`` on periodic stars; warm calls
(after a first one that compiles), best of ``--repeat``. Each design runs in its own process.

    python benchmarks/bench_engine.py --drw 500 --multiband 100 --periodogram 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _child(args) -> dict:
    import tsmodels as ts

    w = None if args.workers == 0 else args.workers
    q, _ = ts.simulate.lightcurves("drw", max(args.drw, args.multiband, 1), n_years=3.0, seed=1)
    s, _ = ts.simulate.lightcurves("periodic", max(args.periodogram, 1), n_years=3.0, seed=2,
                                   period=(0.2, 1.0))
    work = {
        "fit DRW": (args.drw, lambda: ts.fit(ts.models.DRW(band="r"), q[:args.drw], workers=w)),
        "fit MultibandDRW": (args.multiband, lambda: ts.fit(ts.models.MultibandDRW(bands=q.bands),
                                                             q[:args.multiband], workers=w)),
        "lombscargle_multiband": (args.periodogram, lambda: ts.lombscargle_multiband(
            s, minimum_frequency=0.8, maximum_frequency=6.0, workers=w)),
    }
    out = {}
    for name, (n, fn) in work.items():
        if n <= 0:
            continue
        fn()
        best = min(_timed(fn) for _ in range(args.repeat))
        out[name] = n / best
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drw", type=int, default=500)
    ap.add_argument("--multiband", type=int, default=100)
    ap.add_argument("--periodogram", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=-1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.workers >= 0:
        print(json.dumps(_child(args)))
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    designs = [("one thread (workers=1)", 1, ""),
               (f"host threads, one per core (default, {cores})", 0, ""),
               (f"{cores} CPU devices, one thread each", 0,
                f"--xla_force_host_platform_device_count={cores}")]
    rows = []
    for label, workers, flags in designs:
        env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + flags).strip(),
                   JAX_PLATFORMS="cpu")
        cmd = [sys.executable, __file__, "--workers", str(workers), "--drw", str(args.drw),
               "--multiband", str(args.multiband), "--periodogram", str(args.periodogram),
               "--repeat", str(args.repeat)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode:
            print(f"{label}: failed\n{r.stderr[-2000:]}")
            continue
        rows.append((label, json.loads(r.stdout.strip().splitlines()[-1])))
    names = list(rows[0][1]) if rows else []
    print(f"CPU, {cores} cores, float64; objects per second (warm, best of {args.repeat}); "
          f"ratio to one thread in brackets")
    print("| design | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    base = rows[0][1] if rows else {}
    for label, res in rows:
        cells = [f"{res[n]:,.1f} ({res[n] / base[n]:.2f}x)" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
