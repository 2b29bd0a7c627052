"""A structure's mask on a dose grid: the options, the sub-voxel factor, then the prism
(:mod:`.prism`) or shape-based (:mod:`.shape`) geometry between planes."""

from __future__ import annotations

import numpy as np

from ..errors import ContourError, ParameterError
from ..mask_options import MaskOptions
from ..model import DoseGrid, Structure
from .contours import Prepared, prepare
from .lattice import StructureMask, auto_supersample, voxel_range
from .compact import CompactMask, compact
from .prism import prism_compact, prism_mask
from .shape import shape_mask

__all__ = ["structure_mask", "structure_compact_mask", "mask_from_prepared", "compact_from_prepared", "resolve_k", "lattice_box"]


def structure_mask(structure: Structure, grid: DoseGrid, *, supersample="auto", end_cap: str = "half",
                   interpolation: str = "prism", options: MaskOptions | None = None) -> StructureMask:
    """Rasterise a structure into fractional cell volumes on the dose grid's lattice.

    Parameters
    ----------
    structure : Structure
        Closed planar contours (x, y in mm per plane z in mm).
    grid : DoseGrid
        Dose grid whose voxels (or sub-voxels) form the lattice.
    supersample : "auto" or int >= 1
        Sub-voxel factor per axis (1: the dose voxels themselves).
    end_cap : {"half", "none"}
        Slab extension beyond the first and last plane (module docstring).
    interpolation : {"prism", "shape"}
        Shape between planes: right prisms (slabs, default) or shape-based interpolation
        of signed distances (module docstring).
    options : MaskOptions, optional
        The three options as one record (then the keyword arguments are not used).

    Returns
    -------
    StructureMask
        Fractions in [0, 1]; ``volume_cc``, ``outside_cc`` in cc.
    """
    if not isinstance(structure, Structure):
        raise ParameterError(f"structure must be a dosecalc.model.Structure, got {type(structure).__name__}")
    if not isinstance(grid, DoseGrid):
        raise ParameterError(f"grid must be a dosecalc.model.DoseGrid, got {type(grid).__name__}")
    if options is None:
        options = MaskOptions(supersample, end_cap, interpolation)
    supersample, end_cap, interpolation = options.supersample, options.end_cap, options.interpolation
    if not structure.has_volume:
        raise ContourError(f"structure {structure.name!r} has no closed planar contours, so no volume "
                           "(CLOSED_PLANAR contours expected)")
    prep = prepare(structure, grid, end_cap, options.split_gaps)
    return mask_from_prepared(prep, grid, supersample, end_cap, interpolation)


def structure_compact_mask(structure: Structure, grid: DoseGrid, options: MaskOptions) -> CompactMask:
    """:func:`structure_mask` in compact form (:func:`dosecalc.masks.compact.compact` of it,
    the same arrays): a prism mask of a big box is rasterised and compacted in blocks of
    layers (:func:`dosecalc.masks.prism.prism_compact`), without a dense array of the
    whole box."""
    if options.interpolation != "prism" or not isinstance(structure, Structure) or not structure.has_volume:
        return compact(structure_mask(structure, grid, options=options))
    prep = prepare(structure, grid, options.end_cap, options.split_gaps)
    return compact_from_prepared(prep, grid, options.supersample, options.end_cap)


def compact_from_prepared(prep: Prepared, grid: DoseGrid, supersample, end_cap) -> CompactMask:
    """:func:`mask_from_prepared` of a prism structure in compact form (blocks of layers
    for a big box, :func:`dosecalc.masks.prism.prism_compact`)."""
    k = resolve_k(prep, grid, supersample)
    return prism_compact(prep, grid, k, lattice_box(prep, grid), supersample, end_cap)


def resolve_k(prep: Prepared, grid: DoseGrid, supersample) -> int:
    if isinstance(supersample, str):
        if supersample != "auto":
            raise ParameterError(f"supersample must be 'auto' or an integer >= 1, got {supersample!r}")
        return auto_supersample(prep.volume_cc, prep.extent_mm, grid.spacing_mm)
    if isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise ParameterError(f"supersample must be 'auto' or an integer >= 1, got {supersample!r}")
    if supersample > 64:
        raise ParameterError(f"supersample must be <= 64 (memory), got {supersample}")
    return int(supersample)


def lattice_box(prep: Prepared, grid: DoseGrid) -> tuple[int, int, int, int, int, int]:
    """Dose-voxel ranges (iz0, iz1, iy0, iy1, ix0, ix1) the structure's box overlaps."""
    (ox, oy, oz), (dx, dy, dz) = grid.origin_mm, grid.spacing_mm
    nz, ny, nx = grid.shape
    ix0, ix1 = voxel_range(*prep.xr, ox, dx, nx)
    iy0, iy1 = voxel_range(*prep.yr, oy, dy, ny)
    iz0, iz1 = voxel_range(*prep.zr, oz, dz, nz)
    return iz0, iz1, iy0, iy1, ix0, ix1


def mask_from_prepared(prep: Prepared, grid: DoseGrid, supersample, end_cap, interpolation) -> StructureMask:
    """The mask of a prepared structure (:func:`~dosecalc.masks.contours.prepare`), so
    that derived structures rasterise every operand at one factor without preparing twice."""
    k = resolve_k(prep, grid, supersample)
    box = lattice_box(prep, grid)
    if interpolation == "shape":
        return shape_mask(prep, grid, k, box, supersample, end_cap)
    return prism_mask(prep, grid, k, box, supersample, end_cap)
