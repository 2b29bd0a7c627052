"""Dose samples of a fractional mask: one (dose, volume) pair per cell with fraction > 0.

Each z plane of the mask box writes to its own slice of the output (offsets from a prefix
sum of per-plane counts, :func:`count_planes`), so the samples come out in C order of the
lattice whatever the split of the work.

* :func:`gather_aligned`: the lattice is the dose grid's own voxels (large structures:
  a Body of 10 M voxels); a plain gather.
* :func:`gather_interp`: a sub-voxel lattice (small structures, boxes of ~1-4 M cells);
  dose trilinear at the centres of inside cells only (a box around a round structure is
  half empty).

Threads: the kernels are serial, release the GIL (``nogil=True``) and work on a range of
planes ``[k0, k1)``; :func:`dosecalc.kernels.threads.run_ranges` runs the ranges of a big
input on a few Python threads.  A ``parallel=True`` kernel around the inlined interpolation would cost one to
two seconds of compilation on every cold start (the sub-voxel boxes of a 2.5 mm grid are
as big as those of a 1 mm grid, so a size threshold would not spare the demo), while
threads over a serial kernel cost nothing to compile.  Every range writes only its own
planes and the kernels return integer counts, so the result does not depend on how many
threads there are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dvh import extremes_above, stats_accumulate, weighted_histogram
from .interp import _axis, _blend


@njit(cache=True, inline="always")
def _split(m_origin, m_spacing, origin, spacing, axis, index, n):
    """The :func:`~dosecalc.kernels.interp._axis` split of lattice line ``index`` along
    ``axis`` (0 x, 1 y, 2 z) in a grid of ``n`` voxels along that axis."""
    return _axis((m_origin[axis] + index * m_spacing[axis] - origin[axis]) / spacing[axis], n)


@njit(cache=True, inline="always")
def _columns(nx, gx, origin, spacing, m_origin, m_spacing):
    """The :func:`~dosecalc.kernels.interp._axis` split of each lattice column ``i`` of a
    sub-voxel lattice: (x0, x1, weight of x1), computed once per call, not per cell."""
    xi0 = np.empty(nx, dtype=np.int64)
    xi1 = np.empty(nx, dtype=np.int64)
    xw = np.empty(nx)
    for i in range(nx):
        xi0[i], xi1[i], xw[i] = _split(m_origin, m_spacing, origin, spacing, 0, i, gx)
    return xi0, xi1, xw


@njit(cache=True, inline="always")
def _cell_sample(values, z0, z1, wz, y0, y1, wy, row_out, x0, x1, wx, vol, out_dose, out_vol, o):
    """Write sample ``o``: the trilinear dose at one cell centre (NaN when the centre lies
    beyond the grid: its row or column is outside) and its volume ``vol`` (cc).  Returns 1
    when the dose is NaN, else 0."""
    d = np.nan if row_out or x0 < 0 else _blend(values, z0, z1, wz, y0, y1, wy, x0, x1, wx)
    out_dose[o] = d
    out_vol[o] = vol
    return 1 if d != d else 0


@njit(cache=True, nogil=True)
def count_planes(frac, counts, k0, k1):
    """Number of cells with fraction > 0 in each plane ``k`` of ``[k0, k1)``.

    Parameters
    ----------
    frac : float64 (nz, ny, nx)
        Fraction of each cell inside the structure.
    counts : int64 (nz,)
        Receives the count of planes ``k0 .. k1 - 1``.
    """
    ny, nx = frac.shape[1], frac.shape[2]
    for k in range(k0, k1):
        c = 0
        for j in range(ny):
            for i in range(nx):
                if frac[k, j, i] > 0.0:
                    c += 1
        counts[k] = c


@njit(cache=True, nogil=True)
def gather_aligned(frac, values, offset, cell_cc, plane_start, out_dose, out_vol, k0, k1):
    """Samples of planes ``[k0, k1)`` of a mask on the dose grid's own voxels.

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
    k0, k1 : int
        Planes to do.

    Returns
    -------
    int
        0 (the same return convention as :func:`gather_interp`).
    """
    ny, nx = frac.shape[1], frac.shape[2]
    for k in range(k0, k1):
        j_out = plane_start[k]
        for j in range(ny):
            for i in range(nx):
                f = frac[k, j, i]
                if f > 0.0:
                    out_dose[j_out] = values[offset[0] + k, offset[1] + j, offset[2] + i]
                    out_vol[j_out] = f * cell_cc
                    j_out += 1
    return 0


@njit(cache=True, nogil=True)
def gather_interp(frac, values, origin, spacing, m_origin, m_spacing, cell_cc, plane_start,
                  out_dose, out_vol, k0, k1):
    """Samples of planes ``[k0, k1)`` of a mask on a sub-voxel lattice, dose trilinear at
    the cell centres.

    ``origin``/``spacing`` describe the dose grid and ``m_origin``/``m_spacing`` the
    lattice, (x, y, z) in mm; other arguments as in :func:`gather_aligned`.  The dose is
    that of :func:`dosecalc.kernels.interp.trilinear_points` (NaN beyond the grid), with
    the same arithmetic: the split of each lattice column into voxel indices and weight
    is computed once per call instead of once per cell.

    Returns
    -------
    int
        Number of samples whose dose is NaN (cell centre outside the dose grid).
    """
    gz, gy, gx = values.shape
    ny, nx = frac.shape[1], frac.shape[2]
    xi0, xi1, xw = _columns(nx, gx, origin, spacing, m_origin, m_spacing)
    n_nan = 0
    for k in range(k0, k1):
        j_out = plane_start[k]
        z0, z1, wz = _split(m_origin, m_spacing, origin, spacing, 2, k, gz)
        for j in range(ny):
            y0, y1, wy = _split(m_origin, m_spacing, origin, spacing, 1, j, gy)
            row_out = z0 < 0 or y0 < 0
            for i in range(nx):
                f = frac[k, j, i]
                if f > 0.0:
                    n_nan += _cell_sample(values, z0, z1, wz, y0, y1, wy, row_out, xi0[i], xi1[i], xw[i],
                                          f * cell_cc, out_dose, out_vol, j_out)
                    j_out += 1
    return n_nan


# --- the same samples read from a run-length mask (dosecalc.masks.compact) ---------------

@njit(cache=True, nogil=True)
def gather_runs_aligned(run_off, run_start, run_length, run_value, values_frac, shape, values,
                        offset, cell_cc, sample_off, out_dose, out_vol, k0, k1):
    """:func:`gather_aligned` of the planes ``[k0, k1)`` of a run-length mask
    (:mod:`dosecalc.kernels.runs`): only the cells inside are visited, in the same C
    order, so the samples are the same bits.

    ``values_frac`` holds the partial runs' fractions; ``shape`` (int64 (3,)) is the
    mask's (nz, ny, nx); ``sample_off`` (int64 (nz + 1,)) the index of the first sample
    of each plane; other arguments as in :func:`gather_aligned`.
    """
    ny = shape[1]
    nx = shape[2]
    plane = ny * nx
    for k in range(k0, k1):
        o = sample_off[k]
        for r in range(run_off[k], run_off[k + 1]):
            rem = run_start[r] - k * plane
            j = rem // nx
            i = rem - j * nx
            v = run_value[r]
            for c in range(run_length[r]):
                f = 1.0 if v < 0 else values_frac[v + c]
                out_dose[o] = values[offset[0] + k, offset[1] + j, offset[2] + i]
                out_vol[o] = f * cell_cc
                o += 1
                i += 1
                if i == nx:
                    i = 0
                    j += 1
    return 0


@njit(cache=True, nogil=True)
def gather_runs_interp(run_off, run_start, run_length, run_value, values_frac, shape, values, origin,
                       spacing, m_origin, m_spacing, cell_cc, sample_off, out_dose, out_vol, k0, k1):
    """:func:`gather_interp` of the planes ``[k0, k1)`` of a run-length mask: the same
    arithmetic per cell (so the same bits), visiting only the cells inside.

    A sub-voxel lattice cuts each voxel ``k`` times per axis, so ``k`` x ``k`` lattice
    rows share the same four x-blends of :func:`~dosecalc.kernels.interp._blend` (the
    voxel rows ``y0``, ``y1`` of planes ``z0``, ``z1`` at a column's x split): they are
    computed once per column and voxel row and kept, and each cell only blends them in
    y and z, in :func:`_blend`'s order (the same bits).

    Returns
    -------
    int
        Number of samples whose dose is NaN (cell centre outside the dose grid).
    """
    gz, gy, gx = values.shape
    ny = shape[1]
    nx = shape[2]
    plane = ny * nx
    xi0, xi1, xw = _columns(nx, gx, origin, spacing, m_origin, m_spacing)
    # x-blends of column i for the voxel rows of key ``stamp[i]`` (a number per
    # (z0, z1, y0, y1) in the order met; -1: none yet)
    b00 = np.empty(nx)
    b01 = np.empty(nx)
    b10 = np.empty(nx)
    b11 = np.empty(nx)
    stamp = np.full(nx, -1, dtype=np.int64)
    key = -1
    kz0 = -2
    kz1 = -2
    ky0 = -2
    ky1 = -2
    n_nan = 0
    for k in range(k0, k1):
        o = sample_off[k]
        z0, z1, wz = _split(m_origin, m_spacing, origin, spacing, 2, k, gz)
        for r in range(run_off[k], run_off[k + 1]):
            rem = run_start[r] - k * plane
            j = rem // nx
            i = rem - j * nx
            v = run_value[r]
            y0, y1, wy = _split(m_origin, m_spacing, origin, spacing, 1, j, gy)
            row_out = z0 < 0 or y0 < 0
            for c in range(run_length[r]):
                f = 1.0 if v < 0 else values_frac[v + c]
                x0 = xi0[i]
                if row_out or x0 < 0:
                    d = np.nan
                else:
                    if z0 != kz0 or z1 != kz1 or y0 != ky0 or y1 != ky1:
                        key += 1
                        kz0 = z0
                        kz1 = z1
                        ky0 = y0
                        ky1 = y1
                    if stamp[i] != key:
                        x1 = xi1[i]
                        wx = xw[i]
                        b00[i] = values[z0, y0, x0] * (1.0 - wx) + values[z0, y0, x1] * wx
                        b01[i] = values[z0, y1, x0] * (1.0 - wx) + values[z0, y1, x1] * wx
                        b10[i] = values[z1, y0, x0] * (1.0 - wx) + values[z1, y0, x1] * wx
                        b11[i] = values[z1, y1, x0] * (1.0 - wx) + values[z1, y1, x1] * wx
                        stamp[i] = key
                    c0 = b00[i] * (1.0 - wy) + b01[i] * wy
                    c1 = b10[i] * (1.0 - wy) + b11[i] * wy
                    d = c0 * (1.0 - wz) + c1 * wz
                if d != d:
                    n_nan += 1
                out_dose[o] = d
                out_vol[o] = f * cell_cc
                o += 1
                i += 1
                if i == nx:
                    i = 0
                    j += 1
                    y0, y1, wy = _split(m_origin, m_spacing, origin, spacing, 1, j, gy)
                    row_out = z0 < 0 or y0 < 0
    return n_nan


# What :func:`reduce_runs_aligned` feeds the samples to: the DVH's statistics, its
# histogram, or its statistics and Min/Max.
STATS, HISTOGRAM, STATS_EXTREMES = 1, 2, 3
# Samples per buffer of :func:`reduce_runs_aligned`: 64 kB of dose and volume, cache-resident.
_REDUCE_BUFFER = 4096


@njit(cache=True, nogil=True)
def reduce_runs_aligned(run_off, run_start, run_length, run_value, values_frac, shape, values,
                        offset, cell_cc, mode, acc, lo, width, hist, threshold, ext):
    """The samples of :func:`gather_runs_aligned` (every plane, in the same order, the same
    bits), fed through a small buffer instead of arrays of all samples to
    :func:`~dosecalc.kernels.dvh.stats_accumulate` (``mode`` STATS: ``acc``),
    :func:`~dosecalc.kernels.dvh.weighted_histogram` (HISTOGRAM: ``lo``, ``width``,
    ``hist``) or to both the statistics and
    :func:`~dosecalc.kernels.dvh.extremes_above` (STATS_EXTREMES: ``threshold`` cc,
    ``ext``), so a DVH's Min/Max cost no pass of their own.

    These take samples in consecutive pieces with the same result as in one call (their
    sums run in sample order), so the results are those of the gathered samples bit for
    bit; a big organ's samples (65 MB for 4 M) are never written and read back.  Serial:
    the sums are in sample order anyway.  The run walk repeats gather_runs_aligned's on
    purpose: one kernel for both compiled this reduction (~1.6 s) into every cold start
    that only gathers (measured).
    """
    ny = shape[1]
    nx = shape[2]
    plane = ny * nx
    bd = np.empty(_REDUCE_BUFFER)
    bv = np.empty(_REDUCE_BUFFER)
    n = 0
    for k in range(shape[0]):
        for r in range(run_off[k], run_off[k + 1]):
            rem = run_start[r] - k * plane
            j = rem // nx
            i = rem - j * nx
            v = run_value[r]
            for c in range(run_length[r]):
                f = 1.0 if v < 0 else values_frac[v + c]
                bd[n] = values[offset[0] + k, offset[1] + j, offset[2] + i]
                bv[n] = f * cell_cc
                n += 1
                if n == _REDUCE_BUFFER:
                    _flush(bd, bv, n, mode, acc, lo, width, hist, threshold, ext)
                    n = 0
                i += 1
                if i == nx:
                    i = 0
                    j += 1
    if n:
        _flush(bd, bv, n, mode, acc, lo, width, hist, threshold, ext)


@njit(cache=True, nogil=True)
def _flush(bd, bv, n, mode, acc, lo, width, hist, threshold, ext):
    """Hand the first ``n`` buffered samples to the reduction of ``mode``."""
    d = bd[:n]
    v = bv[:n]
    if mode == HISTOGRAM:
        weighted_histogram(d, v, lo, width, hist)
    else:
        stats_accumulate(d, v, acc)
        if mode == STATS_EXTREMES:
            extremes_above(d, v, threshold, ext)
