"""Sample gathering and DVH kernels: values against plain-numpy float64 brute force, and
the same bits whatever the number of threads.

Truths: cell-centre doses by an independent numpy trilinear interpolation (the grid's
half-voxel edge rule: a fractional index is clipped to [0, n - 1]); aligned samples by
numpy fancy indexing; statistics by ``numpy`` min/max/count and ``math.fsum`` (exactly
rounded sums); histograms by ``np.add.at`` (which adds in index order, as one serial
pass does); sort orders by ``np.argsort(kind="stable")``.  Thread independence: the
kernels' own single-range, single-thread run (``NUMBA_NUM_THREADS=1`` semantics), with
the work forced onto several ranges (``MIN_SPLIT_WORK = 0``).
"""

from __future__ import annotations

import math
import multiprocessing
import sys
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pytest

from dosecalc.errors import ParameterError
from dosecalc.kernels import dvh as kdvh
from dosecalc.kernels import threads as kthreads
from dosecalc.kernels.interp import trilinear_points
from dosecalc.masks import StructureMask, mask_samples, structure_mask
from dosecalc.model import DoseGrid

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
from analytic_shapes import prism_volume_cc, sphere  # noqa: E402

MAX_THREADS = numba.config.NUMBA_NUM_THREADS


@contextmanager
def threads(n: int):
    before = numba.get_num_threads()
    numba.set_num_threads(min(n, MAX_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


@pytest.fixture
def force_split(monkeypatch):
    """Every input, however small, is cut into ranges (planes, layers, sort halves)."""
    monkeypatch.setattr(kthreads, "MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(kdvh, "SPLIT_SORT_MIN", 10)


def _grid(shape=(14, 13, 12), seed=0) -> DoseGrid:
    rng = np.random.default_rng(seed)
    return DoseGrid(rng.random(shape) * 60.0, (-6.5, -7.0, -5.0), (1.1, 1.2, 1.3))


def _numpy_trilinear(values, origin, spacing, pts):
    """Independent trilinear interpolation (x, y, z points in mm); NaN beyond the grid."""
    nz, ny, nx = values.shape
    f = (pts - np.asarray(origin)) / np.asarray(spacing)  # fractional (x, y, z) indices
    n = np.array([nx, ny, nz])
    outside = np.any((f < -0.5 - 1e-9) | (f > n - 0.5 + 1e-9), axis=1)
    f = np.clip(f, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(f).astype(int), np.maximum(n - 2, 0))
    w = f - i0
    i1 = np.minimum(i0 + 1, n - 1)
    out = np.zeros(len(pts))
    for cz in (0, 1):
        for cy in (0, 1):
            for cx in (0, 1):
                iz = i1[:, 2] if cz else i0[:, 2]
                iy = i1[:, 1] if cy else i0[:, 1]
                ix = i1[:, 0] if cx else i0[:, 0]
                wt = ((w[:, 2] if cz else 1 - w[:, 2]) * (w[:, 1] if cy else 1 - w[:, 1])
                      * (w[:, 0] if cx else 1 - w[:, 0]))
                out += wt * values[iz, iy, ix]
    out[outside] = np.nan
    return out


def _cell_centres(mask: StructureMask) -> np.ndarray:
    z, y, x = np.meshgrid(mask.cell_centres_mm("z"), mask.cell_centres_mm("y"), mask.cell_centres_mm("x"),
                          indexing="ij")
    inside = mask.fraction > 0.0
    return np.column_stack([x[inside], y[inside], z[inside]])


def test_gather_interp_against_numpy_trilinear():
    """Sub-voxel samples: dose = numpy trilinear at the inside cell centres (rel 1e-12),
    identical to kernels.interp.trilinear_points (same arithmetic), volume = fraction x
    cell volume exactly, C order; the volumes add up to the analytic prism volume."""
    g = _grid()
    s = sphere((0.4, -0.3, 0.2), 4.5, 1.3)
    m = structure_mask(s, g, supersample=3)
    assert m.index_offset is None
    d, v = mask_samples(m, g)
    pts = _cell_centres(m)
    truth = _numpy_trilinear(g.values_gy, g.origin_mm, g.spacing_mm, pts)
    np.testing.assert_allclose(d, truth, rtol=1e-12, atol=0)
    same = np.empty(len(pts))
    trilinear_points(g.values_gy, np.asarray(g.origin_mm), np.asarray(g.spacing_mm), pts, np.nan, same)
    assert np.array_equal(d, same)
    assert np.array_equal(v, m.fraction[m.fraction > 0] * m.cell_volume_cc)
    assert math.isclose(v.sum() + m.outside_cc, prism_volume_cc(s), rel_tol=1e-9)


def test_gather_aligned_against_fancy_indexing():
    """Lattice = the dose grid's voxels: the samples are the voxel values (exact)."""
    g = _grid(seed=1)
    m = structure_mask(sphere((0.0, 0.0, 0.0), 4.0, 1.3), g, supersample=1)
    iz, iy, ix = m.index_offset
    nz, ny, nx = m.fraction.shape
    d, v = mask_samples(m, g)
    inside = m.fraction > 0
    assert np.array_equal(d, g.values_gy[iz:iz + nz, iy:iy + ny, ix:ix + nx][inside])
    assert np.array_equal(v, m.fraction[inside] * m.cell_volume_cc)


@pytest.mark.parametrize("k", [1, 3])
def test_samples_and_masks_identical_when_split(force_split, k):
    """Forced into many plane ranges on two threads, the mask and its samples are bit
    for bit those of one range on one thread."""
    g = _grid(seed=2)
    s = sphere((0.1, 0.2, -0.3), 4.8, 1.3)
    with threads(1):
        m1 = structure_mask(s, g, supersample=k)
        d1, v1 = mask_samples(m1, g)
    with threads(2):
        m2 = structure_mask(s, g, supersample=k)
        d2, v2 = mask_samples(m2, g)
    assert np.array_equal(m1.fraction, m2.fraction)
    assert np.array_equal(d1, d2) and np.array_equal(v1, v2)
    assert math.isclose(v1.sum() + m1.outside_cc, prism_volume_cc(s), rel_tol=1e-9)


def test_lattice_beyond_the_grid_is_an_error():
    """A sub-voxel lattice reaching beyond the dose grid: ParameterError naming the
    structure (cell centres there have no dose), also when split over threads."""
    g = _grid()
    frac = np.ones((4, 4, 4))
    m = StructureMask(name="Far", fraction=frac, origin_mm=(100.0, 0.0, 0.0), spacing_mm=(0.5, 0.5, 0.5),
                      index_offset=None, volume_cc=0.008, outside_cc=0.0)
    with pytest.raises(ParameterError, match="'Far'.*beyond the dose grid"):
        mask_samples(m, g)


def test_lattice_beyond_the_grid_is_an_error_when_split(force_split):
    g = _grid()
    m = StructureMask(name="Far", fraction=np.ones((6, 4, 4)), origin_mm=(0.0, 0.0, 5.0),
                      spacing_mm=(0.5, 0.5, 2.0), index_offset=None, volume_cc=0.003, outside_cc=0.0)
    with threads(2), pytest.raises(ParameterError, match="'Far'"):
        mask_samples(m, g)


def _random_samples(n, seed=3):
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(30.0, 12.0, n), 2)  # rounded: many ties
    v = rng.random(n) * 1e-3
    v[::9] = 0.0
    return d, v


def _stats_truth(d, v):
    used = v > 0
    return (float(d[used].min()), float(d[used].max()), math.fsum(v[used]), math.fsum(d[used] * v[used]),
            int(used.sum()))


def test_sample_stats_against_numpy():
    """Min/max/count exact; compensated sums within 1 ulp of math.fsum of the same terms."""
    d, v = _random_samples(12_345)
    truth = _stats_truth(d, v)
    got = kdvh.sample_stats(d, v)
    assert got[0] == truth[0] and got[1] == truth[1] and got[4] == truth[4]
    assert got[5] == 0 and got[6] == 0
    assert math.isclose(got[2], truth[2], rel_tol=2.3e-16)
    assert math.isclose(got[3], truth[3], rel_tol=2.3e-16)


def test_sample_stats_counts_bad_values():
    """Non-finite doses count only where the volume is > 0; negative/NaN/inf volumes
    always; the counts are those of a numpy mask."""
    d, v = _random_samples(5000)
    d[[10, 2500, 4000]] = [np.nan, np.inf, -np.inf]
    v[4000] = 0.0  # bad dose with zero volume: ignored
    v[[20, 3000, 4500]] = [-1e-3, np.nan, np.inf]
    got = kdvh.sample_stats(d, v)
    bad_v = ~(v >= 0) | (v == np.inf)
    bad_d = ~bad_v & (v > 0) & ~np.isfinite(d)
    assert got[6] == int(bad_v.sum()) == 3
    assert got[5] == int(bad_d.sum()) == 2
    ok = ~bad_v & ~bad_d & (v > 0)
    assert got[4] == int(ok.sum())
    assert got[0] == d[ok].min() and got[1] == d[ok].max()
    assert math.isclose(got[2], math.fsum(v[ok]), rel_tol=5e-16)


def test_sample_stats_empty_and_all_zero():
    """No usable sample: NaN extremes, zero sums and counts (as documented)."""
    got = kdvh.sample_stats(np.zeros(0), np.zeros(0))
    assert math.isnan(got[0]) and math.isnan(got[1]) and got[2:] == (0.0, 0.0, 0, 0, 0)
    got = kdvh.sample_stats(np.ones(4), np.zeros(4))
    assert math.isnan(got[0]) and got[4] == 0


def _hist_truth(d, v, lo, width, nb):
    k = np.floor((d - lo) * (1.0 / width)).astype(np.int64)
    k = np.clip(k, 0, nb - 1)
    h = np.zeros(nb)
    keep = v != 0.0
    np.add.at(h, k[keep], v[keep])
    return h


def test_weighted_histogram_is_numpy_add_at():
    """The same additions in the same order as np.add.at: bit-identical bins (the order
    of the additions is kept so that no DVH step moves by a last-bit change)."""
    d, v = _random_samples(20_000)
    lo, hi, nb = d.min(), d.max(), 700
    h = np.zeros(nb)
    kdvh.weighted_histogram(d, v, lo, (hi - lo) / nb, h)
    assert np.array_equal(h, _hist_truth(d, v, lo, (hi - lo) / nb, nb))


@pytest.mark.parametrize("n", [5, 33_000, 100_001])
def test_stable_argsort_is_numpys(n):
    """Same permutation as numpy's stable sort, ties (and -0.0 == 0.0) in index order."""
    rng = np.random.default_rng(n)
    keys = np.round(rng.normal(0.0, 3.0, n), 1)
    keys[::17] = -0.0
    with threads(2):
        got = kdvh.stable_argsort(keys)
    assert np.array_equal(got, np.argsort(keys, kind="stable"))


def test_dvh_independent_of_threads(force_split):
    """DVH.from_samples (binned and exact) gives the same curve and metrics on one and on
    two threads (the sort cut in halves); its mean matches fsum(d v) / fsum(v)."""
    from dosecalc.dvh import DVH

    d, v = _random_samples(30_000, seed=7)
    for mode in ("binned", "exact"):
        res = []
        for n in (1, 2):
            with threads(n):
                h = DVH.from_samples(d, v, name="S", mode=mode)
            res.append(h)
        a, b = res
        assert np.array_equal(a.curve_volume_cc, b.curve_volume_cc)
        assert np.array_equal(a.curve_dose_gy, b.curve_dose_gy)
        assert a.mean_gy == b.mean_gy
        assert math.isclose(a.mean_gy, math.fsum(d * v) / math.fsum(v), rel_tol=1e-14)


def test_split_ranges_partition():
    """Ranges cover [0, n) exactly once, in order; weighted cuts balance the work."""
    for n, parts in ((1, 4), (7, 3), (100, 4), (5, 10)):
        r = kthreads.split_even(n, parts)
        assert [a for a, _ in r] == [0] + [b for _, b in r[:-1]] and r[-1][1] == n
    work = np.array([0, 0, 10, 10, 10, 10, 0, 0, 1000, 0, 0])
    cum = np.concatenate(([0], np.cumsum(work)))
    r = kthreads.split_weighted(cum, 2)
    assert r[0][0] == 0 and r[-1][1] == len(work)
    assert all(b > a for a, b in r) and all(r[i][1] == r[i + 1][0] for i in range(len(r) - 1))
    assert len(r) == 2 and r[0][1] == 8  # the heavy plane (index 8) starts the second range


def _child_samples(_):
    g = _grid(seed=4)
    m = structure_mask(sphere((0.0, 0.0, 0.0), 4.0, 1.3), g, supersample=3)
    d, v = mask_samples(m, g)
    return d.tobytes(), v.tobytes()


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_threads_work_after_fork(monkeypatch):
    """A process forked after the thread pool started (dosecalc.batch's process pool)
    gets its own pool and the same samples."""
    monkeypatch.setattr(kthreads, "MIN_SPLIT_WORK", 0)
    with threads(2):
        here = _child_samples(None)
        with multiprocessing.get_context("fork").Pool(1) as pool:
            there = pool.map(_child_samples, [None])[0]
    assert here == there
