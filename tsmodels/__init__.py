"""tsmodels: batched, GPU-ready model fitting for astronomical light curves (JAX).

The public API is re-exported here; implementations live in private-by-convention modules.
``import tsmodels`` does not change JAX's global configuration (see :mod:`tsmodels.config`).
"""

from tsmodels import config, io, simulate
from tsmodels.config import precision
from tsmodels.lightcurves import DataQualityWarning, LightCurveBatch

__version__ = "0.1.0"

__all__ = ["LightCurveBatch", "DataQualityWarning", "config", "io", "precision", "simulate", "__version__"]
