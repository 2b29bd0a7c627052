"""The synthetic CT: Hounsfield units painted from the anatomy, slice positions."""

from __future__ import annotations

import math

import numpy as np

from .anatomy import (
    _FAT,
    _LUNG_L,
    _LUNG_R,
    _VERTEBRA,
    BODY,
    BOWEL_LARGE,
    BOWEL_SMALL,
    CHESTWALL,
    DUODENUM,
    ESOPHAGUS,
    GTV1,
    GTV2,
    HEART,
    KIDNEY_L,
    KIDNEY_R,
    LIVER,
    PTV,
    SCAN_Z_MM,
    SPINAL_CANAL,
    SPINAL_CORD,
    STOMACH,
)


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
