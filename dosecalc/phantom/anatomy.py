"""The synthetic abdomen: organs, targets and the ROI list of the export (patient mm)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .shapes import (
    RingSector,
    Shape,
    Shell,
    Star,
    Union,
    _const_centre,
    _ellipsoid_scale,
    _superellipse_r,
    _unit,
    _wrap,
    ellipsoid,
    prism,
    tube,
)

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
            gtv_centre, gtv_axes = _GTV1
            out.append(ROI(f"zPTV_ring_{k:02d}", "CONTROL", (128, 128, 128),
                           Shell(ellipsoid(gtv_centre, tuple(v + 5.0 + inner + 10.0 for v in gtv_axes)),
                                 ellipsoid(gtv_centre, tuple(v + 5.0 + inner for v in gtv_axes)))))
    return tuple(out)
