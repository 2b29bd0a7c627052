"""Numba array kernels of dosecalc (installed as ``dosecalc.kernels``).

Pure functions of arrays and scalars: no DICOM, no I/O, no domain objects.  The domain
layer (``dosecalc``) prepares C-contiguous float64/int64 arrays and calls these.
Conventions shared by every kernel:

* 3-D arrays are indexed ``(z, y, x)``; coordinate triples are ``(x, y, z)`` in mm.
* A regular grid is described by ``origin`` (centre of voxel ``[0, 0, 0]``) and
  ``spacing`` (positive steps along +x, +y, +z), both float64 arrays of length 3.
* Every kernel gives the same result for any numba thread count: parallel loops only
  write disjoint outputs, and reductions are done in a fixed order.
"""
