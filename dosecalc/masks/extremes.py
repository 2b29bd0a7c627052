"""Min and Max of the dose inside a right-prism structure: the extremes of the trilinear
dose over the exact geometry, not over cell samples.

Why: a cell sample sits at the centre of its cell.  A partly covered boundary cell's
centre may lie outside the structure (or in the next organ), and a cell covered by a
rounding residue of 1e-20 cc still counted: on real plans a PTV's Min came out 23 Gy
against 62 Gy inside it, a brain's Max 39.5 Gy against 33.7 Gy.  The trilinear dose
over a prism structure takes its extremes at a finite set of places
(:mod:`dosecalc.kernels.extremes`): the prism corners (contour vertices at the slab
ends), the contour edges split at the dose grid's x/y lines (quadratic pieces, 5 points
each) at the slab ends and at every dose plane inside the slab, and the dose grid nodes
inside the contour at the same heights.  Their Min and Max are the structure's, up to
the quadratic pieces' sampling (a few 0.01 Gy in steep gradients) - independent of cell
sizes and of rounding residues.

Points outside the dose grid's volume have no dose and are left out (the DVH flags the
uncovered part).
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np

from ..kernels.extremes import block_summary, edge_extremes, node_extremes

#: Cells covered by less than this fraction never set Min/Max when the extremes have to
#: come from cell samples (derived structures, shape interpolation): rounding residue.
MINMAX_FRACTION_TOL = 1e-6

#: Every this-many-th prism corner is evaluated before the edges, to seed the bounds the
#: kernels' branch and bound prunes against.  The corners themselves need no pass of
#: their own: each is the start (t = 0) of its contour edge, which
#: :func:`~dosecalc.kernels.extremes.edge_extremes` visits at both slab ends with the same
#: arithmetic, unless the bounds prove it can change neither extreme.  Evaluating all of
#: them first cost 0.13 s of 0.9 s of a 40-ROI plan's DVHs (1.4 M corners); a sample
#: seeds the bounds about as well (measured on the Brainlab SRS export: prism extremes
#: 0.131 s with every corner, 0.090 s with none, 0.082 s with every 32nd).
CORNER_SEED_STRIDE = 32

# The coarse range of each grid's dose (block_summary, 1/32 of the grid's bytes), built
# once per grid and kept while the grid lives: every structure's extremes use it.
_BLOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_BLOCKS_LOCK = threading.Lock()


def _blocks(grid, values: np.ndarray) -> np.ndarray:
    """:func:`dosecalc.kernels.extremes.block_summary` of ``grid`` (cached; read-only)."""
    with _BLOCKS_LOCK:  # structures run side by side on threads: build it once
        blocks = _BLOCKS.get(grid)
        if blocks is None:
            blocks = block_summary(values)
            blocks.setflags(write=False)
            _BLOCKS[grid] = blocks
    return blocks


def prism_extremes(x, y, poly_start, plane_start, sign, lo_mm, hi_mm, corners_mm, grid) -> tuple[float, float, int]:
    """(Min, Max, number of dose evaluations) of the trilinear dose of ``grid`` over a
    prism structure.

    Parameters
    ----------
    x, y : ndarray float64
        Contour vertices (mm), flat.
    poly_start, plane_start : ndarray int64
        Contour ranges in ``x``/``y`` and plane ranges in the contour list.
    sign : ndarray float64
        0 for degenerate contours (ignored), else +-1.
    lo_mm, hi_mm : ndarray float64
        Slab of each plane (mm).
    corners_mm : ndarray (M, 3)
        The prism corners (mm).
    grid : DoseGrid

    Returns
    -------
    (min, max, n) : float, float, int
        ``n`` counts the dose values evaluated (the seed corners included): places that could
        change neither Min nor Max are left out uncounted
        (:mod:`dosecalc.kernels.extremes`), so it is no measure of the work, but it is
        positive exactly when some point lies inside the dose grid.  NaN, NaN, 0 when
        none does.
    """
    acc = np.array([np.inf, -np.inf, 0.0])
    if len(corners_mm):
        d = grid.sample(corners_mm[::CORNER_SEED_STRIDE])
        d = d[np.isfinite(d)]
        if d.size:
            acc[:] = (float(d.min()), float(d.max()), float(d.size))
    values = grid.values_gy.view()
    values.setflags(write=False)  # one compiled signature for every call (read-only arrays)
    origin = np.asarray(grid.origin_mm, dtype=np.float64)
    spacing = np.asarray(grid.spacing_mm, dtype=np.float64)
    lo = np.ascontiguousarray(lo_mm, dtype=np.float64)
    hi = np.ascontiguousarray(hi_mm, dtype=np.float64)
    plane_of_poly = np.repeat(np.arange(len(lo), dtype=np.int64), np.diff(plane_start))
    blocks = _blocks(grid, values)
    edge_extremes(x, y, poly_start, plane_of_poly, sign, lo, hi, values, blocks, origin, spacing, acc)
    node_extremes(x, y, poly_start, plane_start, sign, lo, hi, values, blocks, origin, spacing, acc)
    if acc[2] == 0:
        return math.nan, math.nan, 0
    return float(acc[0]), float(acc[1]), int(acc[2])
