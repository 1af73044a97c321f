"""Supernova light-curve kernels.

* :mod:`~tsmodels.kernels.supernova.parametric`: the empirical shapes of Bazin et al. (2009)
  (:func:`bazin_flux`) and Villar et al. (2019) (:func:`villar_flux`), with the parameters and
  conventions of the ``light-curve`` package (``BazinFit``, ``VillarFit``).
"""

from tsmodels.kernels.supernova.parametric import bazin_flux, villar_flux

__all__ = ["bazin_flux", "villar_flux"]
