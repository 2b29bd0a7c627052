"""Boolean combination of two fractional masks on one lattice (derived structures)."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .lattice import StructureMask

__all__ = ["combine"]

_OPS = ("union", "intersection", "difference")


def combine(op: str, a: StructureMask, b: StructureMask, *, name: str | None = None) -> StructureMask:
    """Combine two fractional masks on the same lattice.

    Within a cell only the fractions are known, not where the parts lie, so each
    operation assumes the regime it is typically used in:

    * ``"union"`` (``GTV1 | GTV2``): disjoint parts, ``min(1, a + b)``; exact when the
      structures do not overlap (two lesions, organs sharing a boundary), an overestimate
      in cells where overlapping structures both have their boundary.
    * ``"intersection"`` (``Liver & PTV``): nested parts, ``min(a, b)``; exact wherever at
      most one of the two surfaces crosses a cell (one structure covers the cell or the
      other's part of it), an overestimate where both surfaces cross the same cell.
    * ``"difference"`` (``Liver - GTV``): nested parts, ``max(0, a - b)``; exact when ``b``
      lies inside ``a`` within each cell (a target inside an organ).

    The errors are confined to cells crossed by both surfaces; sub-voxel lattices shrink
    them.  Volumes outside the dose grid combine by the same rule applied to the two
    ``outside_cc`` values (exact when they are zero; ``settings["outside_estimated"]``
    says when they were not).

    Parameters
    ----------
    op : {"union", "intersection", "difference"}
    a, b : StructureMask
        Masks on the same lattice spacing with aligned cells (the same dose grid and
        supersample factor); their boxes may differ.
    name : str, optional
        Name of the result (default ``"a op b"``).

    Returns
    -------
    StructureMask
    """
    if op not in _OPS:
        raise ParameterError(f"combine op must be one of {_OPS}, got {op!r}")
    if any(abs(sa - sb) > 1e-9 * max(sa, 1.0) for sa, sb in zip(a.spacing_mm, b.spacing_mm)):
        raise ParameterError(
            f"combine: masks {a.name!r} and {b.name!r} have different lattice spacings "
            f"{a.spacing_mm} and {b.spacing_mm} mm; rasterise both with the same supersample factor "
            "(dosecalc.derived.derived_mask does this)")
    offs = []
    for ax in range(3):
        d = (b.origin_mm[ax] - a.origin_mm[ax]) / a.spacing_mm[ax]
        r = round(d)
        if abs(d - r) > 1e-6:
            raise ParameterError(
                f"combine: masks {a.name!r} and {b.name!r} have lattice cells that are not aligned "
                f"(origin {a.origin_mm} vs {b.origin_mm} mm); build both on the same dose grid")
        offs.append(int(r))
    # b's cell [0,0,0] sits at a's index (offz, offy, offx)
    ob = (offs[2], offs[1], offs[0])
    sa, sb = a.fraction.shape, b.fraction.shape
    if op == "union":
        lo = [min(0, ob[i]) for i in range(3)]
        hi = [max(sa[i], ob[i] + sb[i]) for i in range(3)]
    elif op == "intersection":
        lo = [max(0, ob[i]) for i in range(3)]
        hi = [min(sa[i], ob[i] + sb[i]) for i in range(3)]
        hi = [max(h, l) for h, l in zip(hi, lo)]
    else:
        lo, hi = [0, 0, 0], list(sa)
    shape = tuple(hi[i] - lo[i] for i in range(3))

    def place(m: StructureMask, off) -> np.ndarray:
        out = np.zeros(shape)
        src = [slice(max(lo[i] - off[i], 0), min(hi[i] - off[i], m.fraction.shape[i])) for i in range(3)]
        dst = [slice(s.start + off[i] - lo[i], s.stop + off[i] - lo[i]) for i, s in enumerate(src)]
        if all(s.stop > s.start for s in src):
            out[tuple(dst)] = m.fraction[tuple(src)]
        return out

    fa = place(a, (0, 0, 0))
    fb = place(b, ob)
    if op == "union":
        f = np.minimum(1.0, fa + fb)
        out_cc = a.outside_cc + b.outside_cc
    elif op == "intersection":
        f = np.minimum(fa, fb)
        out_cc = min(a.outside_cc, b.outside_cc)
    else:
        f = np.maximum(0.0, fa - fb)
        out_cc = max(0.0, a.outside_cc - b.outside_cc)
    f.setflags(write=False)
    cell = a.cell_volume_cc
    origin = tuple(a.origin_mm[ax] + lo[2 - ax] * a.spacing_mm[ax] for ax in range(3))
    index_offset = None
    if a.index_offset is not None and b.index_offset is not None:
        index_offset = tuple(a.index_offset[i] + lo[i] for i in range(3))
    settings = dict(a.settings)
    settings.update({"combine": op, "operands": (a.name, b.name),
                     "outside_estimated": bool(a.outside_cc > 0 or b.outside_cc > 0)})
    sym = {"union": "|", "intersection": "&", "difference": "-"}[op]
    return StructureMask(
        name=name if name is not None else f"{a.name} {sym} {b.name}",
        fraction=f,
        origin_mm=origin,
        spacing_mm=a.spacing_mm,
        index_offset=index_offset,
        volume_cc=float(f.sum()) * cell + out_cc,
        outside_cc=out_cc,
        settings=settings,
        # the surface of a union is made of its operands' surfaces; of the others, not
        corners_mm=np.concatenate([a.corners_mm, b.corners_mm]) if op == "union" else np.zeros((0, 3)),
    )
