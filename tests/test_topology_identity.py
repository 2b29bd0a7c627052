"""The one-pass contour kernels (kernels/topology.py, kernels/contours.py) against the
implementation they replaced, kept verbatim in tests/topology_reference.py: every array
must be bit-identical.

Truth: the previous implementation (numpy over all planes plus its two sweep kernels;
numpy de-duplication; numpy corners), whose results the DVHs were validated with.  Cases:
random hostile contour sets (touching and collinear on an integer lattice, duplicate
points, nested rings, combs both ways, single- and two-vertex and empty contours, empty
planes, a dense cluster far from the rest of its plane, far-off coordinates), each with
the bucket sweep, the exact sweep and the automatic choice; and every structure of the
synthetic phantom, of the Nelms 2015 set and of the Brainlab SRS export when present.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dosecalc.masks.topology as topology
from dosecalc.errors import ContourError
from dosecalc.masks import contours
from dosecalc.model import ContourPlane, Structure

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (importlib mode)
import topology_reference as ref  # noqa: E402
from test_masks_topology import _flat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SRS = ROOT / "benchmarks" / "_work" / "real" / "brainlab_srs"


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- random hostile contour sets -----------------------------------------------------------------
def _ring(rng, r, n, cx=0.0, cy=0.0):
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    if rng.random() < 0.5:
        t = t[::-1]
    return cx + r * np.cos(t), cy + r * np.sin(t)


def _comb(teeth, x0=0.0, y0=0.0, vertical=True):
    xs, ys = [], []
    for t in range(teeth):
        xs += [2.0 * t, 2.0 * t, 2.0 * t + 1, 2.0 * t + 1]
        ys += [0.0, 10.0, 10.0, 0.0]
    xs += [2.0 * teeth - 1, 0.0]
    ys += [-1.0, -1.0]
    x, y = np.array(xs) + x0, np.array(ys) + y0
    return (x, y) if vertical else (y, x)


def _contour(rng, kind):
    if kind == "lattice":  # touching, collinear, repeated points
        n = int(rng.integers(1, 9))
        return rng.integers(0, 5, n).astype(float), rng.integers(0, 5, n).astype(float)
    if kind == "ring":
        return _ring(rng, rng.uniform(0.5, 10), int(rng.integers(3, 40)), *rng.normal(0, 2, 2))
    if kind == "comb":
        return _comb(int(rng.integers(1, 12)), *rng.integers(-3, 3, 2).astype(float), vertical=rng.random() < 0.5)
    if kind == "degenerate":
        n = int(rng.integers(0, 5))
        choice = rng.integers(0, 4)
        if choice == 0:  # collinear
            t = rng.uniform(-5, 5, n)
            return 1.0 + 2.0 * t, -3.0 + 0.5 * t
        if choice == 1:  # one point repeated
            return np.full(n, 1.5), np.full(n, -2.0)
        if choice == 2:  # -0.0 and 0.0
            return np.array([0.0, -0.0, 1.0, 0.0][:n]), np.array([-0.0, 0.0, 0.0, 1.0][:n])
        return rng.normal(0, 1, n), rng.normal(0, 1, n)
    if kind == "cluster":  # a dense ring far from a triangle: crowded buckets
        x, y = _ring(rng, 1e-3, int(rng.integers(200, 400)))
        return np.r_[x, 1000.0, 1001.0, 1000.0, x[0]], np.r_[y, 1000.0, 1000.0, 1001.0, y[0]]
    if kind == "far":  # far-off coordinates, nested
        x, y = _ring(rng, rng.uniform(1, 3), int(rng.integers(3, 12)))
        return x + 1e5, y - 2e5
    raise AssertionError(kind)


def _random_set(rng, kinds):
    xs, ys, ps, pls = [], [], [0], [0]
    for _ in range(int(rng.integers(1, 5))):
        for _ in range(int(rng.integers(0, 6))):  # empty planes too
            x, y = _contour(rng, kinds[int(rng.integers(0, len(kinds)))])
            if len(x) and rng.random() < 0.2:  # repeated consecutive points
                i = int(rng.integers(0, len(x)))
                x, y = np.insert(x, i, x[i]), np.insert(y, i, y[i])
            xs.append(np.asarray(x, dtype=float))
            ys.append(np.asarray(y, dtype=float))
            ps.append(ps[-1] + len(x))
        pls.append(len(ps) - 1)
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    return x, y, np.array(ps, dtype=np.int64), np.array(pls, dtype=np.int64)


KINDS = [["lattice"], ["ring"], ["comb"], ["degenerate", "lattice"], ["cluster", "ring"], ["far"],
         ["lattice", "ring", "comb", "degenerate", "far"]]


@pytest.mark.parametrize("work", [None, -np.inf, np.inf])
def test_plane_topology_matches_previous_implementation(monkeypatch, work):
    """sign, fallback and area_mm2 bit-identical to the previous implementation, with the
    automatic sweep choice, always the exact sorted sweep, and always the bucket sweep."""
    if work is not None:
        monkeypatch.setattr(topology, "SWEEP_WORK", work)
    rng = np.random.default_rng(13)
    n_fallback = n_holes = 0
    for trial in range(400):
        x, y, ps, pls = _random_set(rng, KINDS[trial % len(KINDS)])
        got = topology.plane_topology(x, y, ps, pls)
        want = ref.plane_topology(x, y, ps, pls)
        for g, w, name in zip(got, want, ("sign", "fallback", "area")):
            assert _same(g, w), (trial, name, g, w)
        n_fallback += int(got[1].sum())
        n_holes += int(np.sum(got[0] < 0))
    assert n_fallback > 50 and n_holes > 50  # the sets do exercise crossings and nesting


def test_comb_both_ways_and_crowded_plane_match():
    """Big cases of each path: a 2000-tooth comb along x and along y with rings between
    its teeth (bucket sweep, bucketed ray tests), and a 3000-vertex ring of 1 um radius
    beside a triangle 1 m away (the buckets crowd: exact sweep)."""
    rng = np.random.default_rng(5)
    planes = []
    for vertical in (True, False):
        cx, cy = _comb(2000, vertical=vertical)
        rings = [_ring(rng, 0.3, 8, 2.0 * t + 0.5, 5.0) for t in range(0, 2000, 7)]
        if not vertical:
            rings = [(yy, xx) for xx, yy in rings]
        planes.append([(cx, cy)] + rings)
    rx, ry = _ring(rng, 1e-3, 3000)
    planes.append([(rx, ry), (np.array([1000.0, 1001.0, 1000.0]), np.array([1000.0, 1000.0, 1001.0]))])
    args = _flat(planes)
    got, want = topology.plane_topology(*args), ref.plane_topology(*args)
    assert all(_same(g, w) for g, w in zip(got, want))
    x, y, ps, _ = args
    signed = np.array([np.sum(x[a:b] * np.roll(y[a:b], -1) - np.roll(x[a:b], -1) * y[a:b]) for a, b in zip(ps[:-1], ps[1:])])
    holes = got[0] * np.sign(signed) < 0  # odd nesting depth: the rings inside the teeth
    assert got[1].tolist() == [0, 0, 0] and holes.sum() == 2 * len(range(0, 2000, 7))


# --- flattening and corners ----------------------------------------------------------------------
def _structure(rng, n_planes=6, width=2):
    planes = []
    for p in range(n_planes):
        polys = []
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.integers(0, 9))
            pts = rng.integers(0, 4, (n, width)).astype(float)
            if n and rng.random() < 0.4:
                pts = np.vstack([pts, pts[:1]])  # closing point
            if n and rng.random() < 0.3:
                pts = np.repeat(pts, rng.integers(1, 3, len(pts)), axis=0)  # repeats
            if n and rng.random() < 0.1:
                pts[pts == 0.0] = -0.0
            polys.append(pts)
        planes.append(ContourPlane(z_mm=2.0 * p, polygons=tuple(polys)))
    return Structure(number=1, name="random", planes=tuple(planes))


def _prepared_pair(structure, monkeypatch):
    """Prepared by the current code and by the previous flatten + topology."""
    new = contours.Prepared(structure, None, "half", 2.0)
    with monkeypatch.context() as m:
        m.setattr(contours, "_flatten", ref._flatten)
        m.setattr(contours, "plane_topology", ref.plane_topology)
        old = contours.Prepared(structure, None, "half", 2.0)
    return new, old


PREPARED_ARRAYS = ("x", "y", "poly_start", "plane_start", "z", "lo", "hi", "sign", "fallback", "area_mm2")


def _assert_prepared_same(new, old, label):
    for name in PREPARED_ARRAYS:
        assert _same(getattr(new, name), getattr(old, name)), (label, name)
    for name in ("cx", "cy", "volume_cc", "xr", "yr", "zr", "gap_factor"):
        assert repr(getattr(new, name)) == repr(getattr(old, name)), (label, name)
    assert _same(new.corners(), ref.corners(old)), (label, "corners")


def test_flatten_and_corners_match_previous_implementation(monkeypatch):
    """Random lattice polygons with repeated and closing points, -0.0, empty contours,
    degenerate ones (corners leave them out) and (N, 3) arrays: the same flat arrays,
    topology, volume, extents and corners."""
    rng = np.random.default_rng(11)
    for trial in range(300):
        s = _structure(rng, width=3 if trial % 10 == 0 else 2)
        flat_new, flat_old = contours._flatten(s), ref._flatten(s)
        assert all(_same(a, b) for a, b in zip(flat_new, flat_old)), trial
        new, old = _prepared_pair(s, monkeypatch)
        _assert_prepared_same(new, old, trial)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 1)), "must be an \\(N, 2\\) array"),
    (np.zeros(4), "must be an \\(N, 2\\) array"),
    (np.array([[0.0, 0.0], [np.nan, 1.0], [1.0, 1.0]]), "non-finite coordinates"),
])
def test_flatten_errors_unchanged(bad, message):
    good = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = Structure(number=1, name="bad", planes=(ContourPlane(0.0, (good,)), ContourPlane(2.0, (good, bad))))
    errors = []
    for flatten in (contours._flatten, ref._flatten):
        with pytest.raises(ContourError, match=message) as info:
            flatten(s)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


# --- real and synthetic structures ---------------------------------------------------------------
def _check_structures(structures, monkeypatch):
    n = 0
    for s in structures:
        if s.has_volume:
            new, old = _prepared_pair(s, monkeypatch)
            _assert_prepared_same(new, old, s.name)
            n += 1
    return n


def test_phantom_structures_identical(synthetic_case, monkeypatch):
    assert _check_structures(synthetic_case.structures, monkeypatch) >= 5


def test_nelms_structures_identical(nelms_dir, monkeypatch):
    from dosecalc.io.rtstruct import read_rtstruct

    n = 0
    for path in sorted((nelms_dir / "structures").glob("*.dcm")):
        ss, _ = read_rtstruct(path)
        n += _check_structures(ss, monkeypatch)
    assert n >= 20


def test_brainlab_srs_structures_identical(monkeypatch):
    """39 ROIs, 720 k vertices; one outer contour of 11 195 contours on 196 planes."""
    if not (SRS.parent / "brainlab_srs.complete").exists():
        pytest.skip(f"{SRS} is absent: run `python benchmarks/run.py --only real_exports` first")
    import dosecalc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = dosecalc.load(SRS)
    assert _check_structures(case.structures, monkeypatch) == 39
