"""Supernova light-curve kernels.

* :mod:`~tsmodels.kernels.supernova.parametric`: the empirical shapes of Bazin et al. (2009)
  (:func:`bazin_flux`) and Villar et al. (2019) (:func:`villar_flux`), with the parameters and
  conventions of the ``light-curve`` package (``BazinFit``, ``VillarFit``).
* :mod:`~tsmodels.kernels.supernova.salt`: SALT2/SALT3 synthetic photometry
  (:func:`salt_bandflux`, sncosmo's ``Model.bandflux`` with Milky Way dust), its host-side tables
  (:func:`load_salt`, :func:`salt_bands`, :func:`register_bandpass`) and the split into a
  per-object part (:func:`salt_prepare`) and a per-evaluation part
  (:func:`salt_bandflux_prepared`); the relative model covariance (:func:`salt_bandflux_rcov`,
  sncosmo's ``bandfluxcov``).
* :mod:`~tsmodels.kernels.supernova.dust`: Fitzpatrick (1999) extinction
  (:func:`f99_extinction`).
"""

from tsmodels.kernels.supernova.dust import f99_curve, f99_extinction
from tsmodels.kernels.supernova.parametric import bazin_flux, villar_flux
from tsmodels.kernels.supernova.salt import (  # noqa: F401 (host builders, see below)
    Bandpass,
    SALTBands,
    SALTModel,
    SALTPrepared,
    SALTRcovPrepared,
    bandpass_names,
    check_salt_coverage,
    get_bandpass,
    load_salt,
    register_bandpass,
    salt_bandflux,
    salt_bandflux_prepared,
    salt_bandflux_rcov,
    salt_bandflux_rcov_prepared,
    salt_bands,
    salt_prepare,
    salt_prepare_rcov,
)

# kernels (float64 by default) and the table types; the host-side builders (load_salt,
# salt_bands, register_bandpass, get_bandpass, bandpass_names, check_salt_coverage) are imported
# above but are not kernels, so they are not listed here
__all__ = ["bazin_flux", "villar_flux", "salt_bandflux", "salt_bandflux_prepared",
           "salt_prepare", "salt_bandflux_rcov", "salt_bandflux_rcov_prepared",
           "salt_prepare_rcov", "f99_extinction", "f99_curve", "SALTModel", "SALTBands",
           "SALTPrepared", "SALTRcovPrepared", "Bandpass"]
