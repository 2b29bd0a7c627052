"""Dose samples of a mask: ``(dose_gy, volume_cc)`` of every cell inside, read directly
on the dose grid's own lattice or trilinear on a sub-voxel lattice."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError
from ..kernels.dvh import (ACC_BAD_DOSE, ACC_BAD_VOLUME, ACC_MAX, ACC_MIN, ACC_USED, new_stats_state,
                           stats_accumulate, weighted_histogram)
from ..kernels.samples import (HISTOGRAM, STATS, STATS_EXTREMES, count_planes, gather_aligned, gather_interp,
                               gather_runs_aligned, gather_runs_interp, reduce_runs_aligned)
from ..kernels.threads import plane_ranges, run_ranges
from ..model import DoseGrid
from .lattice import StructureMask

__all__ = ["mask_samples", "sample_chunks", "compact_sample_chunks", "SampleChunks", "SamplePiece", "chunk_extremes",
           "CHUNK_SAMPLES"]

#: Samples per piece of :func:`sample_chunks` (16 bytes each: 32 MB of buffers).
CHUNK_SAMPLES = 2_000_000


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
    frac, plane_start = _plane_start(mask)
    return _gather(mask, grid, frac, plane_start, 0, frac.shape[0])


def _plane_start(mask: StructureMask) -> tuple[np.ndarray, np.ndarray]:
    """The fractions and the index of the first sample of each z plane (prefix sum of the
    per-plane counts of cells inside)."""
    frac = np.ascontiguousarray(mask.fraction, dtype=np.float64)
    nz = frac.shape[0]
    # big boxes run as ranges of planes on a few threads (see dosecalc.kernels.samples)
    counts = np.zeros(nz, dtype=np.int64)
    run_ranges(count_planes, plane_ranges(nz, frac.size), frac, counts)
    plane_start = np.zeros(nz + 1, dtype=np.int64)
    np.cumsum(counts, out=plane_start[1:])
    return frac, plane_start


def _gather(mask, grid, frac, plane_start, k0, k1):
    """Samples of planes ``[k0, k1)`` (``plane_start`` of the whole mask)."""
    sub = frac[k0:k1]
    starts = plane_start[k0:k1 + 1] - plane_start[k0]
    n = int(starts[-1])
    nz = sub.shape[0]
    dose = np.empty(n, dtype=np.float64)
    vol = np.empty(n, dtype=np.float64)
    n_nan = 0
    if n and mask.index_offset is not None and _same_lattice(mask, grid):
        iz, iy, ix = mask.index_offset
        run_ranges(gather_aligned, plane_ranges(nz, sub.size, starts), sub, grid.values_gy,
                   np.array([iz + k0, iy, ix], dtype=np.int64), float(mask.cell_volume_cc),
                   starts, dose, vol)
    elif n:
        m_origin = np.asarray(mask.origin_mm, dtype=np.float64)
        if k0:  # (sample_chunks cuts only aligned lattices; kept general for safety)
            m_origin = m_origin.copy()
            m_origin[2] += k0 * mask.spacing_mm[2]
        n_nan = sum(run_ranges(gather_interp, plane_ranges(nz, sub.size, starts), sub,
                               grid.values_gy, np.asarray(grid.origin_mm, dtype=np.float64),
                               np.asarray(grid.spacing_mm, dtype=np.float64), m_origin,
                               np.asarray(mask.spacing_mm, dtype=np.float64),
                               float(mask.cell_volume_cc), starts, dose, vol))
    if n_nan:
        raise ParameterError(
            f"structure {mask.name!r}: the mask lattice reaches beyond the dose grid it is sampled "
            "on; build the mask on this grid (structure_mask(structure, grid))")
    return dose, vol


def sample_chunks(mask: StructureMask, grid: DoseGrid, max_samples: int = CHUNK_SAMPLES):
    """The samples of :func:`mask_samples` in consecutive pieces of whole z planes (about
    ``max_samples`` each), for :meth:`dosecalc.dvh.DVH.from_sample_chunks`.

    Returns
    -------
    n : int
        Number of samples in all.
    chunks : callable
        ``chunks()`` yields ``(dose_gy, volume_cc)`` pieces, in the order of
        :func:`mask_samples` (whose concatenation they are, bit for bit).
    """
    frac, plane_start = _plane_start(mask)
    nz = frac.shape[0]
    edges = [0]
    # only the dose grid's own lattice is cut: on a sub-voxel lattice the cell centres of a
    # piece would be computed from another origin (other last bits); those boxes are small
    if mask.index_offset is not None and _same_lattice(mask, grid):
        for k in range(1, nz):
            if plane_start[k] - plane_start[edges[-1]] >= max_samples:
                edges.append(k)
    edges.append(nz)

    def chunks():
        for k0, k1 in zip(edges[:-1], edges[1:]):
            yield _gather(mask, grid, frac, plane_start, k0, k1)

    return int(plane_start[-1]), chunks


def _same_lattice(mask: StructureMask, grid: DoseGrid, shape=None) -> bool:
    iz, iy, ix = mask.index_offset
    nz, ny, nx = mask.fraction.shape if shape is None else shape
    gz, gy, gx = grid.shape
    if iz < 0 or iy < 0 or ix < 0 or iz + nz > gz or iy + ny > gy or ix + nx > gx:
        return False
    for a in range(3):
        if abs(mask.spacing_mm[a] - grid.spacing_mm[a]) > 1e-6:
            return False
    expect = (grid.origin_mm[0] + ix * grid.spacing_mm[0], grid.origin_mm[1] + iy * grid.spacing_mm[1],
              grid.origin_mm[2] + iz * grid.spacing_mm[2])
    return all(abs(e - o) <= 1e-6 for e, o in zip(expect, mask.origin_mm))


def _pieces(sample_off: np.ndarray, cut: bool, max_samples: int) -> list[tuple[int, int]]:
    """Ranges of whole planes of about ``max_samples`` samples each (one range unless
    ``cut``)."""
    nz = len(sample_off) - 1
    edges = [0]
    if cut:
        for k in range(1, nz):
            if sample_off[k] - sample_off[edges[-1]] >= max_samples:
                edges.append(k)
    edges.append(nz)
    return list(zip(edges[:-1], edges[1:]))


def _gather_runs(c, grid, aligned: bool, k0: int, k1: int):
    """Samples of planes ``[k0, k1)`` of a compact mask (the same bits as
    :func:`mask_samples` of the dense mask)."""
    mask = c.mask
    starts = c.sample_off[k0:k1 + 1] - c.sample_off[k0]
    n = int(starts[-1])
    dose = np.empty(n, dtype=np.float64)
    vol = np.empty(n, dtype=np.float64)
    if not n:
        return dose, vol
    shape = np.asarray(c.shape, dtype=np.int64)
    # planes of this piece, renumbered from 0 (offsets shift by k0; run indices are global)
    run_off = c.run_off[k0:k1 + 1]
    plane = int(c.shape[1]) * int(c.shape[2])
    run_start = c.run_start[run_off[0]:run_off[-1]] - k0 * plane
    local_off = run_off - run_off[0]
    length = c.run_length[run_off[0]:run_off[-1]]
    value = c.run_value[run_off[0]:run_off[-1]]
    nzp = k1 - k0
    ranges = plane_ranges(nzp, n, starts)
    if aligned:
        iz, iy, ix = mask.index_offset
        run_ranges(gather_runs_aligned, ranges, local_off, run_start, length, value, c.values, shape,
                   grid.values_gy, np.array([iz + k0, iy, ix], dtype=np.int64), float(mask.cell_volume_cc),
                   starts, dose, vol)
        return dose, vol
    m_origin = np.asarray(mask.origin_mm, dtype=np.float64)
    if k0:  # (only aligned lattices are cut into pieces; kept general for safety)
        m_origin = m_origin.copy()
        m_origin[2] += k0 * mask.spacing_mm[2]
    n_nan = sum(run_ranges(gather_runs_interp, ranges, local_off, run_start, length, value, c.values, shape,
                           grid.values_gy, np.asarray(grid.origin_mm, dtype=np.float64),
                           np.asarray(grid.spacing_mm, dtype=np.float64), m_origin,
                           np.asarray(mask.spacing_mm, dtype=np.float64), float(mask.cell_volume_cc),
                           starts, dose, vol))
    if n_nan:
        raise ParameterError(
            f"structure {mask.name!r}: the mask lattice reaches beyond the dose grid it is sampled "
            "on; build the mask on this grid (structure_mask(structure, grid))")
    return dose, vol


class SampleChunks:
    """The samples of a compact mask on a dose grid, in pieces: ``chunks()`` yields
    ``(dose_gy, volume_cc)`` pieces (read-only use: a single piece is the same arrays on
    every call).  :func:`compact_sample_chunks` makes it.

    On the dose grid's own lattice, :meth:`stats_into`, :meth:`histogram_into` and
    :meth:`extremes` reduce the samples straight from the runs
    (:func:`dosecalc.kernels.samples.reduce_runs_aligned`, the same bits as reducing the
    pieces): the DVH's passes over a big organ then write no sample arrays, and its
    Min/Max come with the statistics in one pass.  Elsewhere they reduce the pieces.
    """

    def __init__(self, c, grid: DoseGrid, aligned: bool, pieces: list, fused: bool):
        self._c, self._grid, self._aligned, self._pieces, self._fused = c, grid, aligned, pieces, fused
        # One piece (every sub-voxel box, every small ROI) is gathered once and handed out
        # again: the DVH reads its samples twice (statistics, then histogram or sort), and
        # the trilinear gather was a fifth of the 3 mm case's DVH time.  Its arrays are
        # never written to by the readers.
        self._memo: list = []
        # the statistics computed with the Min/Max by :meth:`extremes`
        self._stats = None
        #: Set by the caller: a kept sort order to try first in exact mode (an object
        #: with ``order()`` and ``keep(order)``; see :func:`dosecalc.dvh_curve.curve_fields`).
        self.sort_hint: Any = None

    def __call__(self):
        if len(self._pieces) == 1:
            if not self._memo:
                self._memo.append(_gather_runs(self._c, self._grid, self._aligned, *self._pieces[0]))
            yield self._memo[0]
            return
        for k0, k1 in self._pieces:
            yield _gather_runs(self._c, self._grid, self._aligned, k0, k1)

    def _reduce(self, mode: int, acc, lo: float = 0.0, width: float = 1.0, hist=None,
                threshold: float = 0.0, ext=None) -> None:
        c, mask = self._c, self._c.mask
        reduce_runs_aligned(c.run_off, c.run_start, c.run_length, c.run_value, c.values,
                            np.asarray(c.shape, dtype=np.int64), self._grid.values_gy,
                            np.asarray(mask.index_offset, dtype=np.int64), float(mask.cell_volume_cc),
                            mode, acc, float(lo), float(width), np.zeros(1) if hist is None else hist,
                            float(threshold), np.zeros(2) if ext is None else ext)

    def stats_into(self, acc) -> None:
        """:func:`~dosecalc.kernels.dvh.stats_accumulate` of every sample into ``acc``."""
        if _hand_out(self._stats, acc):
            return
        if self._fused:
            self._reduce(STATS, acc)
            return
        for d, v in self():
            stats_accumulate(d, v, acc)

    def histogram_into(self, lo: float, width: float, hist) -> None:
        """:func:`~dosecalc.kernels.dvh.weighted_histogram` of every sample into ``hist``."""
        if self._fused:
            self._reduce(HISTOGRAM, np.zeros(9), lo, width, hist)
            return
        for d, v in self():
            weighted_histogram(d, v, lo, width, hist)

    def extremes(self, threshold_cc: float) -> tuple[float, float]:
        """Min and Max (Gy) of the samples covering at least ``threshold_cc`` with a
        finite dose (:func:`~dosecalc.kernels.dvh.extremes_above`); NaN, NaN if none.

        Fused (or in one piece, :func:`_piece_extremes`), the pass also computes the
        statistics, which :meth:`stats_into` then hands out instead of reading the
        samples again."""
        if not self._fused:
            if len(self._pieces) == 1:
                d, v = next(iter(self()))
                lo_hi, self._stats = _piece_extremes(d, v, threshold_cc)
                return lo_hi
            return _pieces_extremes(self(), threshold_cc)
        ext = np.array([np.inf, -np.inf])
        acc = new_stats_state()
        self._reduce(STATS_EXTREMES, acc, threshold=threshold_cc, ext=ext)
        self._stats = acc
        return piece_extremes_result(ext)


def _hand_out(stats, acc) -> bool:
    """Copy kept statistics ``stats`` into ``acc`` when ``acc`` is a fresh state (what
    accumulating the same samples into it would give); False when it cannot."""
    if stats is not None and np.array_equal(acc, new_stats_state()):
        acc[:] = stats
        return True
    return False


def piece_extremes_result(ext) -> tuple[float, float]:
    """(Min, Max) of a running :func:`~dosecalc.kernels.dvh.extremes_above` state, NaN
    when no sample counted."""
    if not ext[0] <= ext[1]:
        return np.nan, np.nan
    return float(ext[0]), float(ext[1])


def chunk_extremes(chunks, threshold_cc: float) -> tuple[float, float]:
    """Min and Max (Gy) of the samples of ``chunks`` (a :class:`SampleChunks`, or any
    callable yielding ``(dose_gy, volume_cc)`` pieces) covering at least ``threshold_cc``
    with a finite dose; NaN, NaN if none."""
    extremes = getattr(chunks, "extremes", None)
    if extremes is not None:
        return extremes(threshold_cc)
    return _pieces_extremes(chunks(), threshold_cc)


class SamplePiece:
    """Samples held in one piece, ``(dose_gy, volume_cc)``, as a chunks callable of
    :meth:`DVH.from_sample_chunks <dosecalc.dvh.DVH.from_sample_chunks>`: ``piece()``
    yields the pair.  Its :meth:`extremes` pass computes the DVH's statistics too, and
    :meth:`stats_into` hands them out instead of reading the samples again.  The arrays
    are only read."""

    def __init__(self, dose_gy: np.ndarray, volume_cc: np.ndarray) -> None:
        self._piece = (dose_gy, volume_cc)
        self._stats = None
        #: As :attr:`SampleChunks.sort_hint`.
        self.sort_hint: Any = None

    def __call__(self):
        yield self._piece

    def stats_into(self, acc) -> None:
        """:func:`~dosecalc.kernels.dvh.stats_accumulate` of the samples into ``acc``."""
        if not _hand_out(self._stats, acc):
            stats_accumulate(*self._piece, acc)

    def extremes(self, threshold_cc: float) -> tuple[float, float]:
        """As :meth:`SampleChunks.extremes`."""
        lo_hi, self._stats = _piece_extremes(*self._piece, threshold_cc)
        return lo_hi


def _piece_extremes(dose, volume, threshold_cc: float):
    """((Min, Max), statistics state or None) of one piece of samples, the Min/Max as
    :func:`_pieces_extremes`, the state as :func:`~dosecalc.kernels.dvh.stats_accumulate`
    into a fresh one.

    The DVH needs the statistics anyway, and their Min/Max are those of the samples of
    volume > 0.  The Min/Max of the DVH leave out the few of them below ``threshold_cc``
    (cells only rounding residues reach).  When every volume is valid, every counted
    dose finite, and the statistics' Min lies strictly below every left-out dose and
    their Max strictly above, both are attained by a sample the DVH counts: they are its
    Min/Max, the same bits (the same selection over the same values).  Otherwise (a tie
    with a left-out sample, or invalid samples) the Min/Max are read from the samples as
    before."""
    if threshold_cc > 0.0:
        acc = new_stats_state()
        stats_accumulate(dose, volume, acc)
        if acc[ACC_USED] > 0 and acc[ACC_BAD_DOSE] == 0 and acc[ACC_BAD_VOLUME] == 0:
            lo, hi = float(acc[ACC_MIN]), float(acc[ACC_MAX])
            left_out = np.flatnonzero((volume > 0.0) & (volume < threshold_cc))
            if not left_out.size:
                return (lo, hi), acc
            d = dose[left_out]
            if lo < float(d.min()) and hi > float(d.max()):
                return (lo, hi), acc
        return _pieces_extremes([(dose, volume)], threshold_cc), acc
    return _pieces_extremes([(dose, volume)], threshold_cc), None


def _pieces_extremes(pieces, threshold_cc: float) -> tuple[float, float]:
    """:func:`~dosecalc.kernels.dvh.extremes_above` over ``(dose_gy, volume_cc)`` pieces,
    in numpy: the pieces are arrays already, and a kernel here would compile into every
    cold start that reads a Min/Max from samples (~0.4 s) for a few ms."""
    ext = np.array([np.inf, -np.inf])
    for dose, volume in pieces:
        dose = np.asarray(dose, dtype=np.float64)
        keep = np.asarray(volume, dtype=np.float64) >= threshold_cc
        keep &= np.isfinite(dose)
        if keep.any():
            d = dose[keep]
            ext[0] = min(ext[0], float(d.min()))
            ext[1] = max(ext[1], float(d.max()))
    return piece_extremes_result(ext)


def compact_sample_chunks(c, grid: DoseGrid, max_samples: int = CHUNK_SAMPLES, reduce_above: int | None = None):
    """:func:`sample_chunks` of a compact mask (:mod:`dosecalc.masks.compact`): only the
    runs of cells inside are read (no pass over the empty part of the box, no dense
    array), and the pieces are the same bits as :func:`mask_samples` of the dense mask.

    ``reduce_above``: on the dose grid's own lattice, a mask of more samples than this is
    reduced straight from its runs by ``chunks.stats_into``/``histogram_into`` (the DVH
    passes its exact-mode limit: below it the sort needs the samples anyway).  Speed
    only: the results are the same bits either way.

    Returns
    -------
    n : int
        Number of samples in all.
    chunks : SampleChunks
        ``chunks()`` yields ``(dose_gy, volume_cc)`` pieces (read-only use: a single
        piece is the same arrays on every call); ``chunks.stats_into`` and
        ``chunks.histogram_into`` reduce them.
    """
    mask = c.mask
    aligned = mask.index_offset is not None and _same_lattice(mask, grid, c.shape)
    pieces = _pieces(c.sample_off, aligned, max_samples)
    n = int(c.sample_off[-1])
    fused = aligned and reduce_above is not None and n > reduce_above
    return n, SampleChunks(c, grid, aligned, pieces, fused)
