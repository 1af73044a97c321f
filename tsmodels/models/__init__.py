"""Models: parameters, priors, bijections and the likelihood of ONE light curve.

See :mod:`tsmodels.models.base` for the protocol every model follows.
"""

from tsmodels.models.base import (LinearSolution, Model, PooledBandsWarning, SingleBand,
                                   banded_linear_solve)
from tsmodels.models.carma import CARMA, DHO
from tsmodels.models.constant import Constant
from tsmodels.models.drw import DRW, MultibandDRW
from tsmodels.models.microlensing import FSPL, PSPL
from tsmodels.models.binary_lens import BinaryLens
from tsmodels.models.periodic import FourierSeries
from tsmodels.models.parametric_sn import Bazin, Villar
from tsmodels.models.salt import SALT2, SALT3

__all__ = [
    "Model",
    "LinearSolution",
    "PooledBandsWarning",
    "SingleBand",
    "banded_linear_solve",
    "Constant",
    "FourierSeries",
    "DRW",
    "MultibandDRW",
    "DHO",
    "CARMA",
    "PSPL",
    "FSPL",
    "BinaryLens",
    "Bazin",
    "Villar",
    "SALT2",
    "SALT3",
]
