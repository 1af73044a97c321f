"""Benchmark: building a LightCurveBatch from a long table, against a pandas groupby-apply loop.

Input: 1e6 detections of 1e4 objects (100 each, 6 bands), rows shuffled. Both contenders produce
the same padded, time-sorted, centred ``[B, N]`` arrays (checked before timing; centred times
agree to 1e-8 d, the mean being summed in a different order):

* ``LightCurveBatch.from_pandas`` (vectorised: factorize, lexsort, scatter);
* the anchor, ``df.groupby("id").apply(per_object)`` with a Python function per object that sorts,
  centres and pads one light curve, then ``np.stack``.

Also reported, without an anchor: ``tsmodels.io.read_parquet`` of the same data in the long and
nested layouts (disk read included). Host-side NumPy, float64; best of ``--repeat`` runs after one
warm-up.

Run: ``python benchmarks/bench_io.py [--n-objects 10000] [--per-object 100] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import pandas as pd

from tsmodels import io
from tsmodels.lightcurves import LightCurveBatch


def make_table(n_objects: int, per_object: int, seed: int = 0) -> pd.DataFrame:
    """A shuffled long table: id, time (MJD), flux, flux_err, band."""
    rng = np.random.default_rng(seed)
    m = n_objects * per_object
    df = pd.DataFrame({
        "id": np.repeat(np.arange(n_objects, dtype=np.int64) * 7 + 1000, per_object),
        "time": 60800.0 + rng.uniform(0.0, 3 * 365.25, m),
        "flux": rng.normal(1000.0, 50.0, m),
        "flux_err": rng.uniform(5.0, 50.0, m),
        "band": rng.choice(np.array(list("ugrizy"), dtype=object), m),
    })
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def groupby_apply(df: pd.DataFrame, bands: tuple[str, ...]):
    """The anchor: one Python call per object building its padded row."""
    n_max = int(df.groupby("id").size().max())
    code = {b: i for i, b in enumerate(bands)}

    def per_object(g: pd.DataFrame):
        g = g.sort_values("time", kind="stable")
        n = len(g)
        tt = g["time"].to_numpy()
        t_ref = tt.mean()
        t = np.full(n_max, tt[-1] - t_ref)
        t[:n] = tt - t_ref
        flux = np.zeros(n_max)
        flux[:n] = g["flux"].to_numpy()
        err = np.ones(n_max)
        err[:n] = g["flux_err"].to_numpy()
        band = np.zeros(n_max, dtype=np.int32)
        band[:n] = g["band_code"].to_numpy()
        mask = np.zeros(n_max, dtype=bool)
        mask[:n] = True
        return t, flux, err, band, mask, t_ref

    df = df.assign(band_code=df["band"].map(code).astype(np.int32))  # vectorised, before the loop
    rows = df.groupby("id", sort=True).apply(per_object)
    parts = list(zip(*rows.to_numpy()))
    return dict(ids=rows.index.to_numpy(), t=np.stack(parts[0]), flux=np.stack(parts[1]),
                flux_err=np.stack(parts[2]), band=np.stack(parts[3]), mask=np.stack(parts[4]),
                t_ref=np.asarray(parts[5]))


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-objects", type=int, default=10_000)
    parser.add_argument("--per-object", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    df = make_table(args.n_objects, args.per_object)
    m = len(df)
    batch = LightCurveBatch.from_pandas(df)
    ref = groupby_apply(df, batch.bands)
    for name in ("ids", "flux", "flux_err", "band", "mask"):
        np.testing.assert_array_equal(getattr(batch, name), ref[name], err_msg=name)
    for name in ("t", "t_ref"):  # same up to the order of the summation for the mean time
        np.testing.assert_allclose(getattr(batch, name), ref[name], rtol=0, atol=1e-8, err_msg=name)

    t_ours = best_time(lambda: LightCurveBatch.from_pandas(df), args.repeat)
    t_anchor = best_time(lambda: groupby_apply(df, batch.bands), max(1, args.repeat - 1))
    rows = [("LightCurveBatch.from_pandas", t_ours), ("pandas groupby().apply loop (anchor)", t_anchor)]

    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("long", "nested"):
            path = os.path.join(tmp, f"{layout}.parquet")
            io.write_parquet(batch, path, layout=layout)
            rows.append((f"io.read_parquet ({layout}, from disk)",
                         best_time(lambda p=path: io.read_parquet(p), args.repeat)))

    print(f"bench_io: {m:,} detections, {args.n_objects:,} objects, bands {batch.bands}; "
          f"host NumPy float64 on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{'method':<42} {'seconds':>9} {'detections/s':>14} {'objects/s':>12}")
    for name, sec in rows:
        print(f"{name:<42} {sec:>9.3f} {m / sec:>14,.0f} {args.n_objects / sec:>12,.0f}")
    print(f"ratio from_pandas / groupby-apply (detections per second): {t_anchor / t_ours:.1f}x")


if __name__ == "__main__":
    main()
