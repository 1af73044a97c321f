"""Benchmark: supernova fits, tsmodels (batched) vs sncosmo, saltjax and light-curve.

1. SALT2 (salt2-4) fits per second on ``--n-sne`` simulated LSST-like SNe Ia (LSST g, r, i, z
   as shipped with tsmodels; 30-70 points each; z 0.05-0.5; x1, c drawn from realistic
   spreads; errors 2-8% of peak plus a floor): ``ts.fit(SALT2(), batch)`` (first call,
   compilation included, and warm) against sncosmo ``fit_lc`` in a loop over SNe (same data,
   same x1/c bounds, no model covariance) and, where ``--saltjax-python`` points at a Python
   with saltjax installed, saltjax ``fit_salt`` in its own environment through a subprocess on
   the same data (a temporary ``.npz``). Accuracy: each fitter's parameters minus sncosmo's in
   units of sncosmo's sigma (median and max of |d|, fraction with |d| < 0.05).
2. Bazin and Villar fits per second on ``--n-param`` simulated objects (one band, from
   ``ts.simulate``-like Bazin signals), every ``ts.fit`` setting of :data:`TS_SETTINGS` (the
   defaults, and light-curve's budget: one start, 10 iterations) against every ``light-curve``
   ``BazinFit`` / ``VillarFit`` setting of :data:`LC_SETTINGS` (its default ``lmsder`` of 10
   iterations, ``lmsder`` of 1000, ``mcmc-lmsder``); warm timings the best of 3 for both.
   Quality on the same objects: the median reduced chi2 of each (light-curve's chi2 recomputed
   from its parameters), and the fractions of objects where ``ts.fit``'s chi2 is worse / better
   than light-curve's by more than 1.

Timings on a shared CPU are noisy. sncosmo and saltjax read the SALT model from a model
directory written here from tsmodels' shipped tables (no network).

Environment: sncosmo's ``fit_lc`` needs ``iminuit`` (``pip install iminuit`` beside the package's
test extra); saltjax in its own venv (``python3 -m venv /tmp/saltjax &&
/tmp/saltjax/bin/pip install saltjax``).

Usage: ``python benchmarks/bench_supernova.py [--n-sne 200] [--n-param 1000]
[--saltjax-python /tmp/saltjax/bin/python] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BANDS = ("g", "r", "i", "z")
ZP = 27.5


def _register_bands():
    import sncosmo

    from tsmodels.kernels.supernova import salt as S

    for b in BANDS:
        bp = S.get_bandpass("lsst" + b)
        sncosmo.register(sncosmo.Bandpass(bp.wave, bp.trans, name="lsst" + b), force=True)


def simulate_sne(n, rng, modeldir):
    import sncosmo

    sn = sncosmo.Model(source=sncosmo.SALT2Source(modeldir=str(modeldir)))
    rows = []
    for _ in range(n):
        p = dict(z=rng.uniform(0.05, 0.5), t0=60000.0 + rng.uniform(-5, 5),
                 x1=np.clip(rng.normal(0, 1), -3, 3), c=np.clip(rng.normal(0, 0.1), -0.3, 0.5))
        sn.set(x0=1.0, **p)
        m = int(rng.integers(30, 71))
        tt = np.sort(p["t0"] + rng.uniform(-15, 45, m) * (1 + p["z"]))
        bb = rng.integers(0, len(BANDS), m)
        unit = sn.bandflux(np.array(["lsst" + x for x in BANDS])[bb], tt, zp=ZP, zpsys="ab")
        x0 = rng.uniform(1000.0, 10000.0) / np.max(unit)
        err = np.max(x0 * unit) * rng.uniform(0.02, 0.08, m) + 20.0
        flux = x0 * unit + err * rng.normal(size=m)
        rows.append(dict(t=tt, flux=flux, err=err, band=bb, truth=dict(p, x0=x0)))
    return rows


def _timed_fit(model, batch):
    """``(result, first-call seconds, warm seconds)`` of ``ts.fit(model, batch)`` run twice."""
    import tsmodels as ts

    t0 = time.perf_counter()
    ts.fit(model, batch)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = ts.fit(model, batch)
    return res, first, time.perf_counter() - t0


def run_tsmodels_salt(rows):
    import tsmodels as ts

    meta = {"z": [r["truth"]["z"] for r in rows], "mwebv": [0.0] * len(rows)}
    batch = ts.LightCurveBatch.from_arrays(
        t=[r["t"] for r in rows], flux=[r["flux"] for r in rows], flux_err=[r["err"] for r in rows],
        band=[np.asarray(BANDS)[r["band"]] for r in rows], bands=BANDS, meta=meta)
    model = ts.models.SALT2(zp=ZP, x1_range=(-5.0, 5.0), c_range=(-0.5, 1.0))
    res, first, warm = _timed_fit(model, batch)
    df = res.to_pandas()
    tref = np.asarray(batch.t_ref)
    out = {k: df[k].to_numpy() for k in ("x1", "c", "x0")}
    out["t0"] = df["t0"].to_numpy() + tref
    return first, warm, out


def run_sncosmo(rows, modeldir):
    import sncosmo
    from astropy.table import Table

    src = sncosmo.SALT2Source(modeldir=str(modeldir))
    model = sncosmo.Model(source=src)
    vals, errs = {k: [] for k in ("t0", "x0", "x1", "c")}, {k: [] for k in ("t0", "x0", "x1", "c")}
    times = []
    for r in rows:
        data = Table(dict(time=r["t"], band=np.array(["lsst" + x for x in BANDS])[r["band"]],
                          flux=r["flux"], fluxerr=r["err"], zp=np.full(len(r["t"]), ZP),
                          zpsys=np.full(len(r["t"]), "ab")))
        model.set(z=r["truth"]["z"])
        t0 = time.perf_counter()
        res, _ = sncosmo.fit_lc(data, model, ["t0", "x0", "x1", "c"],
                                bounds={"x1": (-5.0, 5.0), "c": (-0.5, 1.0)},
                                modelcov=False)
        times.append(time.perf_counter() - t0)
        for k in vals:
            vals[k].append(res.parameters[res.param_names.index(k)])
            errs[k].append(res.errors[k])
    return float(np.sum(times)), float(times[0]), {k: np.array(v) for k, v in vals.items()}, \
        {k: np.array(v) for k, v in errs.items()}


_SALTJAX_DRIVER = r"""
import json, sys, time
import numpy as np
import pandas as pd
import sncosmo
import saltjax
d = np.load(sys.argv[1], allow_pickle=True)
for name, w, tr in zip(d["bp_names"], d["bp_wave"], d["bp_trans"]):
    sncosmo.register(sncosmo.Bandpass(w, tr, name=str(name)), force=True)
src = sncosmo.SALT2Source(modeldir=str(d["modeldir"]))
parts = []
for i in range(len(d["z"])):
    n = len(d["t"][i])
    parts.append(pd.DataFrame({"time": d["t"][i], "band": d["bp_names"][d["band"][i]],
                               "flux": d["flux"][i], "fluxerr": d["err"][i],
                               "zp": np.full(n, float(d["zp"])), "zpsys": ["ab"] * n},
                              index=pd.MultiIndex.from_product([[i], range(n)])))
data = pd.concat(parts)
targets = pd.DataFrame({"z": d["z"]}, index=range(len(d["z"])))
kw = dict(modelcov=False, phase_range=None, source=src, modeldir=str(d["modeldir"]),
          mwebv_key=None)
t0 = time.perf_counter(); saltjax.fit_salt(data, targets, **kw); first = time.perf_counter() - t0
t0 = time.perf_counter(); res = saltjax.fit_salt(data, targets, **kw); warm = time.perf_counter() - t0
res = res.reindex(targets.index)
print(json.dumps({"version": saltjax.__version__, "first": first, "warm": warm,
                  **{k: res[k].tolist() for k in ("t0", "x0", "x1", "c")}}))
"""


def run_saltjax(python, rows, modeldir):
    """Runs saltjax in its own environment; returns a dict, or a string saying why not."""
    from tsmodels.kernels.supernova import salt as S

    if not python or not Path(python).exists():
        return f"no saltjax Python at {python!r}"
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "sne.npz"
        np.savez(f, t=np.array([r["t"] for r in rows], dtype=object),
                 flux=np.array([r["flux"] for r in rows], dtype=object),
                 err=np.array([r["err"] for r in rows], dtype=object),
                 band=np.array([r["band"] for r in rows], dtype=object),
                 z=np.array([r["truth"]["z"] for r in rows]), modeldir=str(modeldir), zp=ZP,
                 bp_names=np.array(["lsst" + b for b in BANDS]),
                 bp_wave=np.array([S.get_bandpass("lsst" + b).wave for b in BANDS], dtype=object),
                 bp_trans=np.array([S.get_bandpass("lsst" + b).trans for b in BANDS],
                                   dtype=object))
        drv = Path(tmp) / "drive.py"
        drv.write_text(_SALTJAX_DRIVER)
        env = dict(os.environ, SNCOSMO_DATA_DIR=str(tmp))
        p = subprocess.run([python, str(drv), str(f)], capture_output=True, text=True, env=env,
                           timeout=600)
        if p.returncode != 0:
            return "saltjax failed: " + p.stderr.strip().splitlines()[-1][:200]
        return json.loads(p.stdout.strip().splitlines()[-1])


def _acc(vals, ref, ref_err):
    d = np.concatenate([np.abs(vals[k] - ref[k]) / ref_err[k] for k in ("t0", "x0", "x1", "c")])
    return float(np.nanmedian(d)), float(np.nanmax(d)), float(np.mean(d < 0.05))


#: ``ts.fit`` settings of the parametric comparison: the defaults (every start converged), and
#: light-curve's own budget (one start, at most 10 iterations)
TS_SETTINGS = (("default", {}), ("1 start, 10 steps", {"n_starts": 1, "max_steps": 10}))
#: light-curve settings: its default (``lmsder``, 10 iterations), ``lmsder`` run to convergence,
#: and its MCMC-then-``lmsder`` mode
LC_SETTINGS = (("lmsder 10", ("lmsder", {})), ("lmsder 1000", ("lmsder", {"lmsder_niter": 1000})),
               ("mcmc-lmsder", ("mcmc-lmsder", {})))


def _best_of(f, k=3):
    """``(result, seconds)``: the last result of ``k`` calls and the fastest call."""
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def _chi2_of(shape, rows, params):
    """chi2 of each object at ``params`` (``[B]`` arrays, light-curve's feature order less the
    reduced chi2), from the tsmodels kernel on the padded points (not from light-curve's reduced
    chi2, so no assumption on its degrees of freedom)."""
    m = max(len(r[0]) for r in rows)
    pad = lambda i, fill: np.array([np.pad(r[i], (0, m - len(r[i])), constant_values=fill) for r in rows])  # noqa: E731
    t, y, e = pad(0, 0.0), pad(1, 0.0), pad(2, 1.0)
    live = np.array([np.arange(m) < len(r[0]) for r in rows])
    model = np.asarray(shape(t, *(p[:, None] for p in params)))
    return np.sum(np.where(live, ((y - model) / e) ** 2, 0.0), axis=1)


def bench_parametric(n, rng):
    """Rows ``(model, ts setting, lc setting, ts fits/s, lc fits/s, ts first call s, median
    reduced chi2 ts, lc, fraction ts worse by > 1 in chi2, fraction ts better by > 1)``."""
    import light_curve as lcpkg

    import tsmodels as ts
    from tsmodels.kernels.supernova import bazin_flux, villar_flux

    rows = []
    for _ in range(n):
        m = int(rng.integers(30, 71))
        t = np.sort(rng.uniform(-30, 100, m))
        a, tr, tf = rng.uniform(500, 5000), rng.uniform(1, 5), rng.uniform(10, 60)
        f = a * np.exp(-t / tf) / (1 + np.exp(-t / tr))
        e = 0.05 * a + np.zeros(m)
        rows.append((t, f + e * rng.normal(size=m), e))
    batch = ts.LightCurveBatch.from_arrays(t=[r[0] for r in rows], flux=[r[1] for r in rows],
                                           flux_err=[r[2] for r in rows],
                                           band=[np.full(len(r[0]), "r") for r in rows],
                                           bands=("r",))
    shapes = {
        "Bazin": lambda t, a, b, t0, tr, tf: bazin_flux(t, amplitude=a, baseline=b, t0=t0,
                                                        rise_time=tr, fall_time=tf),
        "Villar": lambda t, a, b, t0, tr, tf, nu, g: villar_flux(
            t, amplitude=a, baseline=b, t0=t0, rise_time=tr, fall_time=tf, plateau_slope=nu,
            plateau_duration=g)}
    out = []
    for name, model, extractor, k in (("Bazin", ts.models.Bazin(), lcpkg.BazinFit, 5),
                                      ("Villar", ts.models.Villar(), lcpkg.VillarFit, 7)):
        dof = np.maximum(np.array([len(r[0]) for r in rows]) - k, 1)
        ours = {}
        for label, kw in TS_SETTINGS:
            _, first = _best_of(lambda: ts.fit(model, batch, **kw), k=1)
            # best of 3 for every fitter: timings on a shared CPU are noisy
            res, warm = _best_of(lambda: ts.fit(model, batch, **kw))
            ours[label] = (res.to_pandas()["chi2"].to_numpy(), n / warm, first)
        for lc_label, (algo, kw) in LC_SETTINGS:
            ext = extractor(algo, **kw)
            feats, t_lc = _best_of(lambda: np.array([ext(r[0], r[1], r[2]) for r in rows]))
            chi2_lc = _chi2_of(shapes[name], rows, feats[:, :-1].T)
            for label, _ in TS_SETTINGS:
                chi2_ts, r_ts, first = ours[label]
                out.append((name, label, lc_label, r_ts, n / t_lc, first,
                            float(np.median(chi2_ts / dof)), float(np.median(chi2_lc / dof)),
                            float(np.mean(chi2_ts > chi2_lc + 1)), float(np.mean(chi2_ts < chi2_lc - 1))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-sne", type=int, default=200)
    ap.add_argument("--n-param", type=int, default=1000)
    ap.add_argument("--saltjax-python", default="/tmp/saltjax/bin/python")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.quick:
        a.n_sne, a.n_param = 30, 100
    import jax

    rng = np.random.default_rng(a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        from tsmodels.kernels.supernova.salt import write_model_directory

        modeldir = write_model_directory("salt2-4", Path(tmp) / "salt2-4")
        _register_bands()
        rows = simulate_sne(a.n_sne, rng, modeldir)
        t_sn, first_sn, ref, ref_err = run_sncosmo(rows, modeldir)
        first_ts, warm_ts, v_ts = run_tsmodels_salt(rows)
        sj = run_saltjax(a.saltjax_python, rows, modeldir)
    n = a.n_sne
    print(f"device: {jax.devices()[0].device_kind}; SALT2 salt2-4, {n} SNe, LSST griz, float64")
    print(f"{'fitter':<22}{'fits/s warm':>12}{'first call s':>14}{'med|d|/sig':>12}"
          f"{'max|d|/sig':>12}{'frac<0.05':>11}")
    print(f"{'sncosmo fit_lc':<22}{n / t_sn:>12.1f}{first_sn:>14.2f}{0:>12.3f}{0:>12.3f}{1:>11.2f}")
    m, mx, fr = _acc(v_ts, ref, ref_err)
    print(f"{'ts.fit SALT2':<22}{n / warm_ts:>12.1f}{first_ts:>14.2f}{m:>12.3f}{mx:>12.3f}{fr:>11.2f}")
    print(f"ratio ts.fit / sncosmo (warm): {(n / warm_ts) / (n / t_sn):.1f}x")
    if isinstance(sj, str):
        print(f"saltjax: {sj}")
    else:
        v_sj = {k: np.asarray(sj[k], float) for k in ("t0", "x0", "x1", "c")}
        m, mx, fr = _acc(v_sj, ref, ref_err)
        print(f"{'saltjax ' + sj['version'] + ' fit_salt':<22}{n / sj['warm']:>12.1f}"
              f"{sj['first']:>14.2f}{m:>12.3f}{mx:>12.3f}{fr:>11.2f}")
        print(f"ratio ts.fit / saltjax (warm): {sj['warm'] / warm_ts:.2f}x")
    print()
    print(f"Parametric fits, {a.n_param} objects, one band; chi2 worse/better: fraction of objects "
          f"where ts.fit's chi2 is above/below light-curve's by more than 1")
    print(f"{'model':<8}{'ts.fit':<19}{'light-curve':<13}{'ts fits/s':>10}{'lc fits/s':>10}"
          f"{'ratio':>7}{'ts first s':>11}{'rchi2 ts':>9}{'rchi2 lc':>9}{'worse':>7}{'better':>7}")
    for name, lab, lc_lab, r_ts, r_lc, first, c_ts, c_lc, worse, better in bench_parametric(a.n_param, rng):
        print(f"{name:<8}{lab:<19}{lc_lab:<13}{r_ts:>10.0f}{r_lc:>10.0f}{r_ts / r_lc:>7.2f}"
              f"{first:>11.2f}{c_ts:>9.3f}{c_lc:>9.3f}{worse:>7.3f}{better:>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
