"""Analytical test shapes: contour generators and their exact volumes and DVHs.

Everything here is plain float64 numpy, independent of the rasteriser:

* polygon areas by the shoelace formula, polygon ∩ axis-aligned box by
  Sutherland-Hodgman clipping (exact for any subject polygon against a convex window);
* the volume of a contour set under the slab rules (each plane reaches halfway to its
  neighbours, half-spacing end caps) as ``sum(area x thickness)``;
* analytic cumulative DVHs of such prism stacks in linear dose gradients: along z each
  slab has a constant cross-section (volume linear in dose), in-plane the volume above a
  dose level is the clipped area x thickness.
"""

from __future__ import annotations

import numpy as np

from dosecalc.model import ContourPlane, DoseGrid, Structure


# --- polygons -------------------------------------------------------------------------
def circle(cx: float, cy: float, r: float, n: int = 128, phase: float = 0.0) -> np.ndarray:
    """Regular n-gon inscribed in the circle (counter-clockwise), (n, 2) mm."""
    t = phase + 2 * np.pi * np.arange(n) / n
    return np.c_[cx + r * np.cos(t), cy + r * np.sin(t)]


def shoelace(poly: np.ndarray) -> float:
    """Signed area (mm^2), positive counter-clockwise."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _clip(poly: np.ndarray, axis: int, value: float, keep_below: bool) -> np.ndarray:
    out = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        pin = p[axis] <= value if keep_below else p[axis] >= value
        qin = q[axis] <= value if keep_below else q[axis] >= value
        if pin:
            out.append(p)
        if pin != qin:
            t = (value - p[axis]) / (q[axis] - p[axis])
            out.append(p + t * (q - p))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def clip_box_area(poly: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> float:
    """|Area| of polygon ∩ [x0, x1] x [y0, y1] (mm^2), Sutherland-Hodgman."""
    p = np.asarray(poly, dtype=np.float64)
    for axis, value, below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        if len(p) == 0:
            return 0.0
        p = _clip(p, axis, value, below)
    return abs(shoelace(p)) if len(p) >= 3 else 0.0


def pixel_areas(poly: np.ndarray, xlo: float, ylo: float, h: float, nx: int, ny: int) -> np.ndarray:
    """Brute-force area of polygon ∩ every pixel of a lattice, (ny, nx), in mm^2."""
    out = np.zeros((ny, nx))
    for j in range(ny):
        for i in range(nx):
            out[j, i] = clip_box_area(poly, xlo + i * h, xlo + (i + 1) * h, ylo + j * h, ylo + (j + 1) * h)
    return out


# --- structures -----------------------------------------------------------------------
def structure_from(planes: dict[float, list[np.ndarray]], name: str = "S", number: int = 1) -> Structure:
    return Structure(number, name, planes=tuple(ContourPlane(z, tuple(p)) for z, p in planes.items()))


def sphere(center=(0.0, 0.0, 0.0), radius: float = 10.0, dz: float = 1.0, n: int = 128) -> Structure:
    """Sphere contours on planes every ``dz`` through the centre (poles excluded)."""
    cx, cy, cz = center
    k = int(np.floor(radius / dz - 1e-9))
    planes = {}
    for i in range(-k, k + 1):
        z = cz + i * dz
        r = np.sqrt(radius ** 2 - (i * dz) ** 2)
        planes[z] = [circle(cx, cy, r, n)]
    return structure_from(planes, "Sphere")


def cylinder(center=(0.0, 0.0, 0.0), radius: float = 10.0, length: float = 20.0, dz: float = 1.0,
             n: int = 128) -> Structure:
    """Cylinder along z: planes from cz - L/2 to cz + L/2 every ``dz``."""
    cx, cy, cz = center
    m = int(round(length / dz))
    return structure_from({cz - length / 2 + i * dz: [circle(cx, cy, radius, n)] for i in range(m + 1)}, "Cyl")


def cone(apex=(0.0, 0.0, 0.0), radius: float = 10.0, height: float = 20.0, dz: float = 1.0,
         n: int = 128) -> Structure:
    """Cone along +z from the apex to a base of ``radius`` (apex plane excluded)."""
    ax, ay, az = apex
    m = int(round(height / dz))
    return structure_from({az + i * dz: [circle(ax, ay, radius * i * dz / height, n)] for i in range(1, m + 1)},
                          "Cone")


# --- slab rules, volumes and DVHs -----------------------------------------------------
def slabs(z: np.ndarray, cap: str = "half") -> tuple[np.ndarray, np.ndarray]:
    """Slab extents of planes with uniform spacing (the documented rule, re-derived)."""
    z = np.asarray(z, dtype=np.float64)
    d = np.diff(z)
    c = 0.5 * np.median(d) if cap == "half" else 0.0
    edges = np.r_[z[0] - c, 0.5 * (z[1:] + z[:-1]), z[-1] + c]
    return edges[:-1], edges[1:]


def plane_areas(s: Structure) -> np.ndarray:
    """Even-odd area of each plane for nested, non-crossing contours: |outer| - |holes|."""
    out = []
    for p in s.planes:
        a = sorted((abs(shoelace(q)) for q in p.polygons), reverse=True)
        out.append(sum(v if i % 2 == 0 else -v for i, v in enumerate(a)))
    return np.array(out)


def prism_volume_cc(s: Structure, cap: str = "half") -> float:
    lo, hi = slabs(s.z_planes_mm, cap)
    return float(np.sum(plane_areas(s) * (hi - lo))) / 1000.0


def linear_grid(shape, origin, spacing, d0: float, gradient) -> DoseGrid:
    """Dose d0 + g . (x, y, z) (Gy, g in Gy/mm) sampled at voxel centres; exact under
    trilinear interpolation."""
    nz, ny, nx = shape
    x = origin[0] + spacing[0] * np.arange(nx)
    y = origin[1] + spacing[1] * np.arange(ny)
    z = origin[2] + spacing[2] * np.arange(nz)
    gx, gy, gz = gradient
    v = d0 + gz * z[:, None, None] + gy * y[None, :, None] + gx * x[None, None, :]
    return DoseGrid(v, origin, spacing)


def dvh_z_gradient(s: Structure, d0: float, gz: float, doses, cap: str = "half") -> np.ndarray:
    """V(>= d) in cc of a prism stack in the dose d0 + gz * z (gz > 0)."""
    lo, hi = slabs(s.z_planes_mm, cap)
    a = plane_areas(s)
    zc = (np.asarray(doses, dtype=np.float64)[:, None] - d0) / gz  # z above which dose >= d
    length = np.clip(hi[None, :] - np.maximum(lo[None, :], zc), 0.0, None)
    return np.sum(a[None, :] * length, axis=1) / 1000.0


def dvh_y_gradient(s: Structure, d0: float, gy: float, doses, cap: str = "half") -> np.ndarray:
    """V(>= d) in cc of a prism stack in the dose d0 + gy * y (gy < 0: dose rises to -y)."""
    lo, hi = slabs(s.z_planes_mm, cap)
    out = []
    for d in np.asarray(doses, dtype=np.float64):
        yc = (d - d0) / gy  # dose >= d where y <= yc (gy < 0)
        v = 0.0
        for p, t in zip(s.planes, hi - lo):
            for q in p.polygons:
                v += clip_box_area(q, -1e9, 1e9, -1e9, yc) * t
        out.append(v / 1000.0)
    return np.array(out)


def dose_at_volume(doses: np.ndarray, vcurve: np.ndarray, v_cc: float) -> float:
    """Invert a decreasing cumulative DVH V(d) on a fine dose axis (linear interpolation)."""
    return float(np.interp(v_cc, vcurve[::-1], doses[::-1]))
