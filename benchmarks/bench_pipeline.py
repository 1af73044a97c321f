"""Benchmark: the streaming pipeline over a survey-sized parquet dataset, objects/s and peak RSS,
beside the per-object loop of the anchors on a subset (extrapolated to the whole input).

The input: ``--n`` simulated LSST-like light curves (default 10^5; 200 visits over 3 years in
ugrizy, DRW signals), written as a parquet dataset of sorted files of 10^4 objects each. Two
tasks run through ``ts.pipeline.run`` (each in a fresh process, whose peak RSS is reported; the
compilation cache is warm after the first task of its kind):

* **periodogram**: ``ts.pipeline.Periodogram`` (best period and FAP: multiband search with one
  shared sinusoid on a grid to 5 cycles/day, refined around the 10 highest peaks); anchor:
  astropy ``LombScargleMultiband(nterms_base=1, nterms_band=0)`` ``.autopower`` on the same
  grid, per object (search stage only, so the anchor does less work);
* **drw fit**: ``ts.pipeline.Fit(DRW(band="r"))``; anchor: EzTao ``drw_fit`` on the r-band
  points, per object, from its own environment (``--eztao-python``, see ``bench_gp.py``).

The anchors run on ``--anchor-n`` objects (default 1000) and their time is extrapolated to
``--n``.

Usage: ``python benchmarks/bench_pipeline.py [--n 100000] [--chunk-size 10000]
[--anchor-n 1000] [--eztao-python PATH] [--tasks periodogram fit]``

On a GPU node the same command uses the GPU (one process per node; every local device is used
by the engine). On a Dask cluster: ``tsmodels fit 'DRW(band="r")' IN OUT --dask ADDRESS`` with
IN and OUT on a file system every worker sees.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MAX_FREQUENCY = 5.0

_RUN = r"""
import json, resource, sys, time
import tsmodels as ts
kind, src, out, chunk = sys.argv[1:5]
task = (ts.pipeline.Periodogram(k=1, maximum_frequency=float(sys.argv[5])) if kind == "periodogram"
        else ts.pipeline.Fit(ts.models.DRW(band="r")))
t0 = time.perf_counter()
s = ts.pipeline.run(task, src, out, chunk_size=int(chunk), progress=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "status": s.status,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_input(path: Path, n: int, seed: int = 0, per_file: int = 10_000) -> None:
    import tsmodels as ts

    path.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, n, per_file)):
        m = min(per_file, n - start)
        batch, _ = ts.simulate.lightcurves("drw", m, seed=seed + k, n_years=3.0, n_visits=200,
                                           ids=np.arange(start, start + m))
        ts.io.write_parquet(batch, path / f"part-{k:05d}.parquet")


def run_task(kind: str, src: Path, out: Path, chunk: int) -> dict:
    if out.exists():
        shutil.rmtree(out)
    r = subprocess.run([sys.executable, "-c", _RUN, kind, str(src), str(out), str(chunk),
                        str(MAX_FREQUENCY)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def astropy_loop(batch, grid) -> float:
    from astropy.timeseries import LombScargleMultiband

    t0 = time.perf_counter()
    for k in range(len(batch)):
        m = batch.mask[k]
        ls = LombScargleMultiband(batch.t[k][m], batch.flux[k][m],
                                  np.asarray(batch.bands)[batch.band[k][m]], batch.flux_err[k][m],
                                  nterms_base=1, nterms_band=0)
        p = ls.power(grid, method="fast")
        np.argmax(p)
    return time.perf_counter() - t0


def eztao_loop(python: str, batch) -> tuple[float, str]:
    sys.path.insert(0, str(HERE))
    from bench_gp import run_eztao

    r = batch.bands.index("r")
    T, Y, E = [], [], []
    for k in range(len(batch)):
        m = batch.mask[k] & (batch.band[k] == r)
        T.append(batch.t[k][m] + float(batch.t_ref[k]))
        Y.append(batch.flux[k][m])
        E.append(batch.flux_err[k][m])
    secs, _, ver = run_eztao(python, T, Y, E)
    return secs, ver


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--chunk-size", type=int, default=10_000)
    ap.add_argument("--anchor-n", type=int, default=1000)
    ap.add_argument("--eztao-python", default=os.environ.get("EZTAO_PYTHON"))
    ap.add_argument("--tasks", nargs="+", default=["periodogram", "fit"], choices=["periodogram", "fit"])
    ap.add_argument("--workdir", default=None, help="where the input and outputs go (default: a temporary dir)")
    args = ap.parse_args(argv)

    import tsmodels as ts

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-pipeline-"))
    src = work / "input"
    t0 = time.perf_counter()
    if not src.exists():
        write_input(src, args.n)
    print(f"input: {args.n} objects, 200 visits, ugrizy, in {src} (written in {time.perf_counter() - t0:.0f} s)")
    sub = ts.pipeline.ParquetSource(src)
    plan = sub.plan()
    spec = plan.cut(args.anchor_n)[0]
    anchor_batch = sub.read(spec, plan.bands)
    rows = []
    for kind in args.tasks:
        res = run_task(kind, src, work / f"out-{kind}", args.chunk_size)
        rate = args.n / res["seconds"]
        anchor, anchor_rate = "", None
        if kind == "periodogram":
            grid = ts.pipeline.Periodogram(maximum_frequency=MAX_FREQUENCY).prepare(plan).grid()
            secs = astropy_loop(anchor_batch, grid)
            anchor, anchor_rate = f"astropy LombScargleMultiband fast, {len(grid)} freq", len(anchor_batch) / secs
        elif args.eztao_python:
            secs, ver = eztao_loop(args.eztao_python, anchor_batch)
            anchor, anchor_rate = f"EzTao {ver} drw_fit (r band)", len(anchor_batch) / secs
        rows.append((kind, res, rate, anchor, anchor_rate))

    print(f"\n| task | objects | seconds | objects/s | peak RSS (MB) | status | anchor (per object, {args.anchor_n} objects) "
          f"| anchor objects/s | anchor time for {args.n} (extrapolated) | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, res, rate, anchor, arate in rows:
        extra = f"{args.n / arate:,.0f} s" if arate else "-"
        ratio = f"{rate / arate:.1f}x" if arate else "-"
        st = ", ".join(f"{k} {v}" for k, v in res["status"].items())
        print(f"| {kind} | {args.n:,} | {res['seconds']:.0f} | {rate:,.0f} | {res['rss_kib'] / 1024:,.0f} | {st} "
              f"| {anchor or '(not run: pass --eztao-python)'} | {f'{arate:,.1f}' if arate else '-'} | {extra} | {ratio} |")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
