"""tsmodels: batched, GPU-ready model fitting for astronomical light curves (JAX).

The public API is re-exported here; implementations live in private-by-convention modules.
``import tsmodels`` does not change JAX's global configuration (see :mod:`tsmodels.config`).
"""

from tsmodels import config, engine, fitting, io, models, periodogram, plot, simulate
from tsmodels import nested, pipeline
from tsmodels import kernels
from tsmodels.kernels import fap as _fap, gp as _gp, linalg as _linalg, lombscargle as _ls, multiband as _mb  # noqa: F401  (ts.kernels.*)
from tsmodels.kernels import supernova as _supernova  # noqa: F401  (ts.kernels.supernova)
from tsmodels.kernels import microlensing as _microlensing  # noqa: F401  (ts.kernels.microlensing)
from tsmodels.fitting import FitResult, Posterior, compare, fit, sample
from tsmodels.periodogram import LombScargle, LombScargleMultiband, lombscargle, lombscargle_multiband
from tsmodels.config import precision
from tsmodels.lightcurves import DataQualityWarning, LightCurveBatch
from tsmodels.models.base import PooledBandsWarning
from tsmodels.screening import screen_microlensing

__version__ = "0.1.0"

__all__ = [
    "LightCurveBatch",
    "DataQualityWarning",
    "PooledBandsWarning",
    "FitResult",
    "Posterior",
    "LombScargle",
    "LombScargleMultiband",
    "compare",
    "config",
    "engine",
    "fit",
    "fitting",
    "io",
    "kernels",
    "lombscargle",
    "lombscargle_multiband",
    "models",
    "nested",
    "periodogram",
    "pipeline",
    "plot",
    "precision",
    "sample",
    "screen_microlensing",
    "simulate",
    "__version__",
]
