"""The contour-topology kernels compile each helper once, the run encoder's plane scan once
per pass (issue 13: the cold start).

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
