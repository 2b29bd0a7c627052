"""Square ROIs on one plane in a linear dose field: the analytical case of the notebook tests.

Dose x + 0.1 y Gy on 1 mm voxels, so every DVH metric of a voxel-aligned square has a
closed form (the tests compare with plain numpy over the same voxels).
"""

from __future__ import annotations

import numpy as np

from dosecalc.model import ContourPlane, DoseGrid, Structure

SLOPE_X, SLOPE_Y = 1.0, 0.1     # Gy per mm


def box(x0, x1, y0, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def roi(number, name, x0, x1, y0, y1):
    """A square ROI on the one plane z = 0 (its slab is the voxel z in [-0.5, 0.5] mm)."""
    return Structure(number, name, planes=(ContourPlane(0.0, (box(x0, x1, y0, y1),)),))


def linear_grid(n=30):
    """1 mm voxels, voxel (i, j) spans x in [i, i+1], y in [j, j+1]; dose x + 0.1 y (Gy)."""
    x = np.arange(n) + 0.5
    y = np.arange(n) + 0.5
    plane = SLOPE_X * x[None, :] + SLOPE_Y * y[:, None]
    return DoseGrid(np.repeat(plane[None], 3, axis=0), (0.5, 0.5, -1.0), (1.0, 1.0, 1.0))
