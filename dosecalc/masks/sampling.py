"""Dose samples of a mask: ``(dose_gy, volume_cc)`` of every cell inside, read directly
on the dose grid's own lattice or trilinear on a sub-voxel lattice."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..kernels.samples import count_planes, gather_aligned, gather_interp
from ..kernels.threads import plane_ranges, run_ranges
from ..model import DoseGrid
from .lattice import StructureMask

__all__ = ["mask_samples"]


def mask_samples(mask: StructureMask, grid: DoseGrid) -> tuple[np.ndarray, np.ndarray]:
    """Dose and volume of every lattice cell with a non-zero fraction.

    Parameters
    ----------
    mask : StructureMask
    grid : DoseGrid
        Dose (or EQD2/BED) grid.  When the mask lattice is this grid's own voxels the
        values are read directly; otherwise they are interpolated trilinearly at the cell
        centres.

    Returns
    -------
    dose_gy, volume_cc : ndarray float64 (M,)
        One entry per cell inside (fraction > 0), in C order of the lattice.

    Notes
    -----
    Boxes of more than :data:`dosecalc.kernels.samples.MIN_SPLIT_WORK` cells are done as
    ranges of planes on ``numba.get_num_threads()`` threads; every plane writes its own
    slice of the output, so the samples are the same bits whatever the thread count.
    """
    frac = np.ascontiguousarray(mask.fraction, dtype=np.float64)
    nz = frac.shape[0]
    # big boxes run as ranges of planes on a few threads (see dosecalc.kernels.samples)
    counts = np.zeros(nz, dtype=np.int64)
    run_ranges(count_planes, plane_ranges(nz, frac.size), frac, counts)
    plane_start = np.zeros(nz + 1, dtype=np.int64)
    np.cumsum(counts, out=plane_start[1:])
    n = int(plane_start[-1])
    dose = np.empty(n, dtype=np.float64)
    vol = np.empty(n, dtype=np.float64)
    n_nan = 0
    if n and mask.index_offset is not None and _same_lattice(mask, grid):
        run_ranges(gather_aligned, plane_ranges(nz, frac.size, plane_start), frac, grid.values_gy,
                   np.asarray(mask.index_offset, dtype=np.int64), float(mask.cell_volume_cc),
                   plane_start, dose, vol)
    elif n:
        n_nan = sum(run_ranges(gather_interp, plane_ranges(nz, frac.size, plane_start), frac,
                               grid.values_gy, np.asarray(grid.origin_mm, dtype=np.float64),
                               np.asarray(grid.spacing_mm, dtype=np.float64),
                               np.asarray(mask.origin_mm, dtype=np.float64),
                               np.asarray(mask.spacing_mm, dtype=np.float64),
                               float(mask.cell_volume_cc), plane_start, dose, vol))
    if n_nan:
        raise ParameterError(
            f"structure {mask.name!r}: the mask lattice reaches beyond the dose grid it is sampled "
            "on; build the mask on this grid (structure_mask(structure, grid))")
    return dose, vol


def _same_lattice(mask: StructureMask, grid: DoseGrid) -> bool:
    iz, iy, ix = mask.index_offset
    nz, ny, nx = mask.fraction.shape
    gz, gy, gx = grid.shape
    if iz < 0 or iy < 0 or ix < 0 or iz + nz > gz or iy + ny > gy or ix + nx > gx:
        return False
    for a in range(3):
        if abs(mask.spacing_mm[a] - grid.spacing_mm[a]) > 1e-6:
            return False
    expect = (grid.origin_mm[0] + ix * grid.spacing_mm[0], grid.origin_mm[1] + iy * grid.spacing_mm[1],
              grid.origin_mm[2] + iz * grid.spacing_mm[2])
    return all(abs(e - o) <= 1e-6 for e, o in zip(expect, mask.origin_mm))
