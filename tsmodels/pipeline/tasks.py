"""What the pipeline computes per chunk: a fit, a posterior sample, or a periodogram summary.

A task turns one :class:`~tsmodels.lightcurves.LightCurveBatch` (a chunk) into a table with one
row per object, in the batch's order, with an ``id`` and a ``status`` column (the codes of
:mod:`tsmodels.fitting.results`). Tasks know nothing of files or chunks; the runner
(:func:`tsmodels.pipeline.run`) does the rest. Any :class:`~tsmodels.models.Model`, present or
future, runs through :class:`Fit` and :class:`Sample` unchanged.

Every task has a JSON-able :meth:`Task.spec`, recorded in the sink's manifest: a resumed run
must have the same spec, so a changed model, option or grid cannot mix its rows with the old
ones.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from tsmodels.fitting.results import NO_DATA, NONFINITE, OK

__all__ = ["Task", "Fit", "Sample", "Periodogram", "model_from_string", "as_task", "result_table"]


class Task:
    """Base class: ``spec()``, ``prepare(plan)``, ``check(batch)`` and ``__call__(batch)``."""

    kind = "task"

    def spec(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, plan) -> "Task":
        """The task with its dataset-wide settings fixed from the source's plan (default: as is)."""
        return self

    def check(self, batch) -> None:
        """Host-side checks on a chunk before any work (raise ``ValueError`` on bad input)."""

    def __call__(self, batch) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError


def _plain(x):
    """Options as JSON-able values (tuples as lists, NumPy scalars as Python ones)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


@dataclass(frozen=True)
class _ModelTask(Task):
    model: object
    options: dict = field(default_factory=dict)

    def spec(self) -> dict:
        return {"kind": self.kind, "model": repr(self.model), "options": _plain(self.options)}

    def check(self, batch) -> None:
        self.model.check_batch(batch)


@dataclass(frozen=True)
class Fit(_ModelTask):
    """``ts.fit(model, chunk, **options)``: one row of :meth:`FitResult.to_pandas` per object.

    Args:
        model: any :class:`tsmodels.models.Model`.
        options: keyword arguments of :func:`tsmodels.fit` (``method``, ``n_starts``,
            ``max_steps``, ``dtype``, ...).
    """

    kind = "fit"

    def __call__(self, batch) -> pd.DataFrame:
        from tsmodels.fitting import fit

        return fit(self.model, batch, **self.options).to_pandas()


@dataclass(frozen=True)
class Sample(_ModelTask):
    """``ts.sample(model, chunk, **options)``: one row of :meth:`Posterior.summary` per object
    (means, standard deviations, quantiles, R-hat, ESS, divergences, status).

    Args:
        model: any :class:`tsmodels.models.Model`.
        options: keyword arguments of :func:`tsmodels.sample` (``num_samples``,
            ``num_warmup``, ``num_chains``, ``seed``, ...). An object's draws depend only on
            the seed and its id, so the rows do not depend on the chunking.
    """

    kind = "sample"

    def __call__(self, batch) -> pd.DataFrame:
        from tsmodels.fitting import sample

        return sample(self.model, batch, **self.options).summary()


@dataclass(frozen=True)
class Periodogram(Task):
    """Best periods and their false-alarm probabilities per object
    (:func:`tsmodels.periodogram.find_periods`: a coarse multiband search, refined around its
    ``n_candidates`` highest peaks).

    The frequency grid is the same for every chunk: from ``minimum_frequency`` to
    ``maximum_frequency`` (cycles/day) in steps of ``1 / (samples_per_peak * T)``, where ``T``
    is the time span of the whole input (days) unless ``baseline`` gives it, so an object's
    periods do not depend on which chunk it is in. ``minimum_frequency`` defaults to half a
    step (periods up to twice the span).

    Columns: ``period_1 .. period_k`` (days), ``power_1 ..``, ``fap_1 ..``, ``status``
    (``OK``; ``NO_DATA`` for an object without points; ``NONFINITE`` where no peak was found).

    Args:
        k: periods per object.
        minimum_frequency, maximum_frequency: grid limits, cycles/day.
        samples_per_peak: grid points per peak width ``1/T`` of the search stage.
        baseline: ``T`` in days (default: the input's time span).
        multiband: search all bands jointly (True) or all points as one series.
        options: more keyword arguments of :func:`~tsmodels.periodogram.find_periods`
            (``n_candidates``, ``refine_points``, ``search``, ``refine``, ``fap_method``,
            ``dtype`` ...).
    """

    k: int = 1
    minimum_frequency: float | None = None
    maximum_frequency: float = 10.0
    samples_per_peak: float = 2.0
    baseline: float | None = None
    multiband: bool = True
    options: dict = field(default_factory=dict)
    kind = "periodogram"

    def __post_init__(self):
        if int(self.k) != self.k or self.k < 1:
            raise ValueError(f"k must be a positive integer, got {self.k!r}")
        if not self.maximum_frequency > 0:
            raise ValueError(f"maximum_frequency must be > 0 cycles/day, got {self.maximum_frequency!r}")
        if self.baseline is not None and not self.baseline > 0:
            raise ValueError(f"baseline must be > 0 days, got {self.baseline!r}")

    def spec(self) -> dict:
        return {"kind": self.kind, **_plain({f.name: getattr(self, f.name)
                                             for f in dataclasses.fields(self)})}

    def prepare(self, plan) -> "Periodogram":
        if self.baseline is not None:
            return self
        lo, hi = plan.time_span
        span = float(hi - lo) if np.isfinite(hi - lo) and hi > lo else 1.0
        return dataclasses.replace(self, baseline=span)

    def grid(self) -> np.ndarray:
        """The search grid, cycles/day (needs ``baseline``: call :meth:`prepare` first)."""
        if self.baseline is None:
            raise ValueError("Periodogram.grid needs the baseline: set baseline= or prepare(plan)")
        df = 1.0 / (self.samples_per_peak * self.baseline)
        f0 = 0.5 * df if self.minimum_frequency is None else float(self.minimum_frequency)
        if not f0 < self.maximum_frequency:
            raise ValueError(f"minimum_frequency {f0} is not below maximum_frequency "
                             f"{self.maximum_frequency}")
        n = 1 + int(np.floor((self.maximum_frequency - f0) / df))
        return f0 + df * np.arange(n)

    def __call__(self, batch) -> pd.DataFrame:
        from tsmodels.periodogram import find_periods

        peaks = find_periods(batch, self.grid(), multiband=self.multiband, k=self.k, **self.options)
        cols = {"id": batch.ids}
        for j in range(self.k):
            cols[f"period_{j + 1}"] = peaks.period[:, j]
            cols[f"power_{j + 1}"] = peaks.power[:, j]
            cols[f"fap_{j + 1}"] = peaks.fap[:, j]
        n_obs = np.asarray(batch.n_obs)
        status = np.where(n_obs == 0, NO_DATA, np.where(np.isfinite(peaks.period[:, 0]), OK, NONFINITE))
        cols["status"] = status.astype(np.int64)
        return pd.DataFrame(cols)


def model_from_string(text: str):
    """A model from its name and arguments as written in Python: ``"DRW"``, ``"DRW()"``,
    ``"CARMA(2, 1)"``, ``"FourierSeries(nterms=2, period_range=(0.2, 1.0))"``.

    Only literal arguments are accepted (numbers, strings, tuples, ...); nothing is executed.
    """
    from tsmodels import models

    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"cannot read model {text!r}; write it like DRW or CARMA(2, 1)") from None
    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, [], {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise ValueError(f"model {text!r}: arguments must be literals (numbers, strings, "
                             "tuples)") from None
    else:
        raise ValueError(f"cannot read model {text!r}; write it like DRW or CARMA(2, 1)")
    known = [n for n in models.__all__ if isinstance(getattr(models, n), type)
             and issubclass(getattr(models, n), models.Model) and getattr(models, n) is not models.Model
             and n != "SingleBand"]
    if name not in known:
        raise ValueError(f"unknown model {name!r}; models are {', '.join(known)}")
    try:
        return getattr(models, name)(*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"model {text!r}: {err}") from None


def as_task(task) -> Task:
    """A task from a :class:`Task` or a model (which means :class:`Fit` of it)."""
    from tsmodels.models import Model

    if isinstance(task, Task):
        return task
    if isinstance(task, Model):
        return Fit(task)
    raise TypeError(f"task must be ts.pipeline.Fit(model), Sample(model), Periodogram() or a "
                    f"model, got {type(task).__name__}")


def result_table(rows: pd.DataFrame, batch, id_name: str = "id") -> pa.Table:
    """A task's rows with the columns every pipeline output carries, as an Arrow table.

    Args:
        rows: the task's output on ``batch`` (one row per object, batch order, an ``id`` column).
        batch: the batch the rows were computed from.
        id_name: the id column's name in the output (the input's, e.g. ``diaObjectId``).

    Returns:
        ``rows`` with ``id`` renamed to ``id_name`` and ``n_obs`` (valid points per object),
        ``n_dropped`` (points dropped by validation) and ``error`` (null) added.
    """
    df = rows.rename(columns={"id": id_name})
    df["n_obs"] = np.asarray(batch.n_obs, np.int64)
    dropped = batch.dropped
    df["n_dropped"] = (np.zeros(len(batch), np.int64) if dropped is None
                       else dropped.to_numpy().sum(axis=1).astype(np.int64))
    df["error"] = pd.Series([None] * len(df), dtype="string")
    return pa.Table.from_pandas(df, preserve_index=False)
