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

Modules: ``shapes`` (implicit shapes with exact outlines), ``anatomy`` (the organs and
targets, the ROI list), ``dose`` (the analytic dose and its grid), ``ct`` (Hounsfield
units), ``export`` (:func:`write_case`).
"""

# the names of the phantom, importable as dosecalc.phantom.NAME as when it was one module
# ruff: noqa: F401
from .anatomy import (
    _GTV1,
    _PATIENT,
    BODY,
    BODY_AXES_MM,
    BOWEL_LARGE,
    BOWEL_SMALL,
    CHESTWALL,
    CTV,
    DUODENUM,
    ESOPHAGUS,
    GTV1,
    GTV2,
    HEART,
    KIDNEY_CORTEX,
    KIDNEY_L,
    KIDNEY_R,
    LIVER,
    PTV,
    PTV1,
    PTV2,
    ROI,
    SCAN_Z_MM,
    SKIN,
    SKIN_MM,
    SPINAL_CANAL,
    SPINAL_CORD,
    STOMACH,
    STRUCTURES,
    TARGET_NAMES,
    extra_rois,
)
from .ct import ct_slice_hu, ct_z_positions
from .dose import _TARGETS, analytic_dose, dose_grid, dose_grid_geometry
from .export import write_case
from .shapes import RingSector, Shape, Shell, Star, Union, ellipsoid, prism, tube
