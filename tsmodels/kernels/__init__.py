"""Pure JAX functions of ONE light curve: the maths of every model.

Kernels take the arrays of a single light curve first (``t, y, dy`` or ``t, flux, flux_err``,
``band``, ``mask``) and physical parameters as keyword arguments; they are traceable, have static
shapes and never see a batch (the layers above ``vmap`` them).
"""
