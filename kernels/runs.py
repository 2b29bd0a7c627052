"""Run-length storage of fractional masks (numba): interior cells as runs, boundary cells
with their fractions.

A mask's cells, read plane by plane in C order, fall into maximal runs of consecutive
non-zero cells of one kind: *full* (fraction exactly 1.0, the interior of a structure:
only the run's start and length are stored) or *partial* (any other non-zero fraction,
the cells the surface crosses: the fractions are stored as they are).  Zero cells are
gaps between runs, and no run crosses from one z plane to the next, so that ranges of
planes are encoded and decoded independently (on threads, :mod:`.threads`; every range
writes only its own slots, so the result does not depend on the thread count).  A
structure's interior is most of its cells and one run per row covers it, so the storage
is about the size of its surface, not of its bounding box; decoding gives the dense
array back bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _plane_runs(frac, k, q0, q1, write, r0, p0, run_start, run_length, run_value, values):
    """The runs of plane ``k`` of ``frac``, read in C order: returns (runs, partial cells,
    non-zero cells); with ``write`` the runs are stored from slot ``r0`` and the partial
    fractions from slot ``p0`` (arrays as in :func:`encode_runs`).  The one scan behind
    :func:`count_runs` and :func:`encode_runs`, so the counts and the runs always agree.
    Only the cells ``[q0, q1)`` of the plane (flat, C order) are read: the caller knows
    the others are 0 (a gap, which holds no run)."""
    ny, nx = frac.shape[1], frac.shape[2]
    base = k * ny * nx
    r = r0 - 1
    p = p0
    runs = 0
    inside = 0
    kind = 0  # 0 gap, 1 full run, 2 partial run
    if q1 <= q0:
        return 0, 0, 0
    ja = q0 // nx
    jb = (q1 - 1) // nx
    for j in range(ja, jb + 1):
        ia = q0 - j * nx if j == ja else 0
        ib = q1 - j * nx if j == jb else nx
        for i in range(ia, ib):
            f = frac[k, j, i]
            if f == 0.0:
                kind = 0
                continue
            inside += 1
            new = 1 if f == 1.0 else 2
            if new != kind:
                runs += 1
                kind = new
                if write:
                    r += 1
                    run_start[r] = base + j * nx + i
                    run_length[r] = 0
                    run_value[r] = -1 if new == 1 else p
            if write:
                run_length[r] += 1
            if new == 2:
                if write:
                    values[p] = f
                p += 1
    return runs, p - p0, inside


@njit(cache=True, nogil=True)
def count_runs(frac, n_runs, n_partial, n_inside, k0, k1):
    """Number of runs, of partial cells and of all non-zero cells of each plane ``k`` of
    ``[k0, k1)``.

    Parameters
    ----------
    frac : float64 (nz, ny, nx)
        Fractions.
    n_runs, n_partial, n_inside : int64 (nz,)
        Receive the counts of planes ``k0 .. k1 - 1``.
    """
    none = np.empty(0, dtype=np.int64)
    plane = frac.shape[1] * frac.shape[2]
    for k in range(k0, k1):
        n_runs[k], n_partial[k], n_inside[k] = _plane_runs(frac, k, 0, plane, False, 0, 0, none, none, none,
                                                           np.empty(0))


@njit(cache=True, nogil=True)
def encode_runs(frac, run_off, part_off, run_start, run_length, run_value, values, k0, k1):
    """Fill the runs of planes ``[k0, k1)``.

    Parameters
    ----------
    frac : float64 (nz, ny, nx)
        Fractions.
    run_off, part_off : int64 (nz + 1,)
        Index of the first run / partial cell of each plane (prefix sums of
        :func:`count_runs`).
    run_start, run_length : int64 (n_runs,)
        Receive the flat (C-order) index of each run's first cell and its length.
    run_value : int64 (n_runs,)
        Receives -1 for a full run, else the index in ``values`` of its first fraction.
    values : float64 (n_partial,)
        Receives the fractions of the partial cells, in order.
    """
    plane = frac.shape[1] * frac.shape[2]
    for k in range(k0, k1):
        _plane_runs(frac, k, 0, plane, True, run_off[k], part_off[k], run_start, run_length, run_value, values)


@njit(cache=True, nogil=True)
def decode_runs(run_off, run_start, run_length, run_value, values, flat, k0, k1):
    """Write the runs of planes ``[k0, k1)`` into ``flat`` (float64 (nz * ny * nx,), zero
    beforehand): the inverse of :func:`encode_runs`."""
    for r in range(run_off[k0], run_off[k1]):
        s = run_start[r]
        n = run_length[r]
        v = run_value[r]
        if v < 0:
            for i in range(n):
                flat[s + i] = 1.0
        else:
            for i in range(n):
                flat[s + i] = values[v + i]
