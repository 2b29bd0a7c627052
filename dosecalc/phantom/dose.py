"""The analytic dose of the synthetic plan and its dose grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

from ..errors import ParameterError
from ..model import DoseGrid
from .anatomy import _GTV1, _GTV2, _RESECTION_NORMAL, _RESECTION_POINT, BODY_AXES_MM
from .shapes import _superellipse_r, _unit


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


def analytic_dose(points_mm, *, prescription_gy: float = 40.0) -> np.ndarray | float:
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
    ox, oy, oz = (-(k - 1) * spacing_mm / 2.0 for k in n)
    return (ox, oy, oz), (n[2], n[1], n[0])


def dose_grid(spacing_mm: float = 2.5, prescription_gy: float = 40.0):
    """The analytic dose sampled at the voxel centres of :func:`dose_grid_geometry`."""
    origin, (nz, ny, nx) = dose_grid_geometry(spacing_mm)
    x = origin[0] + spacing_mm * np.arange(nx)
    y = origin[1] + spacing_mm * np.arange(ny)
    values = np.empty((nz, ny, nx), dtype=np.float64)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    plane = np.column_stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)])
    for k in range(nz):
        plane[:, 2] = origin[2] + spacing_mm * k
        values[k] = np.reshape(analytic_dose(plane, prescription_gy=prescription_gy), (ny, nx))
    return DoseGrid(values, origin, (spacing_mm,) * 3, dose_type="PHYSICAL", summation_type="PLAN",
                    description="synthetic analytic SBRT dose")
