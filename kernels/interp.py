"""Trilinear interpolation of a regular dose grid.

The grid holds dose at voxel centres.  Between the outermost centres the dose is
trilinear; in the outer half voxel (between the last centre and the grid's boundary)
it is the nearest edge value along that axis, because that half voxel is part of the
grid's volume and its dose is what the grid states; beyond the boundary the result is
``fill`` (NaN by default in the domain layer), never an extrapolation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Points within this fraction of a voxel outside the boundary count as on it, so that a
# coordinate computed with rounding error exactly at the edge is not dropped.
_EDGE_TOL = 1e-9


@njit(cache=True, inline="always")
def _axis(f, n):
    """Split a fractional index into (i0, i1, weight of i1); i0 = -1 marks 'outside'."""
    if f < -0.5 - _EDGE_TOL or f > n - 0.5 + _EDGE_TOL:
        return -1, -1, 0.0
    if f <= 0.0:
        return 0, 0, 0.0
    if f >= n - 1:
        return n - 1, n - 1, 0.0
    i0 = int(np.floor(f))
    if i0 >= n - 1:
        i0 = n - 2
    return i0, i0 + 1, f - i0


@njit(cache=True, inline="always")
def _interp_one(values, fx, fy, fz, fill):
    nz, ny, nx = values.shape
    x0, x1, wx = _axis(fx, nx)
    y0, y1, wy = _axis(fy, ny)
    z0, z1, wz = _axis(fz, nz)
    if x0 < 0 or y0 < 0 or z0 < 0:
        return fill
    return _blend(values, z0, z1, wz, y0, y1, wy, x0, x1, wx)


@njit(cache=True, inline="always")
def _blend(values, z0, z1, wz, y0, y1, wy, x0, x1, wx):
    """Trilinear blend of the 8 voxels around a point, from the :func:`_axis` splits."""
    c00 = values[z0, y0, x0] * (1.0 - wx) + values[z0, y0, x1] * wx
    c01 = values[z0, y1, x0] * (1.0 - wx) + values[z0, y1, x1] * wx
    c10 = values[z1, y0, x0] * (1.0 - wx) + values[z1, y0, x1] * wx
    c11 = values[z1, y1, x0] * (1.0 - wx) + values[z1, y1, x1] * wx
    c0 = c00 * (1.0 - wy) + c01 * wy
    c1 = c10 * (1.0 - wy) + c11 * wy
    return c0 * (1.0 - wz) + c1 * wz


@njit(cache=True, nogil=True)
def trilinear_points(values, origin, spacing, points, fill, out):
    """Interpolate ``values`` at patient points (serial: point sets are small, and a
    parallel loop would cost a second of compilation on a cold start).

    Parameters
    ----------
    values : float64 array (nz, ny, nx)
        Dose at voxel centres.
    origin, spacing : float64 arrays (3,)
        Centre of voxel [0, 0, 0] and voxel size, (x, y, z) in mm.
    points : float64 array (N, 3)
        Patient coordinates (x, y, z) in mm.
    fill : float
        Value for points outside the grid's boundary.
    out : float64 array (N,)
        Receives the interpolated values.
    """
    for i in range(points.shape[0]):
        fx = (points[i, 0] - origin[0]) / spacing[0]
        fy = (points[i, 1] - origin[1]) / spacing[1]
        fz = (points[i, 2] - origin[2]) / spacing[2]
        out[i] = _interp_one(values, fx, fy, fz, fill)


@njit(cache=True, parallel=True)
def trilinear_lattice(values, origin, spacing, out_origin, out_spacing, fill, out):
    """Resample ``values`` onto another regular lattice (same axes), written into ``out``.

    ``out`` has shape (nz', ny', nx'); sample (k, j, i) sits at
    ``out_origin + (i, j, k) * out_spacing`` (x, y, z order), in mm.
    """
    nz, ny, nx = out.shape
    for k in prange(nz):
        fz = (out_origin[2] + k * out_spacing[2] - origin[2]) / spacing[2]
        for j in range(ny):
            fy = (out_origin[1] + j * out_spacing[1] - origin[1]) / spacing[1]
            for i in range(nx):
                fx = (out_origin[0] + i * out_spacing[0] - origin[0]) / spacing[0]
                out[k, j, i] = _interp_one(values, fx, fy, fz, fill)
