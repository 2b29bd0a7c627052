"""The contour-topology, rasteriser and exact-extremes kernels compile each helper once, the
run encoder's plane scan once per pass (issue 13: the cold start).

numba compiles a helper once per distinct argument types, and a literal argument (``0``,
``False``, or a count that starts at ``0`` while numba infers a loop) is a type of its own:
such a helper compiles again, with everything it calls (4 s of the cold topology kernel
once).  Truth: numba's own record, each dispatcher's ``signatures``, after the entry
kernels are typed afresh (a new dispatcher of the same Python function, not cached), so
that every call of a helper is resolved again whatever the on-disk cache holds.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from dosecalc.kernels import runs, topology

pytestmark = pytest.mark.slow


def _fresh(kernel):
    return numba.njit(nogil=True)(kernel.py_func)


def _helpers(module, names):
    return {name: getattr(module, name).signatures for name in names}


def test_topology_helpers_compile_once_without_literals():
    # two planes: a square with a hole, and a crowded cluster beside a triangle far away
    # (the exact sweep); every helper is reached
    t = np.linspace(0.0, 2.0 * np.pi, 400, endpoint=False)
    xs = [np.array([0.0, 4.0, 4.0, 0.0]), np.array([1.0, 1.0, 3.0, 3.0]), 1e-3 * np.cos(t),
          np.array([1000.0, 1001.0, 1000.0])]
    ys = [np.array([0.0, 0.0, 4.0, 4.0]), np.array([1.0, 3.0, 3.0, 1.0]), 1e-3 * np.sin(t),
          np.array([1000.0, 1000.0, 1001.0])]
    x, y = np.concatenate(xs), np.concatenate(ys)
    ps = np.cumsum([0] + [len(a) for a in xs]).astype(np.int64)
    pls = np.array([0, 2, 4], dtype=np.int64)
    sign, fallback, area = np.zeros(4), np.zeros(2, dtype=np.int64), np.zeros(2)
    _fresh(topology.contour_topology)(x, y, ps, pls, 32.0, sign, fallback, area)
    assert fallback.tolist() == [0, -1]  # the crowded plane is left to the exact sweep
    _fresh(topology.exact_crossings)(x, y, ps, pls, sign, fallback)
    assert fallback.tolist() == [0, 0] and area[0] == 16.0 - 4.0  # the hole subtracts
    sigs = _helpers(topology, ["_bucket", "_scale", "_edge_boxes", "_bucket_sweep", "_sweep_meets", "_ray_hits"])
    for name, s in sigs.items():
        assert len(s) == 1 and "Literal" not in str(s), (name, s)


def test_run_encoder_compiles_its_plane_scan_once_per_pass():
    """count_runs and encode_runs call _plane_runs with a literal ``write`` flag on purpose:
    each pass gets its own specialisation (the counting pass without the stores runs 25 %
    faster than one signature with a run-time flag: encode_block of the 6 biggest SRS
    masks, 58 -> 75 ms), so two compilations, not more."""
    frac = np.zeros((2, 3, 4))
    frac[0, 1, 1:3] = 1.0
    frac[1, 2, 0] = 0.5
    frac.setflags(write=False)  # as dosecalc.masks.compact.encode_block passes it
    n_runs, n_part, n_inside = (np.zeros(2, dtype=np.int64) for _ in range(3))
    _fresh(runs.count_runs)(frac, n_runs, n_part, n_inside, 0, 2)
    assert n_runs.tolist() == [1, 1] and n_part.tolist() == [0, 1] and n_inside.tolist() == [2, 1]
    off = np.array([0, 1, 2], dtype=np.int64)
    part_off = np.array([0, 0, 1], dtype=np.int64)
    start, length, value = (np.zeros(2, dtype=np.int64) for _ in range(3))
    values = np.zeros(1)
    _fresh(runs.encode_runs)(frac, off, part_off, start, length, value, values, 0, 2)
    assert start.tolist() == [5, 20] and length.tolist() == [2, 1] and value.tolist() == [-1, 0]
    # the run-length rasteriser (kernels/raster.py) scans its own writable layer buffer:
    # only the signatures of read-only fractions come from count_runs and encode_runs
    mine = [s for s in runs._plane_runs.signatures if not s[0].mutable]
    assert sorted(str(s[4]) for s in mine) == ["Literal[bool](False)", "Literal[bool](True)"], mine


def test_raster_and_extremes_helpers_compile_once_without_literals():
    """The helpers that the rasteriser's and the exact extremes' entry kernels call: one
    signature each (``_grow``: one per dtype it grows, int64 and float64), none literal,
    after the entry kernels are typed afresh on a ring with a hole over two planes; the
    rasteriser's own scan of its writable layer buffer (``runs._plane_runs``) one
    signature with a run-time flag (before: five of these compiled twice, _plane_runs
    three times)."""
    from dosecalc.dose_grid import DoseGrid
    from dosecalc.kernels import extremes, raster
    from dosecalc.masks.contours import prepare
    from dosecalc.masks.prism import _lattice, _scaled
    from dosecalc.masks.rasterise import lattice_box
    from dosecalc.model import ContourPlane, Structure

    zz, yy, xx = np.meshgrid(np.arange(4.0), np.arange(30.0), np.arange(30.0), indexing="ij")
    grid = DoseGrid(xx + 0.1 * yy + zz, (0.5, 0.5, -1.0), (1.0, 1.0, 1.0))
    ring = np.array([[3.2, 4.1], [20.5, 3.3], [24.7, 18.2], [12.1, 25.6], [2.8, 16.0]])
    hole = np.array([[9.0, 9.0], [14.0, 9.5], [13.0, 14.0], [9.5, 13.0]])
    prep = prepare(Structure(1, "ring", planes=(ContourPlane(-0.5, (ring, hole)), ContourPlane(0.5, (ring,)))),
                   grid, "half", True)
    h, shape, lo = _lattice(prep, grid, 3, lattice_box(prep, grid))
    u, v, zl, zh = _scaled(prep, h, lo)
    args = (u, v, prep.poly_start, prep.plane_start, prep.sign, prep.fallback, zl, zh)
    n_runs = _fresh(raster.rasterise_runs)(*args, shape[1], shape[2], 0, shape[0])[0]
    out = np.zeros(shape)
    _fresh(raster.rasterise_layers)(*args, out, 0, 0, shape[0])
    assert n_runs.sum() > 0 and out.max() == 1.0
    values = grid.values_gy.view()
    values.setflags(write=False)
    blocks = extremes.block_summary(values)
    blocks.setflags(write=False)
    origin, spacing = np.asarray(grid.origin_mm), np.asarray(grid.spacing_mm)
    acc = np.array([np.inf, -np.inf, 0.0])
    plane_of_poly = np.repeat(np.arange(len(prep.lo), dtype=np.int64), np.diff(prep.plane_start))
    _fresh(extremes.edge_extremes)(prep.x, prep.y, prep.poly_start, plane_of_poly, prep.sign, prep.lo, prep.hi,
                                   values, blocks, origin, spacing, acc)
    _fresh(extremes.node_extremes)(prep.x, prep.y, prep.poly_start, prep.plane_start, prep.sign, prep.lo, prep.hi,
                                   values, blocks, origin, spacing, acc)
    assert acc[2] > 0
    # the helpers the entry kernels call (theirs load from the on-disk cache untyped)
    sigs = {**_helpers(raster, ["_rasterise_layer", "_only_plane", "_pairwise_sum", "_grow"]),
            **_helpers(extremes, ["_take", "_cell_block", "_block_bounded", "_z_range", "_column",
                                  "_insertion_sort", "_crossings", "_box_bounded", "_row_crossings"])}
    for name, s in sigs.items():
        assert len(s) == (2 if name == "_grow" else 1) and "Literal" not in str(s), (name, s)
    mine = [s for s in runs._plane_runs.signatures if s[0].mutable]
    assert len(mine) == 1 and "Literal" not in str(mine), mine
