"""The branch and bound of the extremes kernels leaves Min and Max bit for bit unchanged.

Truth: the kernels as they were before (every place visited, nothing left out), kept
verbatim in tests/extremes_reference.py.  Random grids (smooth, steep sigmoid steps,
plateaus of exact zeros and ties, a checkerboard of +0.0 / -0.0, large offsets, a few
NaN) and random prism structures (star-shaped rings with holes, several contours per
plane, partly or wholly outside the grid in x, y and z, single-plane structures, grids
one or two nodes thin) are run through both; Min and Max must have the same bits (float
hex, so the sign of a zero counts) and the count must be positive for both or neither.
The coarse block ranges are checked against a numpy min/max over each block's nodes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dosecalc.dose_grid import DoseGrid
from dosecalc.kernels.extremes import BLOCK, block_summary
from dosecalc.masks.extremes import prism_extremes

sys.path.insert(0, str(Path(__file__).parent))
from extremes_reference import reference_extremes  # noqa: E402


def random_values(rng, shape, kind):
    nz, ny, nx = shape
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    if kind == "smooth":
        v = 20.0 * np.exp(-((x - nx / 2) ** 2 + (y - ny / 3) ** 2 + (z - nz / 2) ** 2) / (0.1 * (nx * ny) + 1))
    elif kind == "steep":  # a 60 Gy step over about one voxel, tilted
        v = 5.0 + 60.0 / (1.0 + np.exp(-(x + 0.4 * y - 0.3 * z - nx / 2) / 0.4)) + 0.01 * z
    elif kind == "zeros":  # dose only in a ball: exact zeros elsewhere, ties at 0
        r2 = (x - nx / 2) ** 2 + (y - ny / 2) ** 2 + (z - nz / 2) ** 2
        v = np.where(r2 < (min(shape) / 3) ** 2 + 4, 30.0 - 0.2 * r2, 0.0)
        v = np.maximum(v, 0.0)
    elif kind == "plateau":  # wide equal maxima and minima: many ties, ulp-level blends
        v = np.clip(np.round(rng.normal(10.0, 6.0, shape), 0), 3.0, 17.0) * 0.1
    elif kind == "signed_zero":  # +0.0 and -0.0 side by side, some negative dose
        v = np.where((x + y + z) % 2 == 0, 0.0, -0.0)
        v = np.where(x > nx / 2, rng.uniform(-1.0, 1.0, shape), v)
    elif kind == "offset":  # large values: relative rounding of the blends counts
        v = 1e6 + rng.uniform(0.0, 1e-6, shape) + 1e-7 * x
    elif kind == "nan":
        v = rng.uniform(0.0, 10.0, shape)
        v[rng.random(shape) < 0.01] = np.nan
    else:  # noise
        v = rng.uniform(0.0, 50.0, shape)
    return np.ascontiguousarray(v, dtype=np.float64)


def random_structure(rng, grid, n_planes, outside=False):
    """Flat arrays as prism_extremes takes them: each plane one or two star-shaped
    rings (a hole inside the first ring by even-odd), slabs halfway to the neighbours."""
    (x0, x1), (y0, y1), (z0, z1) = grid.bounds_mm
    span = np.array([x1 - x0, y1 - y0])
    centre = np.array([x0, y0]) + span * (rng.uniform(0.2, 0.8, 2) if not outside else rng.uniform(-0.3, 1.3, 2))
    dz = grid.spacing_mm[2] * rng.uniform(0.3, 1.7)
    zc = rng.uniform(z0 - 2 * dz, z1 + 2 * dz) if outside else rng.uniform(z0, z1)
    zs = zc + dz * (np.arange(n_planes) - n_planes / 2)
    xs, ys, poly_start, plane_start, sign = [], [], [0], [0], []
    for _ in zs:
        r_out = rng.uniform(0.1, 0.45) * span.min() + grid.spacing_mm[0]
        rings = [(r_out, 1.0)]
        if rng.random() < 0.4:
            rings.append((0.4 * r_out, -1.0))
        for r, s in rings:
            n = int(rng.integers(3, 40))
            t = np.sort(rng.uniform(0, 2 * np.pi, n))
            rr = r * rng.uniform(0.6, 1.0, n)
            xs.append(centre[0] + rr * np.cos(t))
            ys.append(centre[1] + rr * np.sin(t))
            poly_start.append(poly_start[-1] + n)
            sign.append(s)
        plane_start.append(len(sign))
    lo = np.concatenate([[zs[0] - dz / 2], (zs[1:] + zs[:-1]) / 2])
    hi = np.concatenate([(zs[1:] + zs[:-1]) / 2, [zs[-1] + dz / 2]])
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    per_plane = np.diff(np.array(poly_start))
    verts_plane = np.repeat(np.repeat(np.arange(n_planes), np.diff(plane_start)), per_plane)
    corners = np.concatenate([np.column_stack([x, y, lo[verts_plane]]), np.column_stack([x, y, hi[verts_plane]])])
    return (x, y, np.array(poly_start, dtype=np.int64), np.array(plane_start, dtype=np.int64),
            np.array(sign, dtype=np.float64), lo, hi, corners)


def same_bits(a, b):
    return (np.isnan(a) and np.isnan(b)) or float(a).hex() == float(b).hex()


KINDS = ["smooth", "steep", "zeros", "plateau", "signed_zero", "offset", "nan", "noise"]
SHAPES = [(23, 29, 31), (9, 40, 37), (1, 17, 19), (2, 13, 11), (12, 2, 30), (7, 25, 1)]


@pytest.mark.parametrize("kind", KINDS)
def test_pruned_extremes_equal_the_previous_kernels_bit_for_bit(kind):
    rng = np.random.default_rng(KINDS.index(kind) + 13)
    checked = 0
    for shape in SHAPES:
        spacing = tuple(rng.uniform(0.7, 3.0, 3))
        origin = tuple(rng.uniform(-100.0, 100.0, 3))
        grid = DoseGrid(random_values(rng, shape, kind), origin, spacing)
        for trial in range(12):
            n_planes = 1 if trial % 4 == 0 else int(rng.integers(2, 9))
            args = random_structure(rng, grid, n_planes, outside=trial % 3 == 1)
            lo, hi, n = prism_extremes(*args, grid)
            rlo, rhi, rn = reference_extremes(*args, grid)
            assert same_bits(lo, rlo) and same_bits(hi, rhi), (kind, shape, trial, lo, rlo, hi, rhi)
            assert (n > 0) == (rn > 0) and n <= rn, (kind, shape, trial, n, rn)
            checked += rn > 0
    assert checked > 20  # most structures meet the grid


def test_pruning_leaves_out_most_places_on_a_smooth_grid():
    """Not a correctness property, the point of the change: on a smooth dose most
    evaluations are left out, with the same Min and Max."""
    rng = np.random.default_rng(5)
    grid = DoseGrid(random_values(rng, (30, 60, 60), "smooth"), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    args = random_structure(rng, grid, 12)
    lo, hi, n = prism_extremes(*args, grid)
    rlo, rhi, rn = reference_extremes(*args, grid)
    assert (lo, hi) == (rlo, rhi) and 0 < n < rn / 2


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 5), (9, 10, 11), (13, 4, 17)])
def test_block_summary_is_the_range_of_each_blocks_nodes(shape):
    """Truth: numpy min/max over nodes b*BLOCK .. b*BLOCK + BLOCK of each axis."""
    rng = np.random.default_rng(sum(shape))
    v = rng.normal(size=shape)
    v[tuple(rng.integers(0, n) for n in shape)] = np.nan
    out = block_summary(v)
    nb = [max((n - 2) // BLOCK + 1, 1) for n in shape]
    assert out.shape == (*nb, 2)
    for bz in range(nb[0]):
        for by in range(nb[1]):
            for bx in range(nb[2]):
                box = v[bz * BLOCK:bz * BLOCK + BLOCK + 1, by * BLOCK:by * BLOCK + BLOCK + 1,
                        bx * BLOCK:bx * BLOCK + BLOCK + 1]
                if np.isnan(box).any():
                    assert tuple(out[bz, by, bx]) == (-np.inf, np.inf)
                else:
                    assert tuple(out[bz, by, bx]) == (box.min(), box.max())
    # every node is in some block, and a cell's nodes are in one block
    assert all((n - 1) <= (b - 1) * BLOCK + BLOCK or n == 1 for n, b in zip(shape, nb))
