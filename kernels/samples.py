"""Dose samples of a fractional mask: one (dose, volume) pair per cell with fraction > 0.

Each z plane of the mask box writes to its own slice of the output (offsets from a prefix
sum of per-plane counts done by the caller), so the samples come out in C order of the
lattice whatever the thread count.

* :func:`gather_aligned`: the lattice is the dose grid's own voxels (large structures:
  a Body of 10 M voxels); parallel over planes, a plain gather.
* :func:`gather_interp`: a sub-voxel lattice (small structures, boxes of ~1 M cells);
  dose trilinear at the centres of inside cells only (a box around a round structure is
  half empty).  Serial: a parallel loop around the inlined interpolation costs seconds of
  compilation on a cold start for little gain on such boxes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .interp import _interp_one


@njit(cache=True, parallel=True)
def gather_aligned(frac, values, offset, cell_cc, plane_start, out_dose, out_vol):
    """Samples of a mask on the dose grid's own voxels.

    Parameters
    ----------
    frac : float64 (nz, ny, nx)
        Fraction of each voxel of the mask box inside the structure.
    values : float64 (gz, gy, gx)
        Dose grid values; the box starts at voxel ``offset`` (iz, iy, ix), int64 (3,).
    cell_cc : float
        Volume of one voxel, cc.
    plane_start : int64 (nz + 1,)
        Index of the first output sample of each z plane (prefix sum of counts).
    out_dose, out_vol : float64 (plane_start[-1],)
        Receive the dose (Gy) and volume (cc) of each voxel with fraction > 0.
    """
    nz, ny, nx = frac.shape
    for k in prange(nz):
        j_out = plane_start[k]
        for j in range(ny):
            for i in range(nx):
                f = frac[k, j, i]
                if f > 0.0:
                    out_dose[j_out] = values[offset[0] + k, offset[1] + j, offset[2] + i]
                    out_vol[j_out] = f * cell_cc
                    j_out += 1


@njit(cache=True)
def gather_interp(frac, values, origin, spacing, m_origin, m_spacing, cell_cc, plane_start,
                  out_dose, out_vol):
    """Samples of a mask on a sub-voxel lattice, dose trilinear at the cell centres.

    ``origin``/``spacing`` describe the dose grid and ``m_origin``/``m_spacing`` the
    lattice, (x, y, z) in mm; other arguments as in :func:`gather_aligned`.

    Returns
    -------
    int
        Number of samples whose dose is NaN (cell centre outside the dose grid).
    """
    nz, ny, nx = frac.shape
    n_nan = 0
    for k in range(nz):
        j_out = plane_start[k]
        fz = (m_origin[2] + k * m_spacing[2] - origin[2]) / spacing[2]
        for j in range(ny):
            fy = (m_origin[1] + j * m_spacing[1] - origin[1]) / spacing[1]
            for i in range(nx):
                f = frac[k, j, i]
                if f > 0.0:
                    fx = (m_origin[0] + i * m_spacing[0] - origin[0]) / spacing[0]
                    d = _interp_one(values, fx, fy, fz, np.nan)
                    if d != d:
                        n_nan += 1
                    out_dose[j_out] = d
                    out_vol[j_out] = f * cell_cc
                    j_out += 1
    return n_nan
