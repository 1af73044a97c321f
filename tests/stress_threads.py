"""Run every threaded path of tsmodels ``--repeat`` times, each under a watchdog.

Used by ``tests/test_engine.py`` (in subprocesses) to show that no path can hang: a run that
takes longer than ``--limit`` seconds dumps every thread's stack and exits with code 3. Prints
one line per run: ``path seconds``. The paths and sizes include the one that hung in jaxlib's
LAPACK kernels before tsmodels dropped them (a MultibandDRW fit of 50 simulated quasars on two
threads).

    python tests/stress_threads.py --repeat 2 --limit 120
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--limit", type=float, default=120.0)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)

    import numpy as np

    import tsmodels as ts

    w = args.workers
    quasars, _ = ts.simulate.lightcurves("drw", 50, n_years=3.0, seed=1)
    stars, _ = ts.simulate.lightcurves("periodic", 40, n_years=2.0, seed=2, period=(0.2, 1.0))
    grid = np.linspace(0.8, 6.0, 2000)

    def fap_bootstrap():
        freq, power = ts.lombscargle_multiband(stars[:16], grid, workers=w)
        return ts.periodogram.false_alarm_probability(
            power.max(axis=1), stars[:16], freq, method="bootstrap", multiband=True,
            n_bootstraps=40, random_seed=1)

    paths = {
        "fit_drw": lambda: ts.fit(ts.models.DRW(band="r"), quasars, workers=w),
        "fit_multiband_drw": lambda: ts.fit(ts.models.MultibandDRW(bands=quasars.bands), quasars, workers=w),
        "fit_fourier": lambda: ts.fit(ts.models.FourierSeries(nterms=1, period_range=(0.15, 1.5)), stars,
                                      workers=w),
        "sample_drw": lambda: ts.sample(ts.models.DRW(band="r"), quasars[:8], num_warmup=50,
                                        num_samples=50, num_chains=2, workers=w),
        "lombscargle_multiband": lambda: ts.lombscargle_multiband(stars, grid, workers=w),
        "lombscargle_fast": lambda: ts.lombscargle(stars, ts.kernels.lombscargle.FrequencyGrid.from_float64(
            0.8, 0.001, 5000, "float64"), band="r", method="fast", workers=w),
        "fap_bootstrap": fap_bootstrap,
    }
    for _ in range(args.repeat):
        for name, fn in paths.items():
            faulthandler.dump_traceback_later(args.limit, exit=True)
            t0 = time.perf_counter()
            fn()
            faulthandler.cancel_dump_traceback_later()
            print(f"{name} {time.perf_counter() - t0:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
