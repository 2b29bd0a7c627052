"""Dose samples of a fractional mask: one (dose, volume) pair per cell with fraction > 0.

One serial pass over the mask box (it is bound by memory traffic, and a parallel
version costs seconds of extra compilation on a cold start for ~2x on the largest
boxes).  Each plane writes to its own slice of the output (offsets from a prefix sum of
per-plane counts done by the caller), so the samples come out in C order of the lattice.  Dose is read
directly when the lattice is the dose grid's own (``aligned``), else interpolated
trilinearly at the cell centre (only for cells inside: a sub-voxel box around a round
structure is half empty).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .interp import _interp_one


@njit(cache=True)
def gather_samples(frac, values, aligned, offset, origin, spacing, m_origin, m_spacing,
                   cell_cc, plane_start, out_dose, out_vol):
    """Fill ``out_dose``/``out_vol`` with the cells of ``frac`` that are > 0.

    Parameters
    ----------
    frac : float64 (nz, ny, nx)
        Fraction of each lattice cell inside the structure.
    values : float64 (gz, gy, gx)
        Dose grid values.
    aligned : bool
        The lattice is the dose grid's own voxels, starting at ``offset`` (iz, iy, ix).
    offset : int64 (3,)
    origin, spacing : float64 (3,)
        Dose grid geometry (x, y, z), mm.
    m_origin, m_spacing : float64 (3,)
        Lattice geometry (x, y, z), mm.
    cell_cc : float
        Volume of one lattice cell, cc.
    plane_start : int64 (nz + 1,)
        Index of the first output sample of each z plane (prefix sum of counts).
    out_dose, out_vol : float64 (plane_start[-1],)

    Returns
    -------
    int
        Number of samples whose dose is NaN (cell centre outside the dose grid).
    """
    nz, ny, nx = frac.shape
    n_nan = np.zeros(nz, dtype=np.int64)
    for k in range(nz):
        j_out = plane_start[k]
        fz = (m_origin[2] + k * m_spacing[2] - origin[2]) / spacing[2]
        for j in range(ny):
            fy = (m_origin[1] + j * m_spacing[1] - origin[1]) / spacing[1]
            for i in range(nx):
                f = frac[k, j, i]
                if f > 0.0:
                    if aligned:
                        d = values[offset[0] + k, offset[1] + j, offset[2] + i]
                    else:
                        fx = (m_origin[0] + i * m_spacing[0] - origin[0]) / spacing[0]
                        d = _interp_one(values, fx, fy, fz, np.nan)
                        if d != d:
                            n_nan[k] += 1
                    out_dose[j_out] = d
                    out_vol[j_out] = f * cell_cc
                    j_out += 1
    return n_nan.sum()
