"""alpha/beta maps from structures: which voxel takes which a/b (>= 50 % membership, the
first listed structure wins on overlaps; the reasons are in :mod:`dosecalc.radiobiology`).
a/b in Gy.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .errors import ParameterError
from .model import DoseGrid
from .quantity import format_g
from .radiobiology_lq import RadiobiologyWarning, _check_alpha_beta


# --- alpha/beta maps from structures --------------------------------------------------
class AlphaBetaMap:
    """An alpha/beta map on a dose grid: ``labels`` (uint8, grid shape) index ``table`` (Gy).

    Attributes
    ----------
    labels : ndarray uint8 (nz, ny, nx), read-only
        0 = ``"*"`` (default); k = the k-th listed structure.
    table : ndarray float64 (K + 1,)
        alpha/beta in Gy per label.
    names : tuple of str
        ``("*", name_1, ..., name_K)``.
    voxels : tuple of int
        Number of voxels that received each label.
    overlaps : list of dict
        ``{"winner", "loser", "voxels", "volume_cc"}`` for each pair of listed structures
        sharing voxels (the first listed wins).
    """

    def __init__(self, labels, table, names, voxels, overlaps):
        labels.setflags(write=False)
        self.labels = labels
        self.table = table
        self.names = tuple(names)
        self.voxels = tuple(int(v) for v in voxels)
        self.overlaps = list(overlaps)

    def as_dict(self) -> dict:
        """``{name: a/b}`` in priority order, ``"*"`` last (JSON-serialisable)."""
        d = {n: float(v) for n, v in zip(self.names[1:], self.table[1:])}
        d["*"] = float(self.table[0])
        return d

    def text(self) -> str:
        return ", ".join(f"{k}={format_g(v)}" for k, v in self.as_dict().items())


def alpha_beta_map(case, alpha_beta: Mapping, grid: DoseGrid | None = None) -> AlphaBetaMap:
    """Build the voxel alpha/beta map of ``case`` from ``{structure: a/b, "*": default}``.

    Parameters
    ----------
    case : Case
        Supplies the structures (``case.mask(name, supersample=1)``).
    alpha_beta : mapping
        Structure name or derived expression -> a/b in Gy; ``"*"`` (required) -> a/b of
        every other voxel.  Order is priority: where structures overlap the first listed
        wins (see the module docstring for why).
    grid : DoseGrid, optional
        Grid of the map (default ``case.dose``); masks must lie on its lattice.

    Returns
    -------
    AlphaBetaMap
        Membership: a voxel is in a structure when >= 50 % of its volume is inside.
    """
    grid = case.dose if grid is None else grid
    if grid is None:
        raise ParameterError("the case has no dose grid to build an alpha/beta map on")
    if "*" not in alpha_beta:
        raise ParameterError(
            "alpha_beta map needs a '*' entry: the a/b (Gy) of every voxel outside the "
            f"listed structures {list(alpha_beta)}, e.g. {{'*': 3}}")
    entries = [(str(k), _check_alpha_beta(v, f"alpha_beta[{k!r}]")) for k, v in alpha_beta.items() if k != "*"]
    default = _check_alpha_beta(alpha_beta["*"], "alpha_beta['*']")
    if len(entries) > 255:
        raise ParameterError("alpha_beta map lists more than 255 structures")
    labels = np.zeros(grid.shape, dtype=np.uint8)
    assigned = np.zeros(grid.shape, dtype=bool)
    voxels = [0] * (len(entries) + 1)
    overlaps = []
    vcc = grid.voxel_volume_cc
    for k, (name, _) in enumerate(entries, start=1):
        mask = case.mask(name, supersample=1)
        if getattr(mask, "index_offset", None) is None:
            raise ParameterError(f"mask of {name!r} is not on the dose grid's lattice "
                                 "(supersample=1 expected); cannot build a voxel a/b map")
        frac = np.asarray(mask.fraction)
        oz, oy, ox = (int(i) for i in mask.index_offset)
        # Clip the mask's box to the grid (defensive: a mask box never should overhang).
        sl_grid, sl_mask = [], []
        for off, m, n in zip((oz, oy, ox), frac.shape, grid.shape):
            lo, hi = max(off, 0), min(off + m, n)
            if hi <= lo:
                break
            sl_grid.append(slice(lo, hi))
            sl_mask.append(slice(lo - off, hi - off))
        if len(sl_grid) < 3:
            continue
        inside = frac[tuple(sl_mask)] >= 0.5
        box_assigned = assigned[tuple(sl_grid)]
        box_labels = labels[tuple(sl_grid)]
        clash = inside & box_assigned
        if clash.any():
            counts = np.bincount(box_labels[clash], minlength=k)
            for j in np.nonzero(counts)[0]:
                overlaps.append({"winner": entries[j - 1][0], "loser": name,
                                 "voxels": int(counts[j]), "volume_cc": float(counts[j] * vcc)})
        new = inside & ~box_assigned
        box_labels[new] = k
        box_assigned[new] = True
        voxels[k] = int(new.sum())
    voxels[0] = int((~assigned).sum())
    for o in overlaps:
        warnings.warn(f"alpha/beta map: {o['loser']!r} overlaps {o['winner']!r} in {o['voxels']} "
                      f"voxel(s) ({o['volume_cc']:.3g} cc); {o['winner']!r} is listed first and "
                      "its a/b is used there", RadiobiologyWarning, stacklevel=3)
    table = np.array([default] + [v for _, v in entries], dtype=np.float64)
    return AlphaBetaMap(labels, table, ["*"] + [n for n, _ in entries], voxels, overlaps)
