"""The command line: ``tsmodels demo`` and ``tsmodels simulate`` do what they say, and the
numbers the demo prints are the library's results (checked against the simulated truth)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tsmodels as ts
from tsmodels.cli import main


@pytest.mark.no_x64
def test_demo_runs(capsys):
    assert main(["demo", "--n-objects", "8", "--years", "2"]) == 0
    out = capsys.readouterr().out
    assert "Simulated LSST-like survey (8 objects per class" in out
    for kind in ("periodic", "drw", "constant", "pspl", "bazin", "salt2"):
        assert f"{kind}: 8 objects" in out
    # what the demo reports are real recoveries, not just strings
    found = int(re.search(r"best period within 0.1% of the truth for (\d+)/8", out).group(1))
    assert found >= 7
    assert int(re.search(r"(\d+)/8 converged", out).group(1)) >= 7
    assert int(re.search(r"BIC prefers the Fourier series for (\d+)/8", out).group(1)) >= 7
    for name in ("DRW, r band", "MultibandDRW"):
        frac = int(re.search(re.escape(name) + r": tau within a factor 2 of the truth for (\d+)%", out).group(1))
        assert 0 < frac <= 100
    assert int(re.search(r"BIC prefers the lens for (\d+)/8 events", out).group(1)) >= 6
    assert int(re.search(r"BIC prefers the lens for (\d+)/8 constant stars", out).group(1)) <= 1
    assert int(re.search(r"tE within 20% of the truth for (\d+)/8", out).group(1)) >= 3
    assert int(re.search(r"t0 within 2 days of the truth for (\d+)/8", out).group(1)) >= 3
    # SALT2 on simulated SNe Ia: converged, within 2 sigma of the simulated truth, and errors that
    # are neither far too large (median |pull| well above 0) nor far too small
    salt = re.search(r"SALT2: (\d+)/8 converged; within 2 sigma of the truth: x1 (\d+)/8, c (\d+)/8, "
                     r"t0 (\d+)/8", out)
    assert salt, out
    converged, x1, c, t0 = (int(g) for g in salt.groups())
    assert converged >= 7 and x1 >= 6 and c >= 6 and t0 >= 5
    med = re.search(r"median \|pull\| x1 ([\d.]+), c ([\d.]+), t0 ([\d.]+)", out)
    assert med and all(0.1 < float(v) < 2.0 for v in med.groups()), med
    assert re.search(r"demo finished in [\d.]+ s", out)


def test_simulate_writes_parquet_and_truth(tmp_path, capsys):
    out, truth = tmp_path / "lc.parquet", tmp_path / "truth.csv"
    assert main(["simulate", str(out), "--kind", "periodic", "--n", "7", "--truth", str(truth), "--seed", "3"]) == 0
    assert "wrote 7 periodic light curves" in capsys.readouterr().out
    batch = ts.io.read_parquet(out)
    expected, true = ts.simulate.lightcurves("periodic", 7, seed=3)
    np.testing.assert_array_equal(batch.flux, expected.flux)
    np.testing.assert_array_equal(batch.mjd[batch.mask], expected.mjd[expected.mask])
    written = pd.read_csv(truth, index_col=0)
    assert len(written) == len(true) == 7
    np.testing.assert_allclose(written["period"].to_numpy(), true["period"].to_numpy(), rtol=1e-12)


def test_module_entry_point_and_help():
    r = subprocess.run([sys.executable, "-m", "tsmodels", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "demo" in r.stdout and "simulate" in r.stdout


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as err:
        main(["nonsense"])
    assert err.value.code == 2
