"""Microlensing kernels of ONE light curve, pure JAX, in MulensModel (version 3) conventions.

* :mod:`~tsmodels.kernels.microlensing.point`: point lens, point and finite source
  (:func:`pspl_magnification`, :func:`fspl_magnification`), magnitudes to fluxes and the
  closed-form source/blend fluxes (:func:`mag_to_flux`, :func:`linear_fluxes`).
* :mod:`~tsmodels.kernels.microlensing.parallax`: annual parallax, the projected Earth offsets
  from astropy's ephemeris on the host (:func:`earth_offsets`, :func:`sky_basis`) and the
  source trajectory they bend (:func:`parallax_trajectory`); satellite parallax, a spacecraft's
  projected offsets from a JPL Horizons ephemeris (:func:`read_ephemeris`,
  :func:`satellite_offsets`).
* :mod:`~tsmodels.kernels.microlensing.binary`: binary lens, point source, Witt (1990)
  polynomial with batched Aberth-Ehrlich roots (:func:`binary_magnification` on a rectilinear
  trajectory, :func:`binary_magnification_xy` at any source positions, :func:`binary_trajectory`,
  :func:`binary_images`); finite source in the Gould (2008) quadrupole/hexadecapole
  approximation with a per-point validity flag (:func:`binary_magnification_finite`,
  :func:`binary_magnification_finite_xy`).
"""

from tsmodels.kernels.microlensing.point import (MAG_ZEROPOINT, fspl_magnification, linear_fluxes,
                                                 mag_to_flux, pspl_magnification)
from tsmodels.kernels.microlensing.parallax import (Ephemeris, earth_offsets, parallax_trajectory,
                                                    read_ephemeris, satellite_offsets, sky_basis)
from tsmodels.kernels.microlensing.binary import (binary_images, binary_magnification,
                                                  binary_magnification_finite,
                                                  binary_magnification_finite_xy,
                                                  binary_magnification_xy, binary_trajectory)

__all__ = ["MAG_ZEROPOINT", "pspl_magnification", "fspl_magnification", "mag_to_flux",
           "linear_fluxes", "earth_offsets", "sky_basis", "parallax_trajectory", "Ephemeris",
           "read_ephemeris", "satellite_offsets",
           "binary_magnification", "binary_magnification_xy", "binary_trajectory", "binary_images",
           "binary_magnification_finite", "binary_magnification_finite_xy"]
