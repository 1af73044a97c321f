"""Gaussian processes with exact O(n) state-space likelihoods: DRW, CARMA(p, q), DHO, multiband DRW.

Pure JAX functions of one light curve (``t`` in days, sorted over the real points; ``mask`` True
for real points, masked points contribute nothing), vmapped by the layers above:

* :mod:`~tsmodels.kernels.gp.drw`: damped random walk ``k(dt) = sigma^2 exp(-|dt|/tau)`` —
  :func:`drw_loglike`, :func:`drw_predict`, :func:`drw_sample`, PSD, structure function, SF_inf and
  MacLeod et al. (2010) ``sigma_hat`` conversions.
* :mod:`~tsmodels.kernels.gp.carma`: CARMA(p, q), p <= 5, q < p (Kelly et al. 2014 state space in
  a root-free form) and the DHO in EzTao's parameters — :func:`carma_loglike`,
  :func:`dho_loglike`, :func:`carma_predict`, :func:`carma_sample`, PSD, autocovariance, structure
  function, :func:`carma_rms`.
* :mod:`~tsmodels.kernels.gp.multiband`: one latent DRW shared by all bands with per-band amplitude
  and mean — :func:`drw_multiband_loglike`, :func:`drw_multiband_predict`.

Every likelihood takes two static options: ``marginalize_mean`` (integrate the constant mean out
under a flat prior, still O(n)) and ``parallel`` (``lax.associative_scan`` filter instead of the
serial ``lax.scan``).
"""

from tsmodels.kernels.gp.carma import (
    MAX_P,
    carma_autocovariance,
    carma_loglike,
    carma_predict,
    carma_psd,
    carma_rms,
    carma_sample,
    carma_structure_function,
    dho_loglike,
)
from tsmodels.kernels.gp.drw import (
    drw_autocovariance,
    drw_loglike,
    drw_predict,
    drw_psd,
    drw_sample,
    drw_sf_inf,
    drw_sigma_from_sf_inf,
    drw_sigma_from_sigmahat,
    drw_sigmahat,
    drw_structure_function,
)
from tsmodels.kernels.gp.multiband import drw_multiband_loglike, drw_multiband_predict

__all__ = [
    "MAX_P",
    "carma_autocovariance",
    "carma_loglike",
    "carma_predict",
    "carma_psd",
    "carma_rms",
    "carma_sample",
    "carma_structure_function",
    "dho_loglike",
    "drw_autocovariance",
    "drw_loglike",
    "drw_multiband_loglike",
    "drw_multiband_predict",
    "drw_predict",
    "drw_psd",
    "drw_sample",
    "drw_sf_inf",
    "drw_sigma_from_sf_inf",
    "drw_sigma_from_sigmahat",
    "drw_sigmahat",
    "drw_structure_function",
]
