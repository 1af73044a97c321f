"""The ``tsmodels`` command line.

``tsmodels demo`` simulates a small LSST-like survey and runs each part of the library on it,
printing what it finds beside the simulated truth. ``tsmodels fit MODEL IN OUT`` and
``tsmodels periodogram IN OUT`` run :func:`tsmodels.pipeline.run` over a parquet dataset
(resumable, chunked, optionally on a Dask cluster). ``tsmodels simulate OUT --kind KIND --n N``
writes simulated light curves to parquet.

Bad input (a missing file or column, a sink holding another run, an unknown model) ends with a
one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

__all__ = ["main", "DEMO_STEPS"]


def _header(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 66 - len(text)))


def _demo_batch(args) -> dict:
    """Simulate the demo survey: periodic stars, quasars (DRW), constant stars, microlensing
    events (PSPL), supernova-like transients (Bazin) and Type Ia supernovae (SALT2, z 0.05-0.3)."""
    from tsmodels import simulate

    _header(f"Simulated LSST-like survey ({args.n_objects} objects per class, {args.years} years, seed {args.seed})")
    out = {}
    # RR Lyrae-like periods (days); events and transients placed inside the survey
    options = {"periodic": {"period": (0.2, 1.0)}, "pspl": {"u0": (0.05, 0.8), "tE": (10.0, 100.0)},
               "bazin": {}, "salt2": {"z": (0.05, 0.3)}}
    for k, kind in enumerate(("periodic", "drw", "constant", "pspl", "bazin", "salt2")):
        batch, truth = simulate.lightcurves(kind, args.n_objects, n_years=args.years, seed=args.seed + k,
                                            **options.get(kind, {}))
        out[kind] = (batch, truth)
        s = batch.summary()
        print(f"{kind:>9}: {len(batch)} objects, {int(s['n_obs'].sum())} detections, "
              f"{s['n_obs'].min()}-{s['n_obs'].max()} per object, bands {''.join(batch.bands)}, "
              f"padded to {batch.n_max}")
    batch = out["periodic"][0]
    shapes = [(len(sub), sub.n_max) for _, sub in batch.bucket()]
    real = int(batch.n_obs.sum())
    padded = sum(b * n for b, n in shapes)
    print(f"bucketing the periodic stars: {len(shapes)} shapes, padding {100 * (padded - real) / real:.1f}% "
          f"of real points (vs {100 * (batch.n_max * len(batch) - real) / real:.0f}% padded to the longest)")
    return out


def _demo_periodogram(args, data) -> None:
    from tsmodels import periodogram

    batch, truth = data["periodic"]
    _header("Multiband Lomb-Scargle periodogram (VanderPlas & Ivezic 2015) of the periodic stars")
    t0 = time.perf_counter()
    freq, power = periodogram.lombscargle_multiband(batch, minimum_frequency=0.8, maximum_frequency=6.0)
    dt = time.perf_counter() - t0
    peaks = periodogram.best_periods(freq, power, k=1, batch=batch, multiband=True)
    good = np.abs(peaks.period[:, 0] / truth["period"].to_numpy() - 1) < 1e-3
    print(f"{len(batch)} objects x {len(freq)} frequencies in {dt:.1f} s (compilation included)")
    print(f"best period within 0.1% of the truth for {good.sum()}/{len(batch)} objects; "
          f"median false-alarm probability of the best peak {np.nanmedian(peaks.fap[:, 0]):.1e}")


def _demo_fit(args, data) -> None:
    from tsmodels import fitting, models

    batch, truth = data["periodic"]
    _header("Batched fits: Constant vs FourierSeries(nterms=2, free period) on the periodic stars")
    t0 = time.perf_counter()
    const = fitting.fit(models.Constant(), batch)
    fourier = fitting.fit(models.FourierSeries(nterms=2, period_range=(0.15, 1.5)), batch)
    dt = time.perf_counter() - t0
    period = fourier.values["period"]
    err = fourier.errors["period"]
    good = np.abs(period / truth["period"].to_numpy() - 1) < 1e-3
    pull = (period - truth["period"].to_numpy()) / err
    table = fitting.compare(const, fourier, names=["constant", "fourier"])
    print(f"fitted {2 * len(batch)} object-models in {dt:.1f} s (compilation included); "
          f"{int(fourier.converged.sum())}/{len(batch)} converged")
    print(f"period within 0.1% of the truth: {good.sum()}/{len(batch)}; among those, "
          f"|pull| < 2 for {np.mean(np.abs(pull[good]) < 2):.0%}")
    print(f"BIC prefers the Fourier series for {(table['best_bic'] == 'fourier').sum()}/{len(batch)}")


def _demo_drw(args, data) -> None:
    from tsmodels import fitting, models

    batch, truth = data["drw"]
    _header("Damped random walk (quasar-like objects): r band, and all bands with a shared tau")
    t0 = time.perf_counter()
    single = fitting.fit(models.DRW(band="r"), batch)
    multi = fitting.fit(models.MultibandDRW(bands=batch.bands), batch)
    dt = time.perf_counter() - t0
    true_tau = truth["tau"].to_numpy()
    for name, res in (("DRW, r band", single), ("MultibandDRW", multi)):
        ratio = res.values["tau"] / true_tau
        print(f"{name:>13}: tau within a factor 2 of the truth for {np.mean(np.abs(np.log2(ratio)) < 1):.0%} "
              f"of {len(batch)} objects (median log10 ratio {np.median(np.log10(ratio)):+.2f}); "
              f"{int(res.converged.sum())} converged")
    print(f"({dt:.1f} s, compilation included)")


def _demo_microlensing(args, data) -> None:
    from tsmodels import fitting, models

    events, truth = data["pspl"]
    stars = data["constant"][0]
    _header("Microlensing: point-lens (PSPL) fits, all bands, beside a constant on events and constant stars")
    t0 = time.perf_counter()
    res = {name: (fitting.fit(models.PSPL(), b), fitting.fit(models.Constant(), b))
           for name, b in (("events", events), ("constant stars", stars))}
    dt = time.perf_counter() - t0
    pspl, _ = res["events"]
    ratio = pspl.values["tE"] / truth["tE"].to_numpy()
    print(f"events: tE within 20% of the truth for {np.sum(np.abs(ratio - 1) < 0.2)}/{len(events)}, "
          f"{int(pspl.converged.sum())}/{len(events)} converged")
    for name, (lens, flat) in res.items():
        table = fitting.compare(lens, flat, names=["pspl", "constant"])
        print(f"BIC prefers the lens for {(table['best_bic'] == 'pspl').sum()}/{len(table)} {name}")
    print(f"({dt:.1f} s, compilation included)")


def _demo_supernova(args, data) -> None:
    from tsmodels import fitting, models

    batch, truth = data["bazin"]
    _header("Supernova-like transients: Bazin (2009) fits with shared timing across bands")
    t0 = time.perf_counter()
    res = fitting.fit(models.Bazin(), batch)
    dt = time.perf_counter() - t0
    t_peak = res.values["t0"] + np.asarray(batch.t_ref)
    good = np.abs(t_peak - truth["t0"].to_numpy()) < 2.0
    print(f"t0 within 2 days of the truth for {good.sum()}/{len(batch)}; "
          f"{int(res.converged.sum())}/{len(batch)} converged ({dt:.1f} s, compilation included)")


def _demo_salt2(args, data) -> None:
    from tsmodels import fitting, models

    batch, truth = data["salt2"]
    _header("Type Ia supernovae: SALT2 (salt2-4) fits of t0, x1, c (x0 linear), z from the batch")
    t0 = time.perf_counter()
    res = fitting.fit(models.SALT2(zp=31.4), batch)  # simulated fluxes are nJy
    dt = time.perf_counter() - t0
    true = {"t0": truth["t0"].to_numpy() - np.asarray(batch.t_ref), "x1": truth["x1"].to_numpy(),
            "c": truth["c"].to_numpy()}
    pull = {n: (res.values[n] - true[n]) / res.errors[n] for n in ("x1", "c", "t0")}
    print(f"SALT2: {int(res.converged.sum())}/{len(batch)} converged; within 2 sigma of the truth: "
          + ", ".join(f"{n} {np.sum(np.abs(p) < 2)}/{len(batch)}" for n, p in pull.items())
          + f" ({dt:.1f} s, compilation included)")
    med = {n: np.nanmedian(np.abs(p)) for n, p in pull.items()}
    err = {n: np.nanmedian(res.errors[n]) for n in pull}
    print(f"median |pull| x1 {med['x1']:.2f}, c {med['c']:.2f}, t0 {med['t0']:.2f} (0.67 for Gaussian "
          f"errors); median error x1 {err['x1']:.2f}, c {err['c']:.3f}, t0 {err['t0']:.2f} d")


#: The demo's steps, run in order; each takes (args, data) where data is the dict of simulated
#: ``(batch, truth)`` pairs, and prints its own section.
DEMO_STEPS: list[Callable] = [_demo_periodogram, _demo_fit, _demo_drw, _demo_microlensing,
                              _demo_supernova, _demo_salt2]


def _demo(args) -> int:
    t0 = time.perf_counter()
    data = _demo_batch(args)
    for step in DEMO_STEPS:
        step(args, data)
    print(f"\ndemo finished in {time.perf_counter() - t0:.1f} s")
    return 0


def _simulate(args) -> int:
    from tsmodels import io, simulate

    if args.kind_pos is not None:  # older form: tsmodels simulate KIND OUT
        args.kind, args.out = args.out, args.kind_pos
    batch, truth = simulate.lightcurves(args.kind, args.n_objects, n_years=args.years, seed=args.seed)
    io.write_parquet(batch, args.out, layout=args.layout)
    if args.truth:
        truth.to_csv(args.truth)
    print(f"wrote {len(batch)} {args.kind} light curves ({int(batch.n_obs.sum())} detections) to {args.out}")
    return 0


def _source(args):
    from tsmodels.pipeline import ParquetSource

    return ParquetSource(args.input, layout=args.layout_in, preset=args.preset, id_col=args.id_col,
                         time_col=args.time_col, flux_col=args.flux_col,
                         flux_err_col=args.flux_err_col, band_col=args.band_col,
                         meta_cols=None if args.meta_cols is None else args.meta_cols.split(","))


def _run_pipeline(args, task) -> int:
    from tsmodels import pipeline

    summary = pipeline.run(task, _source(args), args.output, chunk_size=args.chunk_size,
                           resume=args.resume, dask_client=args.dask, progress=not args.quiet)
    print(summary)
    return 0


def _fit(args) -> int:
    from tsmodels import pipeline

    model = pipeline.model_from_string(args.model)
    options = {} if args.dtype is None else {"dtype": args.dtype}
    if args.samples is not None:
        task = pipeline.Sample(model, {**options, "num_samples": args.samples,
                                       "num_warmup": args.warmup, "num_chains": args.chains,
                                       "seed": args.seed})
    else:
        task = pipeline.Fit(model, options)
    return _run_pipeline(args, task)


def _periodogram(args) -> int:
    from tsmodels import pipeline

    options = {} if args.dtype is None else {"dtype": args.dtype}
    task = pipeline.Periodogram(k=args.k, minimum_frequency=args.min_frequency,
                                maximum_frequency=args.max_frequency,
                                samples_per_peak=args.samples_per_peak,
                                multiband=not args.single_band, options=options)
    return _run_pipeline(args, task)


def _pipeline_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN", help="parquet file or dataset directory (long or nested layout)")
    p.add_argument("output", metavar="OUT", help="output directory: one parquet file per chunk and a manifest")
    p.add_argument("--resume", action="store_true",
                   help="continue the run already in OUT (same task and input), skipping finished chunks")
    p.add_argument("--chunk-size", type=int, default=10_000, metavar="N",
                   help="objects per chunk: the unit of memory, output files and resuming (default 10000)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the chunks on the dask.distributed scheduler at ADDRESS (OUT on a shared file system)")
    p.add_argument("--preset", default=None, help="column names: 'rubin' (diaObjectId, midpointMjdTai, band, "
                   "psfFlux, psfFluxErr) or 'default' (id, time, flux, flux_err, band)")
    p.add_argument("--layout", dest="layout_in", choices=("auto", "long", "nested"), default="auto",
                   help="input layout (default: detect)")
    for name in ("id", "time", "flux", "flux-err", "band"):
        p.add_argument(f"--{name}-col", default=None, metavar="NAME", help=f"name of the {name} column")
    p.add_argument("--meta-cols", default=None, metavar="A,B",
                   help="per-object columns to read (e.g. z,mwebv), comma-separated")
    p.add_argument("--dtype", choices=("float64", "float32"), default=None,
                   help="precision of the computation (default float64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tsmodels", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="simulate a small survey and run the library on it")
    d.add_argument("--n-objects", type=int, default=50, help="objects per simulated class (default 50)")
    d.add_argument("--years", type=float, default=3.0, help="survey length in years (default 3)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_demo)

    f = sub.add_parser("fit", help="fit (or, with --samples, sample) a model to every object of a dataset",
                       description="Fit MODEL to every object of IN, writing one row per object to OUT. "
                       "MODEL is a model of tsmodels.models as written in Python: DRW, 'CARMA(2, 1)', "
                       "'FourierSeries(nterms=2)', 'DRW(band=\"r\")'.")
    f.add_argument("model", metavar="MODEL", help="model, e.g. DRW or 'CARMA(2, 1)'")
    _pipeline_arguments(f)
    f.add_argument("--samples", type=int, default=None, metavar="N",
                   help="sample the posterior with NUTS (N draws per chain) instead of fitting")
    f.add_argument("--warmup", type=int, default=500, help="NUTS warm-up steps per chain (default 500)")
    f.add_argument("--chains", type=int, default=4, help="NUTS chains per object (default 4)")
    f.add_argument("--seed", type=int, default=0, help="random seed of the sampler")
    f.set_defaults(func=_fit)

    g = sub.add_parser("periodogram", help="best periods and false-alarm probabilities of every object",
                       description="Multiband Lomb-Scargle search of every object of IN (a coarse search "
                       "refined around its highest peaks), one row per object in OUT.")
    _pipeline_arguments(g)
    g.add_argument("--k", type=int, default=1, help="periods per object (default 1)")
    g.add_argument("--min-frequency", type=float, default=None, metavar="F",
                   help="lowest frequency, cycles/day (default: half a grid step)")
    g.add_argument("--max-frequency", type=float, default=10.0, metavar="F",
                   help="highest frequency, cycles/day (default 10)")
    g.add_argument("--samples-per-peak", type=float, default=2.0,
                   help="grid points per peak width 1/T of the search (default 2)")
    g.add_argument("--single-band", action="store_true", help="treat all points as one series")
    g.set_defaults(func=_periodogram)

    s = sub.add_parser("simulate", help="write simulated LSST-like light curves to parquet")
    s.add_argument("out", help="output parquet path")
    s.add_argument("kind_pos", nargs="?", default=None, help=argparse.SUPPRESS)
    s.add_argument("--kind", default="periodic", help="signal: periodic, drw, bazin, pspl, constant (default periodic)")
    s.add_argument("--n", "--n-objects", dest="n_objects", type=int, default=1000, help="objects (default 1000)")
    s.add_argument("--years", type=float, default=3.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--layout", choices=("long", "nested"), default="long")
    s.add_argument("--truth", help="also write the true parameters to this CSV")
    s.set_defaults(func=_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    np.set_printoptions(precision=4, suppress=True)
    if args.func is _demo:
        return int(args.func(args) or 0)
    import pyarrow as pa

    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, OSError, pa.ArrowException) as err:
        msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        print(f"tsmodels {args.command}: error: {' '.join(msg.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
