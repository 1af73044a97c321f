"""Build the compact SALT model files and bandpass tables shipped in ``tsmodels/resources``.

Run from the repository root (no network access is needed or used)::

    python resources_src/build_salt_resources.py --models /path/to/models \
        --lsst /path/to/lsst/throughputs/baseline --ps1-kcor /path/to/kcor_PS1_none.fits

Inputs (public sources; the README.md files next to the outputs give their provenance):

* SALT model directories in the layout that sncosmo reads (``salt2-4`` from
  sncosmo/sncosmo.github.io ``data/models/salt2/salt2-4.tar.gz``; ``salt3-f22`` from
  ``data/models/salt3/salt3-f22.tar.gz``);
* LSST baseline ``total_{u,g,r,i,z,y}.dat`` throughputs (lsst/throughputs, v1.9);
* the Pan-STARRS1 ``FilterTrans`` table of ``kcor_PS1_none.fits`` from the Foundation
  Supernova Survey DR1 (djones1040/Foundation_DR1).

Outputs:

* ``tsmodels/resources/salt/<name>.npz``: every number of the ASCII model files, parsed with
  Python's ``float`` (the parser sncosmo uses) and stored as float64, so no value changes;
* ``tsmodels/resources/bandpasses/<set>.npz``: per band ``<band>_wave`` (Angstrom) and
  ``<band>_trans``, trimmed the way sncosmo trims its built-in bandpasses, and ``prefix``: the
  band names are ``prefix + band`` (``lsstg``, ``ps1::g``, as sncosmo spells them);
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


def build_lsst(lsst_dir: Path) -> dict:
    out = {}
    for b in "ugrizy":
        d = np.loadtxt(lsst_dir / f"total_{b}.dat", dtype=np.float64)
        wave, trans = trim(d[:, 0] * 10.0, d[:, 1], TRIM_LEVEL)  # nm -> Angstrom
        out[f"{b}_wave"], out[f"{b}_trans"] = wave, trans
    out["prefix"] = np.array("lsst")
    return out


def build_ps1(kcor: Path) -> dict:
    from astropy.io import fits

    with fits.open(kcor) as h:
        tab = h["FilterTrans"].data
        wave = np.asarray(tab["wavelength (A)"], dtype=np.float64)
        out = {}
        for b in "griz":
            trans = np.asarray(tab[f"PS1-{b}"], dtype=np.float64)  # float32 -> float64, exact
            w, t = trim(wave, trans, None)
            out[f"{b}_wave"], out[f"{b}_trans"] = w, t
    out["prefix"] = np.array("ps1::")
    return out


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
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--lsst", type=Path, required=True)
    ap.add_argument("--ps1-kcor", type=Path, required=True)
    args = ap.parse_args(argv)
    for name in MODELS:
        save(OUT_SALT / f"{name}.npz", build_model(args.models / name))
    write_sums(OUT_SALT)
    save(OUT_BAND / "lsst.npz", build_lsst(args.lsst))
    save(OUT_BAND / "ps1.npz", build_ps1(args.ps1_kcor))
    write_sums(OUT_BAND)
    for folder in (OUT_SALT, OUT_BAND):
        for p in sorted(folder.glob("*.npz")):
            print(f"{p.relative_to(ROOT)}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    main()
