"""Write the synthetic export (CT series, RTSTRUCT, RTPLAN, RTDOSE) to a folder."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import OutputError, ParameterError
from ..io import write_rt
from ..io.uids import new_uid
from ..io.write_rtdose import write_rtdose
from .anatomy import _PATIENT, STRUCTURES, TARGET_NAMES, extra_rois
from .ct import ct_slice_hu, ct_z_positions
from .dose import _TARGETS, dose_grid


# =========================================================================================
# The export
# =========================================================================================
def _isocentre() -> tuple[float, float, float]:
    """The plan's isocentre (mm): the mean of the targets' centres, to 0.1 mm."""
    x, y, z = (float(c) for c in np.mean([t.centre for t in _TARGETS], axis=0).round(1))
    return x, y, z


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
                          isocenter_mm=_isocentre(),
                          label="LiverSBRT")
    write_rt.save_dataset(ds, out / "RP_synthetic.dcm")

    grid = replace(dose_grid(float(spacing_mm), float(prescription_gy)), frame_of_reference_uid=frame_uid)
    write_rtdose(grid, out / "RD_synthetic.dcm", referenced_plan_uid=rp_uid,
                 referenced_structure_set_uid=rs_uid, patient=study,
                 comment=f"Synthetic SBRT {prescription_gy:g} Gy in {fractions} fractions",
                 series_description="Synthetic SBRT dose", uid_seed=key)
    return out.resolve()
