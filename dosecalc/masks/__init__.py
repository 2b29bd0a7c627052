"""Fractional structure masks: the volume of each lattice cell that lies inside a structure.

Geometry rules (what "the structure" is)
----------------------------------------
* In-plane: the contours of one plane combine by the even-odd rule (an inner ring is a
  hole, an island inside a hole counts again).  The covered area of every cell is exact
  (see :mod:`dosecalc.kernels.raster`); planes whose contours cross or touch each other
  are filled by even-odd scanlines (16 per cell row) with the error bound stated there.
  Zero-area contours (fewer than 3 distinct points, or collinear) add nothing.
* Along z (``interpolation="prism"``): each contour plane stands for a slab reaching
  halfway to its neighbouring planes (irregular spacing allowed).
  ``end_cap="half"`` (default, the Nelms 2015 / most TPS convention) extends the first
  and last plane by half the typical (median) plane spacing; ``end_cap="none"`` stops the
  structure at the first and last plane.  A structure on a single plane gets a slab as
  thick as the dose grid's dz, centred on the plane, whatever ``end_cap`` says (a
  single contour has no spacing of its own and a zero-thickness structure has no DVH).
* Gaps: when two consecutive planes are more than ``1.5 x`` the median spacing apart,
  the structure is taken to be two pieces: each side of the gap ends as an end of the
  structure does (``end_cap`` rule with half the median spacing), rather than stretching
  each slab across half the gap.  ``split_gaps=False`` (CLI ``--no-gap-split``) turns the
  rule off: a sparse "helper" ROI drawn on every third plane with one plane skipped
  (planes 0, 3, 6, 15, 18 mm) is then one piece of 21 mm instead of two of 15 mm in all.
* ``volume_cc`` is the volume of the structure under these rules, computed from the
  contours alone (shoelace areas x slab thicknesses), including any part outside the
  dose grid; ``outside_cc`` is the part of it beyond ``DoseGrid.bounds_mm``.  The mask
  satisfies ``sum(fraction) * cell_cc + outside_cc == volume_cc``.

Lattice and sub-voxel sampling
------------------------------
The lattice is the dose grid's voxels restricted to the structure's bounding box
(``supersample=1``: ``index_offset`` set, dose read directly) or the same box cut into
``k x k x k`` sub-cells (``index_offset`` None; dose trilinear at sub-cell centres).
``supersample="auto"`` chooses ``k`` so that the structure spans at least 100 cells across
its smallest extent when it is under 30 cc, and at least 30 cells otherwise, with
``k <= 16`` and at most 4 M cells in the box.  The extreme sampled doses (Max, Min) lie
within half a cell of the structure's surface, so the small-structure rule keeps the
cells near 0.2 mm: on the Nelms 2015 set this is what brings Dmin within 3 % on the
2 and 3 mm dose grids (see ``benchmarks/nelms_accuracy.py`` and
``docs/VALIDATION.md``).

Shape-based interpolation (``interpolation="shape"``, opt-in) is described in
:mod:`dosecalc.masks.shape`; why the prism stays the default, with the measured figures,
is in ``docs/VALIDATION.md`` ("Mask geometry").

Modules (one job each)
----------------------
``lattice``      :class:`StructureMask` (the mask type), lattice index ranges, the
                 ``supersample="auto"`` rule
``contours``     contours -> flat arrays, slabs along z (end caps, gaps), volume
``topology``     nesting depth and crossings of the contours of a plane
``scanline``     even-odd scanline fill of planes whose contours cross or touch
``rasterise``    :func:`structure_mask`: options, sub-voxel factor, prism or shape
``prism``        right-prism rasterisation (exact polygon x pixel areas x slab overlaps)
``shape``        shape-based interpolation between planes (signed distances)
``sampling``     :func:`mask_samples`: (dose, volume) samples of a mask on a grid
``combination``  :func:`combine`: union / intersection / difference of two masks
``compact``      :class:`~dosecalc.masks.compact.CompactMask`: interior runs + boundary
                 fractions (what a case caches; :func:`~dosecalc.masks.sampling.compact_sample_chunks`
                 reads its samples)
"""

from __future__ import annotations

# The public names of the package, importable as ``dosecalc.masks.NAME`` (as when it was one
# module): the tunable constants and the pieces derived structures compose.
# ruff: noqa: F401
from ..mask_options import DEFAULT_INTERPOLATION, END_CAPS, INTERPOLATIONS
from .combination import combine
from .contours import GAP_FACTOR, box_voxels, prepare, slab_bounds, structure_volume_cc
from .lattice import (
                      AUTO_CELLS_LARGE,
                      AUTO_CELLS_SMALL,
                      AUTO_MAX_CELLS,
                      AUTO_MAX_K,
                      AUTO_SMALL_CC,
                      StructureMask,
                      auto_supersample,
)
from .rasterise import mask_from_prepared, structure_mask
from .sampling import mask_samples
from .scanline import FALLBACK_SUBROWS
from .shape import SHAPE_BAND_CELLS, SHAPE_SUB_MIN, SHAPE_TIP_RATIO

__all__ = ["StructureMask", "structure_mask", "mask_samples", "combine", "auto_supersample"]

# the names of the options' allowed values before dosecalc.mask_options held them
_END_CAPS = END_CAPS
_INTERPOLATIONS = INTERPOLATIONS
