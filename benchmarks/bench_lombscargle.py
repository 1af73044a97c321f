"""Benchmark: batched Lomb-Scargle periodograms against astropy and nifty-ls.

Workloads (simulated, fixed seed; times over a 1000-day baseline, regular frequency grid):

* A, single band: ``--n-objects`` (default 1000) objects x 200 points x 1e4 frequencies.
  Anchor: astropy ``LombScargle(t, y, dy).power(f, method="fast")`` per object. Also nifty-ls
  per object, nifty-ls's heterogeneous batch API when the installed version has one, nifty-ls's
  batch API on the first object's times for every object (a different, easier workload: one set
  of times, shown for scale only), and tsmodels ``ts.lombscargle`` direct and fast (batched).
* B, multiband: ``n-objects / 10`` objects x 300 points (random among 6 bands) x 1e4
  frequencies. Anchor: astropy ``LombScargleMultiband(method="flexible")`` (about a second per
  object: timed on a few objects and scaled, as the table says). Also astropy's multiband
  "fast" (a different model, shown for scale) and tsmodels ``ts.lombscargle_multiband``.

Accuracy column: the largest absolute difference of the power from a reference on the objects the
anchor timed (A: astropy's exact "cython" method; B: astropy flexible).

``--rrlyrae``: recovery of the published periods of the 483 SDSS Stripe 82 RR Lyrae (Sesar et al.
2010; ``tests/data/rrlyrae``) with ``ts.periodogram.find_periods`` (as ``tests/test_rrlyrae.py``),
and astropy's ``LombScargleMultiband`` flexible with the same two models on exactly the same
frequencies (the same search grid, the same refinement grids; a process pool over all cores;
about 5 CPU-seconds per star, so ``--rrlyrae-stars`` takes the first N stars).

tsmodels runs on JAX's default device (a GPU when there is one); astropy and nifty-ls on the CPU.
Each contender is warmed up (compiled) first; then ``--repeat`` rounds run every contender of a
workload in turn (``block_until_ready`` for tsmodels) and each keeps its best time, so that a
change in the machine's load does not bias the ratios. The slow astropy anchors run on a subset
of the objects (the table says how many) and their rate is per object.

Run: ``python benchmarks/bench_lombscargle.py [--n-objects 1000] [--dtype float64] [--quick]
[--rrlyrae [--rrlyrae-stars N]] [--repeat 3] [--skip A,B]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

import tsmodels as ts
from tsmodels.lightcurves import LightCurveBatch

F0, DF, NF = 1e-4, 2e-4, 10_000          # grid of both workloads, cycles/day (fmax ~ 2 /day)
FREQ = F0 + DF * np.arange(NF)
BANDS = tuple("ugrizy")


def workload_a(n_objects, n_points=200, seed=0):
    rng = np.random.default_rng(seed)
    t = 60000.0 + np.sort(rng.uniform(0.0, 1000.0, (n_objects, n_points)), axis=1)
    period = np.exp(rng.uniform(np.log(0.2), np.log(50.0), n_objects))[:, None]
    y = 10.0 + np.sin(2 * np.pi * t / period) + rng.normal(0.0, 1.0, t.shape)
    dy = rng.uniform(0.5, 1.5, t.shape)
    return t, y, dy


def workload_b(n_objects, n_points=300, seed=1):
    rng = np.random.default_rng(seed)
    t = 60000.0 + np.sort(rng.uniform(0.0, 1000.0, (n_objects, n_points)), axis=1)
    band = rng.integers(0, len(BANDS), t.shape)
    period = np.exp(rng.uniform(np.log(0.2), np.log(50.0), n_objects))[:, None]
    y = 10.0 + 0.2 * band + (1 - 0.1 * band) * np.sin(2 * np.pi * t / period + 0.3 * band)
    y = y + rng.normal(0.0, 1.0, t.shape)
    dy = rng.uniform(0.5, 1.5, t.shape)
    return t, y, dy, band


def _batch(t, y, dy, band=None):
    return LightCurveBatch.from_arrays(
        t=list(t), flux=list(y), flux_err=list(dy),
        band=None if band is None else [np.asarray(BANDS)[b] for b in band],
        bands=None if band is None else BANDS)


def _rounds(contenders, repeat):
    """Best wall time of each contender over ``repeat`` rounds that interleave them all, so that
    a change in the machine's load between contenders does not bias their ratios.

    ``contenders``: ``{name: fn}``, each fn runs its whole workload and returns its output
    (device arrays are waited for). Every fn is called once first (warm-up, compilation).
    Returns ``({name: seconds}, {name: output of the last call})``.
    """
    outs = {k: fn() for k, fn in contenders.items()}
    best = {k: np.inf for k in contenders}
    for _ in range(repeat):
        for k, fn in contenders.items():
            t0 = time.perf_counter()
            outs[k] = jax.block_until_ready(fn())
            best[k] = min(best[k], time.perf_counter() - t0)
    return best, outs


class Table:
    def __init__(self):
        self.rows = []

    def add(self, workload, method, n, seconds, anchor_rate, device, dtype, err, note=""):
        rate = None if seconds is None else n / seconds
        self.rows.append((workload, method, "n/a" if rate is None else f"{rate:,.1f}",
                          "" if anchor_rate is None or rate is None else f"{rate / anchor_rate:,.2f}",
                          device, dtype, "" if err is None else f"{err:.1e}", note))
        return rate

    def print(self):
        head = ("workload", "method", "objects/s", "vs anchor", "device", "dtype",
                "max|dP|", "note")
        cols = list(zip(head, *self.rows))
        w = [max(len(str(x)) for x in c) for c in cols]
        print("  ".join(h.ljust(n) for h, n in zip(head, w)))
        print("  ".join("-" * n for n in w))
        for r in self.rows:
            print("  ".join(str(x).ljust(n) for x, n in zip(r, w)))


def bench_single(table, n, dtype, repeat, quick):
    from astropy.timeseries import LombScargle
    import nifty_ls

    t, y, dy = workload_a(n)
    ref_n = 5 if quick else 20
    n_astropy = min(n, 50 if quick else 200)
    ref = np.stack([LombScargle(t[i], y[i], dy[i]).power(FREQ, method="cython")
                    for i in range(ref_n)])
    cpu = f"cpu x{os.cpu_count()}"
    dev = str(jax.devices()[0])
    wl = f"A {n}x200x1e4"
    fmax = F0 + DF * (NF - 1)
    batch = _batch(t, y, dy)
    runs = {
        "astropy": lambda: [LombScargle(t[i], y[i], dy[i]).power(
            FREQ, method="fast", assume_regular_frequency=True) for i in range(n_astropy)],
        "nifty": lambda: [nifty_ls.lombscargle(t[i], y[i], dy[i], fmin=F0, fmax=fmax,
                                               Nf=NF).power for i in range(n)],
        "nifty shared": lambda: nifty_ls.lombscargle(t[0], y, dy, fmin=F0, fmax=fmax, Nf=NF).power,
        "direct": lambda: ts.lombscargle(batch, FREQ, method="direct", dtype=dtype)[1],
        "fast": lambda: ts.lombscargle(batch, FREQ, method="fast", dtype=dtype)[1],
    }
    hetero = getattr(nifty_ls, "lombscargle_heterobatch", None)
    if hetero is not None:
        runs["hetero"] = lambda: hetero(list(t), list(y), list(dy), fmin=F0, fmax=fmax, Nf=NF)
    sec, out = _rounds(runs, repeat)

    def err(k):
        return np.abs(np.asarray(np.stack(out[k][:ref_n]), np.float64) - ref).max()

    anchor = table.add(wl, "astropy fast, per object", n_astropy, sec["astropy"], None, cpu,
                       "float64", err("astropy"),
                       "anchor" + (f"; timed on {n_astropy} objects" if n_astropy < n else ""))
    nifty = table.add(wl, "nifty-ls, per object", n, sec["nifty"], anchor, cpu, "float64",
                      err("nifty"))
    if hetero is not None:
        res = out["hetero"]
        p = np.stack([r.power for r in res]) if isinstance(res, list) else np.asarray(res.power)
        table.add(wl, "nifty-ls heterobatch", n, sec["hetero"], anchor, cpu, "float64",
                  np.abs(p[:ref_n] - ref).max())
    else:
        table.add(wl, "nifty-ls heterobatch", 1, None, anchor, cpu, "float64", None,
                  f"not in nifty-ls {nifty_ls.__version__}")
    table.add(wl, "nifty-ls batch, shared times", n, sec["nifty shared"], anchor, cpu, "float64",
              None, "one time array for all: not the same workload")
    for method in ("direct", "fast"):
        rate = table.add(wl, f"tsmodels {method}", n, sec[method], anchor, dev, dtype,
                         err(method))
        print(f"  tsmodels {method} / nifty-ls per object: {rate / nifty:.2f}")


def bench_multi(table, n, dtype, repeat, quick):
    from astropy.timeseries import LombScargleMultiband

    t, y, dy, band = workload_b(n)
    names = np.asarray(BANDS)
    cpu = f"cpu x{os.cpu_count()}"
    dev = str(jax.devices()[0])
    wl = f"B {n}x300x6x1e4"
    n_flex = 1 if quick else 2
    n_fast = min(n, 20)
    batch = _batch(t, y, dy, band)

    def astropy(i, method):
        return LombScargleMultiband(t[i], y[i], names[band[i]], dy[i]).power(FREQ, method=method)

    runs = {
        "flexible": lambda: [astropy(i, "flexible") for i in range(n_flex)],
        "fast": lambda: [astropy(i, "fast") for i in range(n_fast)],
        "tsmodels": lambda: ts.lombscargle_multiband(batch, FREQ, dtype=dtype)[1],
    }
    sec, out = _rounds(runs, repeat)
    ref = np.stack(out["flexible"])
    anchor = table.add(wl, "astropy flexible, per object", n_flex, sec["flexible"], None, cpu,
                       "float64", 0.0, f"anchor; timed on {n_flex} objects, rate scaled")
    table.add(wl, "astropy multiband fast", n_fast, sec["fast"], anchor, cpu, "float64", None,
              f"another model; timed on {n_fast} objects")
    err = np.abs(np.asarray(out["tsmodels"][:n_flex], np.float64) - ref).max()
    table.add(wl, "tsmodels multiband", n, sec["tsmodels"], anchor, dev, dtype, err)


# ------------------------------------------------------------------------------ RR Lyrae
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "rrlyrae"


def load_rrlyrae():
    """The 483 Stripe 82 RR Lyrae as a batch of magnitudes, and the published periods."""
    import pandas as pd

    lc = pd.read_csv(DATA / "light_curves.csv.gz")
    lc = lc[lc["magerr"] <= 1.0]
    per = pd.read_csv(DATA / "periods.csv").set_index("Num")
    batch = LightCurveBatch.from_pandas(lc, id_col="id", time_col="time", flux_col="mag",
                                        flux_err_col="magerr", band_col="band")
    return batch, per.loc[batch.ids, "Per"].to_numpy()


def _astropy_candidates(args):
    from astropy.timeseries import LombScargleMultiband

    t, y, dy, b, f_search, f_local, n_cand = args
    ls0 = LombScargleMultiband(t, y, b, dy, nterms_base=1, nterms_band=0)
    p = ls0.power(f_search, method="flexible")
    peaks = ts.periodogram.best_periods(f_search, p, k=n_cand)
    fc = np.where(np.isnan(peaks.frequency[0]), peaks.frequency[0, 0], peaks.frequency[0])
    local = fc[:, None] + f_local[None, :]
    ls1 = LombScargleMultiband(t, y, b, dy, nterms_base=3, nterms_band=1)
    p1 = ls1.power(local.reshape(-1), method="flexible")
    return local.reshape(-1)[np.argmax(p1)]


def bench_rrlyrae(n_stars):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    batch, period = load_rrlyrae()
    kw = dict(minimum_frequency=1.0, maximum_frequency=5.0, samples_per_peak=2)
    t0 = time.perf_counter()
    peaks = ts.periodogram.find_periods(batch, **kw)
    sec = time.perf_counter() - t0
    ok = np.abs(peaks.period[:, 0] / period - 1) < 1e-3
    print(f"RR Lyrae (Sesar et al. 2010), {len(batch)} stars: tsmodels find_periods recovers "
          f"{ok.mean():.1%} within 0.1% ({sec:.1f} s including compilation)")
    f0, df, nf = ts.periodogram.autofrequency(np.asarray(batch.t), np.asarray(batch.mask), **kw)
    f_search = f0 + df * np.arange(nf)
    f_local = np.linspace(-df, df, 9)
    n = min(n_stars or len(batch), len(batch))
    mask, tt = np.asarray(batch.mask), np.asarray(batch.t)
    names = np.asarray(batch.bands)[np.asarray(batch.band)]
    args = [(tt[i][mask[i]], np.asarray(batch.flux)[i][mask[i]],
             np.asarray(batch.flux_err)[i][mask[i]], names[i][mask[i]], f_search, f_local, 10)
            for i in range(n)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
        best = np.array(list(pool.map(_astropy_candidates, args)))
    sec = time.perf_counter() - t0
    ok_a = np.abs(1 / best / period[:n] - 1) < 1e-3
    print(f"  astropy LombScargleMultiband flexible, same models and frequencies, {n} stars: "
          f"{ok_a.mean():.1%} ({sec:.0f} s on {os.cpu_count()} processes); tsmodels on the same "
          f"stars: {ok[:n].mean():.1%}; same best period (to 1e-9): "
          f"{np.mean(np.abs(best - peaks.frequency[:n, 0]) < 1e-9 * best):.1%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-objects", type=int, default=1000, help="workload A objects (B: /10)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100 objects, fewer reference runs")
    ap.add_argument("--rrlyrae", action="store_true", help="also the RR Lyrae recovery rates")
    ap.add_argument("--rrlyrae-stars", type=int, default=None,
                    help="stars for astropy's RR Lyrae rate (default all 483; --quick: 20)")
    ap.add_argument("--skip", default="", help="comma list of workloads to skip: A,B")
    args = ap.parse_args(argv)
    n = 100 if args.quick and args.n_objects == 1000 else args.n_objects
    print(f"jax {jax.__version__} devices {jax.devices()}; {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} CPUs; tsmodels dtype {args.dtype}")
    table = Table()
    if "A" not in args.skip:
        bench_single(table, n, args.dtype, args.repeat, args.quick)
    if "B" not in args.skip:
        bench_multi(table, max(n // 10, 2), args.dtype, args.repeat, args.quick)
    if table.rows:
        table.print()
    if args.rrlyrae:
        bench_rrlyrae(args.rrlyrae_stars or (20 if args.quick else None))


if __name__ == "__main__":
    main()
