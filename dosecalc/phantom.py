"""A synthetic liver-SBRT export: CT, RTSTRUCT, RTPLAN and RTDOSE of an adult abdomen.

Everything is analytic and deterministic, so tests have an exact truth:

* every structure is an implicit function (:meth:`Shape.inside`, patient mm) and its
  axial contours are sampled from the same definition (vertices on the boundary);
* the dose is :func:`analytic_dose`, a smooth function of position evaluated at the
  dose-grid voxel centres.

Patient coordinates are DICOM LPS for a head-first-supine patient: +x to the patient's
left, +y posterior, +z superior (mm).  The scan covers z = -100 .. +100 mm.

Two treatment situations share one plan: an adjuvant target (``CTV`` around the
resection bed at the liver's cut surface, ``PTV`` = CTV + 5 mm) and two oligoprogressive
lesions (``GTV1``/``GTV2``, ``PTV1``/``PTV2`` = GTV + 5 mm).  Every PTV receives the
prescription (40 Gy in 5 fractions by default) with a hot centre of 110-125 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.special import erfc

from .errors import OutputError, ParameterError

SCAN_Z_MM = (-100.0, 100.0)
BODY_AXES_MM = (160.0, 110.0)  # semi-axes (x, y) of the body outline
SKIN_MM = 4.0
_PATIENT = {
    "PatientName": "Synthetic^LiverSBRT", "PatientID": "DOSECALC-PHANTOM",
    "PatientBirthDate": "19600101", "PatientSex": "O", "StudyDate": "20240101",
    "StudyTime": "120000", "StudyID": "1", "AccessionNumber": "",
    "ReferringPhysicianName": "", "StudyDescription": "Synthetic liver SBRT",
}


# =========================================================================================
# Shapes: implicit functions with exact axial outlines
# =========================================================================================
def _superellipse_r(theta, a, b, n):
    """Radius of the superellipse |x/a|^n + |y/b|^n = 1 along direction ``theta``."""
    c = np.abs(np.cos(theta)) / a
    s = np.abs(np.sin(theta)) / b
    return (c**n + s**n) ** (-1.0 / n)


def _wrap(angle):
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _clip_half_plane(poly: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Sutherland-Hodgman: the part of polygon ``poly`` where a*x + b*y <= c."""
    if len(poly) == 0:
        return poly
    s = poly @ np.array([a, b]) - c
    keep = s <= 0.0
    if keep.all():
        return poly
    if not keep.any():
        return poly[:0]
    nxt = np.roll(poly, -1, axis=0)
    s_n = np.roll(s, -1)
    cross = keep != np.roll(keep, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(cross, s / (s - s_n), 0.0)
    crossing = poly + t[:, None] * (nxt - poly)
    pts = np.stack([poly, crossing], axis=1).reshape(-1, 2)
    out = pts[np.stack([keep, cross], axis=1).reshape(-1)]
    # A vertex exactly on the line also yields a crossing at itself: drop repeats.
    dup = np.all(np.abs(np.diff(out, axis=0, append=out[:1])) < 1e-9, axis=1)
    return out[~dup] if (~dup).sum() >= 3 else out[:0]


def _n_vertices(r_max: float) -> int:
    # Edges of about 1 mm: the inscribed polygon then loses < 0.3 % of a 5 mm circle's area.
    return int(np.clip(math.ceil(2.0 * math.pi * r_max / 1.0), 48, 256))


class Shape:
    """A region of patient space (mm) with axial outlines."""

    def inside(self, x, y, z) -> np.ndarray:
        """Boolean array: points (broadcast x, y, z in mm) inside the region."""
        raise NotImplementedError

    def polygons(self, z: float) -> list[np.ndarray]:
        """Closed polygons (N, 2) of the section at ``z`` (even-odd rule); [] if none."""
        raise NotImplementedError


@dataclass(frozen=True)
class Star(Shape):
    """A section family star-shaped about ``centre(z)``: inside iff the in-plane distance
    to the centre is <= ``scale(z) * radius(theta, z)``, within all ``cuts``.

    ``cuts`` are half-spaces ``n . p <= d`` (n a 3-vector), applied exactly to the outline
    by polygon clipping.
    """

    centre: Callable[[np.ndarray], tuple]
    radius: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scale: Callable[[np.ndarray], np.ndarray]
    cuts: tuple = ()

    def inside(self, x, y, z):
        x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, y, z)))
        cx, cy = self.centre(z)
        dx, dy = x - cx, y - cy
        sc = self.scale(z)
        rr = np.hypot(dx, dy)
        th = np.arctan2(dy, dx)
        ok = (sc > 0) & (rr <= np.where(sc > 0, sc, 0.0) * self.radius(th, z))
        for n, d in self.cuts:
            ok &= n[0] * x + n[1] * y + n[2] * z <= d
        return ok

    def polygons(self, z):
        z = float(z)
        sc = float(self.scale(np.float64(z)))
        if not sc > 0:
            return []
        cx, cy = (float(v) for v in self.centre(np.float64(z)))
        coarse = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
        r_max = sc * float(np.max(self.radius(coarse, np.full(64, z))))
        n = _n_vertices(r_max)
        th = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
        r = sc * self.radius(th, np.full(n, z))
        poly = np.column_stack([cx + r * np.cos(th), cy + r * np.sin(th)])
        for nv, d in self.cuts:
            poly = _clip_half_plane(poly, nv[0], nv[1], d - nv[2] * z)
            if len(poly) == 0:
                return []
        return [poly]


@dataclass(frozen=True)
class Shell(Shape):
    """``outer`` minus ``inner`` (``inner`` inside ``outer``): a ring, written as an outer
    and an inner contour on each plane."""

    outer: Shape
    inner: Shape

    def inside(self, x, y, z):
        return self.outer.inside(x, y, z) & ~self.inner.inside(x, y, z)

    def polygons(self, z):
        outer = self.outer.polygons(z)
        return outer + self.inner.polygons(z) if outer else []


@dataclass(frozen=True)
class Union(Shape):
    """Disjoint parts of one structure (several polygons per plane)."""

    parts: tuple

    def inside(self, x, y, z):
        out = self.parts[0].inside(x, y, z)
        for p in self.parts[1:]:
            out = out | p.inside(x, y, z)
        return out

    def polygons(self, z):
        return [poly for p in self.parts for poly in p.polygons(z)]


@dataclass(frozen=True)
class RingSector(Shape):
    """Between two outlines ``r_in(theta) <= rho <= r_out(theta)`` about (0, 0), for
    ``theta`` in [t0, t1] (radians, t0 < t1, measured from +x towards +y, may exceed pi)
    and z in [z0, z1]: a chest-wall-like band."""

    r_in: Callable[[np.ndarray], np.ndarray]
    r_out: Callable[[np.ndarray], np.ndarray]
    t0: float
    t1: float
    z0: float
    z1: float

    def inside(self, x, y, z):
        x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, y, z)))
        th = np.arctan2(y, x)
        th = np.where(th < self.t0, th + 2 * np.pi, th)
        rr = np.hypot(x, y)
        return ((z >= self.z0) & (z <= self.z1) & (th <= self.t1)
                & (rr >= self.r_in(th)) & (rr <= self.r_out(th)))

    def polygons(self, z):
        if not (self.z0 <= z <= self.z1):
            return []
        n = _n_vertices(float(np.max(self.r_out(np.linspace(self.t0, self.t1, 32)))) * (self.t1 - self.t0) / (2 * np.pi))
        th = np.linspace(self.t0, self.t1, max(n, 24))
        outer = np.column_stack([self.r_out(th) * np.cos(th), self.r_out(th) * np.sin(th)])
        th_r = th[::-1]
        inner = np.column_stack([self.r_in(th_r) * np.cos(th_r), self.r_in(th_r) * np.sin(th_r)])
        return [np.vstack([outer, inner])]


# --- shape factories ----------------------------------------------------------------------
def _const_centre(cx, cy):
    return lambda z: (np.full(np.shape(z), cx, dtype=np.float64), np.full(np.shape(z), cy, dtype=np.float64))


def _ellipsoid_scale(zc, c):
    return lambda z: np.sqrt(np.maximum(1.0 - ((np.asarray(z, dtype=np.float64) - zc) / c) ** 2, 0.0))


def ellipsoid(centre, semi_axes, n=2.0, lobes=(), cuts=()) -> Star:
    """A (super)ellipsoid: sections are superellipses of exponent ``n`` scaled by
    sqrt(1 - ((z - zc)/c)^2); ``lobes`` = ((k, amplitude, phase), ...) modulate the
    radius by (1 + amplitude cos(k theta + phase)) for an organ-like outline."""
    cx, cy, zc = centre
    a, b, c = semi_axes

    def radius(th, z):
        r = _superellipse_r(th, a, b, n)
        for k, amp, ph in lobes:
            r = r * (1.0 + amp * np.cos(k * th + ph))
        return r

    return Star(_const_centre(cx, cy), radius, _ellipsoid_scale(zc, c), tuple(cuts))


def prism(centre_xy, semi_axes_xy, z0, z1, n=2.0, lobes=()) -> Star:
    """A straight prism of superellipse section between z0 and z1 (a full-scan body)."""
    a, b = semi_axes_xy

    def radius(th, z):
        r = _superellipse_r(th, a, b, n)
        for k, amp, ph in lobes:
            r = r * (1.0 + amp * np.cos(k * th + ph))
        return r

    def scale(z):
        z = np.asarray(z)
        return np.where((z >= z0) & (z <= z1), 1.0, 0.0)

    return Star(_const_centre(*centre_xy), radius, scale)


def tube(path: Callable, radius_mm: float, z0: float, z1: float, taper_mm: float = 0.0) -> Star:
    """A tube of circular section whose centre follows ``path(z) -> (x, y)`` for z in
    [z0, z1], its ends rounded over ``taper_mm``."""

    def scale(z):
        z = np.asarray(z, dtype=np.float64)
        if taper_mm <= 0:
            return np.where((z >= z0) & (z <= z1), 1.0, 0.0)
        e = np.minimum(z - z0, z1 - z) / taper_mm
        return np.where(e <= 0, 0.0, np.sqrt(np.clip(1 - (1 - np.clip(e, 0, 1)) ** 2, 0, 1)))

    return Star(path, lambda th, z: np.full(np.shape(th), radius_mm, dtype=np.float64), scale)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


# =========================================================================================
# The anatomy
# =========================================================================================
# Liver: a superellipsoid of exponent 2.5, cranio-caudal extent z = -60 .. +85 mm, its
# sections shifted medially towards the dome, with a wedge-shaped left lobe and an
# anterior interlobar notch; a resection plane removes the anterior-inferior right lobe.
_LIVER_ZC, _LIVER_H = 12.5, 72.5
_RESECTION_NORMAL = _unit([-0.35, -0.75, -0.56])  # outward normal of the cut surface
_RESECTION_POINT = np.array([-85.0, -40.0, -10.0])  # a point on the cut plane (the bed)
_RESECTION_D = float(_RESECTION_NORMAL @ _RESECTION_POINT)


def _liver_centre(z):
    t = (np.asarray(z, dtype=np.float64) - _LIVER_ZC) / _LIVER_H
    return -60.0 + 12.0 * t, 2.0 + 0.0 * t


def _liver_scale(z):
    t = (np.asarray(z, dtype=np.float64) - _LIVER_ZC) / _LIVER_H
    return np.sqrt(np.maximum(1.0 - t * t, 0.0)) * (1.0 + 0.2 * t)


def _liver_radius(th, z):
    r = _superellipse_r(th, 74.0, 64.0, 2.5)
    left_lobe = 1.0 + 0.16 * np.cos(th + 0.55)         # towards anterior-left
    notch = 1.0 - 0.10 * np.exp(-((_wrap(th + 1.05) / 0.22) ** 2))  # anterior fissure
    dorsal = 1.0 - 0.12 * np.exp(-((_wrap(th - 0.55) / 0.45) ** 2))  # spine / IVC side
    return r * left_lobe * notch * dorsal


LIVER = Star(_liver_centre, _liver_radius, _liver_scale,
             ((tuple(_RESECTION_NORMAL), _RESECTION_D),))

# Adjuvant target: a slab 0.5 .. 16 mm deep behind the cut surface, within 28 mm of the
# resection bed (a ball): inside the liver by construction.  PTV: ball + 5 mm, slab
# widened by 5 mm on both sides (so it reaches 4.5 mm into the resection cavity).
_BED_CENTRE = _RESECTION_POINT - 8.25 * _RESECTION_NORMAL
_CTV_R = 28.0


def _slab_ball(centre, radius, depth0, depth1) -> Star:
    """Points within ``radius`` of ``centre`` and between ``depth0`` and ``depth1`` mm
    behind the resection plane (negative depth = in front of it)."""
    n = tuple(_RESECTION_NORMAL)
    neg = tuple(-_RESECTION_NORMAL)
    cx, cy, zc = centre
    return Star(_const_centre(cx, cy), lambda th, z: np.full(np.shape(th), radius),
                _ellipsoid_scale(zc, radius),
                ((n, _RESECTION_D - depth0), (neg, -(_RESECTION_D - depth1))))


CTV = _slab_ball(_BED_CENTRE, _CTV_R, 0.5, 16.0)
PTV = _slab_ball(_BED_CENTRE, _CTV_R + 5.0, -4.5, 21.0)

# Oligoprogressive lesions: lobulated ellipsoids; PTVs = semi-axes + 5 mm (an ellipsoidal
# approximation of a 5 mm margin).
_GTV1 = ((-98.0, 18.0, 38.0), (14.0, 12.0, 13.0))
_GTV2 = ((-28.0, 0.0, -18.0), (12.0, 10.0, 11.0))
GTV1 = ellipsoid(*_GTV1, lobes=((3, 0.06, 0.4),))
GTV2 = ellipsoid(*_GTV2, lobes=((2, 0.05, 1.0),))
PTV1 = ellipsoid(_GTV1[0], tuple(s + 5.0 for s in _GTV1[1]))
PTV2 = ellipsoid(_GTV2[0], tuple(s + 5.0 for s in _GTV2[1]))

BODY = prism((0.0, 0.0), BODY_AXES_MM, SCAN_Z_MM[0], SCAN_Z_MM[1], n=2.3)
_BODY_INNER = prism((0.0, 0.0), (BODY_AXES_MM[0] - SKIN_MM, BODY_AXES_MM[1] - SKIN_MM),
                    SCAN_Z_MM[0], SCAN_Z_MM[1], n=2.3)
SKIN = Shell(BODY, _BODY_INNER)


def _body_r(a_off):
    a, b = BODY_AXES_MM
    return lambda th: _superellipse_r(th, a - a_off, b - a_off, 2.3)


# Right and anterior chest wall (ribs and intercostal muscle) from 5 to 20 mm deep,
# over the liver's cranio-caudal range.
CHESTWALL = RingSector(_body_r(20.0), _body_r(5.0), 1.9, 4.95, -45.0, 100.0)
STOMACH = ellipsoid((67.0, -30.0, 40.0), (36.0, 30.0, 48.0), lobes=((2, 0.08, 0.3),))


def _duodenum_path(z):
    # A "C" opening medially around the pancreatic head, descending over z = -55 .. -5.
    phase = (np.asarray(z, dtype=np.float64) + 45.0) / 40.0 * np.pi
    return 12.0 + 12.0 * np.sin(phase), 14.0 + 8.0 * np.cos(phase)


DUODENUM = tube(_duodenum_path, 12.0, -55.0, -5.0, taper_mm=8.0)
BOWEL_SMALL = ellipsoid((15.0, -35.0, -92.0), (72.0, 40.0, 50.0), lobes=((5, 0.10, 0.0),))


def _ascending_colon(z):
    # Rises along the right flank, then bends anteriorly-medially into the resection
    # cavity (hepatic flexure under the cut liver surface).
    w = np.clip((np.asarray(z, dtype=np.float64) + 75.0) / 55.0, 0.0, 1.0)
    w = w * w * (3.0 - 2.0 * w)
    return -105.0 + 15.0 * w, 15.0 - 77.0 * w


BOWEL_LARGE = Union((
    tube(_ascending_colon, 18.0, -100.0, -14.0, 12.0),
    tube(lambda z: (np.full(np.shape(z), 108.0), np.full(np.shape(z), 20.0)), 17.0, -100.0, 15.0, 12.0),
))
ESOPHAGUS = tube(lambda z: (5.0 + 0.5 * (100.0 - np.asarray(z, dtype=np.float64)),
                            40.0 - 0.6 * (100.0 - np.asarray(z, dtype=np.float64))),
                 9.0, 55.0, 100.0, 6.0)
SPINAL_CORD = prism((0.0, 82.0), (5.5, 5.0), SCAN_Z_MM[0], SCAN_Z_MM[1])
_KIDNEYS = (((82.0, 62.0, -45.0), (31.0, 25.0, 56.0), 0.0),
            ((-84.0, 66.0, -60.0), (30.0, 24.0, 54.0), np.pi))
KIDNEY_L, KIDNEY_R = (ellipsoid(c, s, lobes=((1, 0.06, ph),)) for c, s, ph in _KIDNEYS)
# Cortex: each kidney minus its medulla and sinus (semi-axes 9-10 mm smaller).
KIDNEY_CORTEX = Union(tuple(
    Shell(ellipsoid(c, s, lobes=((1, 0.06, ph),)), ellipsoid(c, tuple(v - (9.0 if i < 2 else 10.0) for i, v in enumerate(s))))
    for c, s, ph in _KIDNEYS))
HEART = ellipsoid((22.0, -28.0, 128.0), (62.0, 52.0, 50.0))

# CT-only anatomy (not contoured): vertebral body, spinal canal, lung bases, fat layer.
_VERTEBRA = prism((0.0, 58.0), (20.0, 16.0), SCAN_Z_MM[0], SCAN_Z_MM[1])
SPINAL_CANAL = prism((0.0, 82.0), (9.0, 8.0), SCAN_Z_MM[0], SCAN_Z_MM[1])
_LUNG_R = ellipsoid((-95.0, 45.0, 125.0), (45.0, 45.0, 60.0))
_LUNG_L = ellipsoid((95.0, 45.0, 125.0), (45.0, 45.0, 60.0))
_FAT = Shell(_BODY_INNER, prism((0.0, 0.0), (BODY_AXES_MM[0] - 22.0, BODY_AXES_MM[1] - 18.0),
                                 SCAN_Z_MM[0], SCAN_Z_MM[1], n=2.3))


@dataclass(frozen=True)
class ROI:
    """One structure of the synthetic case."""

    name: str
    roi_type: str
    color: tuple[int, int, int]
    shape: Shape


STRUCTURES: tuple[ROI, ...] = (
    ROI("Body", "EXTERNAL", (0, 255, 0), BODY),
    ROI("Skin", "ORGAN", (255, 200, 160), SKIN),
    ROI("Liver", "ORGAN", (165, 80, 40), LIVER),
    ROI("CTV", "CTV", (0, 160, 255), CTV),
    ROI("PTV", "PTV", (255, 0, 0), PTV),
    ROI("GTV1", "GTV", (255, 0, 255), GTV1),
    ROI("GTV2", "GTV", (200, 0, 200), GTV2),
    ROI("PTV1", "PTV", (255, 60, 60), PTV1),
    ROI("PTV2", "PTV", (255, 120, 0), PTV2),
    ROI("Stomach", "ORGAN", (255, 180, 0), STOMACH),
    ROI("Duodenum", "ORGAN", (230, 230, 0), DUODENUM),
    ROI("Bowel_Small", "ORGAN", (200, 160, 100), BOWEL_SMALL),
    ROI("Bowel_Large", "ORGAN", (150, 110, 60), BOWEL_LARGE),
    ROI("Esophagus", "ORGAN", (120, 200, 255), ESOPHAGUS),
    ROI("SpinalCord", "ORGAN", (255, 255, 0), SPINAL_CORD),
    ROI("SpinalCanal", "ORGAN", (255, 220, 120), SPINAL_CANAL),
    ROI("Kidney_L", "ORGAN", (160, 32, 240), KIDNEY_L),
    ROI("Kidney_R", "ORGAN", (130, 0, 200), KIDNEY_R),
    ROI("Kidney_Cortex", "ORGAN", (190, 90, 250), KIDNEY_CORTEX),
    ROI("Heart", "ORGAN", (220, 20, 60), HEART),
    ROI("Chestwall", "ORGAN", (180, 180, 180), CHESTWALL),
)
TARGET_NAMES = ("PTV", "PTV1", "PTV2")


def extra_rois(count: int, seed: int = 0) -> tuple[ROI, ...]:
    """``count`` additional structures for benchmarks, chosen by ``seed``: small lesions
    (< 1 cc) inside the liver, vessels (tubes) and ring shells around PTV1."""
    if count < 0:
        raise ParameterError(f"extra_structures must be >= 0, got {count}")
    rng = np.random.default_rng([int(seed), 7919])
    out = []
    for i in range(count):
        kind = i % 3
        k = i // 3 + 1
        if kind == 0:
            # Rejection-sample a centre 10 mm inside the liver (a 3-5.5 mm ball fits).
            for _ in range(1000):
                c = rng.uniform([-140.0, -60.0, -40.0], [20.0, 60.0, 70.0])
                probe = c + 10.0 * np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0],
                                             [0, 0, 1], [0, 0, -1], [0, 0, 0]])
                if LIVER.inside(probe[:, 0], probe[:, 1], probe[:, 2]).all():
                    break
            r = float(rng.uniform(3.0, 5.5))
            out.append(ROI(f"Lesion_small_{k:02d}", "GTV", (255, 100, 200),
                           ellipsoid(tuple(c), (r, r, r))))
        elif kind == 1:
            cx, cy = rng.uniform([-60.0, -60.0], [60.0, 40.0])
            r = float(rng.uniform(3.0, 7.0))
            z0 = float(rng.uniform(-95.0, -20.0))
            out.append(ROI(f"Vessel_{k:02d}", "ORGAN", (0, 0, 255),
                           tube(_const_centre(float(cx), float(cy)), r, z0, z0 + 90.0, 3.0)))
        else:
            inner = 5.0 * k
            c, s = _GTV1
            out.append(ROI(f"zPTV_ring_{k:02d}", "CONTROL", (128, 128, 128),
                           Shell(ellipsoid(c, tuple(v + 5.0 + inner + 10.0 for v in s)),
                                 ellipsoid(c, tuple(v + 5.0 + inner for v in s)))))
    return tuple(out)


# =========================================================================================
# The dose
# =========================================================================================
@dataclass(frozen=True)
class _Target:
    centre: np.ndarray          # (3,) mm
    inv_axes: np.ndarray        # (3, 3): rows = principal directions / semi-axis (1/mm)
    hot: float                  # relative dose at the centre
    flat: float = 2.0           # >2: a flat-faced disc (|q0|^m + |q1,q2|^m)^(1/m)


def _target(centre, axes, semi, hot, flat=2.0) -> _Target:
    axes = np.asarray(axes, dtype=np.float64)
    return _Target(np.asarray(centre, dtype=np.float64),
                   axes / np.asarray(semi, dtype=np.float64)[:, None], float(hot), float(flat))


def _targets() -> tuple[_Target, ...]:
    n = _RESECTION_NORMAL
    u = _unit(np.cross(n, [0.0, 0.0, 1.0]))
    v = np.cross(n, u)
    # PTV (slab + ball): centre mid-slab, 12.75 mm half thickness, 33 mm radius in-plane.
    ptv_centre = _RESECTION_POINT - 8.25 * n
    return (
        _target(ptv_centre, [n, u, v], [12.75, 33.0, 33.0], 1.12, flat=8.0),
        _target(_GTV1[0], np.eye(3), [s + 5.0 for s in _GTV1[1]], 1.15),
        _target(_GTV2[0], np.eye(3), [s + 5.0 for s in _GTV2[1]], 1.10),
    )


_TARGETS = _targets()
# Edge (erfc) 5 mm beyond the PTV surface with sigma 3.5 mm: 80-20 % penumbra 5.9 mm and
# ~100 % on the PTV surface; then an exponential tail and a broad low-dose bath.
_EDGE_MM, _SIGMA_MM = 5.0, 3.5
_PLATEAU, _TAIL, _TAIL_MM = 1.08, 0.42, 18.0
_BATH_GY, _BATH_MM = 2.5, 75.0


def _relative_target_dose(p: np.ndarray, t: _Target) -> np.ndarray:
    q = (p - t.centre) @ t.inv_axes.T           # coordinates in semi-axis units
    if t.flat == 2.0:
        rho2 = np.einsum("ij,ij->i", q, q)
        rho = np.sqrt(rho2)
    else:
        m = t.flat
        rho = (np.abs(q[:, 0]) ** m + np.hypot(q[:, 1], q[:, 2]) ** m) ** (1.0 / m)
        rho2 = rho * rho
    dist = np.linalg.norm(p - t.centre, axis=1)
    # Distance beyond the ellipsoid along the ray from the centre (negative inside).
    d = np.where(rho > 1e-12, dist * (1.0 - 1.0 / np.maximum(rho, 1e-12)), -1e3)
    edge = 0.5 * erfc((d - _EDGE_MM) / (_SIGMA_MM * math.sqrt(2.0)))
    core = _PLATEAU + (t.hot - _PLATEAU) * np.exp(-2.0 * rho2)
    tail = _TAIL * (1.0 - edge) * np.exp(-np.maximum(d, 0.0) / _TAIL_MM)
    return core * edge + tail


def analytic_dose(points_mm, *, prescription_gy: float = 40.0) -> np.ndarray:
    """The synthetic plan's dose at patient points.

    Parameters
    ----------
    points_mm : array_like, shape (N, 3) or (3,)
        Patient coordinates (x, y, z) in mm.
    prescription_gy : float
        Prescription dose (Gy) that covers the PTVs; the dose scales with it.

    Returns
    -------
    ndarray float64 (N,) or float
        Dose in Gy: the sum over the three PTVs (PTV, PTV1, PTV2) of a hot core
        (110-125 % at the centre, ~100 % on the PTV surface), an erfc edge (80-20 %
        penumbra 5.9 mm) and an exponential tail (18 mm), plus a Gaussian low-dose bath
        (2.5 Gy for 40 Gy, sigma 75 mm), times a 1.5 mm erfc fall-off at the body surface.
    """
    if not (math.isfinite(prescription_gy) and prescription_gy > 0):
        raise ParameterError(f"prescription_gy must be a positive number of Gy, got {prescription_gy}")
    p = np.asarray(points_mm, dtype=np.float64)
    single = p.ndim == 1
    p = np.atleast_2d(p)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ParameterError(f"points_mm must have shape (N, 3) (x, y, z in mm), got {np.shape(points_mm)}")
    rel = np.zeros(len(p))
    for t in _TARGETS:
        rel += _relative_target_dose(p, t)
    centroid = np.mean([t.centre for t in _TARGETS], axis=0)
    r2 = np.einsum("ij,ij->i", p - centroid, p - centroid)
    rel += (_BATH_GY / 40.0) * np.exp(-0.5 * r2 / _BATH_MM**2)
    # Body surface: distance outside the body outline along the ray from the body axis.
    a, b = BODY_AXES_MM
    th = np.arctan2(p[:, 1], p[:, 0])
    d_body = np.hypot(p[:, 0], p[:, 1]) - _superellipse_r(th, a, b, 2.3)
    rel *= 0.5 * erfc(d_body / (1.5 * math.sqrt(2.0)))
    out = prescription_gy * rel
    return float(out[0]) if single else out


def dose_grid_geometry(spacing_mm: float) -> tuple[tuple[float, float, float], tuple[int, int, int]]:
    """Origin (x, y, z of voxel [0,0,0], mm) and shape (nz, ny, nx) of the dose grid:
    a regular grid of ``spacing_mm`` covering the body (+-170 x +-120 mm) and the scan
    (z +-102.5 mm)."""
    extent = (340.0, 240.0, 205.0)
    n = [int(math.ceil(e / spacing_mm - 1e-9)) + 1 for e in extent]
    origin = tuple(-(k - 1) * spacing_mm / 2.0 for k in n)
    return origin, (n[2], n[1], n[0])


def dose_grid(spacing_mm: float = 2.5, prescription_gy: float = 40.0):
    """The analytic dose sampled at the voxel centres of :func:`dose_grid_geometry`."""
    from .model import DoseGrid

    origin, (nz, ny, nx) = dose_grid_geometry(spacing_mm)
    x = origin[0] + spacing_mm * np.arange(nx)
    y = origin[1] + spacing_mm * np.arange(ny)
    values = np.empty((nz, ny, nx), dtype=np.float64)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    plane = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
    for k in range(nz):
        plane[:, 2] = origin[2] + spacing_mm * k
        values[k] = analytic_dose(plane, prescription_gy=prescription_gy).reshape(ny, nx)
    return DoseGrid(values, origin, (spacing_mm,) * 3, dose_type="PHYSICAL", summation_type="PLAN",
                    description="synthetic analytic SBRT dose")


# =========================================================================================
# CT
# =========================================================================================
# Painted in order; later shapes overwrite earlier ones.  HU of typical tissues.
def _ct_layers():
    return (
        (BODY, 40.0), (_FAT, -100.0), (CHESTWALL, 60.0), (_LUNG_R, -820.0), (_LUNG_L, -820.0),
        (HEART, 45.0), (LIVER, 60.0), (PTV, 55.0), (GTV1, 35.0), (GTV2, 35.0),
        (STOMACH, 20.0), (DUODENUM, 25.0), (BOWEL_SMALL, 15.0), (BOWEL_LARGE, -30.0),
        (ESOPHAGUS, 35.0), (KIDNEY_L, 35.0), (KIDNEY_R, 35.0), (_VERTEBRA, 450.0),
        (SPINAL_CANAL, 20.0), (SPINAL_CORD, 35.0),
    )


def ct_slice_hu(z: float, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int16 HU image (rows along y, columns along x) of the phantom at ``z``."""
    hu = np.full((len(y), len(x)), -1000.0)
    for shape, value in _ct_layers():
        polys = shape.polygons(z)
        if not polys:
            continue
        # Evaluate the implicit function only over the section's bounding box (its outline
        # lies on the boundary): most organs cover a few percent of the image.
        v = np.vstack(polys)
        i0, i1 = np.searchsorted(y, [v[:, 1].min() - 1.0, v[:, 1].max() + 1.0])
        j0, j1 = np.searchsorted(x, [v[:, 0].min() - 1.0, v[:, 0].max() + 1.0])
        if i1 <= i0 or j1 <= j0:
            continue
        yy, xx = np.meshgrid(y[i0:i1], x[j0:j1], indexing="ij")
        sub = hu[i0:i1, j0:j1]
        sub[shape.inside(xx, yy, z)] = value
    hu += rng.normal(0.0, 8.0, size=hu.shape)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def ct_z_positions(ct_spacing_mm: float) -> np.ndarray:
    """CT slice positions (mm): the scan range at ``ct_spacing_mm``, centred."""
    span = SCAN_Z_MM[1] - SCAN_Z_MM[0]
    n = int(math.floor(span / ct_spacing_mm + 1e-9)) + 1
    start = 0.5 * (SCAN_Z_MM[0] + SCAN_Z_MM[1]) - 0.5 * (n - 1) * ct_spacing_mm
    return start + ct_spacing_mm * np.arange(n)


# =========================================================================================
# The export
# =========================================================================================
def write_case(out_dir, *, spacing_mm: float = 2.5, ct_spacing_mm: float | None = None,
               extra_structures: int = 0, fractions: int = 5, prescription_gy: float = 40.0,
               seed: int = 0) -> Path:
    """Write the synthetic liver-SBRT export (CT series, RTSTRUCT, RTPLAN, RTDOSE).

    Parameters
    ----------
    out_dir : str or Path
        Folder (created if missing).  It must not hold other ``.dcm`` files than the ones
        this function writes (``CT_*.dcm``, ``RS_synthetic.dcm``, ``RP_synthetic.dcm``,
        ``RD_synthetic.dcm``).
    spacing_mm : float
        Dose-grid voxel size (mm, isotropic) and CT pixel size.  1.0 gives ~17 M voxels.
    ct_spacing_mm : float, optional
        CT slice spacing = contour plane spacing (mm); default 2.5.
    extra_structures : int
        Additional structures (small lesions, vessels, ring shells) for benchmarks.
    fractions : int
        NumberOfFractionsPlanned.
    prescription_gy : float
        Total prescription (Gy); the dose scales with it.
    seed : int
        Chooses the CT noise and the extra structures; anatomy and dose do not depend
        on it.

    Returns
    -------
    Path
        ``out_dir``, resolved.  Same arguments give byte-identical files.
    """
    from .io import write_rt
    from .io.uids import new_uid
    from .io.write_rtdose import write_rtdose

    for name, v, lo in (("spacing_mm", spacing_mm, 0.25), ("prescription_gy", prescription_gy, 0.0)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > lo):
            raise ParameterError(f"{name} must be a number > {lo}, got {v!r}")
    if spacing_mm > 10.0:
        raise ParameterError(f"spacing_mm must be <= 10 mm for a usable dose grid, got {spacing_mm}")
    ct_spacing_mm = 2.5 if ct_spacing_mm is None else ct_spacing_mm
    if not (isinstance(ct_spacing_mm, (int, float)) and 0.5 <= ct_spacing_mm <= 10.0):
        raise ParameterError(f"ct_spacing_mm must be between 0.5 and 10 mm, got {ct_spacing_mm!r}")
    if not isinstance(fractions, (int, np.integer)) or fractions < 1:
        raise ParameterError(f"fractions must be an integer >= 1, got {fractions!r}")
    if not isinstance(extra_structures, (int, np.integer)) or extra_structures < 0:
        raise ParameterError(f"extra_structures must be an integer >= 0, got {extra_structures!r}")

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    z_ct = ct_z_positions(float(ct_spacing_mm))
    ct_names = [f"CT_{k + 1:04d}.dcm" for k in range(len(z_ct))]
    ours = set(ct_names) | {"RS_synthetic.dcm", "RP_synthetic.dcm", "RD_synthetic.dcm"}
    foreign = sorted(p.name for p in out.glob("*.dcm") if p.name not in ours)
    if foreign:
        raise OutputError(f"folder holds other DICOM files ({', '.join(foreign[:3])}...); "
                          "write the synthetic case into an empty folder", path=out)

    key = f"dosecalc-phantom|{spacing_mm!r}|{ct_spacing_mm!r}|{extra_structures}|{fractions}|{prescription_gy!r}|{seed}"
    study = write_rt.patient_study(_PATIENT, seed=key)
    frame_uid = new_uid(key, "frame")
    ct_series = new_uid(key, "ct-series")
    ct_uids = [new_uid(key, "ct", k) for k in range(len(z_ct))]
    rs_uid, rp_uid = new_uid(key, "rtstruct"), new_uid(key, "rtplan")

    # CT: in-plane pixels of spacing_mm over the body's bounding box plus a margin.
    px = float(spacing_mm)
    ncol = int(math.ceil(2 * 175.0 / px)) + 1
    nrow = int(math.ceil(2 * 125.0 / px)) + 1
    x = -(ncol - 1) * px / 2 + px * np.arange(ncol)
    y = -(nrow - 1) * px / 2 + px * np.arange(nrow)
    rng = np.random.default_rng([int(seed), 104729])
    for k, z in enumerate(z_ct):
        ds = write_rt.ct_slice(ct_slice_hu(float(z), x, y, rng), origin_mm=(x[0], y[0], float(z)),
                               pixel_spacing_mm=(px, px), slice_thickness_mm=float(ct_spacing_mm),
                               instance_number=k + 1, sop_instance_uid=ct_uids[k],
                               series_instance_uid=ct_series, frame_of_reference_uid=frame_uid,
                               study=study)
        write_rt.save_dataset(ds, out / ct_names[k])

    rois = STRUCTURES + extra_rois(int(extra_structures), seed)
    roi_dicts = []
    for number, roi in enumerate(rois, start=1):
        planes = [(float(z), polys) for z in z_ct if (polys := roi.shape.polygons(float(z)))]
        roi_dicts.append({"number": number, "name": roi.name, "type": roi.roi_type,
                          "color": roi.color, "planes": planes})
    ds = write_rt.rt_structure_set(roi_dicts, sop_instance_uid=rs_uid,
                                   series_instance_uid=new_uid(key, "rtstruct-series"),
                                   frame_of_reference_uid=frame_uid, study=study,
                                   ct_series_uid=ct_series,
                                   ct_slices=list(zip(z_ct.tolist(), ct_uids)),
                                   label="LiverSBRT")
    write_rt.save_dataset(ds, out / "RS_synthetic.dcm")

    numbers = {r.name: i for i, r in enumerate(rois, start=1)}
    ds = write_rt.rt_plan(sop_instance_uid=rp_uid, series_instance_uid=new_uid(key, "rtplan-series"),
                          frame_of_reference_uid=frame_uid, study=study, structure_set_uid=rs_uid,
                          fractions=int(fractions), prescription_gy=float(prescription_gy),
                          targets=[(numbers[n], n) for n in TARGET_NAMES],
                          isocenter_mm=tuple(float(c) for c in np.mean([t.centre for t in _TARGETS], axis=0).round(1)),
                          label="LiverSBRT")
    write_rt.save_dataset(ds, out / "RP_synthetic.dcm")

    grid = replace(dose_grid(float(spacing_mm), float(prescription_gy)), frame_of_reference_uid=frame_uid)
    write_rtdose(grid, out / "RD_synthetic.dcm", referenced_plan_uid=rp_uid,
                 referenced_structure_set_uid=rs_uid, patient=study,
                 comment=f"Synthetic SBRT {prescription_gy:g} Gy in {fractions} fractions",
                 series_description="Synthetic SBRT dose", uid_seed=key)
    return out.resolve()
