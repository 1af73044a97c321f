"""Matplotlib figures: periodograms and phase-folded light curves, one colour per band.

matplotlib is imported when a function is called (it is not needed for computing). Figures are
made with ``pyplot.subplots`` only when no ``ax`` is given, so the functions work with any backend,
including the non-interactive "Agg" of scripts and tests.

Example:
    >>> freq, power = ts.lombscargle_multiband(batch, maximum_frequency=5.0)
    >>> ax = ts.plot.periodogram(freq, power[0], mark=1 / 0.55)
    >>> ax = ts.plot.phase_folded(batch, period=0.55, index=0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["periodogram", "phase_folded", "BAND_COLORS"]

#: Colours of the common photometric bands (the palette Rubin Observatory uses for ugrizy); other
#: bands take matplotlib's default colour cycle.
BAND_COLORS = {"u": "#0c71ff", "g": "#49be61", "r": "#c61c00", "i": "#ffc200", "z": "#f341a2",
               "y": "#5d0000"}


def _axes(ax, figsize=(7.0, 3.5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _band_colors(names):
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    out, k = {}, 0
    for b in names:
        if b in BAND_COLORS:
            out[b] = BAND_COLORS[b]
        else:
            out[b] = cycle[k % len(cycle)]
            k += 1
    return out


def periodogram(frequency, power, ax=None, *, period=False, label=None, mark=None, logx=None,
                xlabel=None, ylabel="power", **line_kwargs):
    """Plot one or several periodograms against frequency (or period).

    Args:
        frequency: ``(F,)`` frequencies, cycles/day.
        power: ``(F,)``, or ``(k, F)`` for k curves (e.g. several normalizations or objects).
        ax: matplotlib Axes to draw on; None for a new figure.
        period: x axis in period (days, 1/frequency) instead of frequency.
        label: a label, or k labels (a legend is drawn when given).
        mark: frequencies (cycles/day) to mark with dashed vertical lines, e.g. a true or best
            period's frequency; a scalar or a sequence.
        logx: logarithmic x axis (default: True in period, False in frequency).
        xlabel, ylabel: axis labels (defaults name the quantity and unit).
        **line_kwargs: passed to ``Axes.plot``.

    Returns:
        the Axes.
    """
    f = np.asarray(frequency, dtype=np.float64)
    p = np.atleast_2d(np.asarray(power, dtype=np.float64))
    if f.ndim != 1 or p.shape[-1] != f.size:
        raise ValueError(f"power has shape {np.shape(power)}, frequency has {f.size} values")
    labels = [None] * p.shape[0] if label is None else (
        [label] if isinstance(label, str) else list(label))
    if len(labels) != p.shape[0]:
        raise ValueError(f"{len(labels)} labels for {p.shape[0]} periodograms")
    ax = _axes(ax)
    with np.errstate(divide="ignore"):
        x = 1.0 / f if period else f
    kw = dict(lw=0.8)
    kw.update(line_kwargs)
    for row, lab in zip(p, labels):
        ax.plot(x, row, label=lab, **kw)
    if mark is not None:
        for m in np.atleast_1d(np.asarray(mark, dtype=np.float64)):
            ax.axvline(1.0 / m if period else m, color="k", ls="--", lw=0.8, alpha=0.6)
    if logx if logx is not None else period:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or ("period [day]" if period else "frequency [1/day]"))
    ax.set_ylabel(ylabel)
    if label is not None:
        ax.legend(fontsize="small")
    return ax


def _one_light_curve(lc, index):
    """(t, y, dy or None, band names) of one light curve from the accepted inputs."""
    from tsmodels.lightcurves import LightCurveBatch

    if isinstance(lc, LightCurveBatch):
        if not -len(lc) <= index < len(lc):
            raise IndexError(f"index {index} out of range for a batch of {len(lc)} objects")
        m = np.asarray(lc.mask[index], bool)
        t = np.asarray(lc.t[index], np.float64)[m] + float(np.asarray(lc.t_ref)[index])
        names = np.asarray(lc.bands, dtype=object)[np.asarray(lc.band[index])[m]]
        return (t, np.asarray(lc.flux[index], np.float64)[m],
                np.asarray(lc.flux_err[index], np.float64)[m], names)
    try:
        import pandas as pd

        if isinstance(lc, pd.DataFrame):
            cols = {c.lower(): c for c in lc.columns}
            get = lambda *names: next((lc[cols[n]].to_numpy() for n in names if n in cols), None)  # noqa: E731
            t, y = get("time", "t", "mjd"), get("flux", "y", "mag")
            if t is None or y is None:
                raise ValueError(f"the table needs time and flux (or mag) columns, has {list(lc.columns)}")
            dy = get("flux_err", "dy", "magerr", "mag_err")
            band = get("band")
            return (np.asarray(t, np.float64), np.asarray(y, np.float64),
                    None if dy is None else np.asarray(dy, np.float64),
                    np.full(len(t), "", dtype=object) if band is None else band.astype(object))
    except ImportError:  # pragma: no cover
        pass
    parts = list(lc)
    if not 2 <= len(parts) <= 4:
        raise TypeError("phase_folded needs a LightCurveBatch, a DataFrame or (t, y[, dy[, band]])")
    t, y = (np.asarray(a, np.float64) for a in parts[:2])
    dy = None if len(parts) < 3 or parts[2] is None else np.asarray(parts[2], np.float64)
    band = np.full(t.size, "", dtype=object) if len(parts) < 4 else np.asarray(parts[3]).astype(str).astype(object)
    return t, y, dy, band


def phase_folded(batch_or_lc, period, ax=None, *, index=0, t0=None, cycles=2, bands=None,
                 errorbars=True, invert_yaxis=False, ylabel=None, legend=True, **kwargs):
    """Plot a light curve folded at ``period``, one colour (and legend entry) per band.

    Args:
        batch_or_lc: a :class:`~tsmodels.lightcurves.LightCurveBatch` (object ``index`` is
            drawn), a long DataFrame of one object (columns time/flux/flux_err/band, or
            mag/magerr), or a tuple ``(t, y[, dy[, band]])``.
        period: folding period, days.
        ax: Axes to draw on; None for a new figure.
        index: position of the object in a batch.
        t0: epoch of phase 0 (same time system as the data, MJD for a batch); default the first
            observation.
        cycles: phase range drawn, ``[0, cycles)`` (points repeated each cycle).
        bands: bands to draw, in order (default: all present, in the batch's order).
        errorbars: draw error bars (when errors are known).
        invert_yaxis: for magnitudes (brighter up).
        ylabel: default "flux" ("mag" for a DataFrame with a mag column).
        legend: draw a legend of the bands.
        **kwargs: passed to ``Axes.errorbar`` (or ``Axes.scatter`` without error bars).

    Returns:
        the Axes.
    """
    period = float(period)
    if not np.isfinite(period) or period <= 0:
        raise ValueError(f"period must be finite and > 0, got {period}")
    t, y, dy, band = _one_light_curve(batch_or_lc, index)
    if t.size == 0:
        raise ValueError("the light curve has no observation")
    if ylabel is None:
        is_mag = hasattr(batch_or_lc, "columns") and any(c.lower() == "mag" for c in batch_or_lc.columns)
        ylabel = "mag" if is_mag else "flux"
    origin = float(t.min()) if t0 is None else float(t0)
    phase = np.mod((t - origin) / period, 1.0)
    names = list(dict.fromkeys(band)) if bands is None else list(bands)
    if bands is None and hasattr(batch_or_lc, "bands"):
        names = [b for b in batch_or_lc.bands if b in set(band)]
    colors = _band_colors(names)
    ax = _axes(ax)
    k = np.arange(int(cycles))
    for b in names:
        m = band == b
        if not m.any():
            continue
        x = (phase[m][None, :] + k[:, None]).ravel()
        yy = np.tile(y[m], k.size)
        lab = b if b != "" else None
        if errorbars and dy is not None:
            kw = dict(fmt="o", ms=3, lw=0.6, alpha=0.8, color=colors[b], label=lab)
            kw.update(kwargs)
            ax.errorbar(x, yy, yerr=np.tile(dy[m], k.size), **kw)
        else:
            kw = dict(s=9, alpha=0.8, color=colors[b], label=lab)
            kw.update(kwargs)
            ax.scatter(x, yy, **kw)
    ax.set_xlim(0.0, float(cycles))
    ax.set_xlabel(f"phase (period {period:.6g} d)")
    ax.set_ylabel(ylabel)
    if invert_yaxis and not ax.yaxis_inverted():
        ax.invert_yaxis()
    if legend and any(b != "" for b in names):
        ax.legend(fontsize="small", ncol=min(len(names), 6))
    return ax
