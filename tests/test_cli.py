"""The command line: ``tsmodels demo`` and ``tsmodels simulate`` run and say what they did."""

from __future__ import annotations

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
    for kind in ("periodic", "drw", "constant"):
        assert f"{kind}: 8 objects" in out
    assert "best period within 0.1% of the truth for" in out
    assert "BIC prefers the Fourier series for" in out
    assert "MultibandDRW: tau within a factor 2 of the truth for" in out
    assert "demo finished" in out


def test_simulate_writes_parquet_and_truth(tmp_path, capsys):
    out, truth = tmp_path / "lc.parquet", tmp_path / "truth.csv"
    assert main(["simulate", "periodic", str(out), "--n-objects", "7", "--truth", str(truth), "--seed", "3"]) == 0
    assert "wrote 7 periodic light curves" in capsys.readouterr().out
    batch = ts.io.read_parquet(out)
    expected, true = ts.simulate.lightcurves("periodic", 7, seed=3)
    np.testing.assert_array_equal(batch.flux, expected.flux)
    assert len(pd.read_csv(truth)) == len(true) == 7


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as err:
        main(["nonsense"])
    assert err.value.code == 2
