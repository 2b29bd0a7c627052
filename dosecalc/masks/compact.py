"""Compact storage of a :class:`StructureMask` for caches: interior cells as runs, boundary
cells with their fractions (:mod:`dosecalc.kernels.runs`), expanded back bit for bit.

A dense mask costs 8 bytes per cell of its bounding box: the 40 masks of a 1 mm SRS plan
hold about 660 MB, so a case cache of a few hundred MB kept none of them and a second
pass (EQD2 after physical DVHs) rasterised every structure again.  Compact, the same
masks take a few MB (a run per row of the interior, a float per boundary cell).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels.runs import count_runs, decode_runs, encode_runs
from ..kernels.threads import plane_ranges, run_ranges
from .lattice import StructureMask

__all__ = ["CompactMask", "compact", "expand"]


@dataclass(frozen=True, eq=False)
class CompactMask:
    """A :class:`StructureMask` whose fractions are stored as runs.

    Attributes
    ----------
    mask : StructureMask
        The mask's metadata with an empty fraction array (shape in ``shape``).
    shape : tuple of 3 ints
        Shape (nz, ny, nx) of the dense fraction array.
    run_off : int64 array (nz + 1,)
        Index of the first run of each z plane (runs never cross planes).
    sample_off : int64 array (nz + 1,)
        Number of non-zero cells before each z plane (the first sample of the plane).
    run_start, run_length, run_value : int64 arrays (n_runs,)
        Flat index of each run's first cell, its length, and -1 (all cells 1.0) or the
        index of its first fraction in ``values``.
    values : float64 array (n_partial,)
        Fractions of the cells of partial runs.
    """

    mask: StructureMask
    shape: tuple[int, int, int]
    run_off: np.ndarray
    sample_off: np.ndarray
    run_start: np.ndarray
    run_length: np.ndarray
    run_value: np.ndarray
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(self.run_off.nbytes + self.sample_off.nbytes + self.run_start.nbytes + self.run_length.nbytes + self.run_value.nbytes
                   + self.values.nbytes + self.mask.corners_mm.nbytes)


def compact(mask: StructureMask) -> CompactMask:
    """The runs of ``mask`` (two passes over its cells, ranges of planes on threads)."""
    frac = np.ascontiguousarray(mask.fraction)
    nz = frac.shape[0]
    ranges = plane_ranges(nz, frac.size)
    n_runs = np.zeros(nz, dtype=np.int64)
    n_part = np.zeros(nz, dtype=np.int64)
    n_inside = np.zeros(nz, dtype=np.int64)
    run_ranges(count_runs, ranges, frac, n_runs, n_part, n_inside)
    run_off = np.zeros(nz + 1, dtype=np.int64)
    part_off = np.zeros(nz + 1, dtype=np.int64)
    sample_off = np.zeros(nz + 1, dtype=np.int64)
    np.cumsum(n_runs, out=run_off[1:])
    np.cumsum(n_part, out=part_off[1:])
    np.cumsum(n_inside, out=sample_off[1:])
    start = np.empty(int(run_off[-1]), dtype=np.int64)
    length = np.empty(int(run_off[-1]), dtype=np.int64)
    value = np.empty(int(run_off[-1]), dtype=np.int64)
    values = np.empty(int(part_off[-1]), dtype=np.float64)
    run_ranges(encode_runs, ranges, frac, run_off, part_off, start, length, value, values)
    empty = np.zeros((0, 0, 0))
    empty.setflags(write=False)
    meta = StructureMask(name=mask.name, fraction=empty, origin_mm=mask.origin_mm,
                         spacing_mm=mask.spacing_mm, index_offset=mask.index_offset,
                         volume_cc=mask.volume_cc, outside_cc=mask.outside_cc,
                         settings=mask.settings, corners_mm=mask.corners_mm, prism=mask.prism)
    return CompactMask(meta, tuple(int(s) for s in frac.shape), run_off, sample_off, start, length, value,
                       values)


def expand(c: CompactMask) -> StructureMask:
    """The dense :class:`StructureMask` again, the same bits as the one compacted."""
    frac = np.zeros(c.shape, dtype=np.float64)
    nz = c.shape[0]
    run_ranges(decode_runs, plane_ranges(nz, frac.size), c.run_off, c.run_start, c.run_length,
               c.run_value, c.values, frac.reshape(-1))
    frac.setflags(write=False)
    m = c.mask
    return StructureMask(name=m.name, fraction=frac, origin_mm=m.origin_mm, spacing_mm=m.spacing_mm,
                         index_offset=m.index_offset, volume_cc=m.volume_cc, outside_cc=m.outside_cc,
                         settings=m.settings, corners_mm=m.corners_mm, prism=m.prism)
