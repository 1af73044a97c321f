"""Build the compact SALT model files and bandpass tables shipped in ``tsmodels/resources``.

Run from the repository root (no network access is needed or used)::

    python resources_src/build_salt_resources.py --models /path/to/models \
        --lsst /path/to/lsst/throughputs/baseline --ps1-kcor /path/to/kcor_PS1_none.fits \
        --sdss /path/to/speclite/data/filters --ztf /path/to/bayesn-filters/filters/ZTF

Every input is optional: only the outputs whose inputs are given are (re)written, and the
``SHA256SUMS`` of a folder is rewritten from all the ``.npz`` files in it.

Inputs (public sources; the README.md files next to the outputs give their provenance):

* SALT model directories in the layout that sncosmo reads (``salt2-4`` from
  sncosmo/sncosmo.github.io ``data/models/salt2/salt2-4.tar.gz``; ``salt3-f22`` from
  ``data/models/salt3/salt3-f22.tar.gz``);
* LSST baseline ``total_{u,g,r,i,z,y}.dat`` throughputs (lsst/throughputs, v1.9);
* the Pan-STARRS1 ``FilterTrans`` table of ``kcor_PS1_none.fits`` from the Foundation
  Supernova Survey DR1 (djones1040/Foundation_DR1);
* the SDSS 2.5 m imager responses at airmass 1.3 of Doi et al. (2010, Table 4),
  ``sdss2010-{u,g,r,i,z}.ecsv`` of the ``speclite`` 1.0.0 wheel (``speclite/data/filters``);
* the ZTF (Palomar 48-inch) filter + system transmissions ``p48{g,r,i}.txt`` of the ``bayesn``
  0.4.0 wheel (``bayesn/bayesn-filters/filters/ZTF``).

Outputs:

* ``tsmodels/resources/salt/<name>.npz``: every number of the ASCII model files, parsed with
  Python's ``float`` (the parser sncosmo uses) and stored as float64, so no value changes;
* ``tsmodels/resources/bandpasses/<set>.npz``: per band ``<band>_wave`` (Angstrom) and
  ``<band>_trans``, trimmed the way sncosmo trims its built-in bandpasses, and ``prefix``: the
  band names are ``prefix + band`` (``lsstg``, ``ps1::g``, ``sdssg``, ``ztfg``, as sncosmo
  spells them);
* a ``SHA256SUMS`` file in each folder, checked by :mod:`tsmodels.kernels.supernova.salt` at load.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
from pathlib import Path

import numpy as np

from tsmodels.kernels.supernova import salt

ROOT = Path(__file__).resolve().parent.parent
OUT_SALT = ROOT / "tsmodels" / "resources" / "salt"
OUT_BAND = ROOT / "tsmodels" / "resources" / "bandpasses"

MODELS = {"salt2-4": "salt2", "salt3-f22": "salt3"}
TRIM_LEVEL = 0.001  # sncosmo's BANDPASS_TRIM_LEVEL for its built-in bandpasses


def build_model(src: Path) -> dict:
    """The model directory's arrays, read by the package's own reader (float64, as parsed)."""
    d = salt._read_model_dir(src)
    d["family"] = np.array(d["family"])
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


trim = salt._trim


def band_set(prefix: str, curves: dict, trim_level=TRIM_LEVEL) -> dict:
    """The arrays of one band set's ``.npz``: ``{band: (wave [A], trans)}`` trimmed (member
    order ``<b>_wave``, ``<b>_trans`` per band, then ``prefix``)."""
    out = {}
    for b, (wave, trans) in curves.items():
        out[f"{b}_wave"], out[f"{b}_trans"] = trim(wave, trans, trim_level)
    out["prefix"] = np.array(prefix)
    return out


def build_lsst(lsst_dir: Path) -> dict:
    curves = {}
    for b in "ugrizy":
        d = np.loadtxt(lsst_dir / f"total_{b}.dat", dtype=np.float64)
        curves[b] = (d[:, 0] * 10.0, d[:, 1])  # nm -> Angstrom
    return band_set("lsst", curves)


def build_ps1(kcor: Path) -> dict:
    from astropy.io import fits

    with fits.open(kcor) as h:
        tab = h["FilterTrans"].data
        wave = np.asarray(tab["wavelength (A)"], dtype=np.float64)
        # float32 -> float64, exact; zero runs cut only (no trim level)
        curves = {b: (wave, np.asarray(tab[f"PS1-{b}"], dtype=np.float64)) for b in "griz"}
    return band_set("ps1::", curves, None)


def build_sdss(speclite_filters: Path) -> dict:
    from astropy.table import Table

    curves = {}
    for b in "ugriz":
        t = Table.read(speclite_filters / f"sdss2010-{b}.ecsv", format="ascii.ecsv")
        if str(t["wavelength"].unit) != "Angstrom":
            raise ValueError(f"sdss2010-{b}.ecsv: wavelength unit {t['wavelength'].unit}")
        curves[b] = (np.asarray(t["wavelength"], np.float64), np.asarray(t["response"], np.float64))
    return band_set("sdss", curves)


def build_ztf(ztf_dir: Path) -> dict:
    curves = {}
    for b in "gri":
        d = np.loadtxt(ztf_dir / f"p48{b}.txt", dtype=np.float64)  # Angstrom, transmission
        curves[b] = (d[:, 0], d[:, 1])
    return band_set("ztf", curves)


def save(path: Path, arrays: dict):
    # fixed member order and no timestamps inside -> reproducible bytes
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.write_bytes(buf.getvalue())


def write_sums(folder: Path):
    lines = []
    for p in sorted(folder.glob("*.npz")):
        lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n")
    (folder / "SHA256SUMS").write_text("".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=Path, help="folder holding salt2-4/ and salt3-f22/")
    ap.add_argument("--lsst", type=Path, help="lsst/throughputs baseline/ folder")
    ap.add_argument("--ps1-kcor", type=Path, help="Foundation DR1 kcor_PS1_none.fits")
    ap.add_argument("--sdss", type=Path, help="speclite's data/filters folder")
    ap.add_argument("--ztf", type=Path, help="bayesn's bayesn-filters/filters/ZTF folder")
    args = ap.parse_args(argv)
    if args.models is not None:
        for name in MODELS:
            save(OUT_SALT / f"{name}.npz", build_model(args.models / name))
        write_sums(OUT_SALT)
    bands = [("lsst", build_lsst, args.lsst), ("ps1", build_ps1, args.ps1_kcor),
             ("sdss", build_sdss, args.sdss), ("ztf", build_ztf, args.ztf)]
    for name, build, src in bands:
        if src is not None:
            save(OUT_BAND / f"{name}.npz", build(src))
    if any(src is not None for _, _, src in bands):
        write_sums(OUT_BAND)
    for folder in (OUT_SALT, OUT_BAND):
        for p in sorted(folder.glob("*.npz")):
            print(f"{p.relative_to(ROOT)}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    main()
