"""Shapes of the synthetic anatomy: implicit functions (patient mm) with exact axial
outlines, and their factories (ellipsoid, prism, tube)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


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
