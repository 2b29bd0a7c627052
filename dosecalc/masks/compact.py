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

__all__ = ["CompactMask", "compact", "expand", "assemble", "encode_block"]


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


def encode_block(frac: np.ndarray) -> tuple:
    """Runs of a block of planes: (runs per plane, cells inside per plane, run_start (flat
    index within the block), run_length, run_value, values); two passes over its cells,
    ranges of planes on threads."""
    # a read-only view whatever the caller's array: one compiled signature of each kernel
    frac = np.ascontiguousarray(frac).view()
    frac.setflags(write=False)
    nz = frac.shape[0]
    ranges = plane_ranges(nz, frac.size)
    n_runs = np.zeros(nz, dtype=np.int64)
    n_part = np.zeros(nz, dtype=np.int64)
    n_inside = np.zeros(nz, dtype=np.int64)
    run_ranges(count_runs, ranges, frac, n_runs, n_part, n_inside)
    run_off = np.zeros(nz + 1, dtype=np.int64)
    part_off = np.zeros(nz + 1, dtype=np.int64)
    np.cumsum(n_runs, out=run_off[1:])
    np.cumsum(n_part, out=part_off[1:])
    start = np.empty(int(run_off[-1]), dtype=np.int64)
    length = np.empty(int(run_off[-1]), dtype=np.int64)
    value = np.empty(int(run_off[-1]), dtype=np.int64)
    values = np.empty(int(part_off[-1]), dtype=np.float64)
    run_ranges(encode_runs, ranges, frac, run_off, part_off, start, length, value, values)
    return n_runs, n_inside, start, length, value, values


def _meta(mask: StructureMask) -> StructureMask:
    """``mask`` without its fractions (an empty array)."""
    empty = np.zeros((0, 0, 0))
    empty.setflags(write=False)
    return StructureMask(name=mask.name, fraction=empty, origin_mm=mask.origin_mm,
                         spacing_mm=mask.spacing_mm, index_offset=mask.index_offset,
                         volume_cc=mask.volume_cc, outside_cc=mask.outside_cc,
                         settings=mask.settings, corners_mm=mask.corners_mm, prism=mask.prism)


def assemble(meta: StructureMask, shape, blocks: list) -> CompactMask:
    """One compact mask of shape ``shape`` from the encoded blocks of consecutive planes
    ``[(first plane, encode_block(...)), ...]`` covering every plane in order: the same arrays
    as :func:`compact` of the whole dense mask."""
    plane = int(shape[1]) * int(shape[2])
    n_runs = np.concatenate([b[1][0] for b in blocks]) if blocks else np.zeros(0, np.int64)
    n_inside = np.concatenate([b[1][1] for b in blocks]) if blocks else np.zeros(0, np.int64)
    if len(n_runs) != int(shape[0]):
        raise ValueError("the blocks do not cover every plane")
    run_off = np.zeros(len(n_runs) + 1, dtype=np.int64)
    sample_off = np.zeros(len(n_runs) + 1, dtype=np.int64)
    np.cumsum(n_runs, out=run_off[1:])
    np.cumsum(n_inside, out=sample_off[1:])
    starts, lengths, vals, fracs = [], [], [], []
    n_values = 0
    for k0, (_, _, start, length, value, values) in blocks:
        starts.append(start + k0 * plane)
        lengths.append(length)
        vals.append(np.where(value < 0, value, value + n_values))
        fracs.append(values)
        n_values += len(values)
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt))
    return CompactMask(meta, tuple(int(s) for s in shape), run_off, sample_off, cat(starts, np.int64),
                       cat(lengths, np.int64), cat(vals, np.int64), cat(fracs, np.float64))


def compact(mask: StructureMask) -> CompactMask:
    """The runs of ``mask`` (two passes over its cells, ranges of planes on threads)."""
    frac = np.ascontiguousarray(mask.fraction)
    return assemble(_meta(mask), frac.shape, [(0, encode_block(frac))])


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
