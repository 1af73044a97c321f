"""Figures: periodograms and phase-folded light curves (Agg backend; content, not pixels)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from tsmodels import plot  # noqa: E402
from tsmodels.lightcurves import LightCurveBatch  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def batch(rng):
    ts_, ys, es, bs = [], [], [], []
    for n in (60, 45):
        t = 59000 + np.sort(rng.uniform(0, 200, n))
        b = rng.choice(list("gri"), n)
        ts_.append(t)
        ys.append(100 + 10 * np.sin(2 * np.pi * t / 0.7))
        es.append(np.full(n, 2.0))
        bs.append(b)
    return LightCurveBatch.from_arrays(t=ts_, flux=ys, flux_err=es, band=bs)


def test_periodogram_lines_labels_and_marks():
    f = np.linspace(0.1, 5, 300)
    p = np.stack([np.exp(-((f - 2) / 0.05) ** 2), 0.5 * np.exp(-((f - 3) / 0.05) ** 2)])
    ax = plot.periodogram(f, p, label=["a", "b"], mark=[2.0, 3.0])
    assert ax.get_xlabel() == "frequency [1/day]" and ax.get_ylabel() == "power"
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    marks = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(lines) == 2 and len(marks) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), f)
    np.testing.assert_allclose(lines[1].get_ydata(), p[1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert sorted(m.get_xdata()[0] for m in marks) == [2.0, 3.0]


def test_periodogram_in_period_on_given_axes():
    fig, axes = plt.subplots(1, 2)
    f = np.linspace(0.5, 4, 50)
    ax = plot.periodogram(f, np.ones(50), ax=axes[1], period=True, mark=2.0)
    assert ax is axes[1] and ax.get_xscale() == "log" and ax.get_xlabel() == "period [day]"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), 1 / f)
    assert ax.get_lines()[1].get_xdata()[0] == 0.5
    with pytest.raises(ValueError, match="frequency has 50 values"):
        plot.periodogram(f, np.ones(49))


def test_phase_folded_batch_one_errorbar_per_band(batch):
    ax = plot.phase_folded(batch, 0.7, index=1, cycles=2)
    conts = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in conts] == ["g", "r", "i"]        # the batch's band order
    n = int(batch.n_obs[1])
    assert sum(len(c[0].get_xdata()) for c in conts) == 2 * n          # two cycles
    for c in conts:
        x = np.asarray(c[0].get_xdata())
        assert x.min() >= 0 and x.max() < 2
        assert to_hex(c[0].get_color()) == plot.BAND_COLORS[c.get_label()]
    assert ax.get_xlabel().startswith("phase") and ax.get_ylabel() == "flux"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["g", "r", "i"]
    # folded at the true period the points of one band lie on one sinusoid: phase predicts flux
    c = conts[0]
    x, y = np.asarray(c[0].get_xdata()), np.asarray(c[0].get_ydata())
    t0 = float(np.asarray(batch.t[1])[0] + batch.t_ref[1])
    np.testing.assert_allclose(y, 100 + 10 * np.sin(2 * np.pi * (x * 0.7 + t0) / 0.7), atol=1e-6)


def test_phase_folded_table_and_tuple_inputs():
    t = np.linspace(0, 10, 40)
    df = pd.DataFrame({"time": t, "mag": 15 + 0.3 * np.sin(t), "magerr": 0.01,
                       "band": np.where(np.arange(40) % 2, "u", "z")})
    ax = plot.phase_folded(df, 1.3, invert_yaxis=True, cycles=1)
    assert ax.get_ylabel() == "mag" and ax.yaxis_inverted()
    assert [c.get_label() for c in ax.containers] == ["z", "u"]
    ax2 = plot.phase_folded((t, np.sin(t)), 2.0, errorbars=False)
    scat = [c for c in ax2.collections if isinstance(c, PathCollection)]
    assert len(scat) == 1 and len(scat[0].get_offsets()) == 80 and ax2.get_legend() is None
    with pytest.raises(ValueError, match="period must be finite and > 0"):
        plot.phase_folded((t, t), 0.0)
    with pytest.raises(IndexError, match="out of range"):
        plot.phase_folded(LightCurveBatch.from_arrays(t=[t], flux=[t]), 1.0, index=3)
