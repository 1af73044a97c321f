"""Inference engines: batched maximum likelihood (``fit``) and batched NUTS (``sample``).

Nothing here knows which physics a model has: every engine talks to models only through the
protocol of :mod:`tsmodels.models.base`.
"""

from tsmodels.fitting.compare import compare
from tsmodels.fitting.mcmc import sample
from tsmodels.fitting.optimize import fit
from tsmodels.fitting.results import STATUS, FitResult, Posterior

__all__ = ["fit", "sample", "compare", "FitResult", "Posterior", "STATUS"]
